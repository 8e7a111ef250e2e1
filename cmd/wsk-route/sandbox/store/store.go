package store

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wsk-route/wsk-route/internal/whisk"
)

// DefaultMaxActivations is how many activation records a namespace keeps
// when Options.MaxActivations is zero.
const DefaultMaxActivations = 10000

// DefaultMaxActivationBytes is how many bytes of activation records the
// store keeps, all namespaces together, when Options.MaxActivationBytes is
// zero: 256 MiB.
const DefaultMaxActivationBytes = 256 << 20

// DefaultListLimit is the number of entries a listing returns when its
// limit is zero (OpenWhisk's default page size).
const DefaultListLimit = 30

var (
	bucketSubjects    = []byte("subjects")
	bucketActions     = []byte("actions")
	bucketPackages    = []byte("packages")
	bucketActivations = []byte("activations")
	bucketActIndex    = []byte("actindex")
	bucketActCount    = []byte("actcount")
	bucketActAge      = []byte("actage")
	bucketActMeta     = []byte("actmeta")
	allBuckets        = [][]byte{bucketSubjects, bucketActions, bucketPackages, bucketActivations, bucketActIndex, bucketActCount, bucketActAge, bucketActMeta}
)

// Options tune a Store. The zero value is a valid configuration.
type Options struct {
	// MaxActivations is the number of activation records kept per
	// namespace; older ones are dropped by PutActivation and Open. Zero means
	// DefaultMaxActivations; a negative value keeps every record.
	MaxActivations int
	// MaxActivationBytes is the byte budget of the activation records,
	// all namespaces together, counting each record's key and JSON: once
	// PutActivation takes them over it, the oldest records (by start
	// time, of any namespace) are dropped until they fit again. It is one
	// budget for the whole file because it is there to bound the file (and
	// bbolt's map of it), which holds every namespace. Zero means
	// DefaultMaxActivationBytes; a negative value sets no budget. The
	// file settles somewhat above the budget: see the package doc.
	MaxActivationBytes int64
	// Now returns the current time for the Updated field of entities.
	// Nil means time.Now.
	Now func() time.Time
	// Timeout is how long Open waits for the file lock. Zero means one
	// second.
	Timeout time.Duration
}

// Store is the sandbox's database. It is safe for concurrent use.
type Store struct {
	db       *bolt.DB
	maxActs  int
	maxBytes int64
	// ownBucket is the length above which a record gets a bucket of its
	// own (actTx.put): the file's page size.
	ownBucket int
	now       func() time.Time

	// actions caches decoded actions by key, as OpenWhisk's controller
	// and invoker cache entities: an action's code (megabytes of base64
	// for a binary) is decoded once per revision, not on every invoke.
	// This process is the file's only user (bbolt's lock), so Put and
	// Delete keep the cache exact.
	mu      sync.Mutex
	actions map[string]entity[whisk.Action]
	// last is the last Updated stamp given (guarded by mu).
	last int64
}

// stamp returns the Updated time of a change: now in epoch milliseconds,
// but always after the previous stamp, so that "newest first" lists
// changes in the order they were made even within one millisecond.
func (s *Store) stamp() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.now().UnixMilli()
	if t <= s.last {
		t = s.last + 1
	}
	s.last = t
	return t
}

// Open opens (creating if missing, mode 0600) the store at path with the
// default Options.
func Open(path string) (*Store, error) { return OpenWith(path, Options{}) }

// OpenWith opens (creating if missing, mode 0600) the store at path. It
// fails with a clear error when another process (another `wsk-route dev`)
// holds the file.
func OpenWith(path string, o Options) (*Store, error) {
	if o.Timeout == 0 {
		o.Timeout = time.Second
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: o.Timeout})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("store: open %s: the file is locked: another `wsk-route dev` uses that data dir (stop it or choose another data dir): %w", path, err)
		}
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	s := &Store{db: db, maxActs: o.MaxActivations, maxBytes: o.MaxActivationBytes, ownBucket: db.Info().PageSize, now: o.Now}
	if s.maxActs == 0 {
		s.maxActs = DefaultMaxActivations
	}
	if s.maxBytes == 0 {
		s.maxBytes = DefaultMaxActivationBytes
	}
	if s.now == nil {
		s.now = time.Now
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return fmt.Errorf("create bucket %s: %w", b, err)
			}
		}
		return s.openActivations(tx)
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	return s, nil
}

