package registrytest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/internal/spec"
)

// Registry is the route registry the suite checks: the methods of
// agent.Registry, the spec store, and the implementation's Conventions.
type Registry interface {
	Register(ctx context.Context, inst routetable.Instance, ttl time.Duration) error
	Pass(ctx context.Context, id string) error
	Deregister(ctx context.Context, id string) error
	WatchInstances(ctx context.Context, fn func([]routetable.Instance), onError func(error)) error
	WatchSpecs(ctx context.Context, fn func([]*spec.Spec), onError func(error)) error
	NamespaceKey(ctx context.Context, namespace string) ([]byte, error)
	PutSpec(ctx context.Context, sp *spec.Spec) (uint64, error)
	GetSpec(ctx context.Context, namespace, workflow string) (*spec.Spec, error)
	DeleteSpec(ctx context.Context, namespace, workflow string) error
	ListSpecs(ctx context.Context, onError func(error)) ([]*spec.Spec, error)
	// Conventions tells the suite the implementation's error sentinels,
	// error prefix and key size; a test-file wrapper usually provides it.
	Conventions() Conventions
}

// Conventions are what differs between implementations only by name.
type Conventions struct {
	// Prefix starts every error message, without the colon:
	// "consulstore", "registry".
	Prefix string
	// ErrBadName is wrapped by the errors for a refused namespace or
	// workflow name.
	ErrBadName error
	// ErrBadInstance is wrapped by the errors for a refused instance ID.
	ErrBadInstance error
	// KeySize is the size in bytes of a namespace frame key.
	KeySize int
}

// Run runs the contract as subtests of t, each on a registry from open.
func Run(t *testing.T, open func(t *testing.T) Registry) {
	t.Helper()
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, r Registry)
	}{
		{"RegisterWatchDeregister", testRegisterWatchDeregister},
		{"RegisterRejects", testRegisterRejects},
		{"WatchInstancesCancel", testWatchInstancesCancel},
		{"SpecPutGetDelete", testSpecPutGetDelete},
		{"BadNamesAndSpecs", testBadNamesAndSpecs},
		{"WatchSpecs", testWatchSpecs},
		{"NamespaceKey", testNamespaceKey},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, open(t)) })
	}
}

func testRegisterWatchDeregister(t *testing.T, r Registry) {
	ctx := Context(t, 30*time.Second)
	snaps, stop := InstanceWatch(t, r, func(err error) { t.Errorf("WatchInstances onError: %v", err) })
	Next(t, snaps, 5*time.Second, "first (empty) snapshot", func(v []routetable.Instance) bool { return len(v) == 0 })

	want := Instance(1)
	if err := r.Register(ctx, want, time.Minute); err != nil {
		t.Fatal(err)
	}
	got := Next(t, snaps, 2*time.Second, "snapshot with the instance", HasID(want.ID))
	if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Errorf("watch saw %+v, want [%+v]", got, want)
	}
	if err := r.Pass(ctx, want.ID); err != nil {
		t.Errorf("Pass: %v", err)
	}
	// Registering again replaces the instance.
	want.Concurrency = 9
	if err := r.Register(ctx, want, time.Minute); err != nil {
		t.Fatal(err)
	}
	Next(t, snaps, 2*time.Second, "snapshot with the new concurrency", func(v []routetable.Instance) bool {
		return len(v) == 1 && v[0].Concurrency == 9
	})
	if err := r.Deregister(ctx, want.ID); err != nil {
		t.Fatal(err)
	}
	Next(t, snaps, 2*time.Second, "snapshot without the instance", func(v []routetable.Instance) bool { return len(v) == 0 })
	if err := r.Deregister(ctx, want.ID); err != nil {
		t.Errorf("Deregister of an unknown instance = %v, want nil", err)
	}
	if err := r.Pass(ctx, want.ID); err == nil {
		t.Error("Pass of a deregistered instance succeeded")
	}
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("WatchInstances returned %v after cancel, want context.Canceled", err)
	}
}

func testRegisterRejects(t *testing.T, r Registry) {
	conv := r.Conventions()
	ctx := Context(t, 10*time.Second)
	badTCP := Instance(1)
	badTCP.TCP = "10.0.0.1:80"
	noHost := Instance(2)
	noHost.Host = ""
	badID := Instance(3)
	badID.ID = "host 1/c3"
	negative := Instance(4)
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
		{"zero TTL", Instance(5), 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := r.Register(ctx, tt.inst, tt.ttl)
			if err == nil || !strings.HasPrefix(err.Error(), conv.Prefix+": register") {
				t.Errorf("Register = %v, want a %s: register error", err, conv.Prefix)
			}
			if err == nil {
				_ = r.Deregister(ctx, tt.inst.ID)
			}
		})
	}
	if err := r.Pass(ctx, ""); !errors.Is(err, conv.ErrBadInstance) {
		t.Errorf("Pass(\"\") = %v, want %v", err, conv.ErrBadInstance)
	}
}

func testWatchInstancesCancel(t *testing.T, r Registry) {
	snaps, stop := InstanceWatch(t, r, func(err error) { t.Errorf("WatchInstances onError: %v", err) })
	Next(t, snaps, 5*time.Second, "first snapshot", func([]routetable.Instance) bool { return true })
	// The watch is now waiting for a change (for Consul, parked in a
	// blocking query of minutes).
	start := time.Now()
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("WatchInstances returned %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("WatchInstances took %v to return after cancel", d)
	}
}

