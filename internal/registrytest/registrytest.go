package registrytest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
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
	CreateNamespaceKey(ctx context.Context, namespace string, key []byte) ([]byte, error)
	NamespaceKeys(ctx context.Context, onError func(error)) (map[string][]byte, error)
	Marker(ctx context.Context) (string, error)
	CreateMarker(ctx context.Context, id string) (string, error)
	PutSpec(ctx context.Context, sp *spec.Spec) (uint64, error)
	CreateSpec(ctx context.Context, sp *spec.Spec) (bool, error)
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
	// ErrBadKey is wrapped by the errors for a key of the wrong size.
	ErrBadKey error
	// ErrBadMarker is wrapped by the errors for a malformed marker.
	ErrBadMarker error
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
		{"Marker", testMarker},
		{"CreateSpec", testCreateSpec},
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
	conv := r.Conventions()
	size := conv.KeySize
	ctx := Context(t, 30*time.Second)
	if k, err := r.NamespaceKey(ctx, "guest"); k != nil || err != nil {
		t.Fatalf("NamespaceKey before any key = %x, %v; want nil, nil (never created on the way)", k, err)
	}
	keys := RaceNamespaceKey(t, ctx, "guest", size, r)
	keys[0][0] ^= 0xff // the caller's copy
	again, err := r.NamespaceKey(ctx, "guest")
	if err != nil || string(again) != string(keys[1]) {
		t.Errorf("NamespaceKey again = %x, %v; want the stored %x", again, err, keys[1])
	}
	// Offering another key does not replace the stored one.
	other := make([]byte, size)
	if got, err := r.CreateNamespaceKey(ctx, "guest", other); err != nil || string(got) != string(keys[1]) {
		t.Errorf("CreateNamespaceKey over a stored key = %x, %v; want the stored %x", got, err, keys[1])
	}
	// An offered key is stored as it is where there is none (a restore).
	restored := make([]byte, size)
	for i := range restored {
		restored[i] = byte(i)
	}
	if got, err := r.CreateNamespaceKey(ctx, "guest2", restored); err != nil || string(got) != string(restored) {
		t.Errorf("CreateNamespaceKey(guest2, offered) = %x, %v; want the offered %x", got, err, restored)
	}
	if got, err := r.NamespaceKey(ctx, "guest2"); err != nil || string(got) != string(restored) {
		t.Errorf("NamespaceKey(guest2) = %x, %v; want the offered %x", got, err, restored)
	}
	all, err := r.NamespaceKeys(ctx, func(err error) { t.Errorf("NamespaceKeys onError: %v", err) })
	if err != nil || len(all) != 2 || string(all["guest"]) != string(keys[1]) || string(all["guest2"]) != string(restored) {
		t.Errorf("NamespaceKeys = %x, %v; want guest's and guest2's keys", all, err)
	}
	if _, err := r.CreateNamespaceKey(ctx, "guest3", []byte("short")); !errors.Is(err, conv.ErrBadKey) {
		t.Errorf("CreateNamespaceKey of a 5-byte key = %v, want ErrBadKey", err)
	}
	if k, err := r.NamespaceKey(ctx, "guest3"); k != nil || err != nil {
		t.Errorf("NamespaceKey after a refused create = %x, %v; want nil, nil", k, err)
	}
	if _, err := r.CreateNamespaceKey(ctx, "a/b", nil); !errors.Is(err, conv.ErrBadName) {
		t.Errorf("CreateNamespaceKey(a/b) = %v, want ErrBadName", err)
	}
}

func testMarker(t *testing.T, r Registry) {
	conv := r.Conventions()
	ctx := Context(t, 30*time.Second)
	if m, err := r.Marker(ctx); m != "" || err != nil {
		t.Fatalf("Marker of a new registry = %q, %v; want \"\", nil", m, err)
	}
	for _, bad := range []string{"", "a b", "x/y", strings.Repeat("m", 129), "é"} {
		if _, err := r.CreateMarker(ctx, bad); !errors.Is(err, conv.ErrBadMarker) {
			t.Errorf("CreateMarker(%q) = %v, want ErrBadMarker", bad, err)
		}
	}
	// Racers all end up with the marker stored first.
	got := make([]string, 8)
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() {
			m, err := r.CreateMarker(ctx, fmt.Sprintf("m-%d", i))
			if err != nil {
				t.Error(err)
			}
			got[i] = m
		})
	}
	wg.Wait()
	for i, m := range got {
		if m != got[0] || m == "" {
			t.Fatalf("racer %d got marker %q, racer 0 %q; want one marker", i, m, got[0])
		}
	}
	if m, err := r.Marker(ctx); m != got[0] || err != nil {
		t.Errorf("Marker = %q, %v; want %q", m, err, got[0])
	}
}

func testCreateSpec(t *testing.T, r Registry) {
	ctx := Context(t, 30*time.Second)
	first := SampleSpec("guest", "flow")
	created, err := r.CreateSpec(ctx, first)
	if err != nil || !created {
		t.Fatalf("CreateSpec of a new spec = %v, %v; want true, nil", created, err)
	}
	got, err := r.GetSpec(ctx, "guest", "flow")
	if err != nil || got == nil || got.Version == 0 {
		t.Fatalf("GetSpec after CreateSpec = %+v, %v; want the spec with a version", got, err)
	}
	second := SampleSpec("guest", "flow")
	second.Steps["b"] = spec.Step{Action: "/guest/third"}
	if created, err := r.CreateSpec(ctx, second); err != nil || created {
		t.Errorf("CreateSpec over a stored spec = %v, %v; want false, nil", created, err)
	}
	if again, err := r.GetSpec(ctx, "guest", "flow"); err != nil || again.Version != got.Version || again.Steps["b"].Action == "/guest/third" {
		t.Errorf("after a refused CreateSpec the spec is %+v, %v; want the first one at version %d", again, err, got.Version)
	}
	if _, err := r.CreateSpec(ctx, nil); err == nil {
		t.Error("CreateSpec(nil) succeeded")
	}
	if err := r.DeleteSpec(ctx, "guest", "flow"); err != nil {
		t.Fatal(err)
	}
	if created, err := r.CreateSpec(ctx, second); err != nil || !created {
		t.Errorf("CreateSpec after delete = %v, %v; want true, nil", created, err)
	}
}
