package route

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

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
// Config.EntryJoins makes the entry hold every join.
//
// A branch that cannot deliver its slot to the holder (unreachable, or it
// refused) delivers it to the entry instead, naming the holder. The entry
// then asks the holder, once per join, to hand its slots over
// (KindHandover): the holder sends what it holds to the entry and takes no
// more, so that each slot is joined exactly once, at one place. When the
// holder had completed the join already, it says so and the entry drops
// its copies. A holder that disappeared with slots leaves the join
// incomplete: the run fails by its deadline with a reason that names the
// join and the holder.

// joinKey names one join of a run: the join step, on the outermost fork's
// branch, in the slots of the regions around it (slotsKey).
type joinKey struct {
	step   string
	branch uint32
	outer  string
}

// joinKeyOf is the key of the join a slot frame f belongs to.
func joinKeyOf(f *frame.Frame) joinKey {
	_, branch := spec.SplitBranch(f.Branch)
	return joinKey{f.Step, branch, slotsKey(f.Outer)}
}

// slotsKey is the slots of levels, "3.0.12": the regions a frame is in.
func slotsKey(levels []frame.Level) string {
	if len(levels) == 0 {
		return ""
	}
	b := make([]byte, 0, 4*len(levels))
	for i, l := range levels {
		if i > 0 {
			b = append(b, '.')
		}
		b = strconv.AppendUint(b, uint64(l.Slot), 10)
	}
	return string(b)
}

// push returns levels with one more, inside them; levels is not changed.
func push(levels []frame.Level, l frame.Level) []frame.Level {
	return append(levels[:len(levels):len(levels)], l)
}

// joinSet is the joins of one run held by one proxy: by the run's entry
// (runState.js) or by the proxy that forked them (Plane.held). Its fields
// are guarded by the plane's mu.
type joinSet struct {
	// r and ctx send a completed join's merge on, from here.
	r   *run
	ctx context.Context
	// joins collect the slots of the joins in progress.
	joins map[joinKey]map[uint32][]byte
	// maps are the maps in progress, by their join (the entry's only).
	maps map[joinKey]*mapRun
	// joined are the joins that completed here: a late copy of a slot is
	// acknowledged as a duplicate, never joined twice.
	joined map[joinKey]bool
	// outer are the regions around each join in progress, from its
	// first slot: where its merge goes on.
	outer map[joinKey][]frame.Level
	// moved are the joins this holder handed over to the entry.
	moved map[joinKey]bool
	// asked are the joins whose holder the entry asked for a handover.
	asked map[joinKey]bool
	// result takes the merge of a join without successors (the entry's
	// runs only; nil at a holder, which never holds such a join).
	result func(branch uint32, merged []byte)
}

func newJoinSet(r *run, ctx context.Context) joinSet {
	return joinSet{r: r, ctx: ctx, joins: map[joinKey]map[uint32][]byte{}, maps: map[joinKey]*mapRun{},
		joined: map[joinKey]bool{}, outer: map[joinKey][]frame.Level{}, moved: map[joinKey]bool{}, asked: map[joinKey]bool{}}
}

// regionOf returns the region the successors of step from (running as
// branch) are in: its holder and the regions around it. A step that forks
// a parallel region opens one, with the holder this proxy chooses; a
// nested fork keeps its own slot and holder as a level around the new
// region. Other steps stay where they are.
func (r *run) regionOf(from string, branch uint32) (holder string, outer []frame.Level) {
	if st := r.sp.Steps[from]; st.Fork != "" && st.Map == nil {
		if st.In != "" {
			slot, _ := spec.SplitBranch(branch)
			outer = push(r.outer, frame.Level{Slot: slot, Holder: r.holder})
		}
		return r.chooseHolder(st.Fork), outer
	}
	// In a region, or in none: the run's context says which. (Outside
	// regions, holder is "" and outer holds only the iterations of the
	// loops around the step, loop.go.)
	return r.holder, r.outer
}

// chooseHolder returns the instance that holds join j, forked here: this
// proxy when it runs the fork directly and the join has successors, else
// "" (the entry).
func (r *run) chooseHolder(j string) string {
	if !r.canHold || r.p.cfg.EntryJoins || len(r.sp.Steps[j].Next) == 0 {
		return ""
	}
	return r.w.instanceID
}

