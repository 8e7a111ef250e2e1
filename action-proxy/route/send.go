package route

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/internal/spec"
	"github.com/wsk-route/wsk-route/internal/transport"
)

// run is the routing context of one run as seen by one proxy: enough to
// send a step's result on, or to report to the run's reply-to.
type run struct {
	p        *Plane
	w        *welcomeState
	sp       *spec.Spec
	runID    string
	replyTo  string
	deadline int64
	// holder is the instance that holds the join of the region this
	// context sends in; "" is the run's entry (or no region).
	holder string
	// outer are the regions around that region (frame.Frame.Outer).
	outer []frame.Level
	// canHold says this proxy may hold the joins its steps fork: it runs
	// them directly (not through the fallback, not as the entry).
	canHold bool
	// report is the report of the step whose result this context sends
	// on; nil for other sends (reportStep).
	report *stepReport
}

// stepReport is a step's report to the entry (its logs and timing), sent
// once: after the step's result was handed on to its successors, so that
// until it arrives the entry counts the step as still where it ran (an
// instance lost before handing the result on fails the run), or before
// the result when the result goes to the entry itself or the step failed,
// so that the run's report has every step.
type stepReport struct {
	once sync.Once
	send func()
}

// reportStep sends the report of the step this context sends on, if it
// was not sent yet.
func (r *run) reportStep() {
	if r.report != nil {
		r.report.once.Do(r.report.send)
	}
}

// next sends result to the successors of step (running as branch), or to
// the reply-to when it has none. A step with a switch sends it where the
// first case that holds for result says.
func (r *run) next(ctx context.Context, step string, branch uint32, result []byte) {
	hops, err := r.sp.Route(step, branch, result)
	if err != nil {
		r.fail(ctx, step, branch, frame.CodeStepFailed, fmt.Sprintf("routing the result of step %s: %v", step, err))
		return
	}
	r.sendOn(ctx, step, branch, hops, result)
}

// sendOn sends result to hops (the successors chosen for it), or to the
// reply-to as branch when there are none.
func (r *run) sendOn(ctx context.Context, step string, branch uint32, hops []spec.Hop, result []byte) {
	if len(hops) == 0 {
		r.reportStep()
		r.reply(ctx, &frame.Frame{Kind: frame.KindResult, Step: step, Branch: branch, Payload: result})
		return
	}
	defer r.reportStep()
	if holder, outer := r.regionOf(step, branch); holder != r.holder || len(outer) != len(r.outer) {
		rr := *r
		rr.holder, rr.outer = holder, outer
		r = &rr
	}
	if len(hops) == 1 {
		r.hop(ctx, step, hops[0], result)
		return
	}
	var wg sync.WaitGroup
	for _, h := range hops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.hop(ctx, step, h, result)
		}()
	}
	wg.Wait()
}

// hop sends result along one hop: to an instance of the next step; when
// the next step is a join, to the region's holder (join.go); when it is a
// map, to the run's entry, which holds maps (mapstep.go); a constant
// step's value goes on from here at once.
func (r *run) hop(ctx context.Context, from string, h spec.Hop, result []byte) {
	st := r.sp.Steps[h.Step]
	if st.InLoop != "" {
		r = r.enterLoops(from, h.Step)
	}
	switch {
	case st.Loop != nil:
		r.loopHead(ctx, from, h, result)
	case st.Action != "":
		r.forwardOrFail(ctx, from, h, result)
	case st.Value != nil: // a constant: no action to run, go on from it
		r.next(ctx, h.Step, h.Branch, st.Value)
	case st.Join != nil:
		r.deliverSlot(ctx, h, result)
	case st.Map != nil: // Holder and Outer: the regions around a nested map
		r.reply(ctx, &frame.Frame{Kind: frame.KindResult, Step: h.Step, Branch: h.Branch, Holder: r.holder, Outer: r.outer, Payload: result})
	default: // a router: no action, route the result from here
		r.next(ctx, h.Step, h.Branch, result)
	}
}

func (r *run) forwardOrFail(ctx context.Context, from string, h spec.Hop, payload []byte) {
	if err := r.forward(ctx, h, payload); err != nil {
		r.fail(ctx, h.Step, h.Branch, frame.CodeUnavailable, fmt.Sprintf("sending the result of %s to step %s: %v", from, h.Step, err))
	}
}

// errNoInstance is wrapped by forward when no candidate accepted the hop.
var errNoInstance = errors.New("no instance accepted the step")

