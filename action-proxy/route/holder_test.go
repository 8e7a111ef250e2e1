package route

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/agentproto"
	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/internal/spec"
)

// forkJoinSpec: f forks into a and b, whose results join in j; the merge
// goes on to n. The join has a successor, so f holds it.
var forkJoinSpec = agentproto.SpecData{Workflow: "fj", Version: 1, Spec: json.RawMessage(`{"workflow":"fj","namespace":"ns","start":["f"],"steps":{
	"f":{"action":"/ns/f","fork":"j","next":["a","b"]},
	"a":{"action":"/ns/a","in":"j","next":["j"]},
	"b":{"action":"/ns/b","in":"j","next":["j"]},
	"j":{"action":"","join":{"merge":"array"},"next":["n"]},
	"n":{"action":"/ns/n"}}}`)}

// funcExecutor runs fn on the value of each /run body; it is always free.
type funcExecutor struct {
	mu   sync.Mutex
	runs int
	fn   func(value []byte) []byte
}

func (e *funcExecutor) TryReserve(context.Context) (Reservation, bool) { return funcReservation{e}, true }

func (e *funcExecutor) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.runs
}

type funcReservation struct{ e *funcExecutor }

func (r funcReservation) Run(_ context.Context, body io.Reader) ([]byte, []byte, error) {
	var b struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.NewDecoder(body).Decode(&b); err != nil {
		return nil, nil, err
	}
	r.e.mu.Lock()
	r.e.runs++
	r.e.mu.Unlock()
	return r.e.fn(b.Value), []byte("ran\n"), nil
}

func constant(v string) *funcExecutor {
	return &funcExecutor{fn: func([]byte) []byte { return []byte(v) }}
}

// forkJoin is the planes of forkJoinSpec on one host: the entry, and one
// instance of each action, named after its step.
type forkJoin struct {
	dir    string
	planes map[string]*Plane
	execs  map[string]*funcExecutor
	counts map[string]*frameCounts
}

func newForkJoin(t *testing.T) *forkJoin {
	t.Helper()
	dir, err := os.MkdirTemp("", "wskroute")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	fj := &forkJoin{dir: dir, planes: map[string]*Plane{}, counts: map[string]*frameCounts{}, execs: map[string]*funcExecutor{
		"f": constant(`{"x":1}`),
		"a": constant(`{"a":1}`),
		"b": constant(`{"b":2}`),
		"n": {fn: func(v []byte) []byte { return v }}, // echoes the merge
	}}
	for _, name := range []string{"entry", "f", "a", "b", "n"} {
		fj.counts[name] = countFrames(t, name)
		var exec Executor
		if e := fj.execs[name]; e != nil {
			exec = e
		}
		p := flowPlane(t, dir, name, Identity{Namespace: "ns", Action: "/ns/" + name}, exec)
		p.applySpecs(&agentproto.Specs{Full: true, Upsert: []agentproto.SpecData{forkJoinSpec}})
		fj.planes[name] = p
	}
	return fj
}

// tables gives every plane the table of all instances, except that in
// the tables of the planes named in blind, instance f (the holder) has
// an endpoint nobody listens on.
func (fj *forkJoin) tables(blind ...string) {
	for name := range fj.planes {
		fj.table(name, contains(blind, name))
	}
}

