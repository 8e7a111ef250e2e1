package route

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/route/flow"
	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/routetable"
)

// Result is the outcome of a run started with StartRun.
type Result struct {
	RunID string
	// Value is the run's result: the single path's result, or a JSON
	// array of the results of every path in branch order.
	Value json.RawMessage
	// Steps are the steps that reported, in the order their logs arrived.
	Steps []StepReport
}

// StepReport is what one step execution reported to the entry.
type StepReport = flow.StepReport

// RunError is a run that failed: at a step, or by its deadline.
type RunError struct {
	RunID  string
	Step   string // empty when the deadline passed with no step to blame
	Code   frame.Code
	Reason string
	Steps  []StepReport // what did report before the failure
}

func (e *RunError) Error() string {
	if e.Step == "" {
		return fmt.Sprintf("route: run %s: %s", e.RunID, e.Reason)
	}
	return fmt.Sprintf("route: run %s failed at step %s: %s (%s)", e.RunID, e.Step, e.Reason, e.Code)
}

// RunOptions are the choices a caller of StartRun may make.
type RunOptions struct {
	// ID is the run's id; empty means a random one. An entry passes its
	// activation id, so that a client that invoked it can follow the run.
	// It must be 1 to frame.MaxRunID letters, digits, '-' or '_'.
	ID string
	// OnStep, when set, is called with each step's report as it reaches
	// the entry, in arrival order, from one of the plane's goroutines; it
	// must not block for long (the run's replies wait for it).
	OnStep func(StepReport)
	// Start, when set, is the one step the run starts at instead of the
	// workflow's start steps: an entry that conducts a composition runs
	// each action it invokes as a run of its own (spec.StartAt).
	Start string
}

// DefaultRunTimeout is the deadline of a run started without one: the
// default timeout of an OpenWhisk action.
const DefaultRunTimeout = time.Minute

// reportGrace bounds how long a run that has all its results waits for
// the reports of steps still on their way (flow.RunConfig.ReportGrace).
const reportGrace = 250 * time.Millisecond

// entryRun is a run started here: the core's state of it (guarded by the
// plane's mu), and what its owner, StartRun, waits on.
type entryRun struct {
	p      *Plane
	run    *flow.Run       // guarded by p.mu
	d      doer            // carries out the run's actions
	ctx    context.Context // the run's: ends at its deadline
	c      flow.Context
	onStep func(StepReport)
	// fired takes the timers that fired, for the owner to give the run.
	fired chan func(*flow.Run) []flow.Action
	ended chan struct{} // closed by end
	once  sync.Once
	out   flow.End
	// timers are the run's timers still armed; guarded by p.mu.
	timers []*time.Timer
	// placed holds the steps this entry sent, by the instance that took
	// each, until the step's report or result comes back: the table counts
	// them against those instances' slots (routetable.Table.Place), so
	// that a map's next elements go to instances with free slots instead
	// of being refused by full ones. A step whose report beats its
	// sender's return from the send stays counted until the run ends.
	// Guarded by p.mu.
	placed map[flow.Key]placedStep
}

// placedStep is a step an entry placed, and the table that counts it.
type placedStep struct {
	inst  string
	table *routetable.Table
}

// place counts the step of a, which inst took, until its report.
func (er *entryRun) place(a flow.Forward, inst string, table *routetable.Table) {
	k := flow.Key{Run: a.Ctx.Run, Step: a.Hop.Step, Branch: a.Hop.Branch, Outer: flow.SlotsKey(a.Ctx.Outer)}
	er.p.mu.Lock()
	defer er.p.mu.Unlock()
	if er.placed == nil {
		er.placed = map[flow.Key]placedStep{}
	}
	if _, ok := er.placed[k]; ok {
		return // a retry of the same step: counted once
	}
	er.placed[k] = placedStep{inst: inst, table: table}
	table.Place(inst)
}

// unplaceLocked ends the count of the step k, if this entry placed it.
// p.mu is held.
func (er *entryRun) unplaceLocked(k flow.Key) {
	if ps, ok := er.placed[k]; ok {
		delete(er.placed, k)
		ps.table.Unplace(ps.inst)
	}
}

