package route

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/route/flow"
	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/internal/spec"
	"github.com/wsk-route/wsk-route/internal/transport"
)

// doer carries out the actions the core (package flow) decided for one
// run, on this proxy: it sends frames, reports steps and drives the run's
// timers. It makes no decision of its own: what follows an action's
// outcome is asked of the core again.
type doer struct {
	p  *Plane
	sp *spec.Spec
	w  *welcomeState
	// rep is the report of the step whose actions these are; nil when
	// they come from no step (a join's merge, the entry's own).
	rep *stepReport
	// run is the run's state when this proxy is its entry; nil elsewhere.
	run *entryRun
}

// stepReport is a step's report to the entry (its logs and timing), sent
// once, where the core puts a ReportStep. Where the step's result went
// travels in it too (frame.Report.Placed): one frame to the entry per
// step instead of one more per hop.
type stepReport struct {
	once sync.Once
	send func()

	mu     sync.Mutex
	placed []frame.Placement
	size   int  // encoded bytes of placed
	taken  bool // the report took placed; later notes go on their own
}

// maxPlacedBytes bounds the placements a report carries, well within
// frame.MaxHeader with the report's other strings at their limits.
const maxPlacedBytes = 3 << 10

// fold keeps the note that instance took Forward a for the step's report,
// and reports whether it did: not when there is no report to come, or it
// is full (the note then goes on its own, before the report).
func (r *stepReport) fold(a flow.Forward, instance string) bool {
	if r == nil {
		return false
	}
	pl := frame.Placement{Step: a.Hop.Step, Branch: a.Hop.Branch, Outer: a.Ctx.Outer, Instance: instance}
	n := frame.PlacementLen(pl)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.taken || len(r.placed) == frame.MaxPlaced || r.size+n > maxPlacedBytes {
		return false
	}
	r.placed = append(r.placed, pl)
	r.size += n
	return true
}

// takePlaced returns the notes folded so far; later ones go on their own.
func (r *stepReport) takePlaced() []frame.Placement {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.taken = true
	return r.placed
}

// do carries out acts in order. The sends between two ReportSteps go
// concurrently; a ReportStep waits for them, then reports the step.
func (d doer) do(ctx context.Context, acts []flow.Action) {
	var batch []flow.Action
	flush := func() {
		switch len(batch) {
		case 0:
		case 1:
			d.send(ctx, batch[0])
		default:
			var wg sync.WaitGroup
			for _, a := range batch {
				wg.Add(1)
				go func() {
					defer wg.Done()
					d.send(ctx, a)
				}()
			}
			wg.Wait()
		}
		batch = batch[:0]
	}
	for _, a := range acts {
		switch a := a.(type) {
		case flow.Forward, flow.Slot, flow.Reply, flow.AskHandover:
			batch = append(batch, a)
		case flow.ReportStep:
			flush()
			d.reportStep()
		default:
			flush()
			d.runAction(ctx, a)
		}
	}
	flush()
}

// reportStep sends the report of the step the actions come from, once.
func (d doer) reportStep() {
	if d.rep != nil {
		d.rep.once.Do(d.rep.send)
	}
}

// send carries out one send and asks the core what follows its outcome.
func (d doer) send(ctx context.Context, a flow.Action) {
	switch a := a.(type) {
	case flow.Forward:
		inst, activation, err := d.forward(ctx, a)
		switch {
		case err != nil:
			d.do(ctx, flow.Undelivered(a, err))
		case activation != "":
			d.do(ctx, flow.WentToFallback(a, d.w.instanceID, activation))
		case inst != "":
			// The entry learns where the value went no later than it
			// learns the step is done (in the step's report, or before
			// it: ReportStep waits for this send), so it waits for that
			// successor's report too and never ends a run with a step's
			// report still to come. The successor already runs: nothing
			// on the hop waits.
			if !d.rep.fold(a, inst) {
				d.do(ctx, flow.Placed(a, inst))
			}
		}
	case flow.Slot:
		if d.deliverSlot(ctx, a) {
			return
		}
		d.do(ctx, []flow.Action{flow.SlotRefused(a)})
	case flow.Reply:
		d.reply(ctx, a)
	case flow.AskHandover:
		d.askHandover(ctx, a)
	}
}

// runAction carries out an action of the entry's run.
func (d doer) runAction(ctx context.Context, a flow.Action) {
	er := d.run
	if er == nil {
		d.p.cfg.Logger.Error("route: a run's action reached a proxy that is not its entry", "action", a.String())
		return
	}
	switch a := a.(type) {
	case flow.Reported:
		if er.onStep != nil {
			er.onStep(a.Report)
		}
	case flow.End:
		er.end(a)
	case flow.SetTimer:
		er.after(a.After, func(r *flow.Run) []flow.Action { return r.Timer(a.Timer) })
	case flow.Recheck:
		er.after(a.After, func(r *flow.Run) []flow.Action { return r.InstancesGone(d.p.inTableLocked) })
	case flow.WatchFallback:
		d.p.wg.Add(1)
		go func() {
			defer d.p.wg.Done()
			d.p.watchFallbacks(er)
		}()
	}
}

