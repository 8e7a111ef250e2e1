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

// i64 reads what u64 wrote; 0 for anything else.
func i64(b []byte) int64 {
	if len(b) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(b))
}

// indexKey is namespace NUL start(8 bytes) id.
func indexKey(ns string, start int64, id string) []byte {
	k := make([]byte, 0, len(ns)+9+len(id))
	k = append(k, ns...)
	k = append(k, 0)
	k = append(k, u64(start)...)
	return append(k, id...)
}

// ageKey is start(8 bytes) namespace NUL id: the record's key after its
// start time.
func ageKey(start int64, recKey []byte) []byte {
	k := make([]byte, 0, 8+len(recKey))
	k = append(k, u64(start)...)
	return append(k, recKey...)
}

// recordField is the one key of a record's own bucket.
var recordField = []byte("r")

// metaBytes is the key, in actmeta, of the size of the records kept.
var metaBytes = []byte("bytes")

// record returns the stored JSON of the activation at k, or nil: a value
// of acts, or the one value of the bucket k (records bigger than a page).
// It stays valid for the life of the transaction.
func record(acts *bolt.Bucket, k []byte) []byte {
	if v := acts.Get(k); v != nil {
		return v
	}
	if b := acts.Bucket(k); b != nil {
		return b.Get(recordField)
	}
	return nil
}

// recordSize is what a record counts against the byte budget: its key
// and its JSON.
func recordSize(k, v []byte) int64 { return int64(len(k) + len(v)) }

// actTx is one write transaction on the activation buckets. It keeps the
// namespaces' counts and the total size in memory until flush.
type actTx struct {
	acts, idx, cnt, age, meta *bolt.Bucket
	// ownBucket: a record longer than this gets a bucket of its own.
	ownBucket int
	bytes     int64
	counts    map[string]int64
}

func (s *Store) actTx(tx *bolt.Tx) *actTx {
	t := &actTx{
		acts: tx.Bucket(bucketActivations), idx: tx.Bucket(bucketActIndex), cnt: tx.Bucket(bucketActCount),
		age: tx.Bucket(bucketActAge), meta: tx.Bucket(bucketActMeta),
		ownBucket: s.ownBucket, counts: make(map[string]int64),
	}
	t.bytes = i64(t.meta.Get(metaBytes))
	return t
}

func (t *actTx) count(ns string) int64 {
	n, ok := t.counts[ns]
	if !ok {
		n = i64(t.cnt.Get([]byte(ns)))
		t.counts[ns] = n
	}
	return n
}

// put stores the record raw under k. A record longer than ownBucket goes
// into a bucket of its own, so that it has pages of its own: a record
// stored as a value shares a leaf with its neighbours, and bbolt rewrites
// a whole leaf, copying every value in it (and reading each through the
// map, which keeps it resident), whenever one key of the leaf changes.
func (t *actTx) put(ns string, start int64, id string, raw []byte) error {
	k := key(ns, id)
	if len(raw) > t.ownBucket {
		b, err := t.acts.CreateBucket(k)
		if err != nil {
			return err
		}
		if err := b.Put(recordField, raw); err != nil {
			return err
		}
	} else if err := t.acts.Put(k, raw); err != nil {
		return err
	}
	if err := t.idx.Put(indexKey(ns, start, id), nil); err != nil {
		return err
	}
	size := recordSize(k, raw)
	if err := t.age.Put(ageKey(start, k), u64(size)); err != nil {
		return err
	}
	t.bytes += size
	t.counts[ns] = t.count(ns) + 1
	return nil
}

// drop removes the record id of ns that started at start, with its index
// entries, and counts it out.
func (t *actTx) drop(ns string, start int64, id string) error {
	k := key(ns, id)
	ak := ageKey(start, k)
	size := i64(t.age.Get(ak))
	if t.acts.Bucket(k) != nil {
		if size == 0 {
			size = recordSize(k, record(t.acts, k))
		}
		if err := t.acts.DeleteBucket(k); err != nil {
			return err
		}
	} else {
		if size == 0 {
			size = recordSize(k, t.acts.Get(k))
		}
		if err := t.acts.Delete(k); err != nil {
			return err
		}
	}
	if err := t.idx.Delete(indexKey(ns, start, id)); err != nil {
		return err
	}
	if err := t.age.Delete(ak); err != nil {
		return err
	}
	t.bytes -= size
	if n := t.count(ns); n > 0 {
		t.counts[ns] = n - 1
	}
	return nil
}

