package route

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/route/flow"
	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/runevent"
	"github.com/wsk-route/wsk-route/internal/spec"
	"github.com/wsk-route/wsk-route/internal/transport"
)

// HandleFrame accepts or refuses one received frame. Step frames are run
// on the action; result, error and log frames belong to runs started here,
// except the slots of joins this proxy holds, and handovers of those.
// It never waits for the action: a busy instance refuses, so that the
// sender tries another one. It answers at once: a step starts in its
// OnAcked hook and sends go from goroutines of the plane; only a frame of
// a workflow this proxy does not know yet waits (specFor, at most
// specGrace).
func (p *Plane) HandleFrame(ctx context.Context, d *transport.Delivery) (frame.Code, string) {
	f := &d.Frame
	id, w, _ := p.snapshot()
	if w == nil {
		return frame.CodeUnavailable, "proxy not registered with its agent"
	}
	if code, reason := flow.Admit(f, id.Namespace, w.key, p.cfg.Now().UnixNano()); code != frame.CodeOK {
		return code, reason
	}
	switch {
	case f.Kind == frame.KindStep:
		return p.acceptStep(ctx, d, id, w)
	case f.Kind == frame.KindHandover:
		if f.Target != w.instanceID {
			return frame.CodeUnknownStep, "handover for holder " + f.Target + " reached " + w.instanceID
		}
		return p.handOver(ctx, f, w)
	case f.Kind == frame.KindResult && f.Holder != "" && f.Holder == w.instanceID:
		// A slot of a join this proxy holds (holder.go).
		return p.acceptSlot(d, w)
	case f.Kind == frame.KindResult, f.Kind == frame.KindError, f.Kind == frame.KindLog:
		// Detach: copied out of shm, so that no mapping outlives the frame.
		return p.deliverToRun(f, d.Detach())
	}
	return frame.CodeMalformed, "unexpected frame kind " + f.Kind.String()
}

func (p *Plane) acceptStep(ctx context.Context, d *transport.Delivery, id Identity, w *welcomeState) (frame.Code, string) {
	f := &d.Frame
	sp := p.specFor(ctx, f.Workflow, f.SpecVersion)
	if code, reason := flow.CheckStep(sp, f, w.instanceID, id.Action); code != frame.CodeOK {
		return code, reason
	}
	if p.exec == nil {
		return frame.CodeUnavailable, "this proxy runs no steps"
	}
	if !p.markSeen(f) {
		return frame.CodeDuplicate, "step already accepted for this run and branch"
	}
	res, ok := p.exec.TryReserve(ctx)
	if !ok {
		p.unmarkSeen(f)
		return frame.CodeBusy, "instance busy"
	}
	p.directBegan() // the agent hears of it (directruns.go)
	// The step starts only once its ack has reached the sender in time
	// (transport.Delivery.OnAcked): a sender that gave up on this frame
	// (this container was paused with the frame unread, say) may have sent
	// it elsewhere, and then it must not run here too.
	p.wg.Add(1)
	d.OnAcked(func(inTime bool) {
		if !inTime {
			defer p.wg.Done()
			defer p.directEnded()
			res.Release()
			p.unmarkSeen(f)
			d.Release()
			p.cfg.Logger.Info("route: a step frame's ack came too late; not running it (its sender went on without it)",
				"run", f.RunID, "step", f.Step, "branch", f.Branch)
			return
		}
		go func() {
			defer p.wg.Done()
			defer p.directEnded()
			defer d.Release()
			p.runStep(res, f, d.Payload(), sp, id, w)
		}()
	})
	return frame.CodeOK, ""
}

