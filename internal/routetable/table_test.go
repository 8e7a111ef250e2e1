package routetable_test

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/routetable"
)

const action = "/ns/act"

// fakeClock is a settable clock, safe for concurrent use.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// constRand returns a Rand that always yields v.
func constRand(v uint64) func() uint64 { return func() uint64 { return v } }

func inst(id, host string) routetable.Instance {
	return routetable.Instance{ID: id, Action: action, Host: host, Unix: "unix:/run/" + id + ".sock"}
}

// instSlots is inst of an instance that runs slots activations at once.
func instSlots(id, host string, slots int) routetable.Instance {
	in := inst(id, host)
	in.Concurrency = slots
	return in
}

func ids(in []routetable.Instance) []string {
	out := make([]string, len(in))
	for i, x := range in {
		out[i] = x.ID
	}
	return out
}

func newTable(clk *fakeClock, r uint64, all ...routetable.Instance) *routetable.Table {
	t := routetable.New(routetable.Config{Host: "h1", Now: clk.Now, Rand: constRand(r)})
	t.Replace(all)
	return t
}

func TestCandidatesOrder(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name    string
		all     []routetable.Instance
		setup   func(tb *routetable.Table, clk *fakeClock)
		exclude []string
		want    []string
	}{
		{
			name: "locality first",
			all:  []routetable.Instance{inst("h2/a", "h2"), inst("h1/b", "h1"), inst("h3/c", "h3")},
			setup: func(tb *routetable.Table, _ *fakeClock) {
				// Even a slow, busy local instance beats fast remote ones.
				tb.Begin("h1/b")
				tb.End("h1/b", 100*ms, true)
				tb.Begin("h1/b")
				tb.End("h2/a", 1, true)
				tb.End("h3/c", 2, true)
			},
			want: []string{"h1/b", "h2/a", "h3/c"},
		},
		{
			name: "penalised local instance after unpenalised local, before remote",
			all:  []routetable.Instance{inst("h1/a", "h1"), inst("h1/b", "h1"), inst("h2/c", "h2")},
			setup: func(tb *routetable.Table, _ *fakeClock) {
				tb.End("h1/b", 10*ms, true)
				tb.Penalize("h1/a")
			},
			want: []string{"h1/b", "h1/a", "h2/c"},
		},
		{
			name: "failed End penalises",
			all:  []routetable.Instance{inst("h1/a", "h1"), inst("h1/b", "h1")},
			setup: func(tb *routetable.Table, _ *fakeClock) {
				tb.End("h1/a", ms, true)
				tb.End("h1/b", 50*ms, true)
				tb.Begin("h1/a")
				tb.End("h1/a", 0, false)
			},
			want: []string{"h1/b", "h1/a"},
		},
		{
			name: "penalty expires by the clock",
			all:  []routetable.Instance{inst("h1/a", "h1"), inst("h1/b", "h1")},
			setup: func(tb *routetable.Table, clk *fakeClock) {
				tb.End("h1/a", ms, true)
				tb.End("h1/b", 50*ms, true)
				tb.Penalize("h1/a")
				clk.Advance(routetable.DefaultBusyPenalty)
			},
			want: []string{"h1/a", "h1/b"},
		},
		{
			name: "penalty still on just before expiry",
			all:  []routetable.Instance{inst("h1/a", "h1"), inst("h1/b", "h1")},
			setup: func(tb *routetable.Table, clk *fakeClock) {
				tb.End("h1/a", ms, true)
				tb.End("h1/b", 50*ms, true)
				tb.Penalize("h1/a")
				clk.Advance(routetable.DefaultBusyPenalty - 1)
			},
			want: []string{"h1/b", "h1/a"},
		},
		{
			name: "EWMA prefers the faster instance",
			all:  []routetable.Instance{inst("h1/a", "h1"), inst("h1/b", "h1"), inst("h1/c", "h1")},
			setup: func(tb *routetable.Table, _ *fakeClock) {
				for range 5 {
					tb.End("h1/a", 30*ms, true)
					tb.End("h1/b", 10*ms, true)
					tb.End("h1/c", 20*ms, true)
				}
			},
			want: []string{"h1/b", "h1/c", "h1/a"},
		},
		{
			name: "EWMA follows a slowdown",
			all:  []routetable.Instance{inst("h1/a", "h1"), inst("h1/b", "h1")},
			setup: func(tb *routetable.Table, _ *fakeClock) {
				tb.End("h1/a", 5*ms, true)
				tb.End("h1/b", 10*ms, true)
				for range 10 {
					tb.End("h1/a", 40*ms, true)
				}
			},
			want: []string{"h1/b", "h1/a"},
		},
		{
			name: "in-flight spreads load",
			all:  []routetable.Instance{inst("h1/a", "h1"), inst("h1/b", "h1")},
			setup: func(tb *routetable.Table, _ *fakeClock) {
				tb.Begin("h1/a")
			},
			want: []string{"h1/b", "h1/a"},
		},
		{
			name: "in-flight back to zero after End",
			all:  []routetable.Instance{inst("h1/a", "h1"), inst("h1/b", "h1")},
			setup: func(tb *routetable.Table, _ *fakeClock) {
				tb.End("h1/a", ms, true)
				tb.End("h1/b", 2*ms, true)
				tb.Begin("h1/a")
				tb.End("h1/a", ms, true)
				tb.End("h1/a", ms, true) // extra End does not go negative
			},
			want: []string{"h1/a", "h1/b"},
		},
		{
			name: "unsampled instance uses group median",
			all:  []routetable.Instance{inst("h1/a", "h1"), inst("h1/b", "h1"), inst("h1/c", "h1"), inst("h1/new", "h1")},
			setup: func(tb *routetable.Table, _ *fakeClock) {
				tb.End("h1/a", 10*ms, true)
				tb.End("h1/b", 20*ms, true)
				tb.End("h1/c", 30*ms, true)
				tb.Begin("h1/b") // b scores 40ms, new scores the median 20ms
			},
			want: []string{"h1/a", "h1/new", "h1/c", "h1/b"},
		},
		{
			name: "median is per group",
			all:  []routetable.Instance{inst("h1/a", "h1"), inst("h2/b", "h2"), inst("h2/new", "h2")},
			setup: func(tb *routetable.Table, _ *fakeClock) {
				tb.End("h1/a", 100*ms, true) // local median does not leak to remote
				tb.End("h2/b", 5*ms, true)
				tb.Begin("h2/b") // b scores 10ms, new the remote median 5ms
			},
			want: []string{"h1/a", "h2/new", "h2/b"},
		},
		{
			name: "no samples: 1ms each, in-flight decides",
			all:  []routetable.Instance{inst("h1/a", "h1"), inst("h1/b", "h1"), inst("h1/c", "h1")},
			setup: func(tb *routetable.Table, _ *fakeClock) {
				tb.Begin("h1/a")
				tb.Begin("h1/a")
				tb.Begin("h1/c")
			},
			want: []string{"h1/b", "h1/c", "h1/a"},
		},
		{
			name: "in-flight hops count against the instance's slots",
			all:  []routetable.Instance{instSlots("h1/a", "h1", 8), inst("h1/b", "h1"), instSlots("h1/c", "h1", 2)},
			setup: func(tb *routetable.Table, _ *fakeClock) {
				for range 7 { // 7 of 8 slots: as free as an idle instance, and faster
					tb.Begin("h1/a")
				}
				tb.End("h1/a", ms, true)
				tb.Begin("h1/a")
				tb.End("h1/b", 2*ms, true)
				tb.Begin("h1/c") // 1 of 2 slots: as free as an idle one...
				tb.End("h1/c", 3*ms, true)
				tb.Begin("h1/c")
				tb.Begin("h1/b") // ...while b's only slot is taken: 2 × 2ms
			},
			want: []string{"h1/a", "h1/c", "h1/b"},
		},
		{
			name: "placed steps count against the slots until unplaced",
			all:  []routetable.Instance{instSlots("h1/a", "h1", 2), instSlots("h1/b", "h1", 2), instSlots("h1/c", "h1", 2)},
			setup: func(tb *routetable.Table, _ *fakeClock) {
				tb.End("h1/a", ms, true) // the fastest...
				tb.End("h1/b", 3*ms/2, true)
				tb.End("h1/c", 3*ms, true)
				tb.Place("h1/a") // ...with both slots taken by steps an entry placed: after
				tb.Place("h1/a") // every instance with a free slot
				tb.Place("h1/b") // b and c: one of two slots, as free as idle
				tb.Place("h1/c")
				tb.Place("h1/c")
				tb.Unplace("h1/c") // c's second step reported
				tb.Unplace("h1/b")
				tb.Unplace("h1/b") // extra Unplace does not go negative
				tb.Place("unknown")
			},
			want: []string{"h1/b", "h1/c", "h1/a"},
		},
		{
			name: "full instances after free ones, however faster",
			all:  []routetable.Instance{inst("h1/a", "h1"), inst("h1/b", "h1"), instSlots("h1/c", "h1", 4)},
			setup: func(tb *routetable.Table, _ *fakeClock) {
				tb.End("h1/a", ms, true)
				tb.End("h1/b", 2*ms, true)
				tb.End("h1/c", 50*ms, true)
				tb.Begin("h1/a") // full: after c, 50 times slower but free
				tb.Begin("h1/b")
				tb.Begin("h1/b") // fuller still: after a
				tb.Place("h1/c")
				tb.Place("h1/c")
				tb.Place("h1/c")
			},
			want: []string{"h1/c", "h1/a", "h1/b"},
		},
		{
			name: "a penalised instance with a free slot before a full one",
			all:  []routetable.Instance{inst("h1/a", "h1"), inst("h1/b", "h1")},
			setup: func(tb *routetable.Table, _ *fakeClock) {
				tb.End("h1/a", ms, true)
				tb.Begin("h1/a")         // full: it would refuse for sure
				tb.End("h1/b", 0, false) // refused a while ago, free now
			},
			want: []string{"h1/b", "h1/a"},
		},
		{
			name:    "exclude",
			all:     []routetable.Instance{inst("h1/a", "h1"), inst("h1/b", "h1"), inst("h2/c", "h2")},
			exclude: []string{"h1/a", "h2/c", "unknown"},
			want:    []string{"h1/b"},
		},
		{
			name:    "exclude all",
			all:     []routetable.Instance{inst("h1/a", "h1")},
			exclude: []string{"h1/a"},
			want:    []string{},
		},
		{
			name: "other actions are not candidates",
			all: []routetable.Instance{inst("h1/a", "h1"),
				{ID: "h1/x", Action: "/ns/other", Host: "h1"}},
			want: []string{"h1/a"},
		},
		{
			name: "unknown action",
			all:  nil,
			want: []string{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The order must not depend on the Rand value when there are
			// no ties.
			for _, r := range []uint64{0, 1, 42, ^uint64(0)} {
				clk := &fakeClock{}
				tb := newTable(clk, r, tc.all...)
				if tc.setup != nil {
					tc.setup(tb, clk)
				}
				got := ids(tb.Candidates(action, tc.exclude, nil))
				if !slices.Equal(got, tc.want) {
					t.Errorf("rand %d: Candidates = %v, want %v", r, got, tc.want)
				}
			}
		})
	}
}