// deliverSlot sends result, a slot of join h.Step, to the region's holder:
// this plane, another instance, or the entry. A holder that cannot be
// reached or refuses is replaced by the entry (see above).
func (r *run) deliverSlot(ctx context.Context, h spec.Hop, result []byte) {
	toEntry := func(holder string) { // holder: the one the entry asks for what it holds
		r.reply(ctx, &frame.Frame{Kind: frame.KindResult, Step: h.Step, Branch: h.Branch, Outer: r.outer, Holder: holder, Payload: result})
	}
	switch r.holder {
	case "":
		toEntry("")
		return
	case r.w.instanceID:
		f := r.slotFrame(h, result)
		r.p.mu.Lock()
		code, reason := r.p.holdSlot(f, result, r.w)
		r.p.mu.Unlock()
		if code == frame.CodeOK || code == frame.CodeDuplicate {
			return
		}
		r.p.cfg.Logger.Warn("route: join slot refused here; sending it to the entry", "run", r.runID, "join", h.Step, "reason", reason)
	default:
		err := r.sendSlot(ctx, h, result)
		if err == nil {
			return
		}
		r.p.cfg.Logger.Warn("route: join holder unreachable; sending the slot to the entry", "run", r.runID, "join", h.Step, "holder", r.holder, "err", err)
	}
	toEntry(r.holder)
}

// slotFrame is the frame of a slot for the region's holder.
func (r *run) slotFrame(h spec.Hop, result []byte) *frame.Frame {
	return &frame.Frame{Kind: frame.KindResult, RunID: r.runID, Workflow: r.sp.Workflow, SpecVersion: r.sp.Version,
		Step: h.Step, Branch: h.Branch, Deadline: r.deadline, ReplyTo: r.replyTo, Namespace: r.sp.Namespace,
		Target: r.holder, Holder: r.holder, Outer: r.outer, Payload: result, Size: uint64(len(result))}
}

// sendSlot sends a slot to another instance holding the join.
func (r *run) sendSlot(ctx context.Context, h spec.Hop, result []byte) error {
	inst, ok := r.p.instance(ctx, r.holder)
	if !ok {
		return fmt.Errorf("holder %s is not in the route table", r.holder)
	}
	endpoint, _, client := r.routeTo(inst, len(result))
	ack, err := client.Send(ctx, endpoint, r.slotFrame(h, result), r.w.key)
	switch {
	case err != nil:
		return err
	case ack.Code != frame.CodeOK && ack.Code != frame.CodeDuplicate:
		return fmt.Errorf("%s refused: %s (%s)", r.holder, ack.Code, ack.Reason)
	}
	return nil
}

// holdSlot takes a slot sent to this proxy as the join's holder (p.mu is
// held). The run's joins here are made on its first slot, from the
// frame's routing context, and kept until the run's deadline.
func (p *Plane) holdSlot(f *frame.Frame, payload []byte, w *welcomeState) (frame.Code, string) {
	hr := p.held[f.RunID]
	if hr == nil {
		sp := p.specAt(f.Workflow, f.SpecVersion)
		if sp == nil || sp.Version != f.SpecVersion {
			return frame.CodeUnknownStep, fmt.Sprintf("workflow %s version %d is not known here", f.Workflow, f.SpecVersion)
		}
		hr = p.holdRun(&run{p: p, w: w, sp: sp, runID: f.RunID, replyTo: f.ReplyTo, deadline: f.Deadline, canHold: true})
	}
	sp := hr.r.sp
	if !sp.IsJoin(f.Step) || sp.JoinSlots(f.Step) < 1 {
		return frame.CodeMalformed, fmt.Sprintf("step %s of workflow %s is not a join a holder keeps", f.Step, f.Workflow)
	}
	return p.joinInput(hr, f, payload)
}

// holdRun makes the joins this proxy holds for run r, removed at the
// run's deadline (p.mu is held).
func (p *Plane) holdRun(r *run) *joinSet {
	until := DefaultRunTimeout
	if r.deadline != 0 {
		until = time.Until(time.Unix(0, r.deadline))
	}
	js := newJoinSet(r, context.Background())
	time.AfterFunc(until+time.Second, func() {
		p.mu.Lock()
		if p.held[r.runID] == &js {
			delete(p.held, r.runID)
		}
		p.mu.Unlock()
	})
	p.held[r.runID] = &js
	return &js
}

