package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsk-route/wsk-route/internal/spec"
	"github.com/wsk-route/wsk-route/internal/statefile"
	"github.com/wsk-route/wsk-route/invoker-plugin/metrics"
)

// Registry recovery: the agent keeps, in StateDir/RegistryCopyFile, a copy
// of what it needs to put back into a registry that lost its data — the
// registry's cluster marker, the frame key of every namespace, and every
// spec — and reaches the registry through a recovery, which wraps it:
//
//   - Every look at the registry starts with the marker. The same marker
//     as the copy's: the registry is the one the copy is of. Its keys are
//     copied, and when the specs changed they are read again (between two
//     reads of the marker, so that a loss in between is never taken for
//     deletes), delivered and copied. So a workflow deleted on purpose is
//     gone from the copy too, and stays deleted.
//   - No marker in the registry while the copy has one: the registry lost
//     its data (a Consul restarted empty, a KV wiped). The agent logs it
//     at error level, counts it (wsk_route_registry_losses_total), and
//     restores the keys, then the specs, then the marker, each with a
//     check-and-set on index 0, so that agents racing to restore all end
//     up with the values stored first and a spec composed meanwhile is
//     never replaced; the marker comes last, so that a marker present
//     means a complete restore. The lossy picture is never delivered: the
//     proxies keep the specs they had meanwhile.
//   - No marker on either side: a new registry. The agent creates one.
//     A marker only in the registry: the agent adopts it.
//   - Another marker than the copy's: another registry, or one re-created
//     after a loss by an agent without a copy. The registry wins (it is
//     what every host shares; a host insisting on its copy would split the
//     cluster for good): the agent adopts the marker, reports the conflict
//     (log at error level, wsk_route_registry_conflicts_total{what=
//     "marker"}) and restores nothing, since its copy may hold workflows
//     deleted since.
//   - Keys are never created on the way. NamespaceKey reads the key; when
//     the registry has none it first checks the marker (a loss restores
//     every key), then puts back the copy's key of that namespace if there
//     is one, and only if neither has a key creates one. A key in the
//     registry that differs from the copy's is reported the same way
//     (what="key") and adopted: registry wins, for the same reason.
//     Containers given the old key cannot exchange frames with those given
//     the new one until they register again.
//
// The copy holds the keys of every namespace, not only of those this host
// served: after a loss, the first agent to restore puts the marker back,
// and an agent that looks later finds nothing lost; had the first one
// lacked a namespace's key, the next container of that namespace would
// get a new key and could not talk to the old ones. The keys are as
// exposed in StateDir (0700, files 0600) as they are to the agent's
// Consul token, which reads them all.
//
// The marker is also checked every registryCheckInterval, so that a loss
// without spec changes is seen (and reported) before a key is needed.

// RegistryCopyFile is the name, in StateDir, of the agent's copy of the
// registry (registry recovery, recovery.go).
const RegistryCopyFile = "registry-copy.json"

// maxRegistryCopy bounds the copy file read by New.
const maxRegistryCopy = 256 << 20

// registryCheckInterval is how often the marker is checked when nothing
// else made the agent look.
const registryCheckInterval = 30 * time.Second

// restoreTimeout bounds one look at the registry, restore included.
const restoreTimeout = time.Minute

// frameKeySize is the size of a namespace's frame key, as the registries
// store it.
const frameKeySize = 32

// Markers reads and creates the registry's cluster marker: an id created
// once per registry, whose absence tells a registry that lost its data
// from one where workflows were deleted.
type Markers interface {
	// Marker returns the marker, or "" and no error when there is none.
	Marker(ctx context.Context) (string, error)
	// CreateMarker stores id unless a marker is stored and returns the
	// one stored afterwards.
	CreateMarker(ctx context.Context, id string) (string, error)
}

