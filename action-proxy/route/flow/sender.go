package flow

import (
	"encoding/json"
	"fmt"

	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/jsonscan"
	"github.com/wsk-route/wsk-route/internal/spec"
)

// Sender decides where one proxy sends the values of one run: a step's
// result, the run's input, a join's merge, a map's elements.
type Sender struct {
	Spec *spec.Spec
	Ctx  Context
	// Self is this proxy's instance id.
	Self string
	// CanHold says this proxy may hold the joins its steps fork: it runs
	// them directly (not through the fallback, not as the entry).
	CanHold bool
	// EntryJoins makes the entry hold every join.
	EntryJoins bool
}

// Finished decides what follows a step that ran (as branch) with result,
// or failed with err: a result goes to the successors its routing chooses
// (or to the entry as one of the run's results); a failure (err, or an
// {"error": ...} result) goes to the step's catch when it has one, else to
// the entry as the run's failure, naming the step, its action and instance.
//
// The step reports (one ReportStep) after its value was handed on to
// every successor, so that until the report arrives the entry counts the
// step as where it ran, and before the replies that give the entry one of
// the run's results or its failure, so that a run that ends has every
// report.
func (s Sender) Finished(step string, branch uint32, result []byte, err error, action string) []Action {
	var acts []Action
	switch {
	case !Failed(result, err):
		acts = s.next(step, branch, result)
	default:
		what := fmt.Sprintf("step %s (action %s) on %s", step, action, s.Self)
		reason := fmt.Sprintf("%s returned an error: %s", what, result[:min(len(result), frame.MaxReason)])
		if err != nil {
			reason = fmt.Sprintf("%s: %v", what, err)
			result, _ = json.Marshal(map[string]string{"error": reason})
		}
		if hops, ok := s.Spec.CatchHops(step, branch); ok {
			acts = s.sendOn(step, branch, hops, result)
		} else {
			acts = s.fail(step, branch, frame.CodeStepFailed, reason)
		}
	}
	handOn := make([]Action, 0, len(acts)+1)
	var ends []Action
	for _, a := range acts {
		if s.endsRun(a) {
			ends = append(ends, a)
		} else {
			handOn = append(handOn, a)
		}
	}
	return append(append(handOn, ReportStep{}), ends...)
}

// endsRun reports whether a gives the entry one of the run's results or
// its failure (not a join's slot, nor a map's input, which the entry
// holds for the run to go on).
func (s Sender) endsRun(a Action) bool {
	r, ok := a.(Reply)
	if !ok {
		return false
	}
	switch r.Frame.Kind {
	case frame.KindError:
		return true
	case frame.KindResult:
		k := s.Spec.Kind(r.Frame.Step)
		return k != spec.KindJoin && k != spec.KindMap
	}
	return false
}

// Failed reports whether one run of an action failed: an error, or an
// application error result (an object with a top-level "error").
func Failed(result []byte, err error) bool {
	if err != nil {
		return true
	}
	v, ok := jsonscan.TopLevel(result, "error")
	return ok && len(v) > 0
}

// Hop decides how value reaches step h.Step, sent from step from ("" for
// the run's input). This is the one switch over step kinds: an action's
// step is forwarded to an instance; a router, a constant and a loop head
// are routed here, at once; a join's slot goes to the region's holder; a
// map's input goes to the entry, which holds maps.
func (s Sender) Hop(from string, h spec.Hop, value []byte) []Action {
	st := s.Spec.Steps[h.Step]
	if st.InLoop != "" {
		s = s.enterLoops(from, h.Step)
	}
	switch k := s.Spec.Kind(h.Step); k {
	case spec.KindAction:
		return []Action{Forward{Ctx: s.Ctx, From: from, Hop: h, Action: st.Action, Payload: value}}
	case spec.KindRouter:
		return s.next(h.Step, h.Branch, value)
	case spec.KindValue:
		return s.next(h.Step, h.Branch, st.Value)
	case spec.KindLoop:
		return s.loopHead(from, h, value)
	case spec.KindJoin:
		if s.Ctx.Holder == "" {
			return []Action{s.reply(frame.Frame{Kind: frame.KindResult, Step: h.Step, Branch: h.Branch, Outer: s.Ctx.Outer, Payload: value})}
		}
		return []Action{Slot{Ctx: s.Ctx, Hop: h, Payload: value}}
	case spec.KindMap:
		// Holder and Outer: the regions around a nested map.
		return []Action{s.reply(frame.Frame{Kind: frame.KindResult, Step: h.Step, Branch: h.Branch, Holder: s.Ctx.Holder, Outer: s.Ctx.Outer, Payload: value})}
	default:
		return s.fail(h.Step, h.Branch, frame.CodeUnknownStep, fmt.Sprintf("workflow %s has no step %q (kind %d)", s.Spec.Workflow, h.Step, k))
	}
}

