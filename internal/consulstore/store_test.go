package consulstore_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/consulstore"
	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/internal/spec"
	"github.com/wsk-route/wsk-route/internal/testenv"
)

// One dev agent serves every test of the binary; each test gets its own KV
// prefix and service name.
func TestMain(m *testing.M) { testenv.Main(m) }

var storeSeq atomic.Int64

// newStore returns a store on the shared agent with a prefix and service
// of its own, and a second store on the same prefix and service.
func newStore(tb testing.TB) (*consulstore.Store, consulstore.Options) {
	tb.Helper()
	c := testenv.SharedConsul(tb)
	n := storeSeq.Add(1)
	opts := consulstore.Options{
		Address: c.Addr,
		Prefix:  fmt.Sprintf("wsk-route-test/%d", n),
		Service: fmt.Sprintf("wsk-route-test-%d", n),
	}
	return openStore(tb, opts), opts
}

func openStore(tb testing.TB, opts consulstore.Options) *consulstore.Store {
	tb.Helper()
	s, err := consulstore.New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

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

func TestSpecPutGetDelete(t *testing.T) {
	s, _ := newStore(t)
	ctx := ctxFor(t, 30*time.Second)

	if sp, err := s.GetSpec(ctx, "guest", "flow"); sp != nil || err != nil {
		t.Fatalf("GetSpec before any put = %v, %v; want nil, nil", sp, err)
	}
	want := sampleSpec("guest", "flow")
	v1, err := s.PutSpec(ctx, want)
	if err != nil {
		t.Fatal(err)
	}
	if want.Version != 0 {
		t.Errorf("PutSpec set the caller's Version to %d", want.Version)
	}
	got, err := s.GetSpec(ctx, "guest", "flow")
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != v1 {
		t.Errorf("GetSpec version %d, want PutSpec's %d", got.Version, v1)
	}
	got.Version = 0
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GetSpec = %+v, want %+v", got, want)
	}

	want.Steps["b"] = spec.Step{Action: "/guest/third"}
	v2, err := s.PutSpec(ctx, want)
	if err != nil {
		t.Fatal(err)
	}
	if v2 <= v1 {
		t.Errorf("second PutSpec version %d, want more than %d", v2, v1)
	}
	if got, err := s.GetSpec(ctx, "guest", "flow"); err != nil || got.Version != v2 || got.Steps["b"].Action != "/guest/third" {
		t.Errorf("GetSpec after update = %+v, %v; want version %d with the new step", got, err, v2)
	}
	specs, err := s.ListSpecs(ctx, nil)
	if err != nil || len(specs) != 1 || specs[0].Version != v2 {
		t.Errorf("ListSpecs = %v, %v; want the one spec at version %d", specs, err, v2)
	}

	if err := s.DeleteSpec(ctx, "guest", "flow"); err != nil {
		t.Fatal(err)
	}
	if sp, err := s.GetSpec(ctx, "guest", "flow"); sp != nil || err != nil {
		t.Errorf("GetSpec after delete = %v, %v; want nil, nil", sp, err)
	}
	if err := s.DeleteSpec(ctx, "guest", "flow"); err != nil {
		t.Errorf("DeleteSpec of an absent spec = %v, want nil", err)
	}
}

func TestBadNamesAndSpecs(t *testing.T) {
	// No agent needed: everything here fails before any request.
	s, err := consulstore.New(consulstore.Options{Address: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, name := range []string{"", ".", "..", "a/b", "../etc", "x\n"} {
		t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
			if _, err := s.GetSpec(ctx, name, "flow"); !errors.Is(err, consulstore.ErrBadName) {
				t.Errorf("GetSpec(namespace %q) = %v, want ErrBadName", name, err)
			}
			if _, err := s.GetSpec(ctx, "guest", name); !errors.Is(err, consulstore.ErrBadName) {
				t.Errorf("GetSpec(workflow %q) = %v, want ErrBadName", name, err)
			}
			if err := s.DeleteSpec(ctx, "guest", name); !errors.Is(err, consulstore.ErrBadName) {
				t.Errorf("DeleteSpec(workflow %q) = %v, want ErrBadName", name, err)
			}
			if _, err := s.NamespaceKey(ctx, name); !errors.Is(err, consulstore.ErrBadName) {
				t.Errorf("NamespaceKey(%q) = %v, want ErrBadName", name, err)
			}
		})
	}
	invalid := sampleSpec("guest", "flow")
	invalid.Start = nil
	dotted := sampleSpec("guest", "..")
	for name, sp := range map[string]*spec.Spec{"nil": nil, "no start": invalid, "dot-dot workflow": dotted} {
		if _, err := s.PutSpec(ctx, sp); err == nil || !strings.HasPrefix(err.Error(), "consulstore: ") {
			t.Errorf("PutSpec(%s) = %v, want a consulstore error", name, err)
		}
	}
	for _, opts := range []consulstore.Options{{Prefix: "a//b"}, {Prefix: "/a"}, {Prefix: "a/../b"}, {Service: "a/b"}} {
		if _, err := consulstore.New(opts); !errors.Is(err, consulstore.ErrBadName) {
			t.Errorf("New(%+v) = %v, want ErrBadName", opts, err)
		}
	}
}

