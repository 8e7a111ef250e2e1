package registry_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox/registry"
	"github.com/wsk-route/wsk-route/internal/registrytest"
	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/internal/spec"
	"github.com/wsk-route/wsk-route/invoker-plugin/agent"
)

var _ agent.Registry = (*registry.Registry)(nil)

// contract is a Registry as registrytest checks it.
type contract struct{ *registry.Registry }

func (contract) Conventions() registrytest.Conventions {
	return registrytest.Conventions{
		Prefix:         "registry",
		ErrBadName:     registry.ErrBadName,
		ErrBadInstance: registry.ErrBadInstance,
		KeySize:        registry.KeySize,
		ErrBadKey:      registry.ErrBadKey,
		ErrBadMarker:   registry.ErrBadMarker,
	}
}

func TestContract(t *testing.T) {
	registrytest.Run(t, func(*testing.T) registrytest.Registry {
		return contract{registry.New(registry.Options{})}
	})
}

// TestContractOpened runs the contract on registries that keep their
// state in a directory.
func TestContractOpened(t *testing.T) {
	registrytest.Run(t, func(t *testing.T) registrytest.Registry {
		r, err := registry.Open(t.TempDir(), registry.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return contract{r}
	})
}

// TestPassNotFound checks the error Pass gives for an instance that is
// not registered, never or no longer.
func TestPassNotFound(t *testing.T) {
	r := registry.New(registry.Options{})
	ctx := registrytest.Context(t, 10*time.Second)
	inst := registrytest.Instance(1)
	if err := r.Pass(ctx, inst.ID); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("Pass of a never registered instance = %v, want ErrNotFound", err)
	}
	if err := r.Register(ctx, inst, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := r.Deregister(ctx, inst.ID); err != nil {
		t.Fatal(err)
	}
	if err := r.Pass(ctx, inst.ID); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("Pass of a deregistered instance = %v, want ErrNotFound", err)
	}
}

