package registry_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox/registry"
	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/internal/spec"
	"github.com/wsk-route/wsk-route/invoker-plugin/agent"
)

var _ agent.Registry = (*registry.Registry)(nil)

func ctxFor(tb testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

func sampleSpec(ns, wf string) *spec.Spec {
	return &spec.Spec{
		Namespace: ns,
		Workflow:  wf,
		Start:     []string{"a"},
		Steps: map[string]spec.Step{
			"a": {Action: "/" + ns + "/first", Next: []string{"b"}},
			"b": {Action: "/" + ns + "/pkg/second"},
		},
	}
}

func instance(n int) routetable.Instance {
	return routetable.Instance{
		ID:          fmt.Sprintf("host-1/c%d", n),
		Namespace:   "guest",
		Action:      "/guest/pkg/step",
		Version:     "0.0.1",
		Host:        "host-1",
		Unix:        fmt.Sprintf("unix:/run/wsk-route/c%d.sock", n),
		TCP:         fmt.Sprintf("tcp:10.1.0.%d:7070", n%250+1),
		Relay:       "tcp:10.0.0.1:7071",
		Concurrency: n%3 + 1,
	}
}

// watchRun runs a watch in a goroutine owned by the test: stop cancels it,
// waits for it to return, and gives its error.
func watchRun(t *testing.T, run func(ctx context.Context) error) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(5 * time.Second):
				err = errors.New("watch did not return within 5s of cancel")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func send[T any](ctx context.Context, ch chan<- T, v T) {
	select {
	case ch <- v:
	case <-ctx.Done():
	}
}

// next waits for the next snapshot on ch that satisfies ok.
func next[T any](t *testing.T, ch <-chan T, within time.Duration, what string, ok func(T) bool) T {
	t.Helper()
	timeout := time.After(within)
	for {
		select {
		case v := <-ch:
			if ok(v) {
				return v
			}
		case <-timeout:
			t.Fatalf("no %s within %v", what, within)
		}
	}
}

func instanceWatch(t *testing.T, r *registry.Registry) (<-chan []routetable.Instance, func() error) {
	t.Helper()
	snaps := make(chan []routetable.Instance, 64)
	stop := watchRun(t, func(ctx context.Context) error {
		return r.WatchInstances(ctx, func(v []routetable.Instance) { send(ctx, snaps, v) }, func(err error) { t.Errorf("onError: %v", err) })
	})
	return snaps, stop
}

func hasID(id string) func([]routetable.Instance) bool {
	return func(v []routetable.Instance) bool {
		return slices.ContainsFunc(v, func(i routetable.Instance) bool { return i.ID == id })
	}
}

func TestRegisterWatchDeregister(t *testing.T) {
	r := registry.New(registry.Options{})
	ctx := ctxFor(t, 30*time.Second)
	snaps, stop := instanceWatch(t, r)
	next(t, snaps, 5*time.Second, "first (empty) snapshot", func(v []routetable.Instance) bool { return len(v) == 0 })

	want := instance(1)
	if err := r.Register(ctx, want, time.Minute); err != nil {
		t.Fatal(err)
	}
	got := next(t, snaps, 2*time.Second, "snapshot with the instance", hasID(want.ID))
	if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Errorf("watch saw %+v, want [%+v]", got, want)
	}
	if err := r.Pass(ctx, want.ID); err != nil {
		t.Errorf("Pass: %v", err)
	}
	want.Concurrency = 9
	if err := r.Register(ctx, want, time.Minute); err != nil {
		t.Fatal(err)
	}
	next(t, snaps, 2*time.Second, "snapshot with the new concurrency", func(v []routetable.Instance) bool {
		return len(v) == 1 && v[0].Concurrency == 9
	})
	if err := r.Deregister(ctx, want.ID); err != nil {
		t.Fatal(err)
	}
	next(t, snaps, 2*time.Second, "snapshot without the instance", func(v []routetable.Instance) bool { return len(v) == 0 })
	if err := r.Deregister(ctx, want.ID); err != nil {
		t.Errorf("Deregister of an unknown instance = %v, want nil", err)
	}
	if err := r.Pass(ctx, want.ID); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("Pass of a deregistered instance = %v, want ErrNotFound", err)
	}
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("WatchInstances returned %v after cancel, want context.Canceled", err)
	}
}

