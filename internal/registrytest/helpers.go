package registrytest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/internal/spec"
)

// Context returns a context that ends after d or when the test ends.
func Context(tb testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

// SampleSpec returns a valid two-step spec ns/wf.
func SampleSpec(ns, wf string) *spec.Spec {
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

// Instance returns a valid instance of namespace guest on host-1, its ID
// and endpoints numbered n.
func Instance(n int) routetable.Instance {
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

// WatchRun runs a watch in a goroutine owned by the test: stop cancels it,
// waits (at most 5s) for it to return, and gives its error. The test's
// cleanup calls stop too.
func WatchRun(t *testing.T, run func(ctx context.Context) error) (stop func() error) {
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

// Send hands v to the test, or gives up when the watch is being stopped,
// so that a watch callback never blocks its watch's return.
func Send[T any](ctx context.Context, ch chan<- T, v T) {
	select {
	case ch <- v:
	case <-ctx.Done():
	}
}

// Next waits up to within for the next value on ch that satisfies ok, and
// fails the test, naming what, when none comes.
func Next[T any](t *testing.T, ch <-chan T, within time.Duration, what string, ok func(T) bool) T {
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

// InstanceWatcher is the instance watch of a Registry.
type InstanceWatcher interface {
	WatchInstances(ctx context.Context, fn func([]routetable.Instance), onError func(error)) error
}

// InstanceWatch starts WatchInstances on w with WatchRun; snapshots
// arrive on the channel, errors go to onError (which may be nil).
func InstanceWatch(t *testing.T, w InstanceWatcher, onError func(error)) (<-chan []routetable.Instance, func() error) {
	t.Helper()
	snaps := make(chan []routetable.Instance, 64)
	stop := WatchRun(t, func(ctx context.Context) error {
		return w.WatchInstances(ctx, func(v []routetable.Instance) { Send(ctx, snaps, v) }, onError)
	})
	return snaps, stop
}

// HasID reports whether a snapshot holds the instance id.
func HasID(id string) func([]routetable.Instance) bool {
	return func(v []routetable.Instance) bool {
		return slices.ContainsFunc(v, func(i routetable.Instance) bool { return i.ID == id })
	}
}

// Keyer creates the frame key of a namespace.
type Keyer interface {
	CreateNamespaceKey(ctx context.Context, namespace string, key []byte) ([]byte, error)
}

// RaceNamespaceKey has 8 goroutines create the key of namespace at once
// (CreateNamespaceKey with a new key), taking turns over keyers (handles
// on one store), and fails the test unless all get one key of size bytes.
// It returns each racer's key.
func RaceNamespaceKey(t *testing.T, ctx context.Context, namespace string, size int, keyers ...Keyer) [][]byte {
	t.Helper()
	if len(keyers) == 0 {
		t.Fatal("RaceNamespaceKey: no keyers")
	}
	const racers = 8
	keys := make([][]byte, racers)
	var wg sync.WaitGroup
	for i := range racers {
		k := keyers[i%len(keyers)]
		wg.Go(func() {
			key, err := k.CreateNamespaceKey(ctx, namespace, nil)
			if err != nil {
				t.Error(err)
			}
			keys[i] = key
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for i, k := range keys {
		if len(k) != size || string(k) != string(keys[0]) {
			t.Fatalf("racer %d got key %x, racer 0 got %x; want one %d-byte key", i, k, keys[0], size)
		}
	}
	return keys
}

// KeepPassing passes instance id's health check every period, in a
// goroutine, until the test ends (or stop is called); a failing Pass
// fails the test.
func KeepPassing(t *testing.T, ctx context.Context, pass func(ctx context.Context, id string) error, id string, period time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { // owned: stop, then <-done
		defer close(done)
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if err := pass(ctx, id); err != nil && ctx.Err() == nil {
					t.Errorf("Pass %s: %v", id, err)
				}
			}
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}
