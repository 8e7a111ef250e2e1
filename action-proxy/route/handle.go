package route

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/jsonscan"
	"github.com/wsk-route/wsk-route/internal/spec"
	"github.com/wsk-route/wsk-route/internal/transport"
)

// HandleFrame accepts or refuses one received frame. Step frames are run
// on the action; result, error and log frames belong to runs started here,
// except the slots of joins this proxy holds, and handovers of those.
// It never waits for the action: a busy instance refuses, so that the
// sender tries another one.
func (p *Plane) HandleFrame(ctx context.Context, d *transport.Delivery) (frame.Code, string) {
	f := &d.Frame
	id, w, _ := p.snapshot()
	switch {
	case w == nil:
		return frame.CodeUnavailable, "proxy not registered with its agent"
	case f.Namespace != id.Namespace:
		return frame.CodeWrongNamespace, fmt.Sprintf("frame of namespace %q sent to an instance of namespace %q", f.Namespace, id.Namespace)
	case !f.Verify(w.key):
		return frame.CodeBadTag, "authentication tag does not match the namespace key"
	case f.Kind == frame.KindStep && f.Deadline != 0 && p.cfg.Now().UnixNano() > f.Deadline:
		// Replies are taken after the deadline too: the run they belong
		// to is either still waiting here or gone (deliverToRun says so).
		return frame.CodeExpired, "deadline passed " + time.Duration(p.cfg.Now().UnixNano()-f.Deadline).String() + " ago"
	}
	switch {
	case f.Kind == frame.KindStep:
		return p.acceptStep(ctx, d, id, w)
	case f.Kind == frame.KindHandover:
		if f.Target != w.instanceID {
			return frame.CodeUnknownStep, "handover for holder " + f.Target + " reached " + w.instanceID
		}
		return p.handOver(f, w)
	case f.Kind == frame.KindResult && f.Holder != "" && f.Holder == w.instanceID:
		// A slot of a join this proxy holds (join.go).
		payload := d.Detach()
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.holdSlot(f, payload, w)
	case f.Kind == frame.KindResult, f.Kind == frame.KindError, f.Kind == frame.KindLog:
		return p.deliverToRun(d)
	}
	return frame.CodeMalformed, "unexpected frame kind " + f.Kind.String()
}

func (p *Plane) acceptStep(ctx context.Context, d *transport.Delivery, id Identity, w *welcomeState) (frame.Code, string) {
	f := &d.Frame
	if f.Target != "" && f.Target != w.instanceID {
		return frame.CodeUnknownStep, "frame for instance " + f.Target + " reached " + w.instanceID
	}
	sp := p.specFor(f.Workflow, f.SpecVersion)
	if sp == nil {
		return frame.CodeUnknownStep, "unknown workflow " + f.Workflow
	}
	st, ok := sp.Steps[f.Step]
	if !ok {
		return frame.CodeUnknownStep, fmt.Sprintf("workflow %s (version %d) has no step %q", f.Workflow, sp.Version, f.Step)
	}
	if st.Action != id.Action {
		return frame.CodeUnknownStep, fmt.Sprintf("step %q runs %s, this instance runs %s", f.Step, st.Action, id.Action)
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
	// The step starts only once its ack has reached the sender in time
	// (transport.Delivery.OnAcked): a sender that gave up on this frame
	// (this container was paused with the frame unread, say) may have sent
	// it elsewhere, and then it must not run here too.
	p.wg.Add(1)
	d.OnAcked(func(inTime bool) {
		if !inTime {
			defer p.wg.Done()
			res.Release()
			p.unmarkSeen(f)
			d.Release()
			p.cfg.Logger.Info("route: a step frame's ack came too late; not running it (its sender went on without it)",
				"run", f.RunID, "step", f.Step, "branch", f.Branch)
			return
		}
		go func() {
			defer p.wg.Done()
			defer d.Release()
			p.runStep(res, f, d.Payload(), sp, id, w)
		}()
	})
	return frame.CodeOK, ""
}

// unmarkSeen forgets a step frame that will not run here, so that the same
// frame, sent again, is not taken for a duplicate.
func (p *Plane) unmarkSeen(f *frame.Frame) {
	p.mu.Lock()
	p.seen.remove(keyOf(f))
	p.mu.Unlock()
}

// runStep runs an accepted step frame, then sends its result on.
func (p *Plane) runStep(res Reservation, f *frame.Frame, payload []byte, sp *spec.Spec, id Identity, w *welcomeState) {
	ctx := context.Background()
	if f.Deadline != 0 {
		// The step stops a little before the run's deadline, so that the
		// entry, waiting until the deadline, still hears why it failed.
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, time.Unix(0, f.Deadline).Add(-stepMargin))
		defer cancel()
	}
	r := &run{p: p, w: w, sp: sp, runID: f.RunID, replyTo: f.ReplyTo, deadline: f.Deadline, holder: f.Holder, outer: f.Outer, canHold: true}
	start := p.cfg.Now()
	result, logs, err := attempts(sp.Steps[f.Step].Retry,
		func() ([]byte, []byte, error) { return res.Run(ctx, activationBody(payload, f, id)) },
		func(wait time.Duration) bool {
			// The action is released after each run: the next attempt
			// reserves it again (an invoker /run may come first).
			res = p.reserveAgain(ctx, wait)
			return res != nil
		})
	elapsed := p.cfg.Now().Sub(start)
	r.report = &stepReport{send: func() { r.sendLog(ctx, f.Step, f.Branch, logs, elapsed) }}
	r.finish(ctx, f.Step, f.Branch, result, err, id.Action, w.instanceID)
	r.reportStep()
}