// Restorer lists what the agent's copy keeps, the specs and the frame
// keys, and puts back the specs a registry lost (keys go back through
// Keys.CreateNamespaceKey).
type Restorer interface {
	// ListSpecs returns every spec, Version set, ordered by key.
	ListSpecs(ctx context.Context, onError func(error)) ([]*spec.Spec, error)
	// NamespaceKeys returns the key of every namespace that has one.
	NamespaceKeys(ctx context.Context, onError func(error)) (map[string][]byte, error)
	// CreateSpec stores sp unless a spec of its name is stored, and
	// reports whether it did.
	CreateSpec(ctx context.Context, sp *spec.Spec) (bool, error)
}

// markerVerdict is what the registry's marker says, given the copy's.
type markerVerdict int

const (
	markerSame  markerVerdict = iota // the registry is the one the copy is of
	markerNone                       // neither has one: a new registry; create it
	markerJoin                       // only the registry has one: adopt it
	markerLost                       // only the copy has one: the registry lost its data; restore
	markerOther                      // both, different: adopt the registry's, report
)

// judgeMarker decides what to do from the copy's marker and the
// registry's ("": none).
func judgeMarker(copied, stored string) markerVerdict {
	switch {
	case copied == stored && copied != "":
		return markerSame
	case copied == "" && stored == "":
		return markerNone
	case copied == "":
		return markerJoin
	case stored == "":
		return markerLost
	}
	return markerOther
}

// registryCopyJSON is the copy file.
type registryCopyJSON struct {
	Version int               `json:"version"`
	Marker  string            `json:"marker,omitempty"`
	Keys    map[string][]byte `json:"keys"`
	Specs   []json.RawMessage `json:"specs"` // spec.Marshal of each, ordered by key
}

// recovery is the registry as the agent reaches it: a Registry whose
// NamespaceKey and WatchSpecs keep and use the copy.
type recovery struct {
	Registry // the registry itself; what recovery does not wrap passes through
	log      *slog.Logger
	metrics  *metrics.Metrics
	path     string // the copy file

	// checkMu serialises verify and the restores it makes; it guards no
	// field.
	checkMu sync.Mutex

	mu     sync.Mutex        // guards the fields below
	marker string            // the registry's marker as last seen; "": none yet
	keys   map[string][]byte // every namespace's frame key, by namespace
	specs  map[string][]byte // spec.Marshal of each spec, by spec.Spec.Key()
	gen    uint64            // changes of the three above

	// saveMu serialises writes of the copy file and guards saved.
	saveMu sync.Mutex
	saved  uint64 // the gen last written

	dirty   atomic.Bool   // the specs changed since they were last delivered
	trigger chan struct{} // buffer 1: look at the registry now
}

var _ Registry = (*recovery)(nil)

// newRecovery reads the copy in stateDir (none: an empty copy) and wraps
// reg. A copy that cannot be read makes it fail rather than forget.
func newRecovery(reg Registry, stateDir string, log *slog.Logger, m *metrics.Metrics) (*recovery, error) {
	r := &recovery{
		Registry: reg, log: log, metrics: m,
		path:    filepath.Join(stateDir, RegistryCopyFile),
		keys:    map[string][]byte{},
		specs:   map[string][]byte{},
		trigger: make(chan struct{}, 1),
	}
	r.dirty.Store(true)
	f, err := os.Open(r.path)
	if errors.Is(err, os.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return nil, fmt.Errorf("agent: registry copy: %w", err)
	}
	defer f.Close()
	var c registryCopyJSON
	// A file over the limit is cut, and a cut document fails to decode.
	dec := json.NewDecoder(io.LimitReader(f, maxRegistryCopy))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("agent: registry copy %s: %w", r.path, err)
	}
	if c.Version != 1 {
		return nil, fmt.Errorf("agent: registry copy %s: version %d, want 1", r.path, c.Version)
	}
	if len(c.Marker) > maxNameLen {
		return nil, fmt.Errorf("agent: registry copy %s: marker of %d bytes", r.path, len(c.Marker))
	}
	r.marker = c.Marker
	for ns, k := range c.Keys {
		if !safeName(ns) || len(k) != frameKeySize {
			return nil, fmt.Errorf("agent: registry copy %s: namespace %q has a %d-byte key", r.path, ns, len(k))
		}
		r.keys[ns] = k
	}
	for _, data := range c.Specs {
		sp, err := spec.Parse(data)
		if err == nil {
			err = sp.Validate()
		}
		if err != nil {
			return nil, fmt.Errorf("agent: registry copy %s: %w", r.path, err)
		}
		r.specs[sp.Key()] = data
	}
	return r, nil
}

