package route

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/route/flow"
	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/spec"
	"github.com/wsk-route/wsk-route/internal/transport"
)

// The joins this proxy holds for runs started elsewhere (flow/joins.go
// says who holds a join and how its holder is replaced by the entry). The
// core decides; this file keeps one flow.Joins per run until the run's
// deadline and carries out what they decide.

// heldRun is the joins this proxy holds for one run.
type heldRun struct {
	joins *flow.Joins
	d     doer         // sends a completed join's merge on, from here
	ctx   flow.Context // the run's, with no holder and no regions
}

// heldForLocked returns the joins held here for the run of f, made on its first
// slot or handover from the frame's routing context and kept until the
// run's deadline (p.mu is held); nil when the workflow's version is not
// known here.
func (p *Plane) heldForLocked(f *frame.Frame, w *welcomeState, sp *spec.Spec) *heldRun {
	if hr := p.held[f.RunID]; hr != nil {
		return hr
	}
	if sp == nil {
		return nil
	}
	c := flow.Context{Run: f.RunID, ReplyTo: f.ReplyTo, Deadline: f.Deadline}
	hr := &heldRun{
		joins: flow.NewJoins(flow.Sender{Spec: sp, Ctx: c, Self: w.instanceID, CanHold: true, EntryJoins: p.cfg.EntryJoins}),
		d:     doer{p: p, sp: sp, w: w},
		ctx:   c,
	}
	until := DefaultRunTimeout
	if f.Deadline != 0 {
		until = time.Until(time.Unix(0, f.Deadline))
	}
	time.AfterFunc(until+time.Second, func() {
		p.mu.Lock()
		if p.held[f.RunID] == hr {
			delete(p.held, f.RunID)
		}
		p.mu.Unlock()
	})
	p.held[f.RunID] = hr
	return hr
}

// holdSlot takes a slot of a join this proxy holds, from one of its own
// steps (no frame, no ack).
func (p *Plane) holdSlot(ctx context.Context, f *frame.Frame, payload []byte, w *welcomeState) (frame.Code, string) {
	hr, code, reason := p.heldFor(f, w)
	if hr == nil {
		return code, reason
	}
	return p.takeSlot(hr, f, payload)
}

// acceptSlot answers a slot frame sent to this proxy as the join's
// holder. A slot with an accept window (AcceptBy) is taken only once its
// ack reached the sender in time: a sender that gave up on it sent it to
// the entry, and it must not be joined here too (transport.Delivery.OnAcked).
func (p *Plane) acceptSlot(d *transport.Delivery, w *welcomeState) (frame.Code, string) {
	f := &d.Frame
	payload := d.Detach()
	hr, code, reason := p.heldFor(f, w)
	if hr == nil {
		return code, reason
	}
	p.mu.Lock()
	code, reason = hr.joins.Takes(f.Step, f.Branch, f.Outer)
	p.mu.Unlock()
	if testHookSlotAnswer != nil {
		testHookSlotAnswer()
	}
	if code != frame.CodeOK || f.AcceptBy == 0 {
		if code == frame.CodeOK {
			return p.takeSlot(hr, f, payload)
		}
		return code, reason
	}
	p.wg.Add(1)
	d.OnAcked(func(inTime bool) {
		defer p.wg.Done()
		if !inTime {
			p.cfg.Logger.Info("route: a slot's ack came too late; not joining it (its sender sent it to the entry)",
				"run", f.RunID, "join", f.Step, "branch", f.Branch)
			return
		}
		if code, reason := p.takeSlot(hr, f, payload); code != frame.CodeOK && code != frame.CodeDuplicate {
			// Handed over (or stopping) since Takes said yes: the sender
			// counts on this proxy, which sends the slot to the entry.
			p.cfg.Logger.Info("route: a slot came after its join was handed over; sending it to the entry", "run", f.RunID, "join", f.Step, "reason", reason)
			c := hr.ctx
			c.Outer = f.Outer
			p.goDo(p.ctx, hr.d, []flow.Action{flow.SlotRefused(flow.Slot{Ctx: c, Hop: spec.Hop{Step: f.Step, Branch: f.Branch}, Payload: payload})})
		}
	})
	return frame.CodeOK, ""
}

// testHookSlotAnswer, when set by a test, runs after acceptSlot decided
// its answer and before it returns it.
var testHookSlotAnswer func()