// handOver answers the entry's KindHandover for one join this proxy
// holds: its slots go to the entry and it takes no more. The join is
// marked moved even when nothing of it is here yet, so that a slot that
// arrives later is refused and goes to the entry too.
func (p *Plane) handOver(f *frame.Frame, w *welcomeState) (frame.Code, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := joinKey{f.Step, f.Branch, slotsKey(f.Outer)}
	hr := p.held[f.RunID]
	if hr == nil {
		sp := p.specs[f.Workflow]
		if sp == nil {
			return frame.CodeOK, "handed over 0 results: the workflow is not known here"
		}
		hr = p.holdRun(&run{p: p, w: w, sp: sp, runID: f.RunID, replyTo: f.ReplyTo, deadline: f.Deadline, canHold: true})
	}
	js := hr
	if js.joined[k] {
		return frame.CodeDuplicate, "join " + f.Step + " completed here; its merge went on"
	}
	n := len(js.joins[k])
	give := js.moveOut(k, f.Outer)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		give(js.ctx)
	}()
	return frame.CodeOK, fmt.Sprintf("handing over %d result(s)", n)
}

// moveOut marks join k (in the regions outer) moved to the run's entry
// and returns the function that sends the slots held here to it (p.mu is
// held; the sending is not).
func (js *joinSet) moveOut(k joinKey, outer []frame.Level) func(context.Context) {
	js.moved[k] = true
	slots := js.joins[k]
	delete(js.joins, k)
	delete(js.outer, k)
	r := *js.r
	r.holder = ""
	return func(ctx context.Context) {
		for slot, v := range slots {
			r.reply(ctx, &frame.Frame{Kind: frame.KindResult, Step: k.step, Branch: spec.JoinBranch(slot, k.branch), Outer: outer, Payload: v})
		}
	}
}

// handOverAll gives the slots of every join held here to the entries of
// their runs and refuses later ones, which then go to the entries too:
// the proxy is stopping (its container is being removed), and what it
// holds would be lost with it.
func (p *Plane) handOverAll(ctx context.Context) {
	var gives []func(context.Context)
	p.mu.Lock()
	for _, hr := range p.held {
		for k := range hr.joins {
			gives = append(gives, hr.moveOut(k, hr.outer[k]))
		}
	}
	p.mu.Unlock()
	var wg sync.WaitGroup // in parallel: each reply is bounded by replyTimeout
	for _, give := range gives {
		wg.Add(1)
		go func() {
			defer wg.Done()
			give(ctx)
		}()
	}
	wg.Wait()
}

