package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/wsk-route/wsk-route/internal/statefile"
	"github.com/wsk-route/wsk-route/invoker-plugin/proxyconn"
)

// BindingsFile is the name, in StateDir, of the file that persists the
// cgroup-to-namespace bindings.
const BindingsFile = "bindings.json"

// maxBindingsFile bounds the bindings file read at startup.
const maxBindingsFile = 64 << 20

// ErrNamespaceBound is returned (wrapped) for a Register from a cgroup
// bound to another namespace.
var ErrNamespaceBound = errors.New("agent: container is bound to another namespace")

// ErrUnidentifiedPeer is returned (wrapped) for a Register whose peer the
// kernel could not identify, unless Config.AllowUnidentifiedPeers is set.
var ErrUnidentifiedPeer = errors.New("agent: peer unidentified")

// binding is one cgroup's namespace.
type binding struct {
	cg  proxyconn.Cgroup
	ns  string
	gen uint64 // bindings.gen when it was made; persisted once saved >= gen
}

// bindingRecord is a binding as stored in the bindings file.
type bindingRecord struct {
	Controller string `json:"controller,omitempty"`
	Path       string `json:"path"`
	Namespace  string `json:"namespace"`
}

// bindingsState is the bindings file.
type bindingsState struct {
	Version  int             `json:"version"`
	Bindings []bindingRecord `json:"bindings"`
}

// bindings holds the cgroup-to-namespace bindings. Decisions are made
// under mu; the file is written by the persister goroutine only, never
// under mu.
type bindings struct {
	path string // the bindings file

	mu sync.Mutex // guards the fields below
	m  map[string]*binding
	// gen counts changes of m; saved is the gen of the last file written
	// and failed the gen of the last failed write (with failErr).
	gen, saved, failed uint64
	failErr            error
	savedCh            chan struct{} // closed (and replaced) after each write attempt

	trigger chan struct{} // buffer 1: m changed, write the file
}

// loadBindings reads the bindings file in dir (none: no bindings).
func loadBindings(dir string) (*bindings, error) {
	b := &bindings{
		path:    filepath.Join(dir, BindingsFile),
		m:       make(map[string]*binding),
		savedCh: make(chan struct{}),
		trigger: make(chan struct{}, 1),
	}
	f, err := os.Open(b.path)
	if errors.Is(err, os.ErrNotExist) {
		return b, nil
	}
	if err != nil {
		return nil, fmt.Errorf("agent: bindings: %w", err)
	}
	defer f.Close()
	var st bindingsState
	// A file over the limit is cut, and a cut document fails to decode.
	dec := json.NewDecoder(io.LimitReader(f, maxBindingsFile))
	if err := dec.Decode(&st); err != nil {
		return nil, fmt.Errorf("agent: bindings file %s: %w", b.path, err)
	}
	if st.Version != 1 {
		return nil, fmt.Errorf("agent: bindings file %s: version %d, want 1", b.path, st.Version)
	}
	for _, r := range st.Bindings {
		cg := proxyconn.Cgroup{Controller: r.Controller, Path: r.Path}
		if !strings.HasPrefix(r.Path, "/") || filepath.Clean(r.Path) != r.Path || !safeName(r.Namespace) {
			return nil, fmt.Errorf("agent: bindings file %s: bad binding %+v", b.path, r)
		}
		b.m[cg.String()] = &binding{cg: cg, ns: r.Namespace}
	}
	return b, nil
}

// bind binds cg to ns if it is not bound yet. It returns the generation
// that must be saved before the binding may be relied on, or
// ErrNamespaceBound.
func (b *bindings) bind(cg proxyconn.Cgroup, ns string) (uint64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if cur := b.m[cg.String()]; cur != nil {
		if cur.ns != ns {
			return 0, fmt.Errorf("%w: cgroup %s is bound to namespace %q, not %q", ErrNamespaceBound, cg, cur.ns, ns)
		}
		if cur.gen > b.saved { // its write failed: try again
			b.failed = 0
			b.poke()
		}
		return cur.gen, nil
	}
	b.gen++
	b.m[cg.String()] = &binding{cg: cg, ns: ns, gen: b.gen}
	b.poke()
	return b.gen, nil
}

// poke wakes the persister; it never blocks.
func (b *bindings) poke() {
	select {
	case b.trigger <- struct{}{}:
	default:
	}
}

// waitSaved waits until generation gen has been written to the file.
func (b *bindings) waitSaved(ctx context.Context, gen uint64) error {
	for {
		b.mu.Lock()
		saved, failed, failErr, ch := b.saved, b.failed, b.failErr, b.savedCh
		b.mu.Unlock()
		switch {
		case saved >= gen:
			return nil
		case failed >= gen:
			return fmt.Errorf("agent: bindings not saved: %w", failErr)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("agent: bindings not saved: %w", ctx.Err())
		}
	}
}

// persister writes the file whenever the bindings change, until ctx ends.
func (b *bindings) persister(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-b.trigger:
		}
		gen, st := b.snapshot()
		err := b.write(st)
		b.mu.Lock()
		if err != nil {
			b.failed, b.failErr = gen, err
		} else if gen > b.saved {
			b.saved = gen
		}
		close(b.savedCh)
		b.savedCh = make(chan struct{})
		b.mu.Unlock()
	}
}

// snapshot returns the current generation and the file contents for it.
func (b *bindings) snapshot() (uint64, bindingsState) {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := bindingsState{Version: 1, Bindings: make([]bindingRecord, 0, len(b.m))}
	for _, bd := range b.m {
		st.Bindings = append(st.Bindings, bindingRecord{Controller: bd.cg.Controller, Path: bd.cg.Path, Namespace: bd.ns})
	}
	slices.SortFunc(st.Bindings, func(x, y bindingRecord) int {
		return strings.Compare(x.Controller+":"+x.Path, y.Controller+":"+y.Path)
	})
	return b.gen, st
}

// write replaces the file atomically (internal/statefile).
func (b *bindings) write(st bindingsState) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return statefile.Write(b.path, append(data, '\n'))
}

// cgroups returns the bound cgroups.
func (b *bindings) cgroups() []proxyconn.Cgroup {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]proxyconn.Cgroup, 0, len(b.m))
	for _, bd := range b.m {
		out = append(out, bd.cg)
	}
	return out
}

// prune removes the bindings of the cgroups whose directory under root no
// longer exists and returns how many it removed. It stats outside mu; a
// cgroup that cannot be checked for another reason is kept.
func (b *bindings) prune(root string) int {
	var gone []string
	for _, cg := range b.cgroups() {
		if _, err := os.Stat(cg.Dir(root)); errors.Is(err, os.ErrNotExist) {
			gone = append(gone, cg.String())
		}
	}
	if len(gone) == 0 {
		return 0
	}
	b.mu.Lock()
	for _, k := range gone {
		delete(b.m, k)
	}
	b.gen++
	b.mu.Unlock()
	b.poke()
	return len(gone)
}

// len returns the number of bindings.
func (b *bindings) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.m)
}