// markSeen records a step frame until its run's deadline and reports
// whether it is the first.
func (p *Plane) markSeen(f *frame.Frame) bool {
	var deadline time.Time
	if f.Deadline != 0 {
		deadline = time.Unix(0, f.Deadline)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen.Add(flow.KeyOf(f), deadline, p.cfg.Now())
}

// unmarkSeen forgets a step frame that will not run here, so that the same
// frame, sent again, is not taken for a duplicate.
func (p *Plane) unmarkSeen(f *frame.Frame) {
	p.mu.Lock()
	p.seen.Remove(flow.KeyOf(f))
	p.mu.Unlock()
}

// runStep runs an accepted step frame, then carries out what the core
// says follows: the result sent on, or the failure reported.
func (p *Plane) runStep(res Reservation, f *frame.Frame, payload []byte, sp *spec.Spec, id Identity, w *welcomeState) {
	ctx, cancel := p.stepContext(f.Deadline)
	defer cancel()
	// The step's activation id, the same at every attempt: the action's
	// and its record's (records.go).
	aid := stepActivationID(f)
	start := p.cfg.Now()
	tries := 0
	result, logs, err := attempts(sp.Steps[f.Step].Retry,
		func() ([]byte, func() []byte, error) {
			tries++
			return res.Run(ctx, activationBody(payload, f, id, aid))
		},
		func(wait time.Duration) bool {
			// The action is released after each run: the next attempt
			// reserves it again (an invoker /run may come first).
			res = p.reserveAgain(ctx, wait)
			return res != nil
		})
	end := p.cfg.Now()
	c := flow.ContextOf(f)
	d := doer{p: p, sp: sp, w: w}
	// The report goes once the result has gone on; the step's activation
	// record after it (records.go).
	d.rep = &stepReport{send: func() {
		l := logs()
		d.sendReport(ctx, c, f.Step, f.Branch, l, end.Sub(start))
		p.recordStep(f, aid, start, end, tries, result, l, err)
	}}
	s := flow.Sender{Spec: sp, Ctx: c, Self: w.instanceID, CanHold: true, EntryJoins: p.cfg.EntryJoins}
	d.do(ctx, s.Finished(f.Step, f.Branch, result, err, id.Action))
}

// stepContext is the context a step of a run with deadline (unix ns, 0
// for none) runs and sends its result in: the plane's, so that stopping
// the plane stops its steps, ending a little before the run's deadline,
// so that the entry, waiting until the deadline, still hears why a step
// failed.
func (p *Plane) stepContext(deadline int64) (context.Context, context.CancelFunc) {
	if deadline == 0 {
		return context.WithCancel(p.ctx)
	}
	return context.WithDeadline(p.ctx, time.Unix(0, deadline).Add(-stepMargin))
}

// attempts runs the action with run until it succeeds or the step's retry
// (nil: one attempt) gives up (flow.Retry); again readies the next attempt
// after waiting wait, and reports false when there is none. logs returns
// the logs of every attempt, in order.
func attempts(retry *spec.Retry, run func() (result []byte, logs func() []byte, err error), again func(wait time.Duration) bool) (result []byte, logs func() []byte, err error) {
	var parts []func() []byte
	logs = func() []byte {
		if len(parts) == 1 {
			return parts[0]()
		}
		var b []byte
		for _, p := range parts {
			b = append(b, p()...)
		}
		return b
	}
	for n := 1; ; n++ {
		var out func() []byte
		result, out, err = run()
		if out != nil {
			parts = append(parts, out)
		}
		wait, more := flow.Retry(retry, n, flow.Failed(result, err))
		if !more || !again(wait) {
			return result, logs, err
		}
	}
}

// sleep waits d, and reports whether it did: false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// reserveAgain waits wait, then reserves the action for one more attempt,
// trying until ctx ends; nil when it could not.
func (p *Plane) reserveAgain(ctx context.Context, wait time.Duration) Reservation {
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if res, ok := p.exec.TryReserve(ctx); ok {
			return res
		}
		t.Reset(5 * time.Millisecond)
	}
}

// stepMargin is how long before the run's deadline a step is stopped.
const stepMargin = 100 * time.Millisecond

// activationBody is the /run body of a direct run: the payload as value,
// and the context fields an invoker /run carries, with an activation id
// derived from the run, step and branch.
func activationBody(payload []byte, f *frame.Frame, id Identity, aid string) io.Reader {
	ctx := runContext{
		Namespace:     id.Namespace,
		ActionName:    id.Action,
		ActionVersion: id.Version,
		ActivationID:  aid,
		TransactionID: f.RunID,
		APIKey:        id.APIKey,
	}
	if trace := runevent.EntryRun(f.RunID); runevent.IsTraceID(trace) {
		// The step's span in its run's trace (runevent): the action sees
		// it as __OW_TRACEPARENT, to continue the trace in what it calls.
		ctx.TraceParent = runevent.TraceParent(trace, runevent.StepSpanID(aid))
	}
	if f.Deadline != 0 {
		ctx.Deadline = strconv.FormatInt(f.Deadline/int64(time.Millisecond), 10)
	}
	tail, _ := json.Marshal(ctx) // strings only: cannot fail
	tail[0] = ','                // {"namespace":...} continues the body after value
	if len(payload) == 0 {
		payload = []byte("{}")
	}
	return io.MultiReader(strings.NewReader(`{"value":`), bytes.NewReader(payload), bytes.NewReader(tail))
}

// runContext is the part of a /run body besides value, in the invoker's
// field order.
type runContext struct {
	Namespace     string `json:"namespace"`
	ActionName    string `json:"action_name"`
	ActionVersion string `json:"action_version"`
	ActivationID  string `json:"activation_id"`
	TransactionID string `json:"transaction_id"`
	Deadline      string `json:"deadline,omitempty"`
	APIKey        string `json:"api_key,omitempty"`
	TraceParent   string `json:"traceparent,omitempty"`
}
