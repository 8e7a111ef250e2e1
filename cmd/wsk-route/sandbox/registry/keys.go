package registry

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// NamespaceKey returns the frame key of namespace, creating it from
// crypto/rand on first use. Every call for one namespace returns the same
// key (a copy of it); with Options.KeyFile, so does a registry started
// later on the same file.
func (r *Registry) NamespaceKey(ctx context.Context, namespace string) ([]byte, error) {
	if err := checkName("namespace", namespace); err != nil {
		return nil, fmt.Errorf("registry: namespace key: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("registry: namespace key %s: %w", namespace, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.loaded {
		keys, err := readKeys(r.keyFile)
		if err != nil {
			return nil, fmt.Errorf("registry: namespace key %s: %w", namespace, err)
		}
		r.keys, r.loaded = keys, true
	}
	if k, ok := r.keys[namespace]; ok {
		return append([]byte(nil), k...), nil
	}
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("registry: namespace key %s: %w", namespace, err)
	}
	r.keys[namespace] = k
	if err := writeKeys(r.keyFile, r.keys); err != nil {
		delete(r.keys, namespace) // not handed out: the next call tries again
		return nil, fmt.Errorf("registry: namespace key %s: %w", namespace, err)
	}
	return append([]byte(nil), k...), nil
}

// readKeys reads the key file: a JSON object of namespace to base64 key.
// No path, or no file yet, is no keys.
func readKeys(path string) (map[string][]byte, error) {
	keys := map[string][]byte{}
	if path == "" {
		return keys, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return keys, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading key file: %w", err)
	}
	if err := json.Unmarshal(data, &keys); err != nil {
		return nil, fmt.Errorf("%w %s: %w (remove it to start with new keys)", ErrBadKey, path, err)
	}
	for ns, k := range keys {
		if len(k) != KeySize || checkName("namespace", ns) != nil {
			return nil, fmt.Errorf("%w %s: namespace %q has a %d-byte key, want %d (remove the file to start with new keys)", ErrBadKey, path, ns, len(k), KeySize)
		}
	}
	return keys, nil
}

// writeKeys replaces the key file, through a temporary file in its
// directory, with mode 0600. No path writes nothing.
func writeKeys(path string, keys map[string][]byte) error {
	if path == "" {
		return nil
	}
	data, err := json.Marshal(keys)
	if err != nil {
		return fmt.Errorf("encoding keys: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".keys-*")
	if err != nil {
		return fmt.Errorf("writing key file: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // fails harmlessly after the rename
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("writing key file: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("writing key file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("writing key file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing key file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing key file: %w", err)
	}
	return nil
}