// forward sends payload as the input of hop to the best instance that
// accepts it: same host first, then least loaded and fastest; a refusal or
// a failed send moves on to the next candidate.
func (r *run) forward(ctx context.Context, h spec.Hop, payload []byte) error {
	st, ok := r.sp.Steps[h.Step]
	if !ok {
		return fmt.Errorf("workflow %s has no step %q", r.sp.Workflow, h.Step)
	}
	_, _, table := r.p.snapshot()
	if table == nil {
		return errors.New("route table not received from the agent yet")
	}
	var tried []string
	var reasons []string
	for attempt := 0; attempt < r.p.cfg.MaxTries; attempt++ {
		if err := ctx.Err(); err != nil {
			reasons = append(reasons, "deadline: "+err.Error())
			break
		}
		inst, ok := table.Best(st.Action, tried)
		if !ok {
			break
		}
		tried = append(tried, inst.ID)
		endpoint, via, client := r.routeTo(inst, len(payload))
		f := &frame.Frame{
			Kind: frame.KindStep, RunID: r.runID, Workflow: r.sp.Workflow, SpecVersion: r.sp.Version,
			Step: h.Step, Branch: h.Branch, Attempt: uint16(attempt), Deadline: r.deadline,
			ReplyTo: r.replyTo, Namespace: r.sp.Namespace, Target: inst.ID, Holder: r.holder, Outer: r.outer,
			Payload: payload, Size: uint64(len(payload)),
			// The receiver runs the step only if its ack reaches us within
			// this window; past it we go on to the next instance, and the
			// frame will not run where we left it (transport.Delivery.OnAcked).
			AcceptBy: r.p.cfg.Now().Add(r.p.cfg.AckTimeout).UnixNano(),
		}
		table.Begin(inst.ID)
		start := r.p.cfg.Now()
		ack, err := client.Send(ctx, endpoint, f, r.w.key)
		took := r.p.cfg.Now().Sub(start)
		c := r.p.stats.counter(st.Action, via)
		switch {
		case err != nil:
			table.End(inst.ID, took, false)
			c.failed.Add(1)
			reasons = append(reasons, inst.ID+": "+err.Error())
			continue
		case ack.Code == frame.CodeOK || ack.Code == frame.CodeDuplicate:
			table.End(inst.ID, took, true)
			c.observe(took, len(payload))
			// Told by the sender, which outlives the hop: a receiver killed
			// right after its ack could not say it.
			r.sendRunsOn(ctx, h.Step, h.Branch, r.outer, inst.ID)
			return nil
		case ack.Code == frame.CodeExpired:
			table.End(inst.ID, took, true)
			c.refused.Add(1)
			return fmt.Errorf("%s refused: %s (%s)", inst.ID, ack.Code, ack.Reason)
		default:
			table.End(inst.ID, took, false) // also penalises it
			c.refused.Add(1)
			reasons = append(reasons, fmt.Sprintf("%s: %s (%s)", inst.ID, ack.Code, ack.Reason))
		}
	}
	r.p.stats.counter(st.Action, "none").fallbacks.Add(1)
	// No warm instance took it: the OpenWhisk API runs the step instead.
	switch err := r.fallback(ctx, h, st, payload); {
	case err == nil:
		return nil
	case !errors.Is(err, errNoFallback):
		reasons = append(reasons, "fallback: "+err.Error())
	}
	if len(reasons) == 0 {
		return fmt.Errorf("%w: no warm instance of %s is known", errNoInstance, st.Action)
	}
	return fmt.Errorf("%w: %s", errNoInstance, strings.Join(reasons, "; "))
}

// routeTo picks how to reach inst: its unix socket on this host, its
// routable TCP address, or the agents' relay; via names it for metrics.
// Frames to the relay go with the inline client: the relay forwards them
// off the host as they are, so their payload cannot be a shm reference.
func (r *run) routeTo(inst routetable.Instance, size int) (endpoint, via string, client *transport.Client) {
	switch {
	case inst.Host == r.w.host:
		if r.w.client.UsesShm(inst.Unix, size) {
			return inst.Unix, "shm", r.w.client
		}
		return inst.Unix, "unix", r.w.client
	case inst.TCP != "":
		return inst.TCP, "tcp", r.w.client
	default:
		return r.w.relay, "relay", r.w.inline
	}
}