func testSpecPutGetDelete(t *testing.T, r Registry) {
	ctx := Context(t, 30*time.Second)
	if sp, err := r.GetSpec(ctx, "guest", "flow"); sp != nil || err != nil {
		t.Fatalf("GetSpec before any put = %v, %v; want nil, nil", sp, err)
	}
	want := SampleSpec("guest", "flow")
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
	if v3, err := r.PutSpec(ctx, SampleSpec("other", "flow")); err != nil || v3 <= v2 {
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

func testBadNamesAndSpecs(t *testing.T, r Registry) {
	conv := r.Conventions()
	ctx := Context(t, 30*time.Second)
	for _, name := range []string{"", ".", "..", "a/b", "../etc", "x\n"} {
		t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
			if _, err := r.GetSpec(ctx, name, "flow"); !errors.Is(err, conv.ErrBadName) {
				t.Errorf("GetSpec(namespace %q) = %v, want ErrBadName", name, err)
			}
			if _, err := r.GetSpec(ctx, "guest", name); !errors.Is(err, conv.ErrBadName) {
				t.Errorf("GetSpec(workflow %q) = %v, want ErrBadName", name, err)
			}
			if err := r.DeleteSpec(ctx, "guest", name); !errors.Is(err, conv.ErrBadName) {
				t.Errorf("DeleteSpec(workflow %q) = %v, want ErrBadName", name, err)
			}
			if _, err := r.NamespaceKey(ctx, name); !errors.Is(err, conv.ErrBadName) {
				t.Errorf("NamespaceKey(%q) = %v, want ErrBadName", name, err)
			}
		})
	}
	noStart := SampleSpec("guest", "flow")
	noStart.Start = nil
	cycle := SampleSpec("guest", "loop")
	cycle.Steps["b"] = spec.Step{Action: "/guest/x", Next: []string{"a"}}
	for _, tt := range []struct {
		name, want string
		sp         *spec.Spec
	}{
		{"nil", "nil spec", nil},
		{"no start", "no start step", noStart},
		{"cycle", "cycle", cycle},
		{"dot-dot workflow", "dot path", SampleSpec("guest", "..")},
	} {
		_, err := r.PutSpec(ctx, tt.sp)
		if err == nil || !strings.HasPrefix(err.Error(), conv.Prefix+": put spec") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("PutSpec(%s) = %v, want a %s: put spec error saying %q", tt.name, err, conv.Prefix, tt.want)
		}
	}
	if specs, err := r.ListSpecs(ctx, nil); err != nil || len(specs) != 0 {
		t.Errorf("ListSpecs after refused puts = %v, %v; want none stored", specs, err)
	}
}

func testWatchSpecs(t *testing.T, r Registry) {
	ctx := Context(t, 30*time.Second)
	snaps := make(chan []*spec.Spec, 16)
	stop := WatchRun(t, func(ctx context.Context) error {
		return r.WatchSpecs(ctx, func(v []*spec.Spec) { Send(ctx, snaps, v) }, func(err error) { t.Errorf("WatchSpecs onError: %v", err) })
	})
	Next(t, snaps, 5*time.Second, "first (empty) snapshot", func(v []*spec.Spec) bool { return len(v) == 0 })
	v, err := r.PutSpec(ctx, SampleSpec("guest", "flow"))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got := Next(t, snaps, time.Second, "snapshot with the new spec", func(v []*spec.Spec) bool { return len(v) == 1 })
	t.Logf("put seen by the watch after %v", time.Since(start))
	if got[0].Key() != "guest/flow" || got[0].Version != v {
		t.Errorf("watch saw %s at version %d, want guest/flow at %d", got[0].Key(), got[0].Version, v)
	}
	// Instances changing do not make the spec watch deliver: the next
	// snapshot is the one with the second spec.
	if err := r.Register(ctx, Instance(1), time.Minute); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Deregister(context.Background(), Instance(1).ID) })
	v2, err := r.PutSpec(ctx, SampleSpec("other", "flow"))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case got = <-snaps:
	case <-time.After(time.Second):
		t.Fatal("no snapshot within 1s of the second PutSpec")
	}
	if len(got) != 2 || got[0].Key() != "guest/flow" || got[1].Key() != "other/flow" || got[1].Version != v2 {
		t.Errorf("next snapshot %v, want guest/flow, other/flow (at %d) in order", got, v2)
	}
	if err := r.DeleteSpec(ctx, "guest", "flow"); err != nil {
		t.Fatal(err)
	}
	got = Next(t, snaps, time.Second, "snapshot without the deleted spec", func(v []*spec.Spec) bool {
		return !slices.ContainsFunc(v, func(sp *spec.Spec) bool { return sp.Key() == "guest/flow" })
	})
	if len(got) != 1 || got[0].Key() != "other/flow" {
		t.Errorf("after delete the watch has %v, want only other/flow", got)
	}
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("WatchSpecs returned %v after cancel, want context.Canceled", err)
	}
}

func testNamespaceKey(t *testing.T, r Registry) {
	size := r.Conventions().KeySize
	ctx := Context(t, 30*time.Second)
	keys := RaceNamespaceKey(t, ctx, "guest", size, r)
	keys[0][0] ^= 0xff // the caller's copy
	again, err := r.NamespaceKey(ctx, "guest")
	if err != nil || string(again) != string(keys[1]) {
		t.Errorf("NamespaceKey again = %x, %v; want the stored %x", again, err, keys[1])
	}
	ns2, err := r.NamespaceKey(ctx, "guest2")
	if err != nil || len(ns2) != size || string(ns2) == string(keys[1]) {
		t.Errorf("another namespace's key = %x, %v; want a different key", ns2, err)
	}
}