func TestCandidatesAppends(t *testing.T) {
	tb := newTable(&fakeClock{}, 0, inst("h1/a", "h1"))
	dst := []routetable.Instance{{ID: "keep"}}
	got := ids(tb.Candidates(action, nil, dst))
	if want := []string{"keep", "h1/a"}; !slices.Equal(got, want) {
		t.Fatalf("Candidates = %v, want %v", got, want)
	}
}

func TestTiesBrokenBothWays(t *testing.T) {
	tests := []struct {
		name string
		all  []routetable.Instance
	}{
		{"two local", []routetable.Instance{inst("h1/a", "h1"), inst("h1/b", "h1")}},
		{"two remote", []routetable.Instance{inst("h2/a", "h2"), inst("h3/b", "h3")}},
		{"three local", []routetable.Instance{inst("h1/a", "h1"), inst("h1/b", "h1"), inst("h1/c", "h1")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			first := map[string]int{}
			const runs = 300
			for r := range uint64(runs) {
				tb := newTable(&fakeClock{}, r, tc.all...)
				got := tb.Candidates(action, nil, nil)
				if len(got) != len(tc.all) {
					t.Fatalf("rand %d: %d candidates, want %d", r, len(got), len(tc.all))
				}
				first[got[0].ID]++
				// Same Rand value, same order.
				again := tb.Candidates(action, nil, nil)
				if !slices.Equal(ids(got), ids(again)) {
					t.Fatalf("rand %d: order not deterministic: %v then %v", r, ids(got), ids(again))
				}
			}
			for _, in := range tc.all {
				// Each instance should come first roughly runs/n times.
				if n := first[in.ID]; n < runs/len(tc.all)/2 {
					t.Errorf("%s first %d of %d times (%v)", in.ID, n, runs, first)
				}
			}
		})
	}
}