// goDo carries out acts in a goroutine of the plane.
func (p *Plane) goDo(ctx context.Context, d doer, acts []flow.Action) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		d.do(ctx, acts)
	}()
}

// errNoInstance is wrapped by forward when no candidate accepted the hop.
var errNoInstance = errors.New("no instance accepted the step")

// forward sends a Forward's payload as the input of its hop to the best
// instance that accepts it: same host first, then least loaded and
// fastest; a refusal or a failed send moves on to the next candidate.
// With Config.BusyWait, when every candidate refused as busy, it tries
// them again after a pause (growing, jittered) until BusyWait has passed:
// the step then waits for a slot of a warm instance instead of the
// invoker's. When none took it, the OpenWhisk API runs the step
// (fallback). It returns the instance that took it, or the fallback's
// activation id.
func (d doer) forward(ctx context.Context, a flow.Forward) (instance, activation string, err error) {
	p := d.p
	_, _, table := p.snapshot()
	if table == nil {
		return "", "", errors.New("route table not received from the agent yet")
	}
	giveUp := p.cfg.Now().Add(p.cfg.BusyWait)
	var reasons []string
	attempt := 0
	for pause := busyPause; ; pause = min(2*pause, maxBusyPause) {
		inst, busy, why, err := d.sendToBest(ctx, table, a, &attempt)
		if inst != "" || err != nil {
			return inst, "", err
		}
		pause = jitter(pause)
		if !busy || p.cfg.Now().Add(pause).After(giveUp) || !sleep(ctx, pause) {
			reasons = why
			break
		}
	}
	p.stats.counter(a.Action, "none").fallbacks.Add(1)
	// No warm instance took it: the OpenWhisk API runs the step instead.
	activation, err = d.fallback(ctx, a, reasons)
	switch {
	case err == nil:
		return "", activation, nil
	case !errors.Is(err, errNoFallback):
		reasons = append(reasons, "fallback: "+err.Error())
	}
	if len(reasons) == 0 {
		return "", "", fmt.Errorf("%w: no warm instance of %s is known", errNoInstance, a.Action)
	}
	return "", "", fmt.Errorf("%w: %s", errNoInstance, strings.Join(reasons, "; "))
}

// The pauses of a hop whose instances were all busy: the first, and the
// longest they grow to (Config.BusyWait bounds their sum).
const (
	busyPause    = 250 * time.Microsecond
	maxBusyPause = 5 * time.Millisecond
)

// jitter returns d scaled by a random factor in [0.5, 1.5), so that the
// hops waiting for one busy instance do not all come back at once.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d)
}

// sendToBest offers a Forward's hop to the instances of its action, best
// first, up to Config.MaxTries of them, counting the frames it sends in
// *attempt. It returns the instance that accepted it; or an error that
// ends the hop (the run's deadline passed at the receiver); or why each
// instance did not take it, and busy when some did not and all of those
// refused only because they were busy.
func (d doer) sendToBest(ctx context.Context, table *routetable.Table, a flow.Forward, attempt *int) (instance string, busy bool, reasons []string, err error) {
	p := d.p
	payload := a.Payload
	var tried []string
	onlyBusy := true
	for len(tried) < p.cfg.MaxTries {
		if err := ctx.Err(); err != nil {
			return "", false, append(reasons, "deadline: "+err.Error()), nil
		}
		// Take counts the hop as begun as it picks: the branches of a
		// fan-out, sent at once, spread over the instances' slots.
		inst, ok := table.Take(a.Action, tried)
		if !ok {
			break
		}
		tried = append(tried, inst.ID)
		endpoint, via, client := d.routeTo(inst, len(payload))
		f := d.frameFor(a.Ctx, frame.Frame{Kind: frame.KindStep, Step: a.Hop.Step, Branch: a.Hop.Branch, Attempt: uint16(*attempt),
			Target: inst.ID, Holder: a.Ctx.Holder, Outer: a.Ctx.Outer, Payload: payload,
			// The receiver runs the step only if its ack reaches us within
			// this window; past it we go on to the next instance, and the
			// frame will not run where we left it (transport.Delivery.OnAcked).
			AcceptBy: p.cfg.Now().Add(p.cfg.AckTimeout).UnixNano()})
		*attempt++
		start := p.cfg.Now()
		ack, err := client.Send(ctx, endpoint, f, d.w.key)
		took := p.cfg.Now().Sub(start)
		c := p.stats.counter(a.Action, via)
		switch {
		case err != nil:
			table.End(inst.ID, took, false)
			c.failed.Add(1)
			reasons = append(reasons, inst.ID+": "+err.Error())
			onlyBusy = false
		case ack.Code == frame.CodeOK || ack.Code == frame.CodeDuplicate:
			if d.run != nil {
				// The entry counts the step against the instance's slots
				// until its report (before End, so that it never looks free).
				d.run.place(a, inst.ID, table)
			}
			table.End(inst.ID, took, true)
			c.observe(took, len(payload))
			return inst.ID, false, nil, nil
		case ack.Code == frame.CodeExpired:
			table.End(inst.ID, took, true)
			c.refused.Add(1)
			return "", false, nil, fmt.Errorf("%s refused: %s (%s)", inst.ID, ack.Code, ack.Reason)
		default:
			table.End(inst.ID, took, false) // also penalises it
			c.refused.Add(1)
			reasons = append(reasons, fmt.Sprintf("%s: %s (%s)", inst.ID, ack.Code, ack.Reason))
			onlyBusy = onlyBusy && ack.Code == frame.CodeBusy
		}
	}
	return "", onlyBusy && len(tried) > 0, reasons, nil
}