// trimCount drops the oldest records of ns, but never the record keep
// (a key of acts; nil: none), while it holds more than max.
func (t *actTx) trimCount(ns string, max int, keep []byte) error {
	prefix := append([]byte(ns), 0)
	c := t.idx.Cursor()
	for t.count(ns) > int64(max) {
		ik, _ := c.Seek(prefix)
		if ik != nil && bytes.Equal(key(ns, string(ik[min(len(ik), len(prefix)+8):])), keep) {
			ik, _ = c.Next()
		}
		if ik == nil || !bytes.HasPrefix(ik, prefix) || len(ik) < len(prefix)+8 {
			return nil
		}
		start := i64(ik[len(prefix) : len(prefix)+8])
		if err := t.drop(ns, start, string(ik[len(prefix)+8:])); err != nil {
			return err
		}
	}
	return nil
}

// trimBytes drops the oldest records of any namespace, but never the
// record keep (a key of acts; nil: none), while they take more than max
// bytes.
func (t *actTx) trimBytes(max int64, keep []byte) error {
	c := t.age.Cursor()
	for t.bytes > max {
		ak, _ := c.First()
		if ak != nil && len(ak) >= 8 && bytes.Equal(ak[8:], keep) {
			ak, _ = c.Next()
		}
		if ak == nil || len(ak) < 8 {
			return nil
		}
		ns, id, ok := bytes.Cut(ak[8:], []byte{0})
		if !ok {
			return fmt.Errorf("bad key %q in %s", ak, bucketActAge)
		}
		if err := t.drop(string(ns), i64(ak[:8]), string(id)); err != nil {
			return err
		}
	}
	return nil
}

// flush writes the counts and the total size.
func (t *actTx) flush() error {
	for ns, n := range t.counts {
		if err := t.cnt.Put([]byte(ns), u64(n)); err != nil {
			return err
		}
	}
	return t.meta.Put(metaBytes, u64(t.bytes))
}

// PutActivation stores a under its Namespace and ActivationID (replacing a
// record with the same id) and indexes it by Start. Then, while the
// namespace holds more than Options.MaxActivations records, it drops the
// namespace's oldest, and while all namespaces' records take more than
// Options.MaxActivationBytes, it drops the oldest of any namespace: never
// a itself, which the controller may read right after.
func (s *Store) PutActivation(a whisk.Activation) error {
	return s.PutActivations([]whisk.Activation{a})
}

// PutActivations stores recs as PutActivation stores each, in one
// transaction (one write to disk): all of them, or none when it fails.
// It does not retain recs.
func (s *Store) PutActivations(recs []whisk.Activation) error {
	raws := make([][]byte, len(recs))
	for i, a := range recs {
		if a.Namespace == "" || a.ActivationID == "" {
			return fmt.Errorf("store: put activation %q in %q: empty namespace or id", a.ActivationID, a.Namespace)
		}
		raw, err := json.Marshal(a)
		if err != nil {
			return fmt.Errorf("store: put activation %s/%s: encode: %w", a.Namespace, a.ActivationID, err)
		}
		raws[i] = raw
	}
	var failed *whisk.Activation
	err := s.db.Update(func(tx *bolt.Tx) error {
		t := s.actTx(tx)
		for i := range recs {
			if err := s.putLocked(t, &recs[i], raws[i]); err != nil {
				failed = &recs[i]
				return err
			}
		}
		return t.flush()
	})
	switch {
	case err == nil:
		return nil
	case failed != nil:
		return fmt.Errorf("store: put activation %s/%s: %w", failed.Namespace, failed.ActivationID, err)
	case len(recs) == 1:
		return fmt.Errorf("store: put activation %s/%s: %w", recs[0].Namespace, recs[0].ActivationID, err)
	default:
		return fmt.Errorf("store: put %d activations: %w", len(recs), err)
	}
}