// Close closes the file and releases its lock.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// key joins parts with NUL bytes.
func key(parts ...string) []byte { return []byte(strings.Join(parts, "\x00")) }

// entity is the stored form of actions and packages.
type entity[T any] struct {
	Rev    string `json:"rev"`
	Entity T      `json:"entity"`
}

// nextRev returns the revision after rev: "N-<16 hex>" with N one more.
func nextRev(rev string) (string, error) {
	n := 0
	if i := strings.IndexByte(rev, '-'); i > 0 {
		n, _ = strconv.Atoi(rev[:i])
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("revision: %w", err)
	}
	return strconv.Itoa(n+1) + "-" + hex.EncodeToString(b[:]), nil
}

func getJSON(b *bolt.Bucket, k []byte, v any) (bool, error) {
	raw := b.Get(k)
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return true, fmt.Errorf("decode %q: %w", k, err)
	}
	return true, nil
}

func putJSON(b *bolt.Bucket, k []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %q: %w", k, err)
	}
	return b.Put(k, raw)
}

// PutSubject stores (or replaces) an identity, keyed by the uuid part of
// its AuthKey.APIKey ("uuid:key").
func (s *Store) PutSubject(id whisk.Identity) error {
	uuid, _, ok := strings.Cut(id.AuthKey.APIKey, ":")
	if !ok || uuid == "" {
		return fmt.Errorf("store: subject %q: api key must be \"uuid:key\"", id.Subject)
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		if err := putJSON(tx.Bucket(bucketSubjects), []byte(uuid), id); err != nil {
			return fmt.Errorf("store: put subject %s: %w", id.Subject, err)
		}
		return nil
	})
}

// Authenticate returns the identity whose API key is uuid:key. It returns
// ErrNotFound when the uuid is unknown or the key does not match (compared
// in constant time).
func (s *Store) Authenticate(uuid, key string) (whisk.Identity, error) {
	var id whisk.Identity
	err := s.db.View(func(tx *bolt.Tx) error {
		found, err := getJSON(tx.Bucket(bucketSubjects), []byte(uuid), &id)
		if err != nil {
			return fmt.Errorf("store: subject: %w", err)
		}
		if !found {
			return fmt.Errorf("%w: no subject with uuid %s", ErrNotFound, uuid)
		}
		_, want, _ := strings.Cut(id.AuthKey.APIKey, ":")
		if subtle.ConstantTimeCompare([]byte(want), []byte(key)) != 1 {
			return fmt.Errorf("%w: wrong key for uuid %s", ErrNotFound, uuid)
		}
		return nil
	})
	if err != nil {
		return whisk.Identity{}, err
	}
	return id, nil
}

// PutAction stores a. Its Namespace is the entity path ("guest" or
// "guest/pkg"); a package in the path must exist (ErrNotFound otherwise).
// When the action exists and overwrite is false it returns ErrExists. The
// stored action gets Version whisk.NextVersion of the old one ("0.0.1" when
// new) and Updated now; PutAction returns it with its new revision.
func (s *Store) PutAction(a whisk.Action, overwrite bool) (whisk.Action, string, error) {
	if a.Namespace == "" || a.Name == "" {
		return whisk.Action{}, "", fmt.Errorf("store: put action %q in %q: empty path or name", a.Name, a.Namespace)
	}
	var rev string
	err := s.db.Update(func(tx *bolt.Tx) error {
		if ns, pkg, ok := strings.Cut(a.Namespace, "/"); ok {
			if tx.Bucket(bucketPackages).Get(key(ns, pkg)) == nil {
				return fmt.Errorf("%w: package %s", ErrNotFound, a.Namespace)
			}
		}
		b := tx.Bucket(bucketActions)
		k := key(a.Namespace, a.Name)
		var old entity[whisk.Action]
		found, err := getJSON(b, k, &old)
		if err != nil {
			return err
		}
		if found && !overwrite {
			return fmt.Errorf("%w: action %s", ErrExists, a.FQN())
		}
		if rev, err = nextRev(old.Rev); err != nil {
			return err
		}
		a.Version = whisk.NextVersion(old.Entity.Version)
		a.Updated = s.stamp()
		return putJSON(b, k, entity[whisk.Action]{Rev: rev, Entity: a})
	})
	s.forget(a.Namespace, a.Name)
	if err != nil {
		return whisk.Action{}, "", wrapOp("put action", a.FQN(), err)
	}
	return a, rev, nil
}

