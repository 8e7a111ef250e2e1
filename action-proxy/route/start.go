package route

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/spec"
	"github.com/wsk-route/wsk-route/internal/transport"
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
type StepReport struct {
	Step     string
	Branch   uint32
	Instance string
	Duration time.Duration
	Logs     []byte
}

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

// runState collects what comes back for one run started here.
type runState struct {
	onStep  func(StepReport)
	want    int
	results map[uint32][]byte
	// js are the joins and maps this entry holds for the run (join.go).
	js      joinSet
	steps   []StepReport
	failure *RunError
	// notes say what went wrong on the way without failing the run (a
	// holder that did not hand over); an expired run reports them.
	notes []string
	// where are the run's steps between being handed on and reporting
	// (whereabouts.go).
	where whereabouts
	ctx   context.Context // the run's; ends with it
	done  chan struct{}   // closed when all results or a failure arrived
}

// addResult takes one of the run's results (p.mu is held).
func (rs *runState) addResult(branch uint32, v []byte) (frame.Code, string) {
	if _, dup := rs.results[branch]; dup {
		return frame.CodeDuplicate, "result of branch already received"
	}
	if branch >= uint32(rs.want) {
		return frame.CodeMalformed, fmt.Sprintf("branch %d out of range (run has %d results)", branch, rs.want)
	}
	rs.results[branch] = v
	if len(rs.results) == rs.want {
		select {
		case <-rs.done: // failed already
		default:
			close(rs.done)
		}
	}
	return frame.CodeOK, ""
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
}

// DefaultRunTimeout is the deadline of a run started without one: the
// default timeout of an OpenWhisk action.
const DefaultRunTimeout = time.Minute

// StartRun runs workflow with input (a JSON object or array) and waits for
// its result until ctx's deadline, which becomes the run's deadline (ctx
// without a deadline gets DefaultRunTimeout: a run never waits forever).
// Results come back to this plane, named by its instance id in the
// frames' reply-to.
func (p *Plane) StartRun(ctx context.Context, workflow string, input []byte, opts RunOptions) (*Result, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultRunTimeout)
		defer cancel()
	}
	_, w, _ := p.snapshot()
	if w == nil {
		return nil, errors.New("route: not registered with the agent")
	}
	sp := p.specFor(workflow, 0)
	if sp == nil {
		return nil, fmt.Errorf("route: unknown workflow %q", workflow)
	}
	runID := opts.ID
	if runID == "" {
		var idb [16]byte
		rand.Read(idb[:])
		runID = hex.EncodeToString(idb[:])
	} else if err := checkRunID(runID); err != nil {
		return nil, err
	}
	d, _ := ctx.Deadline()
	deadline := d.UnixNano()
	// Results come back to this plane by its instance id: every proxy
	// reaches it as it reaches a step (same host, TCP, or the relay).
	replyTo := ReplyToInstance + w.instanceID
	r := &run{p: p, w: w, sp: sp, runID: runID, replyTo: replyTo, deadline: deadline}
	rs := &runState{onStep: opts.OnStep, want: sp.Paths(), results: map[uint32][]byte{}, js: newJoinSet(r, ctx), done: make(chan struct{}), ctx: ctx}
	rs.js.result = func(branch uint32, merged []byte) { rs.addResult(branch, merged) }
	p.mu.Lock()
	if p.runs[runID] != nil {
		p.mu.Unlock()
		return nil, fmt.Errorf("route: run %s is already running here", runID)
	}
	p.runs[runID] = rs
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.runs, runID)
		p.mu.Unlock()
	}()

	for _, h := range sp.StartHops() {
		if sp.IsLoop(h.Step) || sp.Steps[h.Step].InLoop != "" { // a loop at the start (loop.go)
			r.hop(ctx, "", h, input)
			continue
		}
		if sp.IsValue(h.Step) { // a constant at the start
			r.next(ctx, h.Step, h.Branch, sp.Steps[h.Step].Value)
			continue
		}
		if sp.IsRouter(h.Step) { // a condition (or a fork) on the run's input
			r.next(ctx, h.Step, h.Branch, input)
			continue
		}
		if sp.IsMap(h.Step) { // a map at the start: the elements go from here
			p.mu.Lock()
			p.mapInput(rs, h.Step, h.Branch, "", nil, input)
			p.mu.Unlock()
			continue
		}
		if err := r.forward(ctx, h, input); err != nil {
			return nil, &RunError{RunID: runID, Step: h.Step, Code: frame.CodeUnavailable, Reason: err.Error()}
		}
	}
	select {
	case <-rs.done:
	case <-ctx.Done():
	}
	p.awaitReports(rs)
	p.mu.Lock()
	defer p.mu.Unlock()
	steps := append([]StepReport(nil), rs.steps...)
	if rs.failure != nil {
		rs.failure.Steps = steps
		return nil, rs.failure
	}
	if len(rs.results) < rs.want {
		reason := fmt.Sprintf("%v: %d of %d results arrived; %s", ctx.Err(), len(rs.results), rs.want, lastSteps(steps))
		for _, n := range rs.notes {
			reason += "; " + n
		}
		return nil, &RunError{RunID: runID, Code: frame.CodeExpired, Steps: steps, Reason: reason}
	}
	return &Result{RunID: runID, Value: merge(rs.results, rs.want), Steps: steps}, nil
}