// keyOf is the dedupe key of a step frame.
func keyOf(f *frame.Frame) runKey {
	return runKey{f.RunID, f.Step, f.Branch, slotsKey(f.Outer)}
}

// markSeen records a step frame's (run, step, branch) until its deadline
// and reports whether it is the first.
func (p *Plane) markSeen(f *frame.Frame) bool {
	var deadline time.Time
	if f.Deadline != 0 {
		deadline = time.Unix(0, f.Deadline)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen.add(keyOf(f), deadline, p.cfg.Now())
}

// attempts runs the action with run until it succeeds or the step's retry
// (nil: one attempt) gives up; again readies the next attempt after
// waiting wait, and reports false when there is none. The logs of every
// attempt are kept, in order.
func attempts(retry *spec.Retry, run func() (result, logs []byte, err error), again func(wait time.Duration) bool) (result, logs []byte, err error) {
	for n := 1; ; n++ {
		var out []byte
		result, out, err = run()
		if logs == nil {
			logs = out
		} else {
			logs = append(logs, out...)
		}
		if !failedAttempt(result, err) || retry == nil || n >= retry.Attempts || !again(retry.Backoff(n+1)) {
			return result, logs, err
		}
	}
}

// failedAttempt reports whether one run of the action failed: an error,
// or an application error result.
func failedAttempt(result []byte, err error) bool { return err != nil || isErrorResult(result) }

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

// finish sends a step's outcome on: a result to the successors its
// routing chooses; a failure (err, or an {"error": ...} result) to the
// step's catch when it has one, else to the reply-to as the run's
// failure, naming the step, its action and the instance.
func (r *run) finish(ctx context.Context, step string, branch uint32, result []byte, err error, action, instance string) {
	if !failedAttempt(result, err) {
		r.next(ctx, step, branch, result)
		return
	}
	what := fmt.Sprintf("step %s (action %s) on %s", step, action, instance)
	reason := fmt.Sprintf("%s returned an error: %s", what, result[:min(len(result), frame.MaxReason)])
	if err != nil {
		reason = fmt.Sprintf("%s: %v", what, err)
		result, _ = json.Marshal(map[string]string{"error": reason})
	}
	if hops, ok := r.sp.CatchHops(step, branch); ok {
		r.sendOn(ctx, step, branch, hops, result)
		return
	}
	r.fail(ctx, step, branch, frame.CodeStepFailed, reason)
}

// stepMargin is how long before the run's deadline a step is stopped.
const stepMargin = 100 * time.Millisecond

// activationBody is the /run body of a direct run: the payload as value,
// and the context fields an invoker /run carries, with an activation id
// derived from the run, step and branch.
func activationBody(payload []byte, f *frame.Frame, id Identity) io.Reader {
	key := f.RunID + "\x00" + f.Step + "\x00" + strconv.FormatUint(uint64(f.Branch), 10)
	if len(f.Outer) > 0 {
		key += "\x00" + slotsKey(f.Outer)
	}
	h := sha256.Sum256([]byte(key))
	ctx := runContext{
		Namespace:     id.Namespace,
		ActionName:    id.Action,
		ActionVersion: id.Version,
		ActivationID:  hex.EncodeToString(h[:16]),
		TransactionID: f.RunID,
		APIKey:        id.APIKey,
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
}

// isErrorResult reports whether result is an object with a top-level
// "error" key: OpenWhisk's application error, which ends the run.
func isErrorResult(result []byte) bool {
	v, ok := jsonscan.TopLevel(result, "error")
	return ok && len(v) > 0
}