func TestApplyReplace(t *testing.T) {
	ms := time.Millisecond
	t.Run("apply upsert and remove", func(t *testing.T) {
		tb := newTable(&fakeClock{}, 0)
		tb.Apply([]routetable.Instance{inst("h1/a", "h1"), inst("h1/b", "h1"), {ID: ""}}, nil)
		if tb.Len() != 2 {
			t.Fatalf("Len = %d, want 2", tb.Len())
		}
		upd := inst("h1/a", "h1")
		upd.TCP = "tcp:10.0.0.1:9000"
		tb.Apply([]routetable.Instance{upd}, []string{"h1/b", "unknown"})
		if got := ids(tb.Snapshot()); !slices.Equal(got, []string{"h1/a"}) {
			t.Fatalf("Snapshot = %v", got)
		}
		if got, ok := tb.Get("h1/a"); !ok || got != upd {
			t.Fatalf("Get = %+v, %v; want %+v", got, ok, upd)
		}
		if _, ok := tb.Get("h1/b"); ok {
			t.Fatal("removed instance still present")
		}
		if got := ids(tb.Candidates(action, nil, nil)); !slices.Equal(got, []string{"h1/a"}) {
			t.Fatalf("Candidates = %v", got)
		}
	})
	t.Run("upsert and remove of the same id in one Apply removes", func(t *testing.T) {
		tb := newTable(&fakeClock{}, 0)
		tb.Apply([]routetable.Instance{inst("h1/a", "h1")}, []string{"h1/a"})
		if tb.Len() != 0 {
			t.Fatalf("Len = %d, want 0", tb.Len())
		}
	})
	t.Run("action change moves the index", func(t *testing.T) {
		tb := newTable(&fakeClock{}, 0, inst("h1/a", "h1"), inst("h1/b", "h1"))
		moved := inst("h1/a", "h1")
		moved.Action = "/ns/other"
		tb.Apply([]routetable.Instance{moved}, nil)
		if got := ids(tb.Candidates(action, nil, nil)); !slices.Equal(got, []string{"h1/b"}) {
			t.Fatalf("old action candidates = %v", got)
		}
		if got := ids(tb.Candidates("/ns/other", nil, nil)); !slices.Equal(got, []string{"h1/a"}) {
			t.Fatalf("new action candidates = %v", got)
		}
	})
	t.Run("host change moves the group", func(t *testing.T) {
		tb := newTable(&fakeClock{}, 0, inst("h1/a", "h1"), inst("h1/b", "h1"))
		tb.Apply([]routetable.Instance{inst("h1/a", "h9")}, nil)
		if got := ids(tb.Candidates(action, nil, nil)); !slices.Equal(got, []string{"h1/b", "h1/a"}) {
			t.Fatalf("Candidates = %v", got)
		}
	})
	t.Run("upsert keeps stats, remove and re-add starts fresh", func(t *testing.T) {
		tb := newTable(&fakeClock{}, 0, inst("h1/a", "h1"), inst("h1/b", "h1"))
		tb.End("h1/a", 100*ms, true)
		tb.End("h1/b", 10*ms, true)
		tb.Apply([]routetable.Instance{inst("h1/a", "h1")}, nil)
		if got := ids(tb.Candidates(action, nil, nil)); !slices.Equal(got, []string{"h1/b", "h1/a"}) {
			t.Fatalf("after upsert: %v", got)
		}
		tb.Apply(nil, []string{"h1/a"})
		tb.Apply([]routetable.Instance{inst("h1/a", "h1")}, nil)
		tb.Begin("h1/b") // b: 20ms; fresh a: median 10ms
		if got := ids(tb.Candidates(action, nil, nil)); !slices.Equal(got, []string{"h1/a", "h1/b"}) {
			t.Fatalf("after re-add: %v", got)
		}
	})
	t.Run("replace", func(t *testing.T) {
		tb := newTable(&fakeClock{}, 0, inst("h1/a", "h1"), inst("h1/b", "h1"), inst("h1/c", "h1"))
		tb.End("h1/a", 100*ms, true)
		tb.End("h1/b", 10*ms, true)
		tb.Penalize("h1/c")
		// c leaves; a stays with its stats; d is new.
		tb.Replace([]routetable.Instance{inst("h1/b", "h1"), inst("h1/a", "h1"), inst("h1/d", "h1"), {ID: ""}})
		if got := ids(tb.Snapshot()); !slices.Equal(got, []string{"h1/a", "h1/b", "h1/d"}) {
			t.Fatalf("Snapshot = %v", got)
		}
		// d uses the median (55ms): b 10ms, d 55ms, a 100ms.
		if got := ids(tb.Candidates(action, nil, nil)); !slices.Equal(got, []string{"h1/b", "h1/d", "h1/a"}) {
			t.Fatalf("Candidates = %v", got)
		}
		tb.Apply([]routetable.Instance{inst("h1/c", "h1")}, nil)
		if got := ids(tb.Candidates(action, []string{"h1/a", "h1/b", "h1/d"}, nil)); !slices.Equal(got, []string{"h1/c"}) {
			t.Fatalf("re-added c: %v", got)
		}
		// c is fresh: no penalty, so with the 55ms median it precedes a.
		if got := ids(tb.Candidates(action, []string{"h1/b", "h1/d"}, nil)); !slices.Equal(got, []string{"h1/c", "h1/a"}) {
			t.Fatalf("re-added c penalised? %v", got)
		}
	})
	t.Run("replace with duplicate ids keeps the last", func(t *testing.T) {
		tb := newTable(&fakeClock{}, 0)
		other := inst("h1/a", "h1")
		other.Action = "/ns/other"
		tb.Replace([]routetable.Instance{inst("h1/a", "h1"), other})
		if tb.Len() != 1 {
			t.Fatalf("Len = %d", tb.Len())
		}
		if got := tb.Candidates(action, nil, nil); len(got) != 0 {
			t.Fatalf("old action candidates = %v", ids(got))
		}
		if got := ids(tb.Candidates("/ns/other", nil, nil)); !slices.Equal(got, []string{"h1/a"}) {
			t.Fatalf("Candidates = %v", got)
		}
	})
	t.Run("replace with nothing empties", func(t *testing.T) {
		tb := newTable(&fakeClock{}, 0, inst("h1/a", "h1"))
		tb.Replace(nil)
		if tb.Len() != 0 || len(tb.Snapshot()) != 0 || len(tb.Candidates(action, nil, nil)) != 0 {
			t.Fatal("table not empty")
		}
	})
	t.Run("accounting on unknown ids is ignored", func(t *testing.T) {
		tb := newTable(&fakeClock{}, 0)
		tb.Begin("x")
		tb.End("x", time.Second, true)
		tb.End("x", time.Second, false)
		tb.Penalize("x")
		if tb.Len() != 0 {
			t.Fatal("accounting created an entry")
		}
	})
}