// table gives plane name the table of all instances; blind: with f out
// of reach.
func (fj *forkJoin) table(name string, blind bool) {
	var insts []routetable.Instance
	for other, q := range fj.planes {
		unix := q.Endpoint()
		if other == "f" && blind {
			unix = "unix:" + fj.dir + "/gone.sock"
		}
		insts = append(insts, routetable.Instance{ID: "host1/" + other, Namespace: "ns", Action: "/ns/" + other, Host: "host1", Unix: unix, Concurrency: 1})
	}
	fj.planes[name].applyTable(&agentproto.Table{Full: true, Upsert: insts})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestJoinHolder runs a fork and join with the forking step as the join's
// holder, and with the holder out of reach of some branches (or of the
// entry too): each slot is joined once, at one place, and the merge goes
// on once; the entry sees the slots only when the holder could not take
// them.
func TestJoinHolder(t *testing.T) {
	tests := []struct {
		name       string
		entryJoins bool
		blind      []string // planes that cannot reach the holder f
		// slotsAtEntry and handovers are the frames the entry and f receive.
		slotsAtEntry, handovers int
		failure                 string // the run fails with a reason holding this
	}{
		{name: "the fork holds the join", slotsAtEntry: 0},
		{name: "Config.EntryJoins: the entry holds it", entryJoins: true, slotsAtEntry: 2},
		{name: "no branch reaches the holder", blind: []string{"a", "b"}, slotsAtEntry: 2, handovers: 1},
		{name: "one branch reaches the holder, one does not", blind: []string{"a"}, slotsAtEntry: 2, handovers: 1},
		{name: "the holder keeps a slot and the entry cannot reach it", blind: []string{"a"},
			failure: "join j: its holder host1/f did not hand over the results it holds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fj := newForkJoin(t)
			fj.planes["f"].cfg.EntryJoins = tt.entryJoins
			fj.tables(tt.blind...)
			timeout := 10 * time.Second
			if tt.failure != "" {
				timeout = 1500 * time.Millisecond
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			if tt.failure != "" {
				// b's slot reaches f; then the entry loses f, and a's slot
				// (which cannot reach f either) goes to the entry.
				release := make(chan struct{})
				fj.execs["a"].fn = func([]byte) []byte { <-release; return []byte(`{"a":1}`) }
				go func() {
					defer close(release)
					f := fj.planes["f"]
					for ctx.Err() == nil {
						f.mu.Lock()
						hr := f.held["held-slot"]
						held := hr != nil && len(hr.js.joins[joinKey{"j", 0}]) == 1
						f.mu.Unlock()
						if held {
							fj.table("entry", true)
							return
						}
						time.Sleep(time.Millisecond)
					}
				}()
			}
			res, err := fj.planes["entry"].StartRun(ctx, "fj", []byte(`{}`), RunOptions{ID: "held-slot"})
			if tt.failure != "" {
				var re *RunError
				if !errors.As(err, &re) || !strings.Contains(re.Reason, tt.failure) {
					t.Fatalf("StartRun = %v; want a RunError saying %q", err, tt.failure)
				}
				if n := fj.execs["n"].count(); n != 0 {
					t.Errorf("n ran %d times on an incomplete join", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("StartRun: %v", err)
			}
			if got, want := string(res.Value), `[{"a":1},{"b":2}]`; got != want {
				t.Errorf("result %s, want %s (the merge, through n)", got, want)
			}
			if n := fj.execs["n"].count(); n != 1 {
				t.Errorf("the join's successor ran %d times, want once", n)
			}
			// The entry receives the run's one result and the slots that
			// did not go to the holder.
			if got := fj.counts["entry"].get(frame.KindResult) - 1; got != tt.slotsAtEntry {
				t.Errorf("%d slots reached the entry, want %d", got, tt.slotsAtEntry)
			}
			if got := fj.counts["f"].get(frame.KindHandover); got != tt.handovers {
				t.Errorf("the holder was asked for %d handovers, want %d", got, tt.handovers)
			}
		})
	}
}

// TestHandOver drives a holder's side of a handover directly: the slots
// it holds go to the entry and later ones are refused; a join that
// completed here is reported so; a handover for a join never seen here
// still makes later slots go to the entry.
func TestHandOver(t *testing.T) {
	fj := newForkJoin(t)
	fj.tables()
	f := fj.planes["f"]
	_, w, _ := f.snapshot()
	sp := f.specFor("fj", 0)
	slot := func(run string, i uint32) *frame.Frame {
		return &frame.Frame{Kind: frame.KindResult, RunID: run, Workflow: "fj", SpecVersion: sp.Version, Step: "j",
			Branch: spec.JoinBranch(i, 0), Namespace: "ns", ReplyTo: ReplyToInstance + "host1/entry", Holder: "host1/f", Target: "host1/f"}
	}
	hold := func(fr *frame.Frame) frame.Code {
		f.mu.Lock()
		defer f.mu.Unlock()
		code, _ := f.holdSlot(fr, []byte(`{}`), w)
		return code
	}
	handover := func(run string) (frame.Code, string) {
		return f.handOver(&frame.Frame{Kind: frame.KindHandover, RunID: run, Workflow: "fj", SpecVersion: sp.Version, Step: "j", Namespace: "ns",
			ReplyTo: ReplyToInstance + "host1/entry", Target: "host1/f", Holder: "host1/f"}, w)
	}

	if code := hold(slot("r1", 0)); code != frame.CodeOK {
		t.Fatalf("first slot: %s", code)
	}
	if code, reason := handover("r1"); code != frame.CodeOK || !strings.Contains(reason, "1 result") {
		t.Errorf("handover of a join holding one slot: %s (%s), want ok, handing over 1", code, reason)
	}
	if code := hold(slot("r1", 1)); code != frame.CodeUnavailable {
		t.Errorf("a slot after the handover: %s, want unavailable (it goes to the entry)", code)
	}

	hold(slot("r2", 0))
	if code := hold(slot("r2", 1)); code != frame.CodeOK {
		t.Fatalf("completing slot: %s", code)
	}
	if code, _ := handover("r2"); code != frame.CodeDuplicate {
		t.Errorf("handover of a completed join: %s, want duplicate", code)
	}

	if code, reason := handover("r3"); code != frame.CodeOK || !strings.Contains(reason, "0 result") {
		t.Errorf("handover of a join never seen: %s (%s), want ok, 0 results", code, reason)
	}
	if code := hold(slot("r3", 0)); code != frame.CodeUnavailable {
		t.Errorf("a first slot after a handover: %s, want unavailable", code)
	}
}
