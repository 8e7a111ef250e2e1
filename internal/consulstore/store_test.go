package consulstore_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/consulstore"
	"github.com/wsk-route/wsk-route/internal/registrytest"
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

// contract is a Store as registrytest checks it.
type contract struct{ *consulstore.Store }

func (contract) Conventions() registrytest.Conventions {
	return registrytest.Conventions{
		Prefix:         "consulstore",
		ErrBadName:     consulstore.ErrBadName,
		ErrBadInstance: consulstore.ErrBadInstance,
		KeySize:        consulstore.KeySize,
		ErrBadKey:      consulstore.ErrBadKey,
		ErrBadMarker:   consulstore.ErrBadMarker,
	}
}

// TestContract runs the registry contract on the shared agent, each
// subtest on a KV prefix and service of its own.
func TestContract(t *testing.T) {
	registrytest.Run(t, func(t *testing.T) registrytest.Registry {
		s, _ := newStore(t)
		return contract{s}
	})
}

func TestBadOptions(t *testing.T) {
	for _, opts := range []consulstore.Options{{Prefix: "a//b"}, {Prefix: "/a"}, {Prefix: "a/../b"}, {Service: "a/b"}} {
		if _, err := consulstore.New(opts); !errors.Is(err, consulstore.ErrBadName) {
			t.Errorf("New(%+v) = %v, want ErrBadName", opts, err)
		}
	}
}