func TestConfigDefaults(t *testing.T) {
	// Zero config: real clock and random source.
	tb := routetable.New(routetable.Config{Host: "h1"})
	tb.Replace([]routetable.Instance{inst("h1/a", "h1"), inst("h1/b", "h1")})
	tb.Penalize("h1/a")
	if got := ids(tb.Candidates(action, nil, nil)); !slices.Equal(got, []string{"h1/b", "h1/a"}) {
		t.Fatalf("Candidates = %v", got)
	}

	// A custom BusyPenalty.
	clk := &fakeClock{}
	tb = routetable.New(routetable.Config{Host: "h1", Now: clk.Now, Rand: constRand(0), BusyPenalty: time.Second})
	tb.Replace([]routetable.Instance{inst("h1/a", "h1"), inst("h1/b", "h1")})
	tb.End("h1/a", time.Millisecond, true)
	tb.End("h1/b", 2*time.Millisecond, true)
	tb.Penalize("h1/a")
	clk.Advance(routetable.DefaultBusyPenalty)
	if got := ids(tb.Candidates(action, nil, nil)); !slices.Equal(got, []string{"h1/b", "h1/a"}) {
		t.Fatalf("before 1s: %v", got)
	}
	clk.Advance(time.Second)
	if got := ids(tb.Candidates(action, nil, nil)); !slices.Equal(got, []string{"h1/a", "h1/b"}) {
		t.Fatalf("after 1s: %v", got)
	}

	// Alpha 1: only the last sample counts.
	tb = routetable.New(routetable.Config{Host: "h1", Now: clk.Now, Rand: constRand(0), Alpha: 1})
	tb.Replace([]routetable.Instance{inst("h1/a", "h1"), inst("h1/b", "h1")})
	tb.End("h1/a", time.Millisecond, true)
	tb.End("h1/b", 2*time.Millisecond, true)
	tb.End("h1/a", 3*time.Millisecond, true)
	if got := ids(tb.Candidates(action, nil, nil)); !slices.Equal(got, []string{"h1/b", "h1/a"}) {
		t.Fatalf("alpha 1: %v", got)
	}
}