// putLocked stores a, encoded as raw, in t, and trims the records as
// PutActivation says.
func (s *Store) putLocked(t *actTx, a *whisk.Activation, raw []byte) error {
	k := key(a.Namespace, a.ActivationID)
	if old := record(t.acts, k); old != nil {
		var o struct {
			Start int64 `json:"start"`
		}
		if err := json.Unmarshal(old, &o); err != nil {
			return fmt.Errorf("decode %q: %w", k, err)
		}
		if err := t.drop(a.Namespace, o.Start, a.ActivationID); err != nil {
			return err
		}
	}
	if err := t.put(a.Namespace, a.Start, a.ActivationID, raw); err != nil {
		return err
	}
	if s.maxActs > 0 {
		if err := t.trimCount(a.Namespace, s.maxActs, k); err != nil {
			return err
		}
	}
	if s.maxBytes > 0 {
		if err := t.trimBytes(s.maxBytes, k); err != nil {
			return err
		}
	}
	return nil
}

// openActivations, in Open's transaction, indexes by age and sizes the
// records of a file written before the byte budget (which had neither),
// then applies the limits, which may be lower than the last run's.
func (s *Store) openActivations(tx *bolt.Tx) error {
	t := s.actTx(tx)
	if t.meta.Get(metaBytes) == nil {
		t.bytes = 0
		err := t.idx.ForEach(func(ik, _ []byte) error {
			ns, rest, ok := bytes.Cut(ik, []byte{0})
			if !ok || len(rest) < 8 {
				return nil
			}
			k := key(string(ns), string(rest[8:]))
			size := recordSize(k, record(t.acts, k))
			t.bytes += size
			return t.age.Put(ageKey(i64(rest[:8]), k), u64(size))
		})
		if err != nil {
			return fmt.Errorf("index activations by age: %w", err)
		}
	}
	if s.maxActs > 0 {
		var nss []string
		err := t.cnt.ForEach(func(ns, n []byte) error {
			if i64(n) > int64(s.maxActs) {
				nss = append(nss, string(ns))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, ns := range nss {
			if err := t.trimCount(ns, s.maxActs, nil); err != nil {
				return err
			}
		}
	}
	if s.maxBytes > 0 {
		if err := t.trimBytes(s.maxBytes, nil); err != nil {
			return err
		}
	}
	return t.flush()
}

// Usage is what the store's file holds.
type Usage struct {
	// Activations is the number of activation records kept, in all
	// namespaces.
	Activations int64
	// ActivationBytes is their size as Options.MaxActivationBytes counts
	// it: their keys and their JSON.
	ActivationBytes int64
	// UsedBytes is the part of the file bbolt has used so far (its high
	// water mark; bbolt grows the file ahead of it, in steps), and
	// FreeBytes the part of that it has freed, which it reuses before it
	// uses more.
	UsedBytes, FreeBytes int64
}

// Usage reports what the store holds.
func (s *Store) Usage() (Usage, error) {
	var u Usage
	err := s.db.View(func(tx *bolt.Tx) error {
		u.ActivationBytes = i64(tx.Bucket(bucketActMeta).Get(metaBytes))
		u.UsedBytes = tx.Size()
		return tx.Bucket(bucketActCount).ForEach(func(_, n []byte) error {
			u.Activations += i64(n)
			return nil
		})
	})
	if err != nil {
		return Usage{}, fmt.Errorf("store: usage: %w", err)
	}
	st := s.db.Stats()
	u.FreeBytes = int64(st.FreeAlloc)
	return u, nil
}

// GetActivation returns the activation id of namespace, or ErrNotFound.
func (s *Store) GetActivation(namespace, id string) (whisk.Activation, error) {
	var a whisk.Activation
	err := s.db.View(func(tx *bolt.Tx) error {
		raw := record(tx.Bucket(bucketActivations), key(namespace, id))
		if raw == nil {
			return fmt.Errorf("%w: activation %s in %s", ErrNotFound, id, namespace)
		}
		if err := json.Unmarshal(raw, &a); err != nil {
			return fmt.Errorf("store: get activation %s/%s: decode: %w", namespace, id, err)
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
			rk := key(namespace, id)
			raw := record(acts, rk)
			if raw == nil {
				continue
			}
			var a whisk.Activation
			if err := json.Unmarshal(raw, &a); err != nil {
				return fmt.Errorf("decode %q: %w", rk, err)
			}
			if !f.match(&a) {
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