// TestWatchSpecsSkipsBroken checks that a KV entry under the specs prefix
// that is not a spec, written by another Consul client, is skipped and
// reported, and the rest still delivered.
func TestWatchSpecsSkipsBroken(t *testing.T) {
	s, opts := newStore(t)
	ctx := registrytest.Context(t, 30*time.Second)
	snaps := make(chan []*spec.Spec, 16)
	errs := make(chan error, 16)
	stop := registrytest.WatchRun(t, func(ctx context.Context) error {
		return s.WatchSpecs(ctx, func(specs []*spec.Spec) { registrytest.Send(ctx, snaps, specs) }, func(err error) { registrytest.Send(ctx, errs, err) })
	})
	registrytest.Next(t, snaps, 5*time.Second, "first (empty) snapshot", func(v []*spec.Spec) bool { return len(v) == 0 })
	for _, ns := range []string{"guest", "other"} {
		if _, err := s.PutSpec(ctx, registrytest.SampleSpec(ns, "flow")); err != nil {
			t.Fatal(err)
		}
	}
	putRaw(t, testenv.SharedConsul(t).Addr, opts.Prefix+"/specs/guest/broken", "{not json")
	got := registrytest.Next(t, snaps, 5*time.Second, "snapshot with both specs", func(v []*spec.Spec) bool { return len(v) == 2 })
	if got[0].Key() != "guest/flow" || got[1].Key() != "other/flow" {
		t.Errorf("watch snapshot %s, %s; want guest/flow, other/flow in order", got[0].Key(), got[1].Key())
	}
	select {
	case err := <-errs:
		if !strings.Contains(err.Error(), "guest/broken") {
			t.Errorf("onError got %v, want the broken entry named", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("onError not called for an entry that is not a spec")
	}
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("WatchSpecs returned %v after cancel, want context.Canceled", err)
	}
}

// TestNamespaceKeySharedAndBad checks that two stores on one prefix racing
// to create a namespace's key agree on it, and that a stored key of the
// wrong size, written by another Consul client, is refused, by
// NamespaceKey and by CreateNamespaceKey (which must not replace it).
func TestNamespaceKeySharedAndBad(t *testing.T) {
	s, opts := newStore(t)
	other := openStore(t, opts)
	ctx := registrytest.Context(t, 30*time.Second)
	registrytest.RaceNamespaceKey(t, ctx, "guest", consulstore.KeySize, s, other)
	putRaw(t, testenv.SharedConsul(t).Addr, opts.Prefix+"/keys/short", "abc")
	if _, err := s.NamespaceKey(ctx, "short"); !errors.Is(err, consulstore.ErrBadKey) {
		t.Errorf("NamespaceKey of a 3-byte stored key = %v, want ErrBadKey", err)
	}
	if _, err := s.CreateNamespaceKey(ctx, "short", nil); !errors.Is(err, consulstore.ErrBadKey) {
		t.Errorf("CreateNamespaceKey over a 3-byte stored key = %v, want ErrBadKey", err)
	}
	var reported []error
	keys, err := s.NamespaceKeys(ctx, func(err error) { reported = append(reported, err) })
	if err != nil || len(keys) != 1 || keys["guest"] == nil || len(reported) != 1 || !errors.Is(reported[0], consulstore.ErrBadKey) {
		t.Errorf("NamespaceKeys = %x, %v, reported %v; want guest's key, and the 3-byte one reported", keys, err, reported)
	}
}

// TestMarkerSharedAndBad checks that two stores on one prefix see one
// marker, that stores on another prefix do not, and that a malformed
// marker written by another Consul client is refused.
func TestMarkerSharedAndBad(t *testing.T) {
	s, opts := newStore(t)
	other := openStore(t, opts)
	elsewhere, _ := newStore(t)
	ctx := registrytest.Context(t, 30*time.Second)
	m, err := s.CreateMarker(ctx, "first")
	if err != nil || m != "first" {
		t.Fatalf("CreateMarker = %q, %v; want first", m, err)
	}
	if m, err := other.CreateMarker(ctx, "second"); err != nil || m != "first" {
		t.Errorf("CreateMarker on the same prefix = %q, %v; want the stored first", m, err)
	}
	if m, err := elsewhere.Marker(ctx); err != nil || m != "" {
		t.Errorf("Marker on another prefix = %q, %v; want none", m, err)
	}
	putRaw(t, testenv.SharedConsul(t).Addr, opts.Prefix+"/cluster", "not a marker")
	if _, err := s.Marker(ctx); !errors.Is(err, consulstore.ErrBadMarker) {
		t.Errorf("Marker of a malformed stored marker = %v, want ErrBadMarker", err)
	}
}

func TestTTLExpiry(t *testing.T) {
	s, _ := newStore(t)
	ctx := registrytest.Context(t, 30*time.Second)
	snaps, _ := registrytest.InstanceWatch(t, s, func(err error) { t.Logf("watch instances: %v", err) })
	kept, lapsed := registrytest.Instance(1), registrytest.Instance(2)
	for _, inst := range []routetable.Instance{kept, lapsed} {
		if err := s.Register(ctx, inst, time.Second); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Deregister(context.Background(), inst.ID) })
	}
	registrytest.Next(t, snaps, 2*time.Second, "snapshot with both instances", func(v []routetable.Instance) bool { return len(v) == 2 })

	registrytest.KeepPassing(t, ctx, s.Pass, kept.ID, 200*time.Millisecond)

	start := time.Now()
	got := registrytest.Next(t, snaps, 10*time.Second, "snapshot without the lapsed instance", func(v []routetable.Instance) bool { return !registrytest.HasID(lapsed.ID)(v) })
	t.Logf("unpassed 1s TTL left the passing set after %v", time.Since(start))
	if !registrytest.HasID(kept.ID)(got) {
		t.Errorf("the instance that was passed left the passing set too: %+v", got)
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
	stop := registrytest.WatchRun(t, func(ctx context.Context) error {
		return s.WatchSpecs(ctx, func([]*spec.Spec) { t.Error("WatchSpecs delivered without an agent") },
			func(err error) { registrytest.Send(ctx, errs, err) })
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
			ctx := registrytest.Context(t, 10*time.Second)
			v, err := s.PutSpec(ctx, registrytest.SampleSpec("guest", "flow"))
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
		if _, err := s.GetSpec(registrytest.Context(t, 5*time.Second), "guest", "flow"); err == nil {
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
		done <- watcher.WatchInstances(ctx, func(v []routetable.Instance) { registrytest.Send(ctx, snaps, v) }, nil)
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
		inst := registrytest.Instance(i)
		start := time.Now()
		if err := s.Register(rctx, inst, time.Minute); err != nil {
			tb.Fatal(err)
		}
		if !wait(func(v []routetable.Instance) bool { return registrytest.HasID(inst.ID)(v) }) {
			tb.Fatalf("instance %s not seen within 10s", inst.ID)
		}
		lat = append(lat, time.Since(start))
		if err := s.Deregister(rctx, inst.ID); err != nil {
			tb.Fatal(err)
		}
		if !wait(func(v []routetable.Instance) bool { return !registrytest.HasID(inst.ID)(v) }) {
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
