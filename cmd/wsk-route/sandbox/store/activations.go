package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/wsk-route/wsk-route/internal/whisk"
)

// ActivationFilter selects activations of one namespace.
type ActivationFilter struct {
	// Name is "" for all; a plain name matches the activation's Name, a
	// "pkg/name" matches its "path" annotation below the namespace.
	Name string
	// Since and Upto bound Start (epoch ms, inclusive); 0 is unbounded.
	Since, Upto int64
	// Limit (0: DefaultListLimit, negative: all) and Skip page the result.
	// CountActivations ignores them.
	Limit, Skip int
}

func (f ActivationFilter) match(a *whisk.Activation) bool {
	if f.Name == "" {
		return true
	}
	if !strings.Contains(f.Name, "/") {
		return a.Name == f.Name
	}
	raw, ok := a.Annotations.Get(whisk.AnnPath)
	if !ok {
		return false
	}
	var path string
	if json.Unmarshal(raw, &path) != nil {
		return false
	}
	_, rest, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	return rest == strings.TrimPrefix(f.Name, "/") || path == strings.TrimPrefix(f.Name, "/")
}

func u64(v int64) []byte {
	if v < 0 {
		v = 0
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(v))
	return b[:]
}

// indexKey is namespace NUL start(8 bytes) id.
func indexKey(ns string, start int64, id string) []byte {
	k := make([]byte, 0, len(ns)+9+len(id))
	k = append(k, ns...)
	k = append(k, 0)
	k = append(k, u64(start)...)
	return append(k, id...)
}

// PutActivation stores a under its Namespace and ActivationID (replacing a
// record with the same id) and indexes it by Start. When the namespace then
// holds more than Options.MaxActivations records, the oldest are dropped.
func (s *Store) PutActivation(a whisk.Activation) error {
	if a.Namespace == "" || a.ActivationID == "" {
		return fmt.Errorf("store: put activation %q in %q: empty namespace or id", a.ActivationID, a.Namespace)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		acts, idx, cnt := tx.Bucket(bucketActivations), tx.Bucket(bucketActIndex), tx.Bucket(bucketActCount)
		k := key(a.Namespace, a.ActivationID)
		n := int64(0)
		if v := cnt.Get([]byte(a.Namespace)); len(v) == 8 {
			n = int64(binary.BigEndian.Uint64(v))
		}
		var old whisk.Activation
		found, err := getJSON(acts, k, &old)
		if err != nil {
			return err
		}
		if found {
			if err := idx.Delete(indexKey(a.Namespace, old.Start, old.ActivationID)); err != nil {
				return err
			}
		} else {
			n++
		}
		if err := putJSON(acts, k, a); err != nil {
			return err
		}
		if err := idx.Put(indexKey(a.Namespace, a.Start, a.ActivationID), nil); err != nil {
			return err
		}
		if s.maxActs > 0 {
			prefix := append([]byte(a.Namespace), 0)
			c := idx.Cursor()
			for n > int64(s.maxActs) {
				ik, _ := c.Seek(prefix)
				if ik == nil || !bytes.HasPrefix(ik, prefix) || len(ik) < len(prefix)+8 {
					break
				}
				id := string(ik[len(prefix)+8:])
				if err := c.Delete(); err != nil {
					return err
				}
				if err := acts.Delete(key(a.Namespace, id)); err != nil {
					return err
				}
				n--
			}
		}
		return cnt.Put([]byte(a.Namespace), u64(n))
	})
	if err != nil {
		return fmt.Errorf("store: put activation %s/%s: %w", a.Namespace, a.ActivationID, err)
	}
	return nil
}

// GetActivation returns the activation id of namespace, or ErrNotFound.
func (s *Store) GetActivation(namespace, id string) (whisk.Activation, error) {
	var a whisk.Activation
	err := s.db.View(func(tx *bolt.Tx) error {
		found, err := getJSON(tx.Bucket(bucketActivations), key(namespace, id), &a)
		if err != nil {
			return fmt.Errorf("store: get activation %s/%s: %w", namespace, id, err)
		}
		if !found {
			return fmt.Errorf("%w: activation %s in %s", ErrNotFound, id, namespace)
		}
		return nil
	})
	if err != nil {
		return whisk.Activation{}, err
	}
	return a, nil
}

// scan calls fn for the activations of namespace that match f, newest
// Start first, until fn returns false.
func (s *Store) scan(namespace string, f ActivationFilter, fn func(a *whisk.Activation) bool) error {
	return s.db.View(func(tx *bolt.Tx) error {
		acts, idx := tx.Bucket(bucketActivations), tx.Bucket(bucketActIndex)
		prefix := append([]byte(namespace), 0)
		var upper []byte
		if f.Upto > 0 {
			upper = append(append([]byte(nil), prefix...), u64(f.Upto+1)...)
		} else {
			upper = append(append([]byte(nil), prefix...), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
		}
		c := idx.Cursor()
		k, _ := c.Seek(upper)
		if k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Prev() {
			if len(k) < len(prefix)+8 {
				continue
			}
			start := int64(binary.BigEndian.Uint64(k[len(prefix) : len(prefix)+8]))
			if f.Since > 0 && start < f.Since {
				break
			}
			id := string(k[len(prefix)+8:])
			var a whisk.Activation
			found, err := getJSON(acts, key(namespace, id), &a)
			if err != nil {
				return err
			}
			if !found || !f.match(&a) {
				continue
			}
			if !fn(&a) {
				break
			}
		}
		return nil
	})
}

// ListActivations returns the activations of namespace that match f,
// newest Start first.
func (s *Store) ListActivations(namespace string, f ActivationFilter) ([]whisk.Activation, error) {
	limit := f.Limit
	if limit == 0 {
		limit = DefaultListLimit
	}
	skip := f.Skip
	out := []whisk.Activation{}
	err := s.scan(namespace, f, func(a *whisk.Activation) bool {
		if skip > 0 {
			skip--
			return true
		}
		out = append(out, *a)
		return limit < 0 || len(out) < limit
	})
	if err != nil {
		return nil, fmt.Errorf("store: list activations of %s: %w", namespace, err)
	}
	return out, nil
}

// CountActivations returns how many activations of namespace match f
// (ignoring its Limit and Skip).
func (s *Store) CountActivations(namespace string, f ActivationFilter) (int, error) {
	n := 0
	err := s.scan(namespace, f, func(*whisk.Activation) bool { n++; return true })
	if err != nil {
		return 0, fmt.Errorf("store: count activations of %s: %w", namespace, err)
	}
	return n, nil
}
