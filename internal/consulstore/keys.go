package consulstore

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"

	"github.com/hashicorp/consul/api"
)

// KeySize is the size in bytes of a namespace's frame key.
const KeySize = 32

// keyKey is the KV key of namespace's frame key.
func (s *Store) keyKey(namespace string) (string, error) {
	if err := checkName("namespace", namespace); err != nil {
		return "", err
	}
	return s.prefix + "/keys/" + namespace, nil
}

// NamespaceKey returns the frame key of namespace, stored at
// <prefix>/keys/<namespace>, or nil and no error when there is none. It
// never creates one: CreateNamespaceKey does, for a caller that knows the
// namespace never had a key (or knows the one it had).
func (s *Store) NamespaceKey(ctx context.Context, namespace string) ([]byte, error) {
	key, err := s.keyKey(namespace)
	if err != nil {
		return nil, fmt.Errorf("consulstore: namespace key: %w", err)
	}
	pair, _, err := s.kv.Get(key, (&api.QueryOptions{RequireConsistent: true}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("consulstore: namespace key %s: %w", key, err)
	}
	if pair == nil {
		return nil, nil
	}
	if len(pair.Value) != KeySize {
		return nil, fmt.Errorf("consulstore: namespace key %s: %w (%d bytes)", key, ErrBadKey, len(pair.Value))
	}
	return pair.Value, nil
}

// CreateNamespaceKey stores key (KeySize bytes; nil: a new one from
// crypto/rand) as the frame key of namespace unless one is stored, with a
// check-and-set on index 0, and returns the key stored afterwards: key,
// or the one that was there. Callers racing to create or restore a key
// therefore all end up with the one stored first; a caller that offered a
// key compares it with the result.
func (s *Store) CreateNamespaceKey(ctx context.Context, namespace string, key []byte) ([]byte, error) {
	kvKey, err := s.keyKey(namespace)
	if err != nil {
		return nil, fmt.Errorf("consulstore: create namespace key: %w", err)
	}
	if key == nil {
		key = make([]byte, KeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("consulstore: create namespace key %s: %w", kvKey, err)
		}
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("consulstore: create namespace key %s: %w (%d bytes offered)", kvKey, ErrBadKey, len(key))
	}
	for range 3 { // a key deleted between a lost CAS and the read is retried
		ok, _, err := s.kv.CAS(&api.KVPair{Key: kvKey, Value: key, ModifyIndex: 0}, (&api.WriteOptions{}).WithContext(ctx))
		if err != nil {
			return nil, fmt.Errorf("consulstore: create namespace key %s: %w", kvKey, err)
		}
		if ok {
			return append([]byte(nil), key...), nil
		}
		stored, err := s.NamespaceKey(ctx, namespace)
		if err != nil || stored != nil {
			return stored, err
		}
	}
	return nil, fmt.Errorf("consulstore: create namespace key %s: created and removed repeatedly while reading it", kvKey)
}

// NamespaceKeys returns the frame key of every namespace that has one. An
// entry under <prefix>/keys/ that is not a namespace's key (a bad name,
// the wrong size) is skipped and reported to onError, which may be nil.
func (s *Store) NamespaceKeys(ctx context.Context, onError func(error)) (map[string][]byte, error) {
	dir := s.prefix + "/keys/"
	pairs, _, err := s.kv.List(dir, (&api.QueryOptions{RequireConsistent: true}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("consulstore: namespace keys: %w", err)
	}
	keys := make(map[string][]byte, len(pairs))
	for _, p := range pairs {
		ns := strings.TrimPrefix(p.Key, dir)
		switch {
		case checkName("namespace", ns) != nil:
			err = fmt.Errorf("consulstore: namespace key %s: %w", p.Key, ErrBadName)
		case len(p.Value) != KeySize:
			err = fmt.Errorf("consulstore: namespace key %s: %w (%d bytes)", p.Key, ErrBadKey, len(p.Value))
		default:
			keys[ns] = p.Value
			continue
		}
		if onError != nil {
			onError(err)
		}
	}
	return keys, nil
}
