package registry

import (
	"cmp"
	"fmt"
	"sync"
	"time"

	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/internal/spec"
)

// KeySize is the size in bytes of a namespace's frame key.
const KeySize = 32

// DeregisterAfter is how long an instance may stay unpassed past its TTL
// before it is removed, as consulstore's DeregisterCriticalServiceAfter.
const DeregisterAfter = time.Minute

// maxFieldLen bounds an instance field, as consulstore's limit on a Meta
// value. Names and IDs are bounded by spec.CheckName and
// routetable.CheckID.
const maxFieldLen = 512

// Options configures New and Open. The zero value is a registry on the
// real clock.
type Options struct {
	// Clock tells the time TTLs are measured with; nil means time.Now. With
	// a fake clock, call Recheck after moving it.
	Clock func() time.Time
	// RunRetention is how long the events of a run are kept after its
	// first one (runevents.go); 0 means DefaultRunRetention.
	RunRetention time.Duration
}

// Registry is the embedded registry. Its methods are safe for concurrent
// use; the zero value is not usable, call New.
type Registry struct {
	now  func() time.Time
	file string // the state file (persist.go); "": memory only

	// persistMu serialises the changes of st and the writes of the file
	// (update in persist.go); it is held across the write, and guards no
	// field that anything else reads.
	persistMu sync.Mutex

	// mu guards everything below; it is never held across I/O.
	mu      sync.Mutex
	insts   map[string]*entry // by instance ID
	st      *state            // marker, keys, specs; replaced whole, never edited in place
	changed chan struct{}     // closed and replaced on every change

	runRetention time.Duration
	runs         map[string]*runLog // by "namespace/run"
	runsPruned   time.Time          // when expired runs were last dropped
	runsChanged  chan struct{}      // closed and replaced on every run event
}

// entry is one registered instance and its TTL check.
type entry struct {
	inst    routetable.Instance
	ttl     time.Duration
	expires time.Time // passing until then
}

// storedSpec is a spec as stored: its JSON and its version.
type storedSpec struct {
	data    []byte
	version uint64
}

// New returns an empty registry that keeps everything in memory. It does
// no I/O; Open makes one that keeps its state in a directory.
func New(opts Options) *Registry {
	now := opts.Clock
	if now == nil {
		now = time.Now
	}
	return &Registry{
		now:     now,
		insts:   map[string]*entry{},
		st:      newState(),
		changed: make(chan struct{}),

		runRetention: cmp.Or(opts.RunRetention, DefaultRunRetention),
		runs:         map[string]*runLog{},
		runsChanged:  make(chan struct{}),
	}
}

// broadcastLocked wakes every watcher. r.mu must be held.
func (r *Registry) broadcastLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// Recheck wakes every watch so that it re-evaluates the TTLs against
// Options.Clock. Only a fake clock needs it: on the real clock each watch
// wakes by itself at the next expiry.
func (r *Registry) Recheck() {
	r.mu.Lock()
	r.broadcastLocked()
	r.mu.Unlock()
}

// checkName reports whether name can name a namespace or workflow: the
// rules of spec.CheckName, as consulstore's, wrapped in ErrBadName.
func checkName(what, name string) error {
	if err := spec.CheckName(what, name); err != nil {
		return fmt.Errorf("%w: %w", ErrBadName, err)
	}
	return nil
}