// TestWatchOrder checks that a watch sees every change, in order, when it
// keeps up: each Register is acknowledged before the next.
func TestWatchOrder(t *testing.T) {
	r := registry.New(registry.Options{})
	ctx := ctxFor(t, 30*time.Second)
	snaps, _ := instanceWatch(t, r)
	next(t, snaps, 5*time.Second, "first snapshot", func(v []routetable.Instance) bool { return len(v) == 0 })
	for i := range 5 {
		if err := r.Register(ctx, instance(i), time.Minute); err != nil {
			t.Fatal(err)
		}
		select {
		case v := <-snaps:
			if len(v) != i+1 || v[i].ID != instance(i).ID {
				t.Fatalf("snapshot %d = %v, want %d instances ending with %s", i, v, i+1, instance(i).ID)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("no snapshot after Register %d", i)
		}
	}
	// A Pass of a passing instance changes nothing: no snapshot.
	if err := r.Pass(ctx, instance(0).ID); err != nil {
		t.Fatal(err)
	}
	if err := r.Deregister(ctx, instance(2).ID); err != nil {
		t.Fatal(err)
	}
	select {
	case v := <-snaps:
		if len(v) != 4 || hasID(instance(2).ID)(v) {
			t.Errorf("snapshot after Pass and Deregister = %v, want 4 instances without %s", v, instance(2).ID)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no snapshot after Deregister")
	}
}

func TestRegisterRejects(t *testing.T) {
	r := registry.New(registry.Options{})
	ctx := ctxFor(t, 10*time.Second)
	badTCP := instance(1)
	badTCP.TCP = "10.0.0.1:80"
	noHost := instance(2)
	noHost.Host = ""
	badID := instance(3)
	badID.ID = "host 1/c3"
	negative := instance(4)
	negative.Concurrency = -1
	for _, tt := range []struct {
		name string
		inst routetable.Instance
		ttl  time.Duration
	}{
		{"malformed TCP", badTCP, time.Minute},
		{"no host", noHost, time.Minute},
		{"space in ID", badID, time.Minute},
		{"negative concurrency", negative, time.Minute},
		{"zero TTL", instance(5), 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := r.Register(ctx, tt.inst, tt.ttl)
			if err == nil || !strings.HasPrefix(err.Error(), "registry: register") {
				t.Errorf("Register = %v, want a registry: register error", err)
			}
		})
	}
	if err := r.Pass(ctx, ""); !errors.Is(err, registry.ErrBadInstance) {
		t.Errorf("Pass(\"\") = %v, want ErrBadInstance", err)
	}
}

func TestTTLExpiry(t *testing.T) {
	r := registry.New(registry.Options{})
	ctx := ctxFor(t, 30*time.Second)
	snaps, _ := instanceWatch(t, r)
	kept, lapsed := instance(1), instance(2)
	const ttl = 300 * time.Millisecond
	for _, inst := range []routetable.Instance{kept, lapsed} {
		if err := r.Register(ctx, inst, ttl); err != nil {
			t.Fatal(err)
		}
	}
	next(t, snaps, 2*time.Second, "snapshot with both instances", func(v []routetable.Instance) bool { return len(v) == 2 })

	passCtx, stopPassing := context.WithCancel(ctx)
	passed := make(chan struct{})
	go func() { // owned: stopPassing, then <-passed
		defer close(passed)
		tick := time.NewTicker(ttl / 5)
		defer tick.Stop()
		for {
			select {
			case <-passCtx.Done():
				return
			case <-tick.C:
				if err := r.Pass(passCtx, kept.ID); err != nil && passCtx.Err() == nil {
					t.Errorf("Pass: %v", err)
				}
			}
		}
	}()
	defer func() { stopPassing(); <-passed }()

	start := time.Now()
	got := next(t, snaps, 5*time.Second, "snapshot without the lapsed instance", func(v []routetable.Instance) bool { return !hasID(lapsed.ID)(v) })
	if d := time.Since(start); d < ttl/2 {
		t.Errorf("lapsed after %v, before its TTL %v", d, ttl)
	}
	if !hasID(kept.ID)(got) {
		t.Errorf("the instance that was passed left the passing set too: %+v", got)
	}
	// A Pass revives a lapsed instance, as Consul's TTL check does.
	if err := r.Pass(ctx, lapsed.ID); err != nil {
		t.Fatalf("Pass of a lapsed instance: %v", err)
	}
	next(t, snaps, 2*time.Second, "snapshot with the revived instance", hasID(lapsed.ID))
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
	ctx := ctxFor(t, 30*time.Second)
	snaps, _ := instanceWatch(t, r)
	inst := instance(1)
	if err := r.Register(ctx, inst, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	next(t, snaps, 2*time.Second, "snapshot with the instance", hasID(inst.ID))
	clock.Add(11 * time.Second)
	r.Recheck()
	next(t, snaps, 2*time.Second, "snapshot without the lapsed instance", func(v []routetable.Instance) bool { return len(v) == 0 })
	clock.Add(registry.DeregisterAfter)
	if err := r.Pass(ctx, inst.ID); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("Pass %v after the TTL lapsed = %v, want ErrNotFound (removed)", registry.DeregisterAfter, err)
	}
}

func TestSpecPutGetDelete(t *testing.T) {
	r := registry.New(registry.Options{})
	ctx := ctxFor(t, 30*time.Second)
	if sp, err := r.GetSpec(ctx, "guest", "flow"); sp != nil || err != nil {
		t.Fatalf("GetSpec before any put = %v, %v; want nil, nil", sp, err)
	}
	want := sampleSpec("guest", "flow")
	v1, err := r.PutSpec(ctx, want)
	if err != nil {
		t.Fatal(err)
	}
	if want.Version != 0 {
		t.Errorf("PutSpec set the caller's Version to %d", want.Version)
	}
	got, err := r.GetSpec(ctx, "guest", "flow")
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != v1 || v1 == 0 {
		t.Errorf("GetSpec version %d, want PutSpec's %d (non-zero)", got.Version, v1)
	}
	got.Version = 0
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GetSpec = %+v, want %+v", got, want)
	}
	want.Steps["b"] = spec.Step{Action: "/guest/third"}
	v2, err := r.PutSpec(ctx, want)
	if err != nil {
		t.Fatal(err)
	}
	if v2 <= v1 {
		t.Errorf("second PutSpec version %d, want more than %d", v2, v1)
	}
	if v3, err := r.PutSpec(ctx, sampleSpec("other", "flow")); err != nil || v3 <= v2 {
		t.Errorf("PutSpec of another spec = %d, %v; want a version above %d", v3, err, v2)
	}
	if got, err := r.GetSpec(ctx, "guest", "flow"); err != nil || got.Version != v2 || got.Steps["b"].Action != "/guest/third" {
		t.Errorf("GetSpec after update = %+v, %v; want version %d with the new step", got, err, v2)
	}
	specs, err := r.ListSpecs(ctx, nil)
	if err != nil || len(specs) != 2 || specs[0].Key() != "guest/flow" || specs[0].Version != v2 || specs[1].Key() != "other/flow" {
		t.Errorf("ListSpecs = %v, %v; want guest/flow at %d, then other/flow", specs, err, v2)
	}
	if err := r.DeleteSpec(ctx, "guest", "flow"); err != nil {
		t.Fatal(err)
	}
	if sp, err := r.GetSpec(ctx, "guest", "flow"); sp != nil || err != nil {
		t.Errorf("GetSpec after delete = %v, %v; want nil, nil", sp, err)
	}
	if err := r.DeleteSpec(ctx, "guest", "flow"); err != nil {
		t.Errorf("DeleteSpec of an absent spec = %v, want nil", err)
	}
}