// askHandover asks holder for the slots of join k (in the regions outer)
// it holds (see above), once per join; the answer is noted in the run's
// state.
func (p *Plane) askHandover(rs *runState, k joinKey, outer []frame.Level, holder string) {
	r := rs.js.r
	ctx, cancel := context.WithTimeout(context.WithoutCancel(rs.js.ctx), replyTimeout)
	defer cancel()
	err := func() error {
		inst, ok := p.instance(ctx, holder)
		if !ok {
			return fmt.Errorf("it is not in the route table")
		}
		f := &frame.Frame{Kind: frame.KindHandover, RunID: r.runID, Workflow: r.sp.Workflow, SpecVersion: r.sp.Version,
			Step: k.step, Branch: k.branch, Deadline: r.deadline, ReplyTo: r.replyTo, Namespace: r.sp.Namespace,
			Target: holder, Holder: holder, Outer: outer}
		endpoint, _, client := r.routeTo(inst, 0)
		ack, err := client.Send(ctx, endpoint, f, r.w.key)
		switch {
		case err != nil:
			return err
		case ack.Code == frame.CodeDuplicate: // it completed the join: drop the copies here
			p.mu.Lock()
			rs.js.joined[k] = true
			delete(rs.js.joins, k)
			p.mu.Unlock()
		case ack.Code != frame.CodeOK:
			return fmt.Errorf("refused: %s (%s)", ack.Code, ack.Reason)
		}
		return nil
	}()
	if err == nil {
		return
	}
	note := fmt.Sprintf("join %s: its holder %s did not hand over the results it holds: %v", k.step, holder, err)
	p.mu.Lock()
	rs.notes = append(rs.notes, note)
	p.mu.Unlock()
	// The holder is unreachable (killed, paused, cut off): the slots it
	// took are lost with it, unless every branch found it unreachable
	// too and sent its slot here. Give those a moment to arrive; a join
	// still incomplete then fails the run, not its deadline.
	t := time.NewTimer(2 * p.cfg.AckTimeout)
	defer t.Stop()
	select {
	case <-t.C:
	case <-rs.done:
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if rs.js.joined[k] {
		return
	}
	select {
	case <-rs.done:
	default:
		rs.failure = &RunError{RunID: r.runID, Step: k.step, Code: frame.CodeUnavailable,
			Reason: note + "; the results it held are lost with it"}
		close(rs.done)
	}
}

// joinInput takes one slot of a join (p.mu is held). When the join has
// all its slots, their merge goes on from here, in a goroutine of the
// plane: sending may come back here.
func (p *Plane) joinInput(js *joinSet, f *frame.Frame, payload []byte) (frame.Code, string) {
	sp := js.r.sp
	slot, branch := spec.SplitBranch(f.Branch)
	want := sp.JoinSlots(f.Step)
	k := joinKeyOf(f)
	if sp.IsNested(f.Step) && len(f.Outer) == 0 {
		return frame.CodeMalformed, fmt.Sprintf("slot of nested join %s without the regions around it", f.Step)
	}
	switch {
	case js.joined[k]:
		return frame.CodeDuplicate, "join already complete" // a retried or late copy
	case js.moved[k]:
		return frame.CodeUnavailable, "join " + f.Step + " was handed over to the run's entry"
	}
	var m *mapRun
	if want == -1 { // a map's join: as many slots as the map sent
		if m = js.maps[k]; m == nil {
			return frame.CodeUnknownStep, fmt.Sprintf("join %s of a map that did not start on branch %d", f.Step, branch)
		}
		want = m.n
	}
	if int(slot) >= want {
		return frame.CodeMalformed, fmt.Sprintf("slot %d of join %s out of range (it waits for %d)", slot, f.Step, want)
	}
	got := js.joins[k]
	if got == nil {
		got = map[uint32][]byte{}
		js.joins[k] = got
		js.outer[k] = f.Outer
	}
	if _, dup := got[slot]; dup {
		return frame.CodeDuplicate, "result of slot already received"
	}
	got[slot] = payload
	if m != nil {
		m.done <- struct{}{} // one element less in flight (buffered: never blocks)
	}
	if len(got) < want {
		return frame.CodeOK, ""
	}
	merged := spec.MergeJoin(sp.Steps[f.Step].Join, got)
	outer := js.outer[k]
	delete(js.joins, k)
	delete(js.maps, k)
	delete(js.outer, k)
	js.joined[k] = true
	return p.completeJoin(js, f.Step, branch, outer, merged)
}

// completeJoin sends the merge of join (on the outermost fork's branch,
// in the regions outer) on, from here (p.mu is held): to the join's
// successors in a goroutine of the plane (sending may come back here), or
// into the run's results when it has none. A nested join's merge goes on
// in the region around it, as the slot it has there.
func (p *Plane) completeJoin(js *joinSet, join string, branch uint32, outer []frame.Level, merged []byte) (frame.Code, string) {
	r := *js.r
	r.holder, r.outer = "", nil
	if js.r.sp.IsNested(join) {
		if len(outer) == 0 {
			return frame.CodeMalformed, "nested join " + join + " without the regions around it"
		}
		top := outer[len(outer)-1]
		branch = spec.JoinBranch(top.Slot, branch)
		r.holder, r.outer = top.Holder, outer[:len(outer)-1:len(outer)-1]
	}
	hops := js.r.sp.JoinHops(join, branch)
	if len(hops) == 0 {
		if js.result == nil {
			return frame.CodeMalformed, "join " + join + " has no successors: its holder is the run's entry"
		}
		js.result(branch, merged)
		return frame.CodeOK, ""
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		ctx := js.ctx
		if r.deadline != 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, time.Unix(0, r.deadline))
			defer cancel()
		}
		r.sendOn(ctx, join, branch, hops, merged)
	}()
	return frame.CodeOK, ""
}
