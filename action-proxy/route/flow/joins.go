package flow

import (
	"fmt"
	"sort"

	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/spec"
)

// Joins: who holds them, and how a holder that cannot be reached is
// replaced by the run's entry.
//
// A step that forks a parallel region in a direct run holds the region's
// join itself: it names its own instance as Holder in every frame of the
// region, the region's last steps send their results (the join's slots)
// straight to it, and it sends the merge on to the join's successors. The
// region's results never travel to the entry and back.
//
// The entry holds the joins that a holder would not make cheaper or
// safer: a join whose merge is one of the run's results (it goes to the
// entry anyway), a region forked at the start or by a step that ran
// through the fallback (its container is idle for the invoker, which may
// pause it at any time), and every map (its elements are sent under a
// concurrency bound by a coordinator that must live as long as the map).
// Sender.EntryJoins makes the entry hold every join.
//
// A branch that cannot deliver its slot to the holder (unreachable, or it
// refused) delivers it to the entry instead, naming the holder
// (SlotRefused). The entry then asks the holder, once per join, to hand
// its slots over (AskHandover): the holder sends what it holds to the
// entry and takes no more (Joins.HandOver), so that each slot is joined
// exactly once, at one place. When the holder had completed the join
// already, it says so and the entry drops its copies. A holder that
// cannot be asked is asked again every ack timeout; meanwhile the join is
// left to the slots that reach the entry: if the holder never answers
// and they are not all there RunConfig.HandoverWait after the first
// failure, the run fails, naming the join and the holder (Run.Timer).
//
// A holder takes a slot sent to it only once its ack reached the sender
// in time (the shell's accept window, Takes then Slot): a sender that
// gave up on the holder sent the slot to the entry instead, so no slot
// is ever at both places, and a join never completes at both.

// Joins are the joins of one run held by one proxy: by the run's entry
// (inside its Run) or by the proxy that forked them.
type Joins struct {
	// s sends a completed join's merge on, from here (Holder and Outer
	// are set per join).
	s       Sender
	atEntry bool
	// slots collect the slots of the joins in progress.
	slots map[JoinKey]map[uint32][]byte
	// outer are the regions around each join in progress, from its first
	// slot: where its merge goes on.
	outer map[JoinKey][]frame.Level
	// maps are the maps in progress, by their join (the entry's only).
	maps map[JoinKey]*mapRun
	// joined are the joins that completed here: a late copy of a slot is
	// acknowledged as a duplicate, never joined twice.
	joined map[JoinKey]bool
	// moved are the joins this holder handed over to the entry.
	moved map[JoinKey]bool
	// closed says the holder is stopping (HandOverAll): it takes no slot
	// of any join, so that they all go to the entry.
	closed bool
}

// NewJoins returns the joins a holder keeps for the run s sends in. The
// run's entry keeps its joins in its Run.
func NewJoins(s Sender) *Joins { return newJoins(s, false) }

func newJoins(s Sender, atEntry bool) *Joins {
	s.Ctx.Holder, s.Ctx.Outer = "", nil
	return &Joins{s: s, atEntry: atEntry, slots: map[JoinKey]map[uint32][]byte{}, outer: map[JoinKey][]frame.Level{},
		maps: map[JoinKey]*mapRun{}, joined: map[JoinKey]bool{}, moved: map[JoinKey]bool{}}
}

// Held reports whether any join is in progress here.
func (js *Joins) Held() bool { return len(js.slots) > 0 }

// mapRun is one map of a run in progress, held by the run's entry: its
// elements go out at most limit at a time, one more each time an
// element's result reaches the map's join.
type mapRun struct {
	id     string // the map step
	branch uint32 // the branch the map step was reached with
	levels []frame.Level
	elems  [][]byte
	sent   int // elements sent so far
}

// Slot takes slot branch (a branch in the join's region) of join step,
// in the regions outer. When the join has all its slots, the actions send
// their merge on (or, at the entry, make it one of the run's results).
func (js *Joins) Slot(step string, branch uint32, outer []frame.Level, payload []byte) (frame.Code, string, []Action) {
	code, reason, want, m := js.check(step, branch, outer)
	if code != frame.CodeOK {
		return code, reason, nil
	}
	slot, fb := spec.SplitBranch(branch)
	k := joinKeyOf(step, branch, outer)
	got := js.slots[k]
	if got == nil {
		got = map[uint32][]byte{}
		js.slots[k] = got
		js.outer[k] = outer
	}
	got[slot] = payload
	var acts []Action
	if m != nil && m.sent < len(m.elems) { // one element less in flight: send the next
		acts = js.sendElement(m)
	}
	if len(got) < want {
		return frame.CodeOK, "", acts
	}
	merged := spec.MergeJoin(js.s.Spec.Steps[step].Join, got)
	outer = js.outer[k]
	delete(js.slots, k)
	delete(js.maps, k)
	delete(js.outer, k)
	js.joined[k] = true
	code, reason, more := js.complete(step, fb, outer, merged)
	return code, reason, append(acts, more...)
}