// reply sends f (a result, an error or a log) to the run's reply-to.
func (r *run) reply(ctx context.Context, f *frame.Frame) {
	if r.replyTo == "" {
		return
	}
	// A reply is worth sending even when the run's deadline has just
	// passed (a step killed at the deadline reports why): it gets a short
	// time of its own.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), replyTimeout)
	defer cancel()
	f.RunID, f.Workflow, f.SpecVersion = r.runID, r.sp.Workflow, r.sp.Version
	f.Deadline, f.Namespace, f.ReplyTo = r.deadline, r.sp.Namespace, r.replyTo
	f.Target = ""
	f.Size = uint64(len(f.Payload))
	// f.Holder and f.Outer stay as the caller set them: a slot that names
	// the holder it could not reach, the regions around a slot (join.go).
	endpoint, client := r.replyTo, r.w.client
	if id, ok := strings.CutPrefix(r.replyTo, ReplyToInstance); ok {
		// The entry is an instance of the table: reach it as any step,
		// on this host, over its TCP address, or through the relay.
		inst, found := r.p.instance(ctx, id)
		if !found {
			r.p.cfg.Logger.Warn("route: reply-to instance not in the route table", "run", r.runID, "instance", id, "kind", f.Kind.String())
			return
		}
		endpoint, _, client = r.routeTo(inst, len(f.Payload))
		f.Target = id
	}
	ack, err := client.Send(ctx, endpoint, f, r.w.key)
	if err == nil && ack.Code != frame.CodeOK && ack.Code != frame.CodeDuplicate {
		err = fmt.Errorf("refused: %s (%s)", ack.Code, ack.Reason)
	}
	if err != nil {
		r.p.cfg.Logger.Warn("route: reply-to unreachable", "run", r.runID, "reply_to", r.replyTo, "kind", f.Kind.String(), "err", err)
	}
}

// ReplyToInstance prefixes a reply-to that names the entry by its instance
// id ("instance:<host>/<name>") rather than by an endpoint: each replying
// proxy then reaches it the way it reaches any instance.
const ReplyToInstance = "instance:"

// replyTimeout bounds sending one reply to the entry.
const replyTimeout = 2 * time.Second

// fail reports to the reply-to that the run failed at step.
func (r *run) fail(ctx context.Context, step string, branch uint32, code frame.Code, reason string) {
	r.reportStep()
	r.reply(ctx, &frame.Frame{Kind: frame.KindError, Step: step, Branch: branch, Code: code, Reason: frame.CutReason(reason)})
}

// stepLog is the Reason of a log frame: a step's report; with Started, the
// note that the step runs on Instance (from its sender, once the instance
// acknowledged it, or from the proxy that took it from a fallback
// envelope); with Fallback, the sender's note that the step went to that
// OpenWhisk activation (whereabouts.go).
type stepLog struct {
	Instance   string `json:"instance"`
	DurationNS int64  `json:"duration_ns,omitempty"`
	Started    bool   `json:"started,omitempty"`
	Fallback   string `json:"fallback,omitempty"`
}

// sendRunsOn tells the reply-to, without making anyone wait, that the
// step execution (step, branch, outer) runs on instance: the entry then
// knows where to look for it (whereabouts.go).
func (r *run) sendRunsOn(ctx context.Context, step string, branch uint32, outer []frame.Level, instance string) {
	if r.replyTo == ReplyToInstance+r.w.instanceID {
		// This proxy is the run's entry (it sends the run's first steps
		// and a map's elements): note it here, without a frame to itself.
		f := frame.Frame{RunID: r.runID, Step: step, Branch: branch, Outer: outer}
		r.p.mu.Lock()
		if rs := r.p.runs[r.runID]; rs != nil {
			rs.where.started(&f, instance)
		}
		r.p.mu.Unlock()
		return
	}
	meta, _ := json.Marshal(stepLog{Instance: instance, Started: true})
	r.p.wg.Add(1)
	go func() {
		defer r.p.wg.Done()
		r.reply(ctx, &frame.Frame{Kind: frame.KindLog, Step: step, Branch: branch, Outer: outer, Reason: string(meta)})
	}()
}

// sendLog sends a step's captured logs and timing to the reply-to.
func (r *run) sendLog(ctx context.Context, step string, branch uint32, logs []byte, took time.Duration) {
	meta, _ := json.Marshal(stepLog{Instance: r.w.instanceID, DurationNS: took.Nanoseconds()})
	r.reply(ctx, &frame.Frame{Kind: frame.KindLog, Step: step, Branch: branch, Reason: string(meta), Payload: logs})
}