func TestConcurrent(t *testing.T) {
	var seq atomic.Uint64
	clk := &fakeClock{}
	tb := routetable.New(routetable.Config{
		Host: "h1",
		Now:  clk.Now,
		Rand: func() uint64 { return seq.Add(1) },
	})
	all := make([]routetable.Instance, 20)
	for i := range all {
		all[i] = inst(fmt.Sprintf("h%d/%d", i%3, i), fmt.Sprintf("h%d", i%3))
	}
	tb.Replace(all)

	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			dst := make([]routetable.Instance, 0, len(all))
			for i := range 500 {
				dst = tb.Candidates(action, []string{all[g].ID}, dst[:0])
				if len(dst) == 0 {
					continue
				}
				id := dst[0].ID
				tb.Begin(id)
				if i%7 == 0 {
					tb.Penalize(id)
				}
				tb.End(id, time.Duration(i)*time.Microsecond, i%5 != 0)
				tb.Get(id)
			}
		})
	}
	wg.Go(func() {
		for i := range 200 {
			switch i % 3 {
			case 0:
				tb.Replace(all)
			case 1:
				tb.Apply(nil, []string{all[i%len(all)].ID})
			default:
				tb.Apply(all[:i%len(all)], nil)
			}
			clk.Advance(time.Millisecond)
			_ = tb.Snapshot()
			_ = tb.Len()
		}
	})
	wg.Wait()
	tb.Replace(all)
	if got := tb.Candidates(action, nil, nil); len(got) != len(all) {
		t.Fatalf("%d candidates, want %d", len(got), len(all))
	}
}