// Takes says what Slot would answer for this slot now, without taking
// it. A holder asks before it acknowledges a slot whose sender waits for
// the ack only until the slot's accept window ends (frame.AcceptBy), and
// gives the slot to Slot once the ack reached the sender in time: a slot
// whose sender gave up on it (and sent it to the entry) is never joined
// here too.
func (js *Joins) Takes(step string, branch uint32, outer []frame.Level) (frame.Code, string) {
	code, reason, _, _ := js.check(step, branch, outer)
	return code, reason
}

// check is Takes: it also returns how many slots the join waits for, and
// its map when it is a map's join.
func (js *Joins) check(step string, branch uint32, outer []frame.Level) (frame.Code, string, int, *mapRun) {
	sp := js.s.Spec
	if !js.atEntry && (sp.Kind(step) != spec.KindJoin || sp.JoinSlots(step) < 1 || len(sp.Steps[step].Next) == 0) {
		// A holder keeps the joins of parallels with successors; a map's
		// join, or one whose merge is a result of the run, is the entry's.
		return frame.CodeMalformed, fmt.Sprintf("step %s of workflow %s is not a join a holder keeps", step, sp.Workflow), 0, nil
	}
	slot, fb := spec.SplitBranch(branch)
	want := sp.JoinSlots(step)
	k := joinKeyOf(step, branch, outer)
	switch {
	case sp.IsNested(step) && len(outer) == 0:
		return frame.CodeMalformed, fmt.Sprintf("slot of nested join %s without the regions around it", step), 0, nil
	case js.joined[k]:
		return frame.CodeDuplicate, "join already complete", 0, nil // a retried or late copy
	case js.moved[k]:
		return frame.CodeUnavailable, "join " + step + " was handed over to the run's entry", 0, nil
	case js.closed:
		return frame.CodeUnavailable, "the holder is stopping: join " + step + " goes to the run's entry", 0, nil
	}
	m := js.maps[k]
	if want == -1 { // a map's join: as many slots as the map sent
		if m == nil {
			return frame.CodeUnknownStep, fmt.Sprintf("join %s of a map that did not start on branch %d", step, fb), 0, nil
		}
		want = len(m.elems)
	}
	if int(slot) >= want {
		return frame.CodeMalformed, fmt.Sprintf("slot %d of join %s out of range (it waits for %d)", slot, step, want), 0, nil
	}
	if _, dup := js.slots[k][slot]; dup {
		return frame.CodeDuplicate, "result of slot already received", 0, nil
	}
	return frame.CodeOK, "", want, m
}

// complete sends the merge of join (on the outermost fork's branch, in
// the regions outer) on, from here: to the join's successors, or into the
// run's results when it has none. A nested join's merge goes on in the
// region around it, as the slot it has there.
func (js *Joins) complete(join string, branch uint32, outer []frame.Level, merged []byte) (frame.Code, string, []Action) {
	sp := js.s.Spec
	s := js.s
	if sp.IsNested(join) {
		if len(outer) == 0 {
			return frame.CodeMalformed, "nested join " + join + " without the regions around it", nil
		}
		top := outer[len(outer)-1]
		branch = spec.JoinBranch(top.Slot, branch)
		s.Ctx.Holder, s.Ctx.Outer = top.Holder, outer[:len(outer)-1:len(outer)-1]
	}
	hops := sp.JoinHops(join, branch)
	if len(hops) == 0 {
		if !js.atEntry {
			return frame.CodeMalformed, "join " + join + " has no successors: its holder is the run's entry", nil
		}
		return frame.CodeOK, "", []Action{result{branch: branch, value: merged}}
	}
	return frame.CodeOK, "", s.sendOn(join, branch, hops, merged)
}

