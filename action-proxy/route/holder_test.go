package route

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
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
	mu   sync.Mutex // guards runs, and fn once the planes run (setFn)
	runs int
	fn   func(value []byte) []byte
}

func (e *funcExecutor) TryReserve(context.Context) (Reservation, bool) {
	return funcReservation{e}, true
}

func (e *funcExecutor) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.runs
}

type funcReservation struct{ e *funcExecutor }

func (r funcReservation) Release() {}

func (r funcReservation) Run(_ context.Context, body io.Reader) ([]byte, func() []byte, error) {
	var b struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.NewDecoder(body).Decode(&b); err != nil {
		return nil, nil, err
	}
	r.e.mu.Lock()
	r.e.runs++
	fn := r.e.fn
	r.e.mu.Unlock()
	return fn(b.Value), func() []byte { return []byte("ran\n") }, nil
}

// setFn makes fn the executor's function from its next run on. A test
// that changes it after the planes started must: the frame that runs the
// step reaches the plane through a socket, which the race detector does
// not count as synchronisation.
func (e *funcExecutor) setFn(fn func(value []byte) []byte) {
	e.mu.Lock()
	e.fn = fn
	e.mu.Unlock()
}

func constant(v string) *funcExecutor {
	return &funcExecutor{fn: func([]byte) []byte { return []byte(v) }}
}

// flowSet is the planes of one workflow on one host: the entry, and one
// instance of each action, named after it (/ns/NAME).
type flowSet struct {
	dir    string
	planes map[string]*Plane
	execs  map[string]*funcExecutor
	counts map[string]*frameCounts
}

// newFlowSet starts the entry and a plane per executor, with the spec.
func newFlowSet(t *testing.T, sd agentproto.SpecData, execs map[string]*funcExecutor) *flowSet {
	t.Helper()
	dir, err := os.MkdirTemp("", "wskroute")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	fs := &flowSet{dir: dir, planes: map[string]*Plane{}, counts: map[string]*frameCounts{}, execs: execs}
	names := []string{"entry"}
	for name := range execs {
		names = append(names, name)
	}
	for _, name := range names {
		fs.counts[name] = countFrames(t, name)
		var exec Executor
		if e := execs[name]; e != nil {
			exec = e
		}
		p := flowPlane(t, dir, name, Identity{Namespace: "ns", Action: "/ns/" + name}, exec)
		p.applySpecs(&agentproto.Specs{Full: true, Upsert: []agentproto.SpecData{sd}})
		fs.planes[name] = p
	}
	return fs
}

// newForkJoin is forkJoinSpec's flow set: f forks, a and b are the
// branches, n the join's successor (it echoes the merge).
func newForkJoin(t *testing.T) *flowSet {
	return newFlowSet(t, forkJoinSpec, map[string]*funcExecutor{
		"f": constant(`{"x":1}`),
		"a": constant(`{"a":1}`),
		"b": constant(`{"b":2}`),
		"n": {fn: func(v []byte) []byte { return v }},
	})
}

// tables gives every plane the table of all instances, except that in
// the tables of the planes named in blind, instance f (the holder) has
// an endpoint nobody listens on.
func (fs *flowSet) tables(blind ...string) {
	for name := range fs.planes {
		fs.table(name, contains(blind, name))
	}
}

