package registry

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
)

// NamespaceKey returns (a copy of) the frame key of namespace, or nil and
// no error when there is none. It never creates one: CreateNamespaceKey
// does.
func (r *Registry) NamespaceKey(ctx context.Context, namespace string) ([]byte, error) {
	if err := checkName("namespace", namespace); err != nil {
		return nil, fmt.Errorf("registry: namespace key: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("registry: namespace key %s: %w", namespace, err)
	}
	r.mu.Lock()
	k := r.st.keys[namespace]
	r.mu.Unlock()
	return bytes.Clone(k), nil
}

// CreateNamespaceKey stores key (KeySize bytes; nil: a new one from
// crypto/rand) as the frame key of namespace unless one is stored, and
// returns (a copy of) the key stored afterwards: key, or the one that was
// there. With Open, the key is in the state file before it is returned.
func (r *Registry) CreateNamespaceKey(ctx context.Context, namespace string, key []byte) ([]byte, error) {
	if err := checkName("namespace", namespace); err != nil {
		return nil, fmt.Errorf("registry: create namespace key: %w", err)
	}
	if key == nil {
		key = make([]byte, KeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("registry: create namespace key %s: %w", namespace, err)
		}
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("registry: create namespace key %s: %w (%d bytes offered)", namespace, ErrBadKey, len(key))
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("registry: create namespace key %s: %w", namespace, err)
	}
	var stored []byte
	err := r.update(func(st *state) (bool, error) {
		if k, ok := st.keys[namespace]; ok {
			stored = k
			return false, nil
		}
		stored = bytes.Clone(key)
		st.keys[namespace] = stored
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("registry: create namespace key %s: %w", namespace, err)
	}
	return bytes.Clone(stored), nil
}

// Marker returns the cluster marker, or "" and no error when there is
// none.
func (r *Registry) Marker(ctx context.Context) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("registry: marker: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st.marker, nil
}

// CreateMarker stores id as the cluster marker unless one is stored, and
// returns the marker stored afterwards: id, or the one that was there.
func (r *Registry) CreateMarker(ctx context.Context, id string) (string, error) {
	if err := checkMarker(id); err != nil {
		return "", fmt.Errorf("registry: create marker: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("registry: create marker: %w", err)
	}
	var stored string
	err := r.update(func(st *state) (bool, error) {
		if st.marker != "" {
			stored = st.marker
			return false, nil
		}
		st.marker, stored = id, id
		return true, nil
	})
	if err != nil {
		return "", fmt.Errorf("registry: create marker: %w", err)
	}
	return stored, nil
}

// maxMarkerLen bounds a cluster marker, as consulstore's.
const maxMarkerLen = 128

// checkMarker reports whether id can be a cluster marker: 1 to
// maxMarkerLen bytes of ASCII letters, digits, '-' and '_', as
// consulstore's. The error wraps ErrBadMarker.
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

// NamespaceKeys returns (copies of) the frame key of every namespace that
// has one. onError, which may be nil, is never called: the parameter keeps
// the signature of consulstore's.
func (r *Registry) NamespaceKeys(ctx context.Context, onError func(error)) (map[string][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("registry: namespace keys: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	keys := make(map[string][]byte, len(r.st.keys))
	for ns, k := range r.st.keys {
		keys[ns] = bytes.Clone(k)
	}
	return keys, nil
}