func (s *Store) forget(path, name string) {
	s.mu.Lock()
	delete(s.actions, string(key(path, name)))
	s.mu.Unlock()
}

// cloneAction returns a with its own slices, so that callers of the
// cached copy cannot change the cache.
func cloneAction(a whisk.Action) whisk.Action {
	a.Annotations = slices.Clone(a.Annotations)
	a.Parameters = slices.Clone(a.Parameters)
	a.Exec.Components = slices.Clone(a.Exec.Components)
	return a
}

// wrapOp adds the store's prefix to errors that do not carry it yet.
func wrapOp(op, what string, err error) error {
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrExists) || errors.Is(err, ErrNotEmpty) {
		return err
	}
	return fmt.Errorf("store: %s %s: %w", op, what, err)
}

// GetAction returns the action name in path and its revision, or
// ErrNotFound.
func (s *Store) GetAction(path, name string) (whisk.Action, string, error) {
	k := string(key(path, name))
	s.mu.Lock()
	e, ok := s.actions[k]
	s.mu.Unlock()
	if ok {
		return cloneAction(e.Entity), e.Rev, nil
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		found, err := getJSON(tx.Bucket(bucketActions), key(path, name), &e)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("%w: action /%s/%s", ErrNotFound, path, name)
		}
		return nil
	})
	if err != nil {
		return whisk.Action{}, "", wrapOp("get action", "/"+path+"/"+name, err)
	}
	s.mu.Lock()
	if s.actions == nil {
		s.actions = make(map[string]entity[whisk.Action])
	}
	s.actions[k] = e
	s.mu.Unlock()
	return cloneAction(e.Entity), e.Rev, nil
}

// DeleteAction removes the action name in path and returns it, or
// ErrNotFound.
func (s *Store) DeleteAction(path, name string) (whisk.Action, error) {
	var e entity[whisk.Action]
	defer s.forget(path, name)
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketActions)
		k := key(path, name)
		found, err := getJSON(b, k, &e)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("%w: action /%s/%s", ErrNotFound, path, name)
		}
		return b.Delete(k)
	})
	if err != nil {
		return whisk.Action{}, wrapOp("delete action", "/"+path+"/"+name, err)
	}
	return e.Entity, nil
}

// listPrefix decodes every value in b under prefix+"\x00" whose key has
// no further NUL.
func listPrefix[T any](b *bolt.Bucket, prefix string) ([]T, error) {
	p := []byte(prefix + "\x00")
	var out []T
	c := b.Cursor()
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		if bytes.IndexByte(k[len(p):], 0) >= 0 {
			continue
		}
		var e entity[T]
		if err := json.Unmarshal(v, &e); err != nil {
			return nil, fmt.Errorf("decode %q: %w", k, err)
		}
		out = append(out, e.Entity)
	}
	return out, nil
}

// page applies skip and limit (0: DefaultListLimit, negative: all).
func page[T any](xs []T, limit, skip int) []T {
	if skip < 0 {
		skip = 0
	}
	if skip >= len(xs) {
		return []T{}
	}
	xs = xs[skip:]
	if limit == 0 {
		limit = DefaultListLimit
	}
	if limit > 0 && limit < len(xs) {
		xs = xs[:limit]
	}
	return xs
}