func TestCandidatesAllocs(t *testing.T) {
	if raceEnabled {
		// Under the race detector sync.Pool drops items at random, so the
		// scratch buffers are reallocated now and then.
		t.Skip("alloc counts are not meaningful under -race")
	}
	for _, n := range []int{1, 10, 1000} {
		tb, _ := benchTable(n)
		exclude := []string{"h1/0"}
		dst := make([]routetable.Instance, 0, n)
		tb.Candidates(action, exclude, dst) // warm the scratch pool
		allocs := testing.AllocsPerRun(100, func() {
			dst = tb.Candidates(action, exclude, dst[:0])
		})
		if allocs != 0 {
			t.Errorf("%d instances: %v allocs per Candidates, want 0", n, allocs)
		}
	}
}

// benchTable returns a table with n instances of one action, half of them
// on the local host, with some samples, in-flight hops and penalties.
func benchTable(n int) (*routetable.Table, []routetable.Instance) {
	var seq atomic.Uint64
	tb := routetable.New(routetable.Config{Host: "h1", Rand: func() uint64 { return seq.Add(1) }})
	all := make([]routetable.Instance, n)
	for i := range all {
		host := fmt.Sprintf("h%d", 1+i%2)
		all[i] = routetable.Instance{ID: fmt.Sprintf("%s/%d", host, i), Action: action, Host: host}
	}
	tb.Replace(all)
	for i, in := range all {
		if i%3 != 0 {
			tb.End(in.ID, time.Duration(1+i%17)*time.Millisecond, true)
		}
		if i%4 == 0 {
			tb.Begin(in.ID)
		}
		if i%11 == 0 {
			tb.Penalize(in.ID)
		}
	}
	return tb, all
}