// StartMap starts map step id, reached on branch with value (the entry
// only): the elements of the array it maps go into the map's region from
// here, at most the map's concurrency at a time, each as the slot of its
// index; the map's join (Slot) collects them. An empty array joins at
// once. A map nested in another join's region (holder, in the regions
// outer) keeps its slot and holder there as a level around its own region.
func (js *Joins) StartMap(id string, branch uint32, holder string, outer []frame.Level, value []byte) (frame.Code, string, []Action) {
	sp := js.s.Spec
	st := sp.Steps[id]
	var levels []frame.Level
	fb := branch
	if sp.IsNested(id) {
		var slot uint32
		slot, fb = spec.SplitBranch(branch)
		levels = push(outer, frame.Level{Slot: slot, Holder: holder})
	}
	k := JoinKey{Step: st.Fork, Branch: fb, Outer: SlotsKey(levels)}
	if _, dup := js.maps[k]; dup || js.joined[k] {
		return frame.CodeDuplicate, "map already started on this branch", nil
	}
	raw, err := sp.Elements(id, value)
	if err != nil {
		return frame.CodeOK, "", []Action{failure{&Failure{Step: id, Code: frame.CodeStepFailed, Reason: err.Error()}}}
	}
	if len(raw) == 0 {
		js.joined[k] = true
		return js.complete(st.Fork, fb, levels, []byte("[]"))
	}
	m := &mapRun{id: id, branch: branch, levels: levels, elems: make([][]byte, len(raw))}
	for i, e := range raw {
		m.elems[i] = e
	}
	js.maps[k] = m
	limit := st.Map.Concurrency
	if limit <= 0 || limit > len(raw) {
		limit = len(raw)
	}
	var acts []Action
	for range limit {
		acts = append(acts, js.sendElement(m)...)
	}
	return frame.CodeOK, "", acts
}

// sendElement sends the map's next element into its region: in the
// map's region, whose join is here, and in the regions around the map.
func (js *Joins) sendElement(m *mapRun) []Action {
	i := m.sent
	m.sent++
	s := js.s
	s.Ctx.Holder, s.Ctx.Outer = "", m.levels
	var acts []Action
	for _, h := range js.s.Spec.MapHops(m.id, i, m.branch) {
		acts = append(acts, s.Hop(m.id, h, m.elems[i])...)
	}
	return acts
}

// HandOver answers the entry's request for join step (on branch, in the
// regions outer) that this proxy holds: its slots go to the entry and it
// takes no more. The join is marked moved even when nothing of it is here
// yet, so that a slot that arrives later is refused and goes to the entry
// too.
func (js *Joins) HandOver(step string, branch uint32, outer []frame.Level) (frame.Code, string, []Action) {
	k := JoinKey{Step: step, Branch: branch, Outer: SlotsKey(outer)}
	if js.joined[k] {
		return frame.CodeDuplicate, "join " + step + " completed here; its merge went on", nil
	}
	n := len(js.slots[k])
	return frame.CodeOK, fmt.Sprintf("handing over %d result(s)", n), js.moveOut(k, outer)
}

// HandOverAll gives the slots of every join held here to the entry and
// refuses later ones, of these joins and of any other, which then go to
// the entry too: the proxy is stopping, and what it holds would be lost
// with it.
func (js *Joins) HandOverAll() []Action {
	js.closed = true
	keys := make([]JoinKey, 0, len(js.slots))
	for k := range js.slots {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool { return joinName(keys[a]) < joinName(keys[b]) })
	var acts []Action
	for _, k := range keys {
		acts = append(acts, js.moveOut(k, js.outer[k])...)
	}
	return acts
}

// moveOut marks join k (in the regions outer) moved to the run's entry
// and returns the replies that send the slots held here to it.
func (js *Joins) moveOut(k JoinKey, outer []frame.Level) []Action {
	js.moved[k] = true
	slots := js.slots[k]
	delete(js.slots, k)
	delete(js.outer, k)
	order := make([]uint32, 0, len(slots))
	for slot := range slots {
		order = append(order, slot)
	}
	sort.Slice(order, func(a, b int) bool { return order[a] < order[b] })
	acts := make([]Action, 0, len(order))
	for _, slot := range order {
		acts = append(acts, js.s.reply(frame.Frame{Kind: frame.KindResult, Step: k.Step, Branch: spec.JoinBranch(slot, k.Branch), Outer: outer, Payload: slots[slot]}))
	}
	return acts
}

// result is one of the run's results, made by a join the entry holds; the
// Run takes it (it never reaches the shell).
type result struct {
	branch uint32
	value  []byte
}

// failure is a failure of the run found by the entry's joins; the Run
// takes it (it never reaches the shell).
type failure struct{ f *Failure }

func (result) action()  {}
func (failure) action() {}

func (a result) String() string  { return fmt.Sprintf("result #%d %s", a.branch, a.value) }
func (a failure) String() string { return "failure " + a.f.Reason }
