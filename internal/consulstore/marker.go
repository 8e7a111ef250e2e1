package consulstore

import (
	"context"
	"fmt"

	"github.com/hashicorp/consul/api"
)

// markerKey is the KV key of the cluster marker.
func (s *Store) markerKey() string { return s.prefix + "/cluster" }

// Marker returns the cluster marker stored at <prefix>/cluster, or "" and
// no error when there is none. The marker is an id created once for the
// prefix (CreateMarker): a registry that has keys or specs but no marker,
// or no marker where a host agent remembers one, lost its data.
func (s *Store) Marker(ctx context.Context) (string, error) {
	key := s.markerKey()
	pair, _, err := s.kv.Get(key, (&api.QueryOptions{RequireConsistent: true}).WithContext(ctx))
	if err != nil {
		return "", fmt.Errorf("consulstore: marker %s: %w", key, err)
	}
	if pair == nil {
		return "", nil
	}
	if err := checkMarker(string(pair.Value)); err != nil {
		return "", fmt.Errorf("consulstore: marker %s: %w", key, err)
	}
	return string(pair.Value), nil
}

// CreateMarker stores id as the cluster marker unless one is stored (a
// check-and-set on index 0) and returns the marker stored afterwards: id,
// or the one that was there.
func (s *Store) CreateMarker(ctx context.Context, id string) (string, error) {
	key := s.markerKey()
	if err := checkMarker(id); err != nil {
		return "", fmt.Errorf("consulstore: create marker %s: %w", key, err)
	}
	for range 3 { // a marker deleted between a lost CAS and the read is retried
		ok, _, err := s.kv.CAS(&api.KVPair{Key: key, Value: []byte(id), ModifyIndex: 0}, (&api.WriteOptions{}).WithContext(ctx))
		if err != nil {
			return "", fmt.Errorf("consulstore: create marker %s: %w", key, err)
		}
		if ok {
			return id, nil
		}
		stored, err := s.Marker(ctx)
		if err != nil || stored != "" {
			return stored, err
		}
	}
	return "", fmt.Errorf("consulstore: create marker %s: created and removed repeatedly while reading it", key)
}

// maxMarkerLen bounds a cluster marker.
const maxMarkerLen = 128

// checkMarker reports whether id can be a cluster marker: 1 to
// maxMarkerLen bytes of ASCII letters, digits, '-' and '_'. The error
// wraps ErrBadMarker.
func checkMarker(id string) error {
	if id == "" || len(id) > maxMarkerLen {
		return fmt.Errorf("%w: %d bytes, want 1 to %d", ErrBadMarker, len(id), maxMarkerLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("%w: %q holds %q", ErrBadMarker, id, c)
		}
	}
	return nil
}