// ListActions returns the actions directly in path ("guest" or
// "guest/pkg"), newest Updated first (then by name), after skipping skip
// and at most limit of them: 0 means DefaultListLimit, a negative limit
// means all.
func (s *Store) ListActions(path string, limit, skip int) ([]whisk.Action, error) {
	var all []whisk.Action
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		all, err = listPrefix[whisk.Action](tx.Bucket(bucketActions), path)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: list actions in %s: %w", path, err)
	}
	sort.SliceStable(all, func(i, j int) bool {
		if all[i].Updated != all[j].Updated {
			return all[i].Updated > all[j].Updated
		}
		return all[i].Name < all[j].Name
	})
	return page(all, limit, skip), nil
}

// PutPackage stores p (Namespace is the namespace, Name the package's
// name). When it exists and overwrite is false it returns ErrExists. Like
// PutAction it sets Version and Updated; a nil Binding becomes {} and
// Actions is not stored. It returns the stored package.
func (s *Store) PutPackage(p whisk.Package, overwrite bool) (whisk.Package, error) {
	if p.Namespace == "" || p.Name == "" || strings.Contains(p.Namespace, "/") {
		return whisk.Package{}, fmt.Errorf("store: put package %q in %q: empty or nested namespace or name", p.Name, p.Namespace)
	}
	p.Actions = nil
	if len(p.Binding) == 0 {
		p.Binding = json.RawMessage("{}")
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPackages)
		k := key(p.Namespace, p.Name)
		var old entity[whisk.Package]
		found, err := getJSON(b, k, &old)
		if err != nil {
			return err
		}
		if found && !overwrite {
			return fmt.Errorf("%w: package /%s/%s", ErrExists, p.Namespace, p.Name)
		}
		rev, err := nextRev(old.Rev)
		if err != nil {
			return err
		}
		p.Version = whisk.NextVersion(old.Entity.Version)
		p.Updated = s.stamp()
		return putJSON(b, k, entity[whisk.Package]{Rev: rev, Entity: p})
	})
	if err != nil {
		return whisk.Package{}, wrapOp("put package", "/"+p.Namespace+"/"+p.Name, err)
	}
	return p, nil
}

// GetPackage returns the package name in namespace ns (without its
// Actions), or ErrNotFound.
func (s *Store) GetPackage(ns, name string) (whisk.Package, error) {
	var e entity[whisk.Package]
	err := s.db.View(func(tx *bolt.Tx) error {
		found, err := getJSON(tx.Bucket(bucketPackages), key(ns, name), &e)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("%w: package /%s/%s", ErrNotFound, ns, name)
		}
		return nil
	})
	if err != nil {
		return whisk.Package{}, wrapOp("get package", "/"+ns+"/"+name, err)
	}
	return e.Entity, nil
}

// DeletePackage removes the package and returns it. It returns ErrNotFound
// when it does not exist and a *NotEmptyError (errors.Is ErrNotEmpty) when
// it still holds actions.
func (s *Store) DeletePackage(ns, name string) (whisk.Package, error) {
	var e entity[whisk.Package]
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPackages)
		k := key(ns, name)
		found, err := getJSON(b, k, &e)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("%w: package /%s/%s", ErrNotFound, ns, name)
		}
		acts, err := listPrefix[whisk.Action](tx.Bucket(bucketActions), ns+"/"+name)
		if err != nil {
			return err
		}
		if len(acts) > 0 {
			return &NotEmptyError{Package: ns + "/" + name, Entities: len(acts)}
		}
		return b.Delete(k)
	})
	if err != nil {
		return whisk.Package{}, wrapOp("delete package", "/"+ns+"/"+name, err)
	}
	return e.Entity, nil
}

// ListPackages returns the packages of namespace ns, newest Updated first,
// with skip and limit as in ListActions.
func (s *Store) ListPackages(ns string, limit, skip int) ([]whisk.Package, error) {
	var all []whisk.Package
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		all, err = listPrefix[whisk.Package](tx.Bucket(bucketPackages), ns)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: list packages in %s: %w", ns, err)
	}
	sort.SliceStable(all, func(i, j int) bool {
		if all[i].Updated != all[j].Updated {
			return all[i].Updated > all[j].Updated
		}
		return all[i].Name < all[j].Name
	})
	return page(all, limit, skip), nil
}