// next sends result to the successors of step (running as branch), or to
// the entry when it has none. A step with a switch sends it where the
// first case that holds for result says.
func (s Sender) next(step string, branch uint32, result []byte) []Action {
	hops, err := s.Spec.Route(step, branch, result)
	if err != nil {
		return s.fail(step, branch, frame.CodeStepFailed, fmt.Sprintf("routing the result of step %s: %v", step, err))
	}
	return s.sendOn(step, branch, hops, result)
}

// sendOn sends result to hops (the successors chosen for it), or to the
// entry as branch when there are none.
func (s Sender) sendOn(step string, branch uint32, hops []spec.Hop, result []byte) []Action {
	if len(hops) == 0 {
		return []Action{s.reply(frame.Frame{Kind: frame.KindResult, Step: step, Branch: branch, Payload: result})}
	}
	s.Ctx.Holder, s.Ctx.Outer = s.regionOf(step, branch)
	var acts []Action
	for _, h := range hops {
		acts = append(acts, s.Hop(step, h, result)...)
	}
	return acts
}

// fail reports to the entry that the run failed at step.
func (s Sender) fail(step string, branch uint32, code frame.Code, reason string) []Action {
	return []Action{s.reply(frame.Frame{Kind: frame.KindError, Step: step, Branch: branch, Code: code, Reason: frame.CutReason(reason)})}
}

func (s Sender) reply(f frame.Frame) Reply { return Reply{Ctx: s.Ctx, Frame: f} }

// regionOf returns the region the successors of step from (running as
// branch) are in: its holder and the regions around it. A step that forks
// a parallel region opens one, with the holder this proxy chooses; a
// nested fork keeps its own slot and holder as a level around the new
// region. Other steps stay where they are.
func (s Sender) regionOf(from string, branch uint32) (holder string, outer []frame.Level) {
	if st := s.Spec.Steps[from]; st.Fork != "" && s.Spec.Kind(from) != spec.KindMap {
		if st.In != "" {
			slot, _ := spec.SplitBranch(branch)
			outer = push(s.Ctx.Outer, frame.Level{Slot: slot, Holder: s.Ctx.Holder})
		}
		return s.chooseHolder(st.Fork), outer
	}
	// In a region, or in none: the context says which. (Outside regions,
	// holder is "" and outer holds only the iterations of the loops
	// around the step.)
	return s.Ctx.Holder, s.Ctx.Outer
}

// chooseHolder returns the instance that holds join j, forked here: this
// proxy when it runs the fork directly and the join has successors, else
// "" (the entry).
func (s Sender) chooseHolder(j string) string {
	if !s.CanHold || s.EntryJoins || len(s.Spec.Steps[j].Next) == 0 {
		return ""
	}
	return s.Self
}

// Undelivered decides what follows a Forward that no instance took, nor
// the fallback: the run fails at the step it was for.
func Undelivered(a Forward, why error) []Action {
	reason := fmt.Sprintf("sending the result of %s to step %s: %v", a.From, a.Hop.Step, why)
	if a.From == "" {
		reason = fmt.Sprintf("sending the run's input to step %s: %v", a.Hop.Step, why)
	}
	s := Sender{Ctx: a.Ctx}
	// The step whose result this was reports first, with its failure.
	return append([]Action{ReportStep{}}, s.fail(a.Hop.Step, a.Hop.Branch, frame.CodeUnavailable, reason)...)
}

// Placed decides what follows a Forward that instance acknowledged: the
// entry is told where the step execution runs, so that it can fail the
// run as soon as that instance is lost (Run.InstancesGone), and waits for
// its report. It is told by the sender, which outlives the hop (a
// receiver killed right after its ack could not say it), before the
// sender's own report: so the entry, which placed the run's first steps
// itself, learns of every step that ran before the report of the step
// that sent it there, and never ends a run with a report still to come.
func Placed(a Forward, instance string) []Action {
	return []Action{Reply{Ctx: a.Ctx, Frame: frame.Frame{Kind: frame.KindLog, Step: a.Hop.Step, Branch: a.Hop.Branch, Outer: a.Ctx.Outer,
		Report: frame.Report{Kind: frame.ReportStarted, Instance: instance}}}}
}

// WentToFallback decides what follows a Forward that went to the OpenWhisk
// activation activation: the entry is told, so that it notices the
// activation ending before any proxy took the step (Run.FallbackEnded).
func WentToFallback(a Forward, self, activation string) []Action {
	return []Action{Reply{Ctx: a.Ctx, Frame: frame.Frame{Kind: frame.KindLog, Step: a.Hop.Step, Branch: a.Hop.Branch, Holder: a.Ctx.Holder, Outer: a.Ctx.Outer,
		Report: frame.Report{Kind: frame.ReportFallback, Instance: self, Activation: activation}}}}
}

// SlotRefused decides what follows a Slot its holder did not take (it is
// unreachable, or refused): the slot goes to the entry instead, naming the
// holder, and the entry asks the holder for what it holds (Run).
func SlotRefused(a Slot) Reply {
	return Reply{Ctx: a.Ctx, Frame: frame.Frame{Kind: frame.KindResult, Step: a.Hop.Step, Branch: a.Hop.Branch, Outer: a.Ctx.Outer, Holder: a.Ctx.Holder, Payload: a.Payload}}
}