func BenchmarkCandidates(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) {
			tb, all := benchTable(n)
			exclude := []string{all[0].ID}
			dst := make([]routetable.Instance, 0, n)
			b.ReportAllocs()
			for b.Loop() {
				dst = tb.Candidates(action, exclude, dst[:0])
			}
		})
	}
}

// Best is the first of Candidates, for every Rand value and every set of
// exclusions a sender goes through.
func TestBestIsFirstCandidate(t *testing.T) {
	for _, n := range []int{1, 2, 10, 200} {
		_, all := benchTable(n)
		for r := uint64(0); r < 20; r++ {
			fixed := routetable.New(routetable.Config{Host: "h1", Rand: constRand(r)})
			fixed.Replace(all)
			// The same accounting as benchTable's, on the fixed-Rand table.
			for i, in := range all {
				if i%3 != 0 {
					fixed.End(in.ID, time.Duration(1+i%17)*time.Millisecond, true)
				}
				if i%4 == 0 {
					fixed.Begin(in.ID)
				}
			}
			var exclude []string
			for {
				cands := fixed.Candidates(action, exclude, nil)
				best, ok := fixed.Best(action, exclude)
				if len(cands) == 0 {
					if ok {
						t.Fatalf("n=%d r=%d: Best = %s with no candidate left", n, r, best.ID)
					}
					break
				}
				if !ok || best.ID != cands[0].ID {
					t.Fatalf("n=%d r=%d exclude=%d: Best = %q, %v; Candidates[0] = %q", n, r, len(exclude), best.ID, ok, cands[0].ID)
				}
				exclude = append(exclude, best.ID)
				if len(exclude) > 8 {
					break
				}
			}
		}
	}
}

func TestBestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("alloc counts are not meaningful under -race")
	}
	tb, all := benchTable(1000)
	exclude := []string{all[0].ID}
	tb.Best(action, exclude)
	if allocs := testing.AllocsPerRun(100, func() { tb.Best(action, exclude) }); allocs != 0 {
		t.Errorf("%v allocs per Best, want 0", allocs)
	}
}

func BenchmarkBest(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) {
			tb, all := benchTable(n)
			exclude := []string{all[0].ID}
			b.ReportAllocs()
			for b.Loop() {
				tb.Best(action, exclude)
			}
		})
	}
}

// TestTakeSpreadsConcurrentPicks: 16 senders picking at once from two
// instances of 8 slots each get 8 each: every pick counts before the next
// is made.
func TestTakeSpreadsConcurrentPicks(t *testing.T) {
	tb := routetable.New(routetable.Config{Host: "h1"})
	tb.Replace([]routetable.Instance{instSlots("h1/a", "h1", 8), instSlots("h1/b", "h1", 8)})
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[string]int{}
	start := make(chan struct{})
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			inst, ok := tb.Take(action, nil)
			if !ok {
				t.Error("Take found no instance")
				return
			}
			mu.Lock()
			got[inst.ID]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	if got["h1/a"] != 8 || got["h1/b"] != 8 {
		t.Errorf("16 concurrent picks went %v, want 8 to each instance", got)
	}
	if _, ok := tb.Take("/ns/none", nil); ok {
		t.Error("Take of an action with no instance found one")
	}
}