func TestBadNamesAndSpecs(t *testing.T) {
	r := registry.New(registry.Options{})
	ctx := context.Background()
	for _, name := range []string{"", ".", "..", "a/b", "../etc", "x\n"} {
		t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
			if _, err := r.GetSpec(ctx, name, "flow"); !errors.Is(err, registry.ErrBadName) {
				t.Errorf("GetSpec(namespace %q) = %v, want ErrBadName", name, err)
			}
			if _, err := r.GetSpec(ctx, "guest", name); !errors.Is(err, registry.ErrBadName) {
				t.Errorf("GetSpec(workflow %q) = %v, want ErrBadName", name, err)
			}
			if err := r.DeleteSpec(ctx, "guest", name); !errors.Is(err, registry.ErrBadName) {
				t.Errorf("DeleteSpec(workflow %q) = %v, want ErrBadName", name, err)
			}
			if _, err := r.NamespaceKey(ctx, name); !errors.Is(err, registry.ErrBadName) {
				t.Errorf("NamespaceKey(%q) = %v, want ErrBadName", name, err)
			}
		})
	}
	noStart := sampleSpec("guest", "flow")
	noStart.Start = nil
	cycle := sampleSpec("guest", "loop")
	cycle.Steps["b"] = spec.Step{Action: "/guest/x", Next: []string{"a"}}
	for _, tt := range []struct {
		name, want string
		sp         *spec.Spec
	}{
		{"nil", "nil spec", nil},
		{"no start", "no start step", noStart},
		{"cycle", "cycle", cycle},
		{"dot-dot workflow", "dot path", sampleSpec("guest", "..")},
	} {
		_, err := r.PutSpec(ctx, tt.sp)
		if err == nil || !strings.HasPrefix(err.Error(), "registry: put spec") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("PutSpec(%s) = %v, want a registry: put spec error saying %q", tt.name, err, tt.want)
		}
	}
	if specs, _ := r.ListSpecs(ctx, nil); len(specs) != 0 {
		t.Errorf("refused specs were stored: %v", specs)
	}
}