// table gives plane name the table of all instances; blind: with f out
// of reach.
func (fs *flowSet) table(name string, blind bool) {
	var insts []routetable.Instance
	for other, q := range fs.planes {
		unix := q.Endpoint()
		if other == "f" && blind {
			unix = "unix:" + fs.dir + "/gone.sock"
		}
		insts = append(insts, routetable.Instance{ID: "host1/" + other, Namespace: "ns", Action: "/ns/" + other, Host: "host1", Unix: unix, Concurrency: 1})
	}
	fs.planes[name].applyTable(&agentproto.Table{Full: true, Upsert: insts})
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
		// stops: once f holds b's slot, f stops (handOverAll) and the
		// entry loses f; then a's slot goes to the entry.
		stops bool
	}{
		{name: "the fork holds the join", slotsAtEntry: 0},
		{name: "Config.EntryJoins: the entry holds it", entryJoins: true, slotsAtEntry: 2},
		{name: "no branch reaches the holder", blind: []string{"a", "b"}, slotsAtEntry: 2, handovers: 1},
		{name: "one branch reaches the holder, one does not", blind: []string{"a"}, slotsAtEntry: 2, handovers: 1},
		{name: "the holder keeps a slot and the entry cannot reach it", blind: []string{"a"},
			failure: "join j: its holder host1/f did not hand over the results it holds"},
		// The entry asks f for a handover, but cannot reach it: f gave its
		// slot when it stopped.
		{name: "the holder stops holding a slot and hands it over", blind: []string{"a"}, stops: true, slotsAtEntry: 2, handovers: 0},
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
			if tt.failure != "" || tt.stops {
				// b's slot reaches f; then (f stops, when tt.stops, and) the
				// entry loses f, and a's slot, which cannot reach f either,
				// goes to the entry.
				release := make(chan struct{})
				fj.execs["a"].setFn(func([]byte) []byte { <-release; return []byte(`{"a":1}`) })
				go func() {
					defer close(release)
					f := fj.planes["f"]
					for ctx.Err() == nil {
						f.mu.Lock()
						hr := f.held["held-slot"]
						held := hr != nil && hr.joins.Held()
						f.mu.Unlock()
						if held {
							if tt.stops {
								f.handOverAll(ctx)
							}
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
			// The entry asks for the handover while the run goes on: the run
			// may end before the ask arrives.
			if got := fj.counts["f"].await(frame.KindHandover, tt.handovers); got != tt.handovers {
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
	sp := f.specFor(context.Background(), "fj", 0)
	slot := func(run string, i uint32) *frame.Frame {
		return &frame.Frame{Kind: frame.KindResult, RunID: run, Workflow: "fj", SpecVersion: sp.Version, Step: "j",
			Branch: spec.JoinBranch(i, 0), Namespace: "ns", ReplyTo: ReplyToInstance + "host1/entry", Holder: "host1/f", Target: "host1/f"}
	}
	hold := func(fr *frame.Frame) frame.Code {
		code, _ := f.holdSlot(context.Background(), fr, []byte(`{}`), w)
		return code
	}
	handover := func(run string) (frame.Code, string) {
		return f.handOver(context.Background(), &frame.Frame{Kind: frame.KindHandover, RunID: run, Workflow: "fj", SpecVersion: sp.Version, Step: "j", Namespace: "ns",
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

// nestedFlowSpec nests a map and a parallel inside a parallel: f forks j
// into b and the map m over f's items; each element runs c, which forks
// k into d and e; k's object merge is the element's result in the map's
// join mj; mj and b meet in j, which goes on to z (it echoes).
var nestedFlowSpec = agentproto.SpecData{Workflow: "nest", Version: 1, Spec: json.RawMessage(`{"workflow":"nest","namespace":"ns","start":["f"],"steps":{
 "f":{"action":"/ns/f","fork":"j","next":["b","m"]},
 "b":{"action":"/ns/b","in":"j","next":["j"]},
 "m":{"action":"","in":"j","map":{"over":"items","concurrency":2},"fork":"mj","next":["c"]},
 "c":{"action":"/ns/c","in":"mj","fork":"k","next":["d","e"]},
 "d":{"action":"/ns/d","in":"k","next":["k"]},
 "e":{"action":"/ns/e","in":"k","next":["k"]},
 "k":{"action":"","in":"mj","join":{"merge":"object","names":["d","e"]},"next":["mj"]},
 "mj":{"action":"","in":"j","join":{"merge":"array"},"next":["j"]},
 "j":{"action":"","join":{"merge":"array"},"next":["z"]},
 "z":{"action":"/ns/z"}}}`)}

// TestNestedJoins runs nestedFlowSpec: every element's parallel is joined
// at its own c (three joins of k at one plane, told apart by their slot in
// the map), the map at the entry, the outer join at f; and again with f
// out of reach of every branch, so that the outer join goes to the entry.
func TestNestedJoins(t *testing.T) {
	wrap := func(key string) func([]byte) []byte {
		return func(v []byte) []byte { return []byte(`{"` + key + `":` + string(v) + `}`) }
	}
	for _, blind := range [][]string{nil, {"b", "c", "d", "e"}} {
		t.Run(fmt.Sprintf("blind %v", blind), func(t *testing.T) {
			fs := newFlowSet(t, nestedFlowSpec, map[string]*funcExecutor{
				"f": constant(`{"items":[1,2,3]}`),
				"b": constant(`{"b":true}`),
				"c": {fn: wrap("n")},
				"d": {fn: wrap("d")},
				"e": {fn: wrap("e")},
				"z": {fn: func(v []byte) []byte { return v }},
			})
			fs.tables(blind...)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res, err := fs.planes["entry"].StartRun(ctx, "nest", []byte(`{}`), RunOptions{})
			if err != nil {
				t.Fatalf("StartRun: %v", err)
			}
			elem := func(n int) string {
				return fmt.Sprintf(`{"d":{"d":{"n":%d}},"e":{"e":{"n":%d}}}`, n, n)
			}
			want := `[{"b":true},[` + elem(1) + "," + elem(2) + "," + elem(3) + `]]`
			if string(res.Value) != want {
				t.Errorf("result\n %s\nwant\n %s", res.Value, want)
			}
			for name, n := range map[string]int{"f": 1, "b": 1, "c": 3, "d": 3, "e": 3, "z": 1} {
				if got := fs.execs[name].count(); got != n {
					t.Errorf("%s ran %d times, want %d", name, got, n)
				}
			}
			if blind != nil {
				if got := fs.counts["f"].await(frame.KindHandover, 1); got != 1 {
					t.Errorf("f was asked for %d handovers, want 1", got)
				}
				return
			}
			// c holds the three joins of k (two slots each); the entry the
			// map (its input, from f), its join (one slot per element, from
			// c) and the run's result; f the outer join (b's slot and the
			// map's merge).
			for name, n := range map[string]int{"c": 6, "entry": 1 + 3 + 1, "f": 2} {
				if got := fs.counts[name].get(frame.KindResult); got != n {
					t.Errorf("%s received %d result frames, want %d", name, got, n)
				}
			}
		})
	}
}

// TestLateSlotNeverJoined: a slot whose accept window closes before its
// holder's ack is written is not joined at the holder (its sender saw a
// refusal and sends it to the entry instead), so that no join completes
// both at its holder and at the entry; the same slot, sent again with a
// window of its own, is joined once.
func TestLateSlotNeverJoined(t *testing.T) {
	p := newTestPlane(t, nil)
	p.Identify(Identity{Namespace: "ns", Action: "/ns/f"})
	p.setWelcome(&welcomeState{instanceID: "host1/f", host: "host1", key: testKey})
	p.applySpecs(&agentproto.Specs{Full: true, Upsert: []agentproto.SpecData{forkJoinSpec}})
	sp := p.specFor(context.Background(), "fj", 0)
	if sp == nil {
		t.Fatal("the fork-join spec was not applied")
	}
	// The holder takes 300 ms to answer the first slot; its window is
	// 100 ms.
	var answers atomic.Int32
	testHookSlotAnswer = func() {
		if answers.Add(1) == 1 {
			time.Sleep(300 * time.Millisecond)
		}
	}
	t.Cleanup(func() { testHookSlotAnswer = nil }) // after the frame server stopped
	send := serveFrames(t, p)
	slot := func(window time.Duration) *frame.Frame {
		return &frame.Frame{Kind: frame.KindResult, RunID: "r-late", Workflow: "fj", SpecVersion: sp.Version, Step: "j",
			Branch: spec.JoinBranch(0, 0), Namespace: "ns", ReplyTo: ReplyToInstance + "host1/entry", Deadline: time.Now().Add(time.Minute).UnixNano(),
			Holder: "host1/f", Target: "host1/f", Payload: []byte(`{"a":1}`), Size: 7, AcceptBy: time.Now().Add(window).UnixNano()}
	}
	held := func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		hr := p.held["r-late"]
		return hr != nil && hr.joins.Held()
	}

	f := slot(100 * time.Millisecond)
	f.Sign(testKey)
	if ack, err := send(f); err == nil && ack.Code == frame.CodeOK {
		t.Fatalf("a slot accepted after its window closed: ack %v", ack.Code)
	}
	time.Sleep(400 * time.Millisecond) // the holder has answered by now
	if held() {
		t.Fatal("the holder joined a slot whose sender saw it refused")
	}

	f = slot(5 * time.Second)
	f.Sign(testKey)
	if ack, err := send(f); err != nil || ack.Code != frame.CodeOK {
		t.Fatalf("the slot sent again: %v, %v; want it accepted", ack.Code, err)
	}
	waitUntil(t, "the slot joined at the holder", held)
	if ack, err := send(f); err != nil || ack.Code != frame.CodeDuplicate {
		t.Errorf("a copy of the joined slot: %v, %v; want a duplicate", ack.Code, err)
	}
}

// TestLostInstanceAfterTableUpdate: the entry fails a run whose step's
// instance left its route table, but only on a table the agent sent: a
// new welcome (a restarted agent) makes a new, empty table, which says
// nothing of the instances until the agent's snapshot fills it.
func TestLostInstanceAfterTableUpdate(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	fs := newFlowSet(t, agentproto.SpecData{Workflow: "slow", Version: 1, Spec: json.RawMessage(`{"workflow":"slow","namespace":"ns","start":["s"],"steps":{"s":{"action":"/ns/a"}}}`)},
		map[string]*funcExecutor{"a": {fn: func(v []byte) []byte {
			started <- struct{}{}
			<-release
			return v
		}}})
	defer close(release)
	fs.tables()
	entry := fs.planes["entry"]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := entry.StartRun(ctx, "slow", []byte(`{}`), RunOptions{ID: "r-lost"})
		errc <- err
	}()
	<-started

	// A welcome that differs from the last: a new table, empty until the
	// snapshot.
	_, w, _ := entry.snapshot()
	nw := *w
	nw.relay = "unix:" + fs.dir + "/relay-2.sock"
	entry.setWelcome(&nw)
	select {
	case err := <-errc:
		t.Fatalf("the run ended before any table said the instance was gone: %v", err)
	case <-time.After(specGrace + 100*time.Millisecond):
	}

	// The snapshot has the entry only: the step's instance is gone.
	entry.applyTable(&agentproto.Table{Full: true, Upsert: []routetable.Instance{
		{ID: "host1/entry", Namespace: "ns", Action: "/ns/entry", Host: "host1", Unix: entry.Endpoint(), Concurrency: 1}}})
	select {
	case err := <-errc:
		var re *RunError
		if !errors.As(err, &re) || re.Step != "s" || !strings.Contains(re.Reason, "instance host1/a was lost") {
			t.Fatalf("StartRun = %v; want a failure at s naming the lost instance", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the run did not fail once the table said the instance was gone")
	}
}
