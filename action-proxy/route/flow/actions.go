package flow

import (
	"fmt"
	"time"

	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/spec"
)

// An Action is what the core asks the shell to do. The concrete types
// below are all there is; the shell switches over them in one place.
type Action interface {
	action()
	fmt.Stringer
}

// Forward sends Payload, the input of step Hop.Step running as
// Hop.Branch, to an instance of Action in Ctx: the shell picks the
// instance (same host first, then least loaded), goes on to the next
// candidate when one refuses or fails, and falls back to the OpenWhisk
// API when none takes it. It then calls Placed (an instance took it) or
// Undelivered (nothing did).
type Forward struct {
	Ctx     Context
	From    string // the step whose result this is; "" for the run's input
	Hop     spec.Hop
	Action  string // the fully qualified action of Hop.Step
	Payload []byte
}

// Slot delivers Payload, the slot Hop.Branch of join Hop.Step, to the
// holder of the region (Ctx.Holder, never ""): to the proxy's own joins
// when it is the holder, else to that instance. A holder that cannot be
// reached or refuses calls for SlotRefused.
type Slot struct {
	Ctx     Context
	Hop     spec.Hop
	Payload []byte
}

// Reply sends Frame to the run's entry (Ctx.ReplyTo): a result, a slot or
// a map's input for a join or map held there, a failure, a report. The
// shell fills in the run's fields (run id, workflow, spec version,
// deadline, namespace, reply-to) from Ctx and the spec; Frame says the
// rest. A reply to the proxy's own runs is delivered without a socket.
type Reply struct {
	Ctx   Context
	Frame frame.Frame
}

// ReportStep sends the report of the step the actions come from (its
// logs and timing) to the entry, once: the sends before it are done
// first. Actions that do not come from a step carry it too; the shell
// then has nothing to report.
type ReportStep struct{}

// AskHandover asks Holder, the holder of join Join, to hand the slots it
// holds over to the entry and take no more. The shell answers with
// Run.HandoverAnswered.
type AskHandover struct {
	Join   JoinKey
	Outer  []frame.Level // the regions around the join
	Holder string
}

// WatchFallback asks the shell to look at the run's pending fallback
// activations (Run.Pending) until none is left, and to report each that
// ended with Run.FallbackEnded.
type WatchFallback struct{}

// Recheck asks the shell to call Run.InstancesGone again After from now:
// an instance a step was handed to was not in the route table yet.
type Recheck struct{ After time.Duration }

// SetTimer asks the shell to call Run.Timer with Timer after After.
type SetTimer struct {
	Timer Timer
	After time.Duration
}

// Reported hands a step's report to whoever follows the run (the entry's
// OnStep), in the order reports arrived.
type Reported struct{ Report StepReport }

// End ends the run: its Value, or its Failure. A Run returns exactly one.
type End struct {
	Value   []byte
	Failure *Failure
}

func (Forward) action()       {}
func (Slot) action()          {}
func (Reply) action()         {}
func (ReportStep) action()    {}
func (AskHandover) action()   {}
func (WatchFallback) action() {}
func (Recheck) action()       {}
func (SetTimer) action()      {}
func (Reported) action()      {}
func (End) action()           {}

// The String methods are the lines of the scripted scenarios (testdata).

func (a Forward) String() string {
	return fmt.Sprintf("forward %s to %s (%s)%s%s", hopName(a.Hop), a.Hop.Step, a.Action, ctxString(a.Ctx), payloadString(a.Payload))
}

func (a Slot) String() string {
	return fmt.Sprintf("slot %s of join %s to holder %s%s%s", slotName(a.Hop.Branch), a.Hop.Step, a.Ctx.Holder, levelsString(a.Ctx.Outer), payloadString(a.Payload))
}

func (a Reply) String() string {
	f := &a.Frame
	s := fmt.Sprintf("reply %s %s#%s", f.Kind, f.Step, branchName(f.Branch))
	if f.Holder != "" {
		s += " holder=" + f.Holder
	}
	s += levelsString(f.Outer)
	switch f.Kind {
	case frame.KindError:
		s += fmt.Sprintf(" %s: %s", f.Code, f.Reason)
	case frame.KindLog:
		s += fmt.Sprintf(" %s instance=%s", f.Report.Kind, f.Report.Instance)
		if f.Report.Activation != "" {
			s += " activation=" + f.Report.Activation
		}
	}
	return s + payloadString(f.Payload)
}

func (ReportStep) String() string    { return "report step" }
func (WatchFallback) String() string { return "watch fallbacks" }
func (a Recheck) String() string     { return fmt.Sprintf("recheck instances in %v", a.After) }
func (a SetTimer) String() string    { return fmt.Sprintf("timer %s in %v", a.Timer, a.After) }
func (a Reported) String() string {
	return fmt.Sprintf("reported %s#%s on %s", a.Report.Step, branchName(a.Report.Branch), a.Report.Instance)
}

func (a AskHandover) String() string {
	return fmt.Sprintf("ask %s to hand over join %s", a.Holder, joinName(a.Join))
}

func (a End) String() string {
	if a.Failure != nil {
		s := "end failed"
		if a.Failure.Step != "" {
			s += " at " + a.Failure.Step
		}
		return s + fmt.Sprintf(" %s: %s", a.Failure.Code, a.Failure.Reason)
	}
	return "end " + string(a.Value)
}

func hopName(h spec.Hop) string { return h.Step + "#" + branchName(h.Branch) }

// branchName shows a branch with its join slot, if any: "2" or "1/0"
// (slot 1 on branch 0).
func branchName(b uint32) string {
	slot, branch := spec.SplitBranch(b)
	if slot == 0 {
		return fmt.Sprint(branch)
	}
	return fmt.Sprintf("%d/%d", slot, branch)
}

func slotName(b uint32) string {
	slot, branch := spec.SplitBranch(b)
	return fmt.Sprintf("%d/%d", slot, branch)
}

func joinName(k JoinKey) string {
	s := fmt.Sprintf("%s#%d", k.Step, k.Branch)
	if k.Outer != "" {
		s += " in " + k.Outer
	}
	return s
}

func ctxString(c Context) string {
	s := ""
	if c.Holder != "" {
		s += " holder=" + c.Holder
	}
	return s + levelsString(c.Outer)
}

func levelsString(ls []frame.Level) string {
	if len(ls) == 0 {
		return ""
	}
	s := " outer="
	for i, l := range ls {
		if i > 0 {
			s += ","
		}
		s += fmt.Sprint(l.Slot)
		if l.Holder != "" {
			s += "@" + l.Holder
		}
	}
	return s
}

func payloadString(p []byte) string {
	if p == nil {
		return ""
	}
	return " " + string(p)
}