// poke makes WatchSpecs look at the registry; it never blocks.
func (r *recovery) poke() {
	select {
	case r.trigger <- struct{}{}:
	default:
	}
}

// NamespaceKey returns the frame key of namespace, restoring or creating
// it when the registry has none (see the top of this file).
func (r *recovery) NamespaceKey(ctx context.Context, namespace string) ([]byte, error) {
	stored, err := r.Registry.NamespaceKey(ctx, namespace)
	if err != nil {
		return nil, err
	}
	if stored == nil {
		// A registry that lost everything is restored as a whole,
		// this key included.
		if _, err := r.verify(ctx); err != nil {
			return nil, err
		}
		if stored, err = r.Registry.NamespaceKey(ctx, namespace); err != nil {
			return nil, err
		}
	}
	if stored == nil {
		r.mu.Lock()
		copied := r.keys[namespace]
		r.mu.Unlock()
		if stored, err = r.Registry.CreateNamespaceKey(ctx, namespace, copied); err != nil {
			return nil, err
		}
		switch {
		case copied == nil:
			r.log.Info("agent: created the frame key of a namespace", "namespace", namespace)
		case bytes.Equal(stored, copied):
			r.metrics.RegistryRestored(metrics.RestoredKey, 1)
			r.log.Warn("agent: the registry had no frame key for a namespace this host used, though it has its marker; restored the key this host used", "namespace", namespace)
		}
	}
	if r.noteKey(namespace, stored) {
		if err := r.save(); err != nil {
			return nil, err
		}
	}
	return stored, nil
}

// noteKey puts the key the registry holds for namespace into the copy,
// reporting a different one the copy had. It reports whether the copy
// changed; the caller saves it.
func (r *recovery) noteKey(namespace string, key []byte) bool {
	r.mu.Lock()
	old, had := r.keys[namespace]
	if had && bytes.Equal(old, key) {
		r.mu.Unlock()
		return false
	}
	r.keys[namespace] = bytes.Clone(key)
	r.gen++
	r.mu.Unlock()
	if had {
		r.metrics.RegistryConflict(metrics.ConflictKey)
		r.log.Error("agent: the registry holds another frame key for a namespace than the one this host kept; following the registry: containers given the old key cannot exchange frames with those given the new one until they register again",
			"namespace", namespace)
	}
	return true
}

// WatchSpecs calls fn with every spec once at the start and then each
// time the specs change, as Registry.WatchSpecs does, but only with
// pictures taken between two reads of the same marker, the copy's; it
// keeps the copy of the specs, and restores a registry that lost its data
// (see the top of this file). It runs the registry's watch, as a trigger
// only, in a goroutine it waits for; fn and onError run in the caller's
// goroutine. It returns ctx.Err() when ctx ends.
func (r *recovery) WatchSpecs(ctx context.Context, fn func([]*spec.Spec), onError func(error)) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	wg.Go(func() {
		_ = r.Registry.WatchSpecs(ctx, func([]*spec.Spec) {
			r.dirty.Store(true)
			r.poke()
		}, onError)
	})
	tick := time.NewTicker(registryCheckInterval)
	defer tick.Stop()
	retry := time.NewTimer(0)
	defer retry.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.trigger:
		case <-tick.C:
		case <-retry.C:
		}
		err := r.refresh(ctx, fn, onError)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err == nil {
			failures = 0
			continue
		}
		failures++
		if onError != nil {
			onError(err)
		}
		retry.Reset(retryWait(failures, mrand.Float64()))
	}
}