// watchRun runs a watch in a goroutine owned by the test: the returned
// stop cancels it and waits for it to return, and reports its error.
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

// send hands v to the test, or gives up when the watch is being stopped,
// so that a watch callback never blocks its watch's return.
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

func TestWatchSpecs(t *testing.T) {
	s, opts := newStore(t)
	ctx := ctxFor(t, 30*time.Second)
	snaps := make(chan []*spec.Spec, 16)
	errs := make(chan error, 16)
	stop := watchRun(t, func(ctx context.Context) error {
		return s.WatchSpecs(ctx, func(specs []*spec.Spec) { send(ctx, snaps, specs) }, func(err error) { send(ctx, errs, err) })
	})

	next(t, snaps, 5*time.Second, "first (empty) snapshot", func(v []*spec.Spec) bool { return len(v) == 0 })

	v, err := s.PutSpec(ctx, sampleSpec("guest", "flow"))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got := next(t, snaps, time.Second, "snapshot with the new spec", func(v []*spec.Spec) bool { return len(v) == 1 })
	t.Logf("put seen by the watch after %v", time.Since(start))
	if got[0].Key() != "guest/flow" || got[0].Version != v {
		t.Errorf("watch saw %s at version %d, want guest/flow at %d", got[0].Key(), got[0].Version, v)
	}

	// A second namespace, and an entry that is not a spec: the watch skips
	// and reports it, and still delivers the rest.
	if _, err := s.PutSpec(ctx, sampleSpec("other", "flow")); err != nil {
		t.Fatal(err)
	}
	putRaw(t, testenv.SharedConsul(t).Addr, opts.Prefix+"/specs/guest/broken", "{not json")
	got = next(t, snaps, time.Second, "snapshot with both specs", func(v []*spec.Spec) bool { return len(v) == 2 })
	if got[0].Key() != "guest/flow" || got[1].Key() != "other/flow" {
		t.Errorf("watch snapshot %s, %s; want guest/flow, other/flow in order", got[0].Key(), got[1].Key())
	}
	select {
	case err := <-errs:
		if !strings.Contains(err.Error(), "guest/broken") {
			t.Errorf("onError got %v, want the broken entry named", err)
		}
	case <-time.After(time.Second):
		t.Error("onError not called for an entry that is not a spec")
	}

	if err := s.DeleteSpec(ctx, "guest", "flow"); err != nil {
		t.Fatal(err)
	}
	got = next(t, snaps, time.Second, "snapshot without the deleted spec", func(v []*spec.Spec) bool {
		return !slices.ContainsFunc(v, func(sp *spec.Spec) bool { return sp.Key() == "guest/flow" })
	})
	if len(got) != 1 || got[0].Key() != "other/flow" {
		t.Errorf("after delete the watch has %d specs, want only other/flow", len(got))
	}
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("WatchSpecs returned %v after cancel, want context.Canceled", err)
	}
}

// putRaw writes a KV entry without the store, as any Consul client could.
func putRaw(t *testing.T, addr, key, value string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, "http://"+addr+"/v1/kv/"+key, strings.NewReader(value))
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT %s: %s", key, resp.Status)
	}
}