// TestWatchOrder checks that a watch sees every change, in order, when it
// keeps up: each Register is acknowledged before the next.
func TestWatchOrder(t *testing.T) {
	r := registry.New(registry.Options{})
	ctx := registrytest.Context(t, 30*time.Second)
	snaps, _ := registrytest.InstanceWatch(t, r, func(err error) { t.Errorf("onError: %v", err) })
	registrytest.Next(t, snaps, 5*time.Second, "first snapshot", func(v []routetable.Instance) bool { return len(v) == 0 })
	for i := range 5 {
		if err := r.Register(ctx, registrytest.Instance(i), time.Minute); err != nil {
			t.Fatal(err)
		}
		select {
		case v := <-snaps:
			if len(v) != i+1 || v[i].ID != registrytest.Instance(i).ID {
				t.Fatalf("snapshot %d = %v, want %d instances ending with %s", i, v, i+1, registrytest.Instance(i).ID)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("no snapshot after Register %d", i)
		}
	}
	// A Pass of a passing instance changes nothing: no snapshot.
	if err := r.Pass(ctx, registrytest.Instance(0).ID); err != nil {
		t.Fatal(err)
	}
	if err := r.Deregister(ctx, registrytest.Instance(2).ID); err != nil {
		t.Fatal(err)
	}
	select {
	case v := <-snaps:
		if len(v) != 4 || registrytest.HasID(registrytest.Instance(2).ID)(v) {
			t.Errorf("snapshot after Pass and Deregister = %v, want 4 instances without %s", v, registrytest.Instance(2).ID)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no snapshot after Deregister")
	}
}

func TestTTLExpiry(t *testing.T) {
	r := registry.New(registry.Options{})
	ctx := registrytest.Context(t, 30*time.Second)
	snaps, _ := registrytest.InstanceWatch(t, r, func(err error) { t.Errorf("onError: %v", err) })
	kept, lapsed := registrytest.Instance(1), registrytest.Instance(2)
	const ttl = 300 * time.Millisecond
	for _, inst := range []routetable.Instance{kept, lapsed} {
		if err := r.Register(ctx, inst, ttl); err != nil {
			t.Fatal(err)
		}
	}
	registrytest.Next(t, snaps, 2*time.Second, "snapshot with both instances", func(v []routetable.Instance) bool { return len(v) == 2 })

	registrytest.KeepPassing(t, ctx, r.Pass, kept.ID, ttl/5)

	start := time.Now()
	got := registrytest.Next(t, snaps, 5*time.Second, "snapshot without the lapsed instance", func(v []routetable.Instance) bool { return !registrytest.HasID(lapsed.ID)(v) })
	if d := time.Since(start); d < ttl/2 {
		t.Errorf("lapsed after %v, before its TTL %v", d, ttl)
	}
	if !registrytest.HasID(kept.ID)(got) {
		t.Errorf("the instance that was passed left the passing set too: %+v", got)
	}
	// A Pass revives a lapsed instance, as Consul's TTL check does.
	if err := r.Pass(ctx, lapsed.ID); err != nil {
		t.Fatalf("Pass of a lapsed instance: %v", err)
	}
	registrytest.Next(t, snaps, 2*time.Second, "snapshot with the revived instance", registrytest.HasID(lapsed.ID))
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestFakeClockExpiryAndRemoval(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1e9, 0)}
	r := registry.New(registry.Options{Clock: clock.Now})
	ctx := registrytest.Context(t, 30*time.Second)
	snaps, _ := registrytest.InstanceWatch(t, r, func(err error) { t.Errorf("onError: %v", err) })
	inst := registrytest.Instance(1)
	if err := r.Register(ctx, inst, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	registrytest.Next(t, snaps, 2*time.Second, "snapshot with the instance", registrytest.HasID(inst.ID))
	clock.Add(11 * time.Second)
	r.Recheck()
	registrytest.Next(t, snaps, 2*time.Second, "snapshot without the lapsed instance", func(v []routetable.Instance) bool { return len(v) == 0 })
	clock.Add(registry.DeregisterAfter)
	if err := r.Pass(ctx, inst.ID); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("Pass %v after the TTL lapsed = %v, want ErrNotFound (removed)", registry.DeregisterAfter, err)
	}
}

// TestOpenKeepsState checks that a registry opened again on the same
// directory has the marker, keys and specs of the first (specs at the
// versions they had, new versions above them), in a 0600 file, and that
// deletes are kept too.
func TestOpenKeepsState(t *testing.T) {
	ctx := registrytest.Context(t, 10*time.Second)
	dir := t.TempDir()
	first, err := registry.Open(dir, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.CreateMarker(ctx, "m1"); err != nil {
		t.Fatal(err)
	}
	k1, err := first.CreateNamespaceKey(ctx, "guest", nil)
	if err != nil {
		t.Fatal(err)
	}
	v1, err := first.PutSpec(ctx, registrytest.SampleSpec("guest", "flow"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.PutSpec(ctx, registrytest.SampleSpec("guest", "gone")); err != nil {
		t.Fatal(err)
	}
	if err := first.DeleteSpec(ctx, "guest", "gone"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, registry.StateFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v, %v; want mode 0600", fi, err)
	}

	again, err := registry.Open(dir, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := again.Marker(ctx); m != "m1" || err != nil {
		t.Errorf("Marker after reopening = %q, %v; want m1", m, err)
	}
	if k, err := again.NamespaceKey(ctx, "guest"); err != nil || string(k) != string(k1) {
		t.Errorf("NamespaceKey after reopening = %x, %v; want %x", k, err, k1)
	}
	specs, err := again.ListSpecs(ctx, nil)
	if err != nil || len(specs) != 1 || specs[0].Key() != "guest/flow" || specs[0].Version != v1 {
		t.Fatalf("ListSpecs after reopening = %v, %v; want guest/flow at version %d (and no deleted spec)", specs, err, v1)
	}
	// "gone" had version v1+1.
	if v, err := again.PutSpec(ctx, registrytest.SampleSpec("guest", "next")); err != nil || v <= v1+1 {
		t.Errorf("PutSpec after reopening = %d, %v; want a version above every earlier one (%d)", v, err, v1+1)
	}
}

// TestOpenLegacyKeys checks that the keys of a sandbox from before the
// state file are taken over.
func TestOpenLegacyKeys(t *testing.T) {
	ctx := registrytest.Context(t, 10*time.Second)
	dir := t.TempDir()
	key := make([]byte, registry.KeySize)
	key[0] = 7
	data, _ := json.Marshal(map[string][]byte{"guest": key})
	if err := os.WriteFile(filepath.Join(dir, registry.LegacyKeyFile), data, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := registry.Open(dir, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := r.NamespaceKey(ctx, "guest"); err != nil || string(got) != string(key) {
		t.Errorf("NamespaceKey = %x, %v; want the legacy file's %x", got, err, key)
	}
}

// TestOpenRefuses checks that Open fails on a state it cannot read rather
// than starting empty, and that a change whose write fails leaves the
// registry as it was.
func TestOpenRefuses(t *testing.T) {
	ctx := registrytest.Context(t, 10*time.Second)
	for _, tt := range []struct{ name, file, data string }{
		{"not json", registry.StateFile, "{"},
		{"unknown field", registry.StateFile, `{"version":1,"index":0,"keys":{},"specs":[],"extra":1}`},
		{"version", registry.StateFile, `{"version":2,"index":0,"keys":{},"specs":[]}`},
		{"short key", registry.StateFile, `{"version":1,"index":0,"keys":{"guest":"YWJj"},"specs":[]}`},
		{"bad marker", registry.StateFile, `{"version":1,"marker":"a b","index":0,"keys":{},"specs":[]}`},
		{"spec above index", registry.StateFile, `{"version":1,"index":1,"keys":{},"specs":[{"version":2,"spec":{"namespace":"guest","workflow":"f","start":["a"],"steps":{"a":{"action":"/guest/a"}}}}]}`},
		{"legacy short key", registry.LegacyKeyFile, `{"guest":"YWJj"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, tt.file), []byte(tt.data), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := registry.Open(dir, registry.Options{}); !errors.Is(err, registry.ErrBadState) {
				t.Errorf("Open = %v, want ErrBadState", err)
			}
		})
	}
	if _, err := registry.Open(filepath.Join(t.TempDir(), "missing"), registry.Options{}); err == nil {
		t.Error("Open of a missing directory succeeded")
	}

	dir := t.TempDir()
	r, err := registry.Open(dir, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	if os.Geteuid() == 0 {
		t.Skip("root writes into a 0500 directory")
	}
	if _, err := r.CreateNamespaceKey(ctx, "guest", nil); err == nil {
		t.Error("CreateNamespaceKey with an unwritable state file succeeded")
	}
	if k, err := r.NamespaceKey(ctx, "guest"); k != nil || err != nil {
		t.Errorf("NamespaceKey after a failed create = %x, %v; want none", k, err)
	}
}

// TestConcurrentWatchers runs many watchers of both kinds while instances
// and specs change, checks each reaches the final picture, and that every
// watch returns and no goroutine is left once they are cancelled.
func TestConcurrentWatchers(t *testing.T) {
	before := runtime.NumGoroutine()
	r := registry.New(registry.Options{})
	ctx := registrytest.Context(t, 30*time.Second)
	wctx, cancel := context.WithCancel(ctx)
	const watchers, changes = 16, 50
	var wg sync.WaitGroup
	var seenInsts, seenSpecs atomic.Int32
	for range watchers {
		wg.Go(func() {
			done := false
			err := r.WatchInstances(wctx, func(v []routetable.Instance) {
				if len(v) == changes && !done {
					done = true
					seenInsts.Add(1)
				}
			}, nil)
			if !errors.Is(err, context.Canceled) {
				t.Errorf("WatchInstances = %v, want context.Canceled", err)
			}
		})
		wg.Go(func() {
			done := false
			err := r.WatchSpecs(wctx, func(v []*spec.Spec) {
				if len(v) == changes && !done {
					done = true
					seenSpecs.Add(1)
				}
			}, nil)
			if !errors.Is(err, context.Canceled) {
				t.Errorf("WatchSpecs = %v, want context.Canceled", err)
			}
		})
	}
	var writers sync.WaitGroup
	writers.Go(func() {
		for i := range changes {
			if err := r.Register(ctx, registrytest.Instance(i), time.Minute); err != nil {
				t.Error(err)
			}
		}
	})
	writers.Go(func() {
		for i := range changes {
			if _, err := r.PutSpec(ctx, registrytest.SampleSpec("guest", fmt.Sprintf("flow%d", i))); err != nil {
				t.Error(err)
			}
		}
	})
	writers.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for seenInsts.Load() < watchers || seenSpecs.Load() < watchers {
		if time.Now().After(deadline) {
			t.Fatalf("%d instance and %d spec watchers of %d saw the final picture", seenInsts.Load(), seenSpecs.Load(), watchers)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	deadline = time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after the watches returned, %d before", runtime.NumGoroutine(), before)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCancelledContext(t *testing.T) {
	r := registry.New(registry.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.WatchInstances(ctx, func([]routetable.Instance) { t.Error("fn called on a cancelled context") }, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("WatchInstances = %v, want context.Canceled", err)
	}
	if err := r.Register(ctx, registrytest.Instance(1), time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("Register = %v, want context.Canceled", err)
	}
}