// refresh checks the marker (restoring a registry that lost its data) and,
// when the specs changed, reads them, checks that the marker did not
// change meanwhile, copies and delivers them.
func (r *recovery) refresh(ctx context.Context, fn func([]*spec.Spec), onError func(error)) error {
	ctx, cancel := context.WithTimeout(ctx, restoreTimeout)
	defer cancel()
	marker, err := r.verify(ctx)
	if err == nil {
		err = r.copyKeys(ctx, onError)
	}
	if err != nil || !r.dirty.Swap(false) {
		return err
	}
	specs, err := r.Registry.ListSpecs(ctx, onError)
	var again string
	if err == nil {
		again, err = r.Registry.Marker(ctx)
	}
	if err != nil || again != marker {
		// A marker that changed while the specs were read (a loss, a
		// restore) is looked at again at once.
		r.dirty.Store(true)
		if err == nil {
			r.poke()
		}
		return err
	}
	if err := r.keepSpecs(specs); err != nil {
		// The proxies still get the specs; the copy is behind until the
		// next change.
		r.log.Warn("agent: saving the registry copy failed", "file", r.path, "err", err)
	}
	fn(specs)
	return nil
}

// copyKeys puts every key of the registry into the copy (noteKey), and
// keeps the copy's keys the registry lacks: NamespaceKey puts them back
// when they are needed, restore when the registry lost everything.
func (r *recovery) copyKeys(ctx context.Context, onError func(error)) error {
	keys, err := r.Registry.NamespaceKeys(ctx, onError)
	if err != nil {
		return err
	}
	changed := false
	for _, ns := range slices.Sorted(maps.Keys(keys)) {
		changed = r.noteKey(ns, keys[ns]) || changed
	}
	if !changed {
		return nil
	}
	return r.save()
}

// keepSpecs makes specs the copy's specs and saves the copy if they
// changed.
func (r *recovery) keepSpecs(specs []*spec.Spec) error {
	next := make(map[string][]byte, len(specs))
	for _, sp := range specs {
		data, err := sp.Marshal()
		if err != nil {
			return err
		}
		next[sp.Key()] = data
	}
	r.mu.Lock()
	same := maps.EqualFunc(r.specs, next, bytes.Equal)
	if !same {
		r.specs = next
		r.gen++
	}
	r.mu.Unlock()
	if same {
		return nil
	}
	return r.save()
}

// verify reads the registry's marker and acts on judgeMarker's verdict; it
// returns the marker the registry holds afterwards.
func (r *recovery) verify(ctx context.Context) (string, error) {
	r.checkMu.Lock()
	defer r.checkMu.Unlock()
	stored, err := r.Registry.Marker(ctx)
	if err != nil {
		return "", err
	}
	r.mu.Lock()
	copied := r.marker
	r.mu.Unlock()
	switch judgeMarker(copied, stored) {
	case markerSame:
		return stored, nil
	case markerJoin:
		r.log.Info("agent: following the registry's cluster marker", "marker", stored)
		return stored, r.keepMarker(stored)
	case markerNone:
		m, err := r.Registry.CreateMarker(ctx, newMarker())
		if err != nil {
			return "", err
		}
		r.log.Info("agent: the registry has a cluster marker", "marker", m)
		return m, r.keepMarker(m)
	case markerOther:
		r.reportOtherMarker(copied, stored)
		return stored, r.keepMarker(stored)
	}
	return r.restore(ctx, copied)
}

// reportOtherMarker logs and counts a registry whose marker is not the
// copy's.
func (r *recovery) reportOtherMarker(copied, stored string) {
	r.metrics.RegistryConflict(metrics.ConflictMarker)
	r.log.Error("agent: the registry's cluster marker is not the one this host remembers: another registry, or one re-created after a loss by an agent without a copy. Following the registry; workflows it lacks are not restored (compose them again)",
		"remembered", copied, "registry", stored)
}