// frameFor fills in f's run fields from the run's context c and the spec.
func (d doer) frameFor(c flow.Context, f frame.Frame) *frame.Frame {
	f.RunID, f.Workflow, f.SpecVersion, f.Namespace = c.Run, d.sp.Workflow, d.sp.Version, d.sp.Namespace
	f.Deadline, f.ReplyTo = c.Deadline, c.ReplyTo
	f.Size = uint64(len(f.Payload))
	return &f
}

// routeTo picks how to reach inst: its unix socket on this host, its
// routable TCP address, or the agents' relay; via names it for metrics.
// Frames to the relay go with the inline client: the relay forwards them
// off the host as they are, so their payload cannot be a shm reference.
func (d doer) routeTo(inst routetable.Instance, size int) (endpoint, via string, client *transport.Client) {
	w := d.w
	switch {
	case inst.Host == w.host:
		if w.client.UsesShm(inst.Unix, size) {
			return inst.Unix, "shm", w.client
		}
		return inst.Unix, "unix", w.client
	case inst.TCP != "":
		return inst.TCP, "tcp", w.client
	default:
		return w.relay, "relay", w.inline
	}
}

// ReplyToInstance prefixes a reply-to that names the entry by its instance
// id ("instance:<host>/<name>") rather than by an endpoint: each replying
// proxy then reaches it the way it reaches any instance.
const ReplyToInstance = "instance:"

// replyTimeout is the least time the tries of one reply to the entry get,
// and all they get once the run's deadline has passed or the plane is
// stopping; before, they go on until the run's deadline, since the entry
// waits for the reply until then. It covers an agent's restart, during
// which its relay is down (about a second; the ansible test bed's switch
// to agent containers needed more than 2 s, docs/deploy.md section 9).
const replyTimeout = 5 * time.Second

// askTimeout bounds asking a join's holder for its slots.
const askTimeout = 2 * time.Second

// reply sends a Reply's frame to the run's entry: to this proxy's own run
// without a socket, else as to any instance.
func (d doer) reply(ctx context.Context, a flow.Reply) {
	replyTo := a.Ctx.ReplyTo
	if replyTo == "" {
		return
	}
	f := d.frameFor(a.Ctx, a.Frame)
	if replyTo == ReplyToInstance+d.w.instanceID {
		if code, reason := d.p.deliverToRun(f, f.Payload); code != frame.CodeOK && code != frame.CodeDuplicate {
			d.p.cfg.Logger.Debug("route: own run refused a reply", "run", f.RunID, "kind", f.Kind.String(), "code", code.String(), "reason", reason)
		}
		return
	}
	// A reply is the only copy of a result, a failure or a report: a send
	// that fails (the entry's host agent restarting, which relays it, this
	// proxy's agent, or the entry missing from this proxy's route table
	// for a while) is tried again, each time on the plane's current
	// welcome and route table, until the run's deadline, for which the
	// entry waits. It is worth sending even when that deadline has just
	// passed (a step killed at the deadline reports why): it gets at least
	// replyTimeout, and only that once the plane is stopping. The entry
	// takes a copy it already has as a duplicate. (The step's report goes
	// after its result: a result given up on while its report gets
	// through would leave the run waiting for its deadline.)
	start := time.Now()
	budget := replyTimeout
	if a.Ctx.Deadline != 0 {
		budget = max(budget, time.Until(time.Unix(0, a.Ctx.Deadline)))
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), budget)
	defer cancel()
	var err error
	for wait := replyRetry; ; wait = min(2*wait, replyRetryMax) {
		var again bool
		if again, err = d.replyOnce(ctx, f, replyTo); !again {
			break
		}
		if time.Since(start) >= replyTimeout && d.p.isStopping() {
			break
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
			continue
		}
		break
	}
	if err != nil {
		d.p.cfg.Logger.Warn("route: reply-to unreachable", "run", f.RunID, "reply_to", replyTo, "kind", f.Kind.String(), "err", err)
	}
}