// heldFor returns the joins this proxy holds for the run of slot or
// handover f, or why it holds none.
func (p *Plane) heldFor(f *frame.Frame, w *welcomeState) (*heldRun, frame.Code, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopping {
		return nil, frame.CodeUnavailable, "the holder is stopping: join " + f.Step + " goes to the run's entry"
	}
	sp := p.specAt(f.Workflow, f.SpecVersion)
	if sp != nil && sp.Version != f.SpecVersion {
		sp = nil
	}
	if hr := p.heldForLocked(f, w, sp); hr != nil {
		return hr, frame.CodeOK, ""
	}
	return nil, frame.CodeUnknownStep, fmt.Sprintf("workflow %s version %d is not known here", f.Workflow, f.SpecVersion)
}

// takeSlot gives a slot to the joins of its run. When the join completes,
// its merge goes on from here, in a goroutine of the plane: sending may
// come back here.
func (p *Plane) takeSlot(hr *heldRun, f *frame.Frame, payload []byte) (frame.Code, string) {
	p.mu.Lock()
	code, reason, acts := hr.joins.Slot(f.Step, f.Branch, f.Outer, payload)
	p.mu.Unlock()
	if len(acts) > 0 {
		ctx, cancel := p.runContext(hr.ctx.Deadline)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer cancel()
			hr.d.do(ctx, acts)
		}()
	}
	return code, reason
}

// runContext is the context a run's sends from this proxy go in: the
// plane's, until the run's deadline (unix ns; 0 for none).
func (p *Plane) runContext(deadline int64) (context.Context, context.CancelFunc) {
	if deadline == 0 {
		return context.WithCancel(p.ctx)
	}
	return context.WithDeadline(p.ctx, time.Unix(0, deadline))
}

// handOver answers the entry's KindHandover for one join this proxy
// holds: its slots go to the entry and it takes no more.
func (p *Plane) handOver(ctx context.Context, f *frame.Frame, w *welcomeState) (frame.Code, string) {
	p.mu.Lock()
	hr := p.heldForLocked(f, w, p.specs[f.Workflow])
	if hr == nil {
		p.mu.Unlock()
		return frame.CodeOK, "handed over 0 results: the workflow is not known here"
	}
	code, reason, acts := hr.joins.HandOver(f.Step, f.Branch, f.Outer)
	p.mu.Unlock()
	p.goDo(context.WithoutCancel(ctx), hr.d, acts)
	return code, reason
}

// isStopping reports whether the plane is stopping: handing over its
// joins (handOverAll), or past that.
func (p *Plane) isStopping() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stopping || p.ctx.Err() != nil
}

// handOverAll gives the slots of every join held here to the entries of
// their runs and refuses later ones, which then go to the entries too:
// the proxy is stopping (its container is being removed), and what it
// holds would be lost with it.
func (p *Plane) handOverAll(ctx context.Context) {
	type give struct {
		d    doer
		acts []flow.Action
	}
	var gives []give
	p.mu.Lock()
	p.stopping = true // later slots, of any join, go to the entries
	for _, hr := range p.held {
		if acts := hr.joins.HandOverAll(); len(acts) > 0 {
			gives = append(gives, give{hr.d, acts})
		}
	}
	p.mu.Unlock()
	var wg sync.WaitGroup // in parallel: each reply is bounded by replyTimeout (isStopping)
	for _, g := range gives {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.d.do(ctx, g.acts)
		}()
	}
	wg.Wait()
}

// askHandover asks a join's holder for the slots it holds, on the entry's
// behalf, and gives the answer to the run.
func (d doer) askHandover(ctx context.Context, a flow.AskHandover) {
	er := d.run
	if er == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), askTimeout)
	defer cancel()
	completed := false
	err := func() error {
		inst, ok := d.p.instance(ctx, a.Holder)
		if !ok {
			return fmt.Errorf("it is not in the route table")
		}
		f := d.frameFor(er.c, frame.Frame{Kind: frame.KindHandover, Step: a.Join.Step, Branch: a.Join.Branch,
			Target: a.Holder, Holder: a.Holder, Outer: a.Outer})
		endpoint, _, client := d.routeTo(inst, 0)
		ack, err := client.Send(ctx, endpoint, f, d.w.key)
		switch {
		case err != nil:
			return err
		case ack.Code == frame.CodeDuplicate: // it completed the join: drop the copies here
			completed = true
		case ack.Code != frame.CodeOK:
			return fmt.Errorf("refused: %s (%s)", ack.Code, ack.Reason)
		}
		return nil
	}()
	er.step(func(r *flow.Run) []flow.Action { return r.HandoverAnswered(a, completed, err) })
}