// StartRun runs workflow with input (a JSON object or array) and waits for
// its result until ctx's deadline, which becomes the run's deadline (ctx
// without a deadline gets DefaultRunTimeout: a run never waits forever).
// Results come back to this plane, named by its instance id in the
// frames' reply-to.
func (p *Plane) StartRun(ctx context.Context, workflow string, input []byte, opts RunOptions) (*Result, error) {
	ctx, cancel := withRunDeadline(ctx)
	defer cancel()
	_, w, _ := p.snapshot()
	if w == nil {
		return nil, errors.New("route: not registered with the agent")
	}
	sp := p.specFor(ctx, workflow, 0)
	if sp == nil {
		return nil, fmt.Errorf("route: unknown workflow %q", workflow)
	}
	runID, err := runIDOf(opts)
	if err != nil {
		return nil, err
	}
	deadline, _ := ctx.Deadline()
	// Results come back to this plane by its instance id: every proxy
	// reaches it as it reaches a step (same host, TCP, or the relay).
	c := flow.Context{Run: runID, ReplyTo: ReplyToInstance + w.instanceID, Deadline: deadline.UnixNano()}
	er := &entryRun{p: p, ctx: ctx, c: c, onStep: opts.OnStep,
		fired: make(chan func(*flow.Run) []flow.Action), ended: make(chan struct{})}
	er.d = doer{p: p, sp: sp, w: w, run: er}
	er.run = flow.NewRun(flow.Sender{Spec: sp, Ctx: c, Self: w.instanceID, EntryJoins: p.cfg.EntryJoins}, flow.RunConfig{
		AckTimeout: p.cfg.AckTimeout, ReportGrace: reportGrace, SpecGrace: specGrace, WatchFallbacks: p.cfg.APIHost != "",
		Start: opts.Start})
	p.mu.Lock()
	if p.runs[runID] != nil {
		p.mu.Unlock()
		return nil, fmt.Errorf("route: run %s is already running here", runID)
	}
	p.runs[runID] = er
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.runs, runID)
		for _, t := range er.timers {
			t.Stop()
		}
		for k := range er.placed {
			er.unplaceLocked(k)
		}
		p.mu.Unlock()
	}()

	// The first sends go from this goroutine, as the run's owner waits
	// for them anyway.
	p.mu.Lock()
	acts := er.run.Start(input)
	p.mu.Unlock()
	er.d.do(ctx, acts)
	er.wait()
	p.mu.Lock()
	steps := append([]StepReport(nil), er.run.Reports()...)
	p.mu.Unlock()
	return outcome(runID, er.out, steps)
}

// withRunDeadline returns ctx, or, when it has no deadline, ctx with
// DefaultRunTimeout: a run never waits forever.
func withRunDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, DefaultRunTimeout)
}

// outcome is what StartRun returns for a run of id that ended with end,
// and the steps that reported.
func outcome(id string, end flow.End, steps []StepReport) (*Result, error) {
	if f := end.Failure; f != nil {
		return nil, &RunError{RunID: id, Step: f.Step, Code: f.Code, Reason: f.Reason, Steps: steps}
	}
	return &Result{RunID: id, Value: end.Value, Steps: steps}, nil
}

// wait gives the run its events until it has ended: its deadline, its
// timers, and updates of the route table from the agent (an instance a
// step runs on may be gone).
func (er *entryRun) wait() {
	p := er.p
	var gen uint64
	for {
		p.mu.Lock()
		changed, tableGen := p.changed, p.tableGen
		p.mu.Unlock()
		if tableGen != gen {
			gen = tableGen
			er.step(func(r *flow.Run) []flow.Action { return r.InstancesGone(p.inTableLocked) })
		}
		select {
		case <-er.ended:
			return
		case <-er.ctx.Done():
			er.step(func(r *flow.Run) []flow.Action { return r.Expire(er.ctx.Err().Error()) })
			<-er.ended // Expire always ends a run
			return
		case fn := <-er.fired:
			er.step(fn)
		case <-changed: // the table, if it was updated, is looked at above
		}
	}
}