// reportGrace bounds how long a run that has all its results waits for
// the reports of steps still on their way: a step reports after it handed
// its result on (send.go), so the result can overtake the report.
const reportGrace = 250 * time.Millisecond

// awaitReports waits, up to reportGrace, until every step of a completed
// run that was placed on an instance has reported.
func (p *Plane) awaitReports(rs *runState) {
	deadline := time.Now().Add(reportGrace)
	for {
		p.mu.Lock()
		outstanding := rs.failure == nil && len(rs.results) == rs.want && len(rs.where.running) > 0
		p.mu.Unlock()
		if !outstanding || time.Now().After(deadline) {
			return
		}
		time.Sleep(time.Millisecond)
	}
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

func lastSteps(steps []StepReport) string {
	if len(steps) == 0 {
		return "no step reported"
	}
	names := make([]string, 0, len(steps))
	for _, s := range steps {
		names = append(names, fmt.Sprintf("%s#%d", s.Step, s.Branch))
	}
	return "steps that finished: " + strings.Join(names, ", ")
}

// merge returns the one result, or an array of all in branch order (as
// an array join merges its slots).
func merge(results map[uint32][]byte, want int) json.RawMessage {
	if want == 1 {
		for _, v := range results {
			return v
		}
	}
	return spec.MergeJoin(&spec.Join{Merge: spec.MergeArray}, results)
}

// deliverToRun takes a result, error or log frame for a run started here.
// It keeps the payload (Detach: copied out of shm, so no mapping
// outlives the frame) and releases d whatever it answers.
func (p *Plane) deliverToRun(d *transport.Delivery) (frame.Code, string) {
	f := &d.Frame
	payload := d.Detach()
	var report func()
	defer func() {
		if report != nil {
			report()
		}
	}()
	p.mu.Lock()
	defer p.mu.Unlock()
	rs := p.runs[f.RunID]
	if rs == nil {
		return frame.CodeUnknownStep, "no run " + f.RunID + " here (finished or never started)"
	}
	select {
	case <-rs.done:
		// The run ended; a step's report may still come (a step reports
		// after handing its result on) while StartRun waits for the
		// reports of its steps (awaitReports).
		if f.Kind != frame.KindLog {
			return frame.CodeOK, "" // late: the run already ended
		}
	default:
	}
	switch f.Kind {
	case frame.KindLog:
		var meta stepLog
		json.Unmarshal([]byte(f.Reason), &meta)
		switch {
		case meta.Fallback != "":
			p.watchFallback(rs, f, meta.Fallback)
			return frame.CodeOK, ""
		case meta.Started:
			rs.where.started(f, meta.Instance)
			if _, ok := p.table.Get(meta.Instance); !ok {
				// Gone already, or not in this table yet (a new instance
				// reaches the tables a few milliseconds apart): look again
				// in a moment; later removals are seen as they come.
				time.AfterFunc(specGrace, func() {
					p.mu.Lock()
					defer p.mu.Unlock()
					p.lostInstancesLocked()
				})
			}
			return frame.CodeOK, ""
		}
		rs.where.reportedStep(f)
		sr := StepReport{Step: f.Step, Branch: f.Branch, Instance: meta.Instance,
			Duration: time.Duration(meta.DurationNS), Logs: payload}
		rs.steps = append(rs.steps, sr)
		if rs.onStep != nil { // after p.mu is released (deferred first, runs last)
			report = func() { rs.onStep(sr) }
		}
	case frame.KindError:
		rs.failure = &RunError{RunID: f.RunID, Step: f.Step, Code: f.Code, Reason: f.Reason}
		close(rs.done)
	case frame.KindResult:
		sp := rs.js.r.sp
		switch {
		case sp.IsJoin(f.Step):
			code, reason := p.joinInput(&rs.js, f, payload)
			if f.Holder != "" && code != frame.CodeMalformed {
				// The slot was meant for a holder that could not take it:
				// ask that holder, once, for what it holds (join.go).
				if k := joinKeyOf(f); !rs.js.asked[k] && !rs.js.joined[k] {
					rs.js.asked[k] = true
					holder, outer := f.Holder, f.Outer
					p.wg.Add(1)
					go func() {
						defer p.wg.Done()
						p.askHandover(rs, k, outer, holder)
					}()
				}
			}
			return code, reason
		case sp.IsMap(f.Step):
			return p.mapInput(rs, f.Step, f.Branch, f.Holder, f.Outer, payload)
		}
		return rs.addResult(f.Branch, payload)
	}
	return frame.CodeOK, ""
}