// restore puts the copy back into a registry that lost its data: the
// keys, the specs, then the marker. r.checkMu must be held.
func (r *recovery) restore(ctx context.Context, marker string) (string, error) {
	r.mu.Lock()
	keys, specs := maps.Clone(r.keys), maps.Clone(r.specs)
	r.mu.Unlock()
	r.metrics.RegistryLost()
	r.log.Error("agent: THE REGISTRY LOST ITS DATA: its cluster marker is gone. Restoring the marker, frame keys and specs this host keeps",
		"marker", marker, "keys", len(keys), "specs", len(specs), "copy", r.path)
	restoredKeys, restoredSpecs := 0, 0
	for _, ns := range slices.Sorted(maps.Keys(keys)) {
		stored, err := r.Registry.CreateNamespaceKey(ctx, ns, keys[ns])
		if err != nil {
			return "", fmt.Errorf("agent: restoring the key of %s: %w", ns, err)
		}
		if bytes.Equal(stored, keys[ns]) {
			restoredKeys++
		} else {
			r.noteKey(ns, stored) // saved with the marker below
		}
	}
	for _, k := range slices.Sorted(maps.Keys(specs)) {
		sp, err := spec.Parse(specs[k])
		if err != nil {
			return "", fmt.Errorf("agent: restoring spec %s: %w", k, err)
		}
		created, err := r.Registry.CreateSpec(ctx, sp)
		if err != nil {
			return "", fmt.Errorf("agent: restoring spec %s: %w", k, err)
		}
		if created {
			restoredSpecs++
		}
	}
	stored, err := r.Registry.CreateMarker(ctx, marker)
	if err != nil {
		return "", fmt.Errorf("agent: restoring the marker: %w", err)
	}
	r.metrics.RegistryRestored(metrics.RestoredKey, restoredKeys)
	r.metrics.RegistryRestored(metrics.RestoredSpec, restoredSpecs)
	r.dirty.Store(true)
	if stored != marker {
		r.reportOtherMarker(marker, stored)
		return stored, r.keepMarker(stored)
	}
	r.metrics.RegistryRestored(metrics.RestoredMarker, 1)
	r.log.Warn("agent: restored the registry from this host's copy",
		"marker", marker, "keys", restoredKeys, "specs", restoredSpecs, "specs_already_there", len(specs)-restoredSpecs)
	return stored, r.save()
}

// keepMarker makes m the copy's marker and saves the copy.
func (r *recovery) keepMarker(m string) error {
	r.mu.Lock()
	changed := r.marker != m
	if changed {
		r.marker = m
		r.gen++
	}
	r.mu.Unlock()
	if !changed {
		return nil
	}
	return r.save()
}

// save writes the copy file if it changed since the last write: a 0600
// temporary file in StateDir, synced, then renamed over it.
func (r *recovery) save() error {
	r.saveMu.Lock()
	defer r.saveMu.Unlock()
	r.mu.Lock()
	gen := r.gen
	c := registryCopyJSON{Version: 1, Marker: r.marker, Keys: maps.Clone(r.keys), Specs: make([]json.RawMessage, 0, len(r.specs))}
	for _, k := range slices.Sorted(maps.Keys(r.specs)) {
		c.Specs = append(c.Specs, r.specs[k])
	}
	r.mu.Unlock()
	if gen <= r.saved {
		return nil
	}
	data, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("agent: registry copy: %w", err)
	}
	if err := statefile.Write(r.path, data); err != nil {
		return fmt.Errorf("agent: registry copy: %w", err)
	}
	r.saved = gen
	return nil
}

// newMarker returns a new cluster marker: 16 random bytes in hex.
func newMarker() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

// retryWait is how long to wait after the n-th failed look in a row
// (n >= 1): 50 ms doubled for each earlier failure, capped at 5 s, then
// jittered into [d/2, d) by j in [0, 1).
func retryWait(n int, j float64) time.Duration {
	d := 5 * time.Second
	if n < 8 {
		d = min(d, 50*time.Millisecond<<max(n-1, 0))
	}
	return d/2 + time.Duration(j*float64(d/2))
}