func TestNamespaceKey(t *testing.T) {
	s, opts := newStore(t)
	other := openStore(t, opts)
	ctx := ctxFor(t, 30*time.Second)

	const racers = 8
	keys := make([][]byte, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := s
			if i%2 == 1 {
				st = other
			}
			k, err := st.NamespaceKey(ctx, "guest")
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for i, k := range keys {
		if len(k) != consulstore.KeySize || string(k) != string(keys[0]) {
			t.Fatalf("racer %d got key %x, racer 0 got %x; want one %d-byte key", i, k, keys[0], consulstore.KeySize)
		}
	}
	again, err := s.NamespaceKey(ctx, "guest")
	if err != nil || string(again) != string(keys[0]) {
		t.Errorf("NamespaceKey again = %x, %v; want the stored %x", again, err, keys[0])
	}
	ns2, err := s.NamespaceKey(ctx, "guest2")
	if err != nil || string(ns2) == string(keys[0]) {
		t.Errorf("another namespace's key = %x, %v; want a different key", ns2, err)
	}

	putRaw(t, testenv.SharedConsul(t).Addr, opts.Prefix+"/keys/short", "abc")
	if _, err := s.NamespaceKey(ctx, "short"); !errors.Is(err, consulstore.ErrBadKey) {
		t.Errorf("NamespaceKey of a 3-byte stored key = %v, want ErrBadKey", err)
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

// instanceWatch starts WatchInstances on s; snapshots arrive on the channel.
func instanceWatch(t *testing.T, s *consulstore.Store) (<-chan []routetable.Instance, func() error) {
	t.Helper()
	snaps := make(chan []routetable.Instance, 64)
	stop := watchRun(t, func(ctx context.Context) error {
		return s.WatchInstances(ctx, func(insts []routetable.Instance) { send(ctx, snaps, insts) },
			func(err error) { t.Logf("watch instances: %v", err) })
	})
	return snaps, stop
}

func hasID(id string) func([]routetable.Instance) bool {
	return func(v []routetable.Instance) bool {
		return slices.ContainsFunc(v, func(i routetable.Instance) bool { return i.ID == id })
	}
}

func TestRegisterWatchDeregister(t *testing.T) {
	s, _ := newStore(t)
	ctx := ctxFor(t, 30*time.Second)
	snaps, stop := instanceWatch(t, s)
	next(t, snaps, 5*time.Second, "first (empty) snapshot", func(v []routetable.Instance) bool { return len(v) == 0 })

	want := instance(1)
	if err := s.Register(ctx, want, time.Minute); err != nil {
		t.Fatal(err)
	}
	got := next(t, snaps, 2*time.Second, "snapshot with the instance", hasID(want.ID))
	if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Errorf("watch saw %+v, want [%+v]", got, want)
	}
	if err := s.Pass(ctx, want.ID); err != nil {
		t.Errorf("Pass: %v", err)
	}

	// Registering again replaces the instance.
	want.Concurrency = 9
	if err := s.Register(ctx, want, time.Minute); err != nil {
		t.Fatal(err)
	}
	next(t, snaps, 2*time.Second, "snapshot with the new concurrency", func(v []routetable.Instance) bool {
		return len(v) == 1 && v[0].Concurrency == 9
	})

	if err := s.Deregister(ctx, want.ID); err != nil {
		t.Fatal(err)
	}
	next(t, snaps, 2*time.Second, "snapshot without the instance", func(v []routetable.Instance) bool { return len(v) == 0 })
	if err := s.Deregister(ctx, want.ID); err != nil {
		t.Errorf("Deregister of an unknown instance = %v, want nil", err)
	}
	if err := s.Pass(ctx, want.ID); err == nil {
		t.Error("Pass of a deregistered instance succeeded")
	}
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("WatchInstances returned %v after cancel, want context.Canceled", err)
	}
}

func TestRegisterRejects(t *testing.T) {
	s, _ := newStore(t)
	ctx := ctxFor(t, 10*time.Second)
	bad := instance(1)
	bad.TCP = "10.0.0.1:80"
	noHost := instance(2)
	noHost.Host = ""
	for name, tt := range map[string]struct {
		inst routetable.Instance
		ttl  time.Duration
	}{
		"malformed TCP": {bad, time.Minute},
		"no host":       {noHost, time.Minute},
		"zero TTL":      {instance(3), 0},
	} {
		if err := s.Register(ctx, tt.inst, tt.ttl); err == nil {
			t.Errorf("Register(%s) succeeded", name)
			_ = s.Deregister(ctx, tt.inst.ID)
		}
	}
}

func TestTTLExpiry(t *testing.T) {
	s, _ := newStore(t)
	ctx := ctxFor(t, 30*time.Second)
	snaps, _ := instanceWatch(t, s)
	kept, lapsed := instance(1), instance(2)
	for _, inst := range []routetable.Instance{kept, lapsed} {
		if err := s.Register(ctx, inst, time.Second); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Deregister(context.Background(), inst.ID) })
	}
	next(t, snaps, 2*time.Second, "snapshot with both instances", func(v []routetable.Instance) bool { return len(v) == 2 })

	passCtx, stopPassing := context.WithCancel(ctx)
	passed := make(chan struct{})
	go func() { // owned: stopPassing, then <-passed
		defer close(passed)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-passCtx.Done():
				return
			case <-tick.C:
				if err := s.Pass(passCtx, kept.ID); err != nil && passCtx.Err() == nil {
					t.Errorf("Pass: %v", err)
				}
			}
		}
	}()
	defer func() { stopPassing(); <-passed }()

	start := time.Now()
	got := next(t, snaps, 10*time.Second, "snapshot without the lapsed instance", func(v []routetable.Instance) bool { return !hasID(lapsed.ID)(v) })
	t.Logf("unpassed 1s TTL left the passing set after %v", time.Since(start))
	if !hasID(kept.ID)(got) {
		t.Errorf("the instance that was passed left the passing set too: %+v", got)
	}
}