func TestWatchSpecs(t *testing.T) {
	r := registry.New(registry.Options{})
	ctx := ctxFor(t, 30*time.Second)
	snaps := make(chan []*spec.Spec, 16)
	stop := watchRun(t, func(ctx context.Context) error {
		return r.WatchSpecs(ctx, func(v []*spec.Spec) { send(ctx, snaps, v) }, func(err error) { t.Errorf("onError: %v", err) })
	})
	next(t, snaps, 5*time.Second, "first (empty) snapshot", func(v []*spec.Spec) bool { return len(v) == 0 })
	v, err := r.PutSpec(ctx, sampleSpec("guest", "flow"))
	if err != nil {
		t.Fatal(err)
	}
	got := next(t, snaps, time.Second, "snapshot with the new spec", func(v []*spec.Spec) bool { return len(v) == 1 })
	if got[0].Key() != "guest/flow" || got[0].Version != v {
		t.Errorf("watch saw %s at version %d, want guest/flow at %d", got[0].Key(), got[0].Version, v)
	}
	// Instances changing do not make the spec watch deliver.
	if err := r.Register(ctx, instance(1), time.Minute); err != nil {
		t.Fatal(err)
	}
	v2, err := r.PutSpec(ctx, sampleSpec("other", "flow"))
	if err != nil {
		t.Fatal(err)
	}
	got = <-snaps
	if len(got) != 2 || got[0].Key() != "guest/flow" || got[1].Key() != "other/flow" || got[1].Version != v2 {
		t.Errorf("next snapshot %v, want guest/flow, other/flow (at %d) in order", got, v2)
	}
	if err := r.DeleteSpec(ctx, "guest", "flow"); err != nil {
		t.Fatal(err)
	}
	got = next(t, snaps, time.Second, "snapshot without the deleted spec", func(v []*spec.Spec) bool { return len(v) == 1 })
	if got[0].Key() != "other/flow" {
		t.Errorf("after delete the watch has %s, want only other/flow", got[0].Key())
	}
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("WatchSpecs returned %v after cancel, want context.Canceled", err)
	}
}

func TestNamespaceKey(t *testing.T) {
	r := registry.New(registry.Options{})
	ctx := ctxFor(t, 30*time.Second)
	const racers = 8
	keys := make([][]byte, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			k, err := r.NamespaceKey(ctx, "guest")
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for i, k := range keys {
		if len(k) != registry.KeySize || string(k) != string(keys[0]) {
			t.Fatalf("racer %d got key %x, racer 0 got %x; want one %d-byte key", i, k, keys[0], registry.KeySize)
		}
	}
	keys[0][0] ^= 0xff // the caller's copy
	again, err := r.NamespaceKey(ctx, "guest")
	if err != nil || string(again) != string(keys[1]) {
		t.Errorf("NamespaceKey again = %x, %v; want the stored %x", again, err, keys[1])
	}
	ns2, err := r.NamespaceKey(ctx, "guest2")
	if err != nil || len(ns2) != registry.KeySize || string(ns2) == string(keys[1]) {
		t.Errorf("another namespace's key = %x, %v; want a different key", ns2, err)
	}
}

func TestKeyFile(t *testing.T) {
	ctx := ctxFor(t, 10*time.Second)
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
	ctx := ctxFor(t, 30*time.Second)
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
			if err := r.Register(ctx, instance(i), time.Minute); err != nil {
				t.Error(err)
			}
		}
	})
	writers.Go(func() {
		for i := range changes {
			if _, err := r.PutSpec(ctx, sampleSpec("guest", fmt.Sprintf("flow%d", i))); err != nil {
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
	if err := r.Register(ctx, instance(1), time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("Register = %v, want context.Canceled", err)
	}
}
