package registry_test

import (
	"context"
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
	}
}

func TestContract(t *testing.T) {
	registrytest.Run(t, func(*testing.T) registrytest.Registry {
		return contract{registry.New(registry.Options{})}
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

func TestKeyFile(t *testing.T) {
	ctx := registrytest.Context(t, 10*time.Second)
	path := filepath.Join(t.TempDir(), "keys.json")
	first := registry.New(registry.Options{KeyFile: path})
	k1, err := first.NamespaceKey(ctx, "guest")
	if err != nil {
		t.Fatal(err)
	}
	k2, err := first.NamespaceKey(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file %s: %v, %v; want mode 0600", path, fi, err)
	}
	restarted := registry.New(registry.Options{KeyFile: path})
	for ns, want := range map[string][]byte{"guest": k1, "other": k2} {
		if got, err := restarted.NamespaceKey(ctx, ns); err != nil || string(got) != string(want) {
			t.Errorf("after restart NamespaceKey(%s) = %x, %v; want %x", ns, got, err, want)
		}
	}

	bad := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(bad, []byte(`{"guest":"YWJj"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := registry.New(registry.Options{KeyFile: bad}).NamespaceKey(ctx, "guest"); !errors.Is(err, registry.ErrBadKey) {
		t.Errorf("NamespaceKey with a 3-byte key in the file = %v, want ErrBadKey", err)
	}
	unwritable := filepath.Join(t.TempDir(), "missing-dir", "keys.json")
	if _, err := registry.New(registry.Options{KeyFile: unwritable}).NamespaceKey(ctx, "guest"); err == nil {
		t.Error("NamespaceKey with a key file in a missing directory succeeded")
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