func TestWatchInstancesCancel(t *testing.T) {
	s, _ := newStore(t)
	snaps, stop := instanceWatch(t, s)
	next(t, snaps, 5*time.Second, "first snapshot", func([]routetable.Instance) bool { return true })
	// The watch is now parked in a 5-minute blocking query.
	start := time.Now()
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("WatchInstances returned %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("WatchInstances took %v to return after cancel", d)
	}
}

func TestWatchRetriesUnreachableAgent(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	s := openStore(t, consulstore.Options{Address: addr})
	errs := make(chan error, 64)
	stop := watchRun(t, func(ctx context.Context) error {
		return s.WatchSpecs(ctx, func([]*spec.Spec) { t.Error("WatchSpecs delivered without an agent") },
			func(err error) { send(ctx, errs, err) })
	})
	start := time.Now()
	for range 3 {
		select {
		case <-errs:
		case <-time.After(5 * time.Second):
			t.Fatal("failed queries not reported to onError")
		}
	}
	// Three failures wait about 25-50, 50-100 and 100-200 ms in between.
	if d := time.Since(start); d < 75*time.Millisecond {
		t.Errorf("three failed queries within %v: no backoff", d)
	}
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("WatchSpecs returned %v, want context.Canceled", err)
	}
}

func TestEnvAddress(t *testing.T) {
	c := testenv.SharedConsul(t)
	for _, addr := range []string{c.Addr, "http://" + c.Addr} {
		t.Run(addr, func(t *testing.T) {
			t.Setenv("CONSUL_HTTP_ADDR", addr)
			s := openStore(t, consulstore.Options{Prefix: fmt.Sprintf("wsk-route-test/env%d", storeSeq.Add(1))})
			ctx := ctxFor(t, 10*time.Second)
			v, err := s.PutSpec(ctx, sampleSpec("guest", "flow"))
			if err != nil {
				t.Fatalf("PutSpec with CONSUL_HTTP_ADDR=%s: %v", addr, err)
			}
			if got, err := s.GetSpec(ctx, "guest", "flow"); err != nil || got == nil || got.Version != v {
				t.Errorf("GetSpec = %v, %v; want version %d", got, err, v)
			}
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		t.Setenv("CONSUL_HTTP_ADDR", "127.0.0.1:1")
		s := openStore(t, consulstore.Options{})
		if _, err := s.GetSpec(ctxFor(t, 5*time.Second), "guest", "flow"); err == nil {
			t.Error("GetSpec succeeded against CONSUL_HTTP_ADDR=127.0.0.1:1: the variable is not honoured")
		}
	})
}

// propagation registers n instances through one store and measures how
// long each takes to reach another store's WatchInstances.
func propagation(tb testing.TB, n int) []time.Duration {
	s, opts := newStore(tb)
	watcher := openStore(tb, opts)
	snaps := make(chan []routetable.Instance, 64)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { // owned: cancel, then <-done
		done <- watcher.WatchInstances(ctx, func(v []routetable.Instance) { send(ctx, snaps, v) }, nil)
	}()
	defer func() { cancel(); <-done }()
	wait := func(ok func([]routetable.Instance) bool) bool {
		timeout := time.After(10 * time.Second)
		for {
			select {
			case v := <-snaps:
				if ok(v) {
					return true
				}
			case <-timeout:
				return false
			}
		}
	}
	if !wait(func([]routetable.Instance) bool { return true }) {
		tb.Fatal("no first snapshot")
	}
	rctx := context.Background()
	lat := make([]time.Duration, 0, n)
	for i := range n {
		inst := instance(i)
		start := time.Now()
		if err := s.Register(rctx, inst, time.Minute); err != nil {
			tb.Fatal(err)
		}
		if !wait(func(v []routetable.Instance) bool { return hasID(inst.ID)(v) }) {
			tb.Fatalf("instance %s not seen within 10s", inst.ID)
		}
		lat = append(lat, time.Since(start))
		if err := s.Deregister(rctx, inst.ID); err != nil {
			tb.Fatal(err)
		}
		if !wait(func(v []routetable.Instance) bool { return !hasID(inst.ID)(v) }) {
			tb.Fatalf("instance %s still seen 10s after Deregister", inst.ID)
		}
	}
	slices.Sort(lat)
	return lat
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	return sorted[int(q*float64(len(sorted)-1))]
}

func TestPropagation(t *testing.T) {
	lat := propagation(t, 20)
	t.Logf("Register -> seen by another store's watch, %d samples: p50 %v, p99 %v, max %v",
		len(lat), quantile(lat, 0.5), quantile(lat, 0.99), lat[len(lat)-1])
}

func BenchmarkPropagation(b *testing.B) {
	lat := propagation(b, b.N)
	b.ReportMetric(float64(quantile(lat, 0.5).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(quantile(lat, 0.99).Microseconds())/1000, "p99-ms")
}