// Pauses between the tries of a reply.
const (
	replyRetry    = 50 * time.Millisecond
	replyRetryMax = 400 * time.Millisecond
)

// replyOnce sends reply frame f to replyTo once, and reports whether it is
// worth trying again: it could not be sent, or the entry's side was not
// ready to take it (CodeUnavailable: a proxy between agents).
func (d doer) replyOnce(ctx context.Context, f *frame.Frame, replyTo string) (again bool, err error) {
	_, w, _ := d.p.snapshot()
	if w == nil {
		return true, errors.New("this proxy is not registered with its agent")
	}
	endpoint, client := replyTo, w.client
	if id, ok := strings.CutPrefix(replyTo, ReplyToInstance); ok {
		// The entry is an instance of the table: reach it as any step,
		// on this host, over its TCP address, or through the relay.
		inst, found := d.p.instance(ctx, id)
		if !found {
			return true, fmt.Errorf("reply-to instance %s is not in the route table", id)
		}
		endpoint, _, client = doer{p: d.p, sp: d.sp, w: w}.routeTo(inst, len(f.Payload))
		f.Target = id
	}
	ack, err := client.Send(ctx, endpoint, f, w.key)
	switch {
	case err != nil:
		return ctx.Err() == nil, err
	case ack.Code == frame.CodeOK || ack.Code == frame.CodeDuplicate:
		return false, nil
	}
	return ack.Code == frame.CodeUnavailable, fmt.Errorf("refused: %s (%s)", ack.Code, ack.Reason)
}

// deliverSlot delivers a Slot to the region's holder: this proxy's own
// joins, or another instance. It reports whether the holder took it.
func (d doer) deliverSlot(ctx context.Context, a flow.Slot) bool {
	f := d.frameFor(a.Ctx, frame.Frame{Kind: frame.KindResult, Step: a.Hop.Step, Branch: a.Hop.Branch,
		Target: a.Ctx.Holder, Holder: a.Ctx.Holder, Outer: a.Ctx.Outer, Payload: a.Payload,
		// The holder joins the slot only if its ack reaches us within this
		// window; past it we send the slot to the entry, and the holder
		// does not join it too (holder.go, acceptSlot).
		AcceptBy: d.p.cfg.Now().Add(d.p.cfg.AckTimeout).UnixNano()})
	if a.Ctx.Holder == d.w.instanceID {
		code, reason := d.p.holdSlot(ctx, f, a.Payload, d.w)
		if code == frame.CodeOK || code == frame.CodeDuplicate {
			return true
		}
		d.p.cfg.Logger.Warn("route: join slot refused here; sending it to the entry", "run", f.RunID, "join", f.Step, "reason", reason)
		return false
	}
	err := func() error {
		inst, ok := d.p.instance(ctx, a.Ctx.Holder)
		if !ok {
			return fmt.Errorf("holder %s is not in the route table", a.Ctx.Holder)
		}
		endpoint, _, client := d.routeTo(inst, len(a.Payload))
		ack, err := client.Send(ctx, endpoint, f, d.w.key)
		switch {
		case err != nil:
			return err
		case ack.Code != frame.CodeOK && ack.Code != frame.CodeDuplicate:
			return fmt.Errorf("%s refused: %s (%s)", a.Ctx.Holder, ack.Code, ack.Reason)
		}
		return nil
	}()
	if err != nil {
		d.p.cfg.Logger.Warn("route: join holder unreachable; sending the slot to the entry", "run", f.RunID, "join", f.Step, "holder", a.Ctx.Holder, "err", err)
		return false
	}
	return true
}

// sendReport sends a step's captured logs and timing to the run's entry.
func (d doer) sendReport(ctx context.Context, c flow.Context, step string, branch uint32, logs []byte, took time.Duration) {
	// Outer: the report names the step execution as its Placed note did.
	d.reply(ctx, flow.Reply{Ctx: c, Frame: frame.Frame{Kind: frame.KindLog, Step: step, Branch: branch, Outer: c.Outer, Payload: logs,
		Report: frame.Report{Kind: frame.ReportDone, Instance: d.w.instanceID, Duration: took, Placed: d.rep.takePlaced()}}})
}