// step gives the run one event (fn, with p.mu held) and carries out what
// it decided: at once what takes no time (reports, timers, the end), the
// sends in a goroutine of the plane, so that whoever brought the event (a
// frame's handler, whose sender waits for its ack) is not held up.
func (er *entryRun) step(fn func(*flow.Run) []flow.Action) {
	p := er.p
	p.mu.Lock()
	if er.run.Ended() {
		p.mu.Unlock()
		return
	}
	acts := fn(er.run)
	p.mu.Unlock()
	er.d.doSoon(er.ctx, acts)
}

// after arms a timer of the run: fn is given to the run once d passed,
// unless it ended.
func (er *entryRun) after(d time.Duration, fn func(*flow.Run) []flow.Action) {
	t := time.AfterFunc(d, func() {
		select {
		case er.fired <- fn:
		case <-er.ended:
		}
	})
	er.p.mu.Lock()
	er.timers = append(er.timers, t)
	er.p.mu.Unlock()
}

// end records the run's outcome and wakes its owner.
func (er *entryRun) end(a flow.End) {
	er.once.Do(func() {
		er.out = a
		close(er.ended)
	})
}

// doSoon carries out at once the actions that take no time, up to the
// first send, and the rest in a goroutine of the plane.
func (d doer) doSoon(ctx context.Context, acts []flow.Action) {
	i := 0
	for i < len(acts) && instant(acts[i]) {
		i++
	}
	d.do(ctx, acts[:i])
	if i < len(acts) {
		d.p.goDo(ctx, d, acts[i:])
	}
}

// instant reports whether carrying out a takes no time.
func instant(a flow.Action) bool {
	switch a.(type) {
	case flow.Reported, flow.End, flow.SetTimer, flow.Recheck, flow.WatchFallback:
		return true
	}
	return false
}

// inTableLocked reports whether instance id may still be there: it is in
// the route table, or no table has listed it yet (p.mu is held). Without a
// table, or with one the agent has not filled since the plane's last
// welcome (a new agent's snapshot is on its way), nothing is known to be
// gone; nor is an instance no table has listed: a container that has just
// started (a fallback's) runs its step before the agent's next table
// lists it. Such an instance that dies unlisted leaves its step to the
// run's deadline, or to the watch of its fallback activation.
func (p *Plane) inTableLocked(id string) bool {
	if p.table == nil || !p.tableSynced {
		return true
	}
	if _, ok := p.table.Get(id); ok {
		return true
	}
	_, listed := p.listed[id]
	return !listed
}

// runIDOf returns the id of a run started with opts: opts.ID, checked,
// or a random one.
func runIDOf(opts RunOptions) (string, error) {
	if opts.ID != "" {
		return opts.ID, checkRunID(opts.ID)
	}
	var idb [16]byte
	rand.Read(idb[:])
	return hex.EncodeToString(idb[:]), nil
}

// checkRunID checks a run id given in RunOptions.
func checkRunID(id string) error {
	if len(id) > frame.MaxRunID {
		return fmt.Errorf("route: run id %q: %d bytes, more than %d", id, len(id), frame.MaxRunID)
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("route: run id %q: %q is not a letter, digit, '-' or '_'", id, c)
		}
	}
	return nil
}

// deliverToRun gives a result, error or log frame (and its payload, which
// the run may keep) to the run started here that it belongs to.
func (p *Plane) deliverToRun(f *frame.Frame, payload []byte) (frame.Code, string) {
	p.mu.Lock()
	er := p.runs[f.RunID]
	if er == nil {
		p.mu.Unlock()
		return frame.CodeUnknownStep, "no run " + f.RunID + " here (finished or never started)"
	}
	code, reason, acts := er.run.Frame(f, payload, p.inTableLocked)
	if code == frame.CodeOK {
		er.unplaceLocked(flow.KeyOf(f)) // its report, result or failure: the step ended
	}
	p.mu.Unlock()
	er.d.doSoon(er.ctx, acts)
	return code, reason
}
