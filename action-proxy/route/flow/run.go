package flow

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/runevent"
	"github.com/wsk-route/wsk-route/internal/spec"
)

// StepReport is what one step execution reported to the entry.
type StepReport struct {
	Step     string
	Branch   uint32
	Instance string
	Duration time.Duration
	Logs     []byte
	// Activation is the step's activation id: the one its action saw
	// and its record has (runevent.StepActivationID), or, for a step
	// that went through the OpenWhisk API (Fallback), that activation's.
	Activation string
	Fallback   bool
}

// Failure is why a run failed: at a step, or (Step "") by its deadline.
type Failure struct {
	Step   string
	Code   frame.Code
	Reason string
}

// RunConfig are the durations a Run arms its timers with.
type RunConfig struct {
	// AckTimeout is how long a sender waits for a frame's ack.
	AckTimeout time.Duration
	// HandoverWait is how long, after a join's holder could not be asked
	// for its slots, the run waits for them all to reach the entry before
	// it fails; zero means two AckTimeouts.
	HandoverWait time.Duration
	// ReportGrace bounds how long a run that has all its results waits
	// for the reports of steps still on their way (a step reports after
	// it handed its result on, so the result can overtake the report).
	ReportGrace time.Duration
	// SpecGrace is how long a new instance may take to reach the route
	// table after a step was handed to it (Recheck).
	SpecGrace time.Duration
	// WatchFallbacks says the shell can read activation records, so the
	// run watches the activations its steps fell back to.
	WatchFallbacks bool
	// Start, when set, is the step the run starts at instead of the
	// spec's start steps (spec.StartAt): an entry that conducts a
	// composition runs each action as a run of its own.
	Start string
}

// Timer names a timer a Run armed (SetTimer).
type Timer struct {
	Kind TimerKind
	Join JoinKey // TimerHandover, TimerAskAgain: the join whose holder did not answer
}

// TimerKind is what a Timer is for.
type TimerKind uint8

// The timers of a run.
const (
	// TimerReports: the run has its results; stop waiting for reports.
	TimerReports TimerKind = iota + 1
	// TimerHandover: a join's holder could not be asked for its slots;
	// fail the run unless the join completed here meanwhile.
	TimerHandover
	// TimerAskAgain: ask a join's holder that could not be asked again.
	TimerAskAgain
)

func (t Timer) String() string {
	switch t.Kind {
	case TimerReports:
		return "reports"
	case TimerHandover:
		return "handover " + joinName(t.Join)
	case TimerAskAgain:
		return "ask again " + joinName(t.Join)
	}
	return fmt.Sprintf("timer(%d)", t.Kind)
}

// Run is a run as its entry sees it: what came back, where its steps
// are, what it is waiting for. It ends exactly once, with one End action:
// when all its results are in (and the steps that ran have reported, or
// ReportGrace passed), when a failure comes back or is found here, or
// when the shell says its deadline passed (Expire).
type Run struct {
	s    Sender
	cfg  RunConfig
	hops []spec.Hop // where Start sends the input
	want int
	// startErr: cfg.Start names no step a run can start at.
	startErr error
	results  map[uint32][]byte
	joins    *Joins
	where    whereabouts
	reports  []StepReport
	// asked are the joins whose holder the entry asked for a handover;
	// lost says, per join, why its holder did not answer (while it does
	// not), and asking is the request to send again.
	asked   map[JoinKey]bool
	lost    map[JoinKey]string
	asking  map[JoinKey]AskHandover
	failure *Failure
	// notes say what went wrong on the way without failing the run (a
	// holder that did not hand over); an expired run reports them.
	notes   []string
	started bool // Start was called
	done    bool // all results in, or failed: only reports are taken now
	ended   bool // End was returned
}

// NewRun returns the state of a run that s sends from its entry: s.Ctx
// names the run, its entry (ReplyTo: this proxy) and its deadline.
func NewRun(s Sender, cfg RunConfig) *Run {
	s.CanHold = false // the entry holds the joins it forks: it runs no step
	r := &Run{s: s, cfg: cfg, results: map[uint32][]byte{}, joins: newJoins(s, true),
		asked: map[JoinKey]bool{}, lost: map[JoinKey]string{}, asking: map[JoinKey]AskHandover{}}
	if cfg.Start == "" {
		r.hops, r.want = s.Spec.StartHops(), s.Spec.Paths()
	} else {
		r.hops, r.want, r.startErr = s.Spec.StartAt(cfg.Start)
	}
	return r
}

// Start sends the run's input to its start steps, once.
func (r *Run) Start(input []byte) []Action {
	if r.started || r.ended {
		return nil
	}
	r.started = true
	if r.startErr != nil {
		return r.fail(&Failure{Step: r.cfg.Start, Code: frame.CodeUnknownStep, Reason: r.startErr.Error()})
	}
	var acts []Action
	for _, h := range r.hops {
		acts = append(acts, r.s.Hop("", h, input)...)
	}
	return r.take(acts)
}

// Ended reports whether the run has ended.
func (r *Run) Ended() bool { return r.ended }

// Reports returns the steps' reports, in the order they arrived.
func (r *Run) Reports() []StepReport { return r.reports }

// Frame takes a result, error or log frame of the run (payload is its
// payload), and answers the frame's sender with code and reason. inTable
// says whether an instance is in the proxy's route table now.
func (r *Run) Frame(f *frame.Frame, payload []byte, inTable func(id string) bool) (frame.Code, string, []Action) {
	if r.ended {
		return frame.CodeUnknownStep, "run " + f.RunID + " ended here", nil
	}
	if r.done && f.Kind != frame.KindLog {
		return frame.CodeOK, "", nil // late: the run has its outcome
	}
	switch f.Kind {
	case frame.KindLog:
		return frame.CodeOK, "", r.report(f, payload, inTable)
	case frame.KindError:
		return frame.CodeOK, "", r.fail(&Failure{Step: f.Step, Code: f.Code, Reason: f.Reason})
	case frame.KindResult:
		switch r.s.Spec.Kind(f.Step) {
		case spec.KindJoin:
			code, reason, acts := r.joins.Slot(f.Step, f.Branch, f.Outer, payload)
			if k := joinKeyOf(f.Step, f.Branch, f.Outer); f.Holder != "" && code != frame.CodeMalformed && !r.asked[k] && !r.joins.joined[k] {
				// The slot was meant for a holder that could not take it:
				// ask that holder, once, for what it holds.
				r.asked[k] = true
				acts = append(acts, AskHandover{Join: k, Outer: f.Outer, Holder: f.Holder})
			}
			return code, reason, r.take(acts)
		case spec.KindMap:
			code, reason, acts := r.joins.StartMap(f.Step, f.Branch, f.Holder, f.Outer, payload)
			return code, reason, r.take(acts)
		}
		code, reason := r.addResult(f.Branch, payload)
		if code == frame.CodeOK && r.s.Spec.Kind(f.Step) == spec.KindAction {
			// The step that sent it reports after it: wait for that report
			// too, also when no note said where it ran (its sender was a
			// join's holder, whose note may come after this).
			r.where.expect(KeyOf(f))
		}
		return code, reason, r.settle()
	}
	return frame.CodeMalformed, "unexpected frame kind " + f.Kind.String() + " for a run", nil
}

// report takes a log frame: a step's report, or a note of where a step
// went.
func (r *Run) report(f *frame.Frame, logs []byte, inTable func(string) bool) []Action {
	k := KeyOf(f)
	switch f.Report.Kind {
	case frame.ReportFallback:
		r.where.wentToFallback(k, f.Report.Activation)
		return r.watch(k, f.Report.Activation)
	case frame.ReportStarted:
		return r.placed(k, f.Report.Instance, inTable)
	}
	// A done report lists where the step's result went, if its sender
	// folded those notes into it: they are taken first, so that the run
	// waits for those steps too.
	var acts []Action
	for _, pl := range f.Report.Placed {
		a := r.placed(Key{Run: f.RunID, Step: pl.Step, Branch: pl.Branch, Outer: SlotsKey(pl.Outer)}, pl.Instance, inTable)
		if len(acts) == 0 {
			acts = a // one Recheck looks at them all
		}
	}
	if r.where.finished[k] {
		return acts // a copy of a report that came already
	}
	r.where.reported(k)
	sr := StepReport{Step: f.Step, Branch: f.Branch, Instance: f.Report.Instance, Duration: f.Report.Duration, Logs: logs,
		Activation: runevent.StepActivationID(f.RunID, f.Step, f.Branch, k.Outer)}
	if id, ok := r.where.fallbacks[k]; ok {
		sr.Activation, sr.Fallback = id, true
		delete(r.where.fallbacks, k)
	}
	r.reports = append(r.reports, sr)
	return append(append(acts, Reported{Report: sr}), r.settle()...)
}

// placed records that step execution k runs on instance.
func (r *Run) placed(k Key, instance string, inTable func(string) bool) []Action {
	if !r.where.started(k, instance) || inTable(instance) {
		return nil
	}
	// Gone already, or not in this table yet (a new instance reaches the
	// tables a few milliseconds apart): look again in a moment; later
	// removals are seen as they come.
	return []Action{Recheck{After: r.cfg.SpecGrace}}
}

// addResult takes one of the run's results.
func (r *Run) addResult(branch uint32, v []byte) (frame.Code, string) {
	if _, dup := r.results[branch]; dup {
		return frame.CodeDuplicate, "result of branch already received"
	}
	if branch >= uint32(r.want) {
		return frame.CodeMalformed, fmt.Sprintf("branch %d out of range (run has %d results)", branch, r.want)
	}
	r.results[branch] = v
	return frame.CodeOK, ""
}

// take keeps what the entry's own joins decided (results, failures),
// expects the reports of the steps it sends itself, and passes the rest
// on, followed by the run's end if it came.
func (r *Run) take(acts []Action) []Action {
	out := acts[:0:0]
	for _, a := range acts {
		switch a := a.(type) {
		case result:
			r.addResult(a.branch, a.value)
		case failure:
			if !r.done {
				r.failure, r.done = a.f, true
			}
		case Forward:
			r.where.expect(Key{Run: a.Ctx.Run, Step: a.Hop.Step, Branch: a.Hop.Branch, Outer: SlotsKey(a.Ctx.Outer)})
			out = append(out, a)
		default:
			out = append(out, a)
		}
	}
	return append(out, r.settle()...)
}

// fail fails the run, unless it has its outcome already.
func (r *Run) fail(f *Failure) []Action {
	if r.done {
		return nil
	}
	r.failure, r.done = f, true
	return r.settle()
}

// settle ends the run when it can: at once on a failure; with all its
// results once no step it placed is still to report, or after
// ReportGrace.
func (r *Run) settle() []Action {
	if r.ended {
		return nil
	}
	if !r.done && len(r.results) == r.want {
		r.done = true
		if len(r.where.running) > 0 {
			return []Action{SetTimer{Timer: Timer{Kind: TimerReports}, After: r.cfg.ReportGrace}}
		}
	}
	if !r.done || (r.failure == nil && len(r.where.running) > 0) {
		return nil
	}
	return []Action{r.end()}
}

func (r *Run) end() End {
	r.ended = true
	if r.failure != nil {
		return End{Failure: r.failure}
	}
	return End{Value: merge(r.results, r.want)}
}

// Expire ends a run whose deadline passed (why says how, e.g. "context
// deadline exceeded"): with its results if they are all in, else failed,
// saying what did arrive.
func (r *Run) Expire(why string) []Action {
	if r.ended {
		return nil
	}
	if r.done {
		return []Action{r.end()}
	}
	reason := fmt.Sprintf("%s: %d of %d results arrived; %s", why, len(r.results), r.want, lastSteps(r.reports))
	for _, n := range r.notes {
		reason += "; " + n
	}
	r.failure, r.done = &Failure{Code: frame.CodeExpired, Reason: reason}, true
	return []Action{r.end()}
}

// Timer takes a timer the run armed.
func (r *Run) Timer(t Timer) []Action {
	if r.ended {
		return nil
	}
	switch t.Kind {
	case TimerReports:
		if r.done {
			return []Action{r.end()}
		}
	case TimerHandover:
		if r.joins.joined[t.Join] || r.lost[t.Join] == "" {
			return nil // joined here, or its holder answered after all
		}
		return r.fail(&Failure{Step: t.Join.Step, Code: frame.CodeUnavailable, Reason: r.lost[t.Join] + "; the results it held are lost with it"})
	case TimerAskAgain:
		if ask, ok := r.asking[t.Join]; ok && !r.done && !r.joins.joined[t.Join] && r.lost[t.Join] != "" {
			return []Action{ask}
		}
	}
	return nil
}

// HandoverAnswered takes the answer to an AskHandover: the holder had
// completed the join (completed: the copies here are dropped), handed
// its slots over (they come as frames), or could not be asked (err). A
// holder that could not be asked is asked again every AckTimeout, in
// case it was a passing failure, until HandoverWait after the first
// failure: then, unless the join completed here, the run fails.
func (r *Run) HandoverAnswered(a AskHandover, completed bool, err error) []Action {
	if r.ended {
		return nil
	}
	switch {
	case completed:
		delete(r.lost, a.Join)
		r.joins.joined[a.Join] = true
		delete(r.joins.slots, a.Join)
		delete(r.joins.outer, a.Join)
		return nil
	case err == nil:
		delete(r.lost, a.Join)
		return nil
	}
	note := fmt.Sprintf("join %s: its holder %s did not hand over the results it holds: %v", a.Join.Step, a.Holder, err)
	again := SetTimer{Timer: Timer{Kind: TimerAskAgain, Join: a.Join}, After: r.cfg.AckTimeout}
	if _, failing := r.lost[a.Join]; failing {
		r.lost[a.Join] = note
		return []Action{again}
	}
	r.notes = append(r.notes, note)
	r.lost[a.Join] = note
	r.asking[a.Join] = a
	// The holder is unreachable (killed, paused, cut off): the slots it
	// took are lost with it, unless every branch found it unreachable
	// too and sent its slot here. Give those a moment to arrive.
	wait := r.cfg.HandoverWait
	if wait == 0 {
		wait = 2 * r.cfg.AckTimeout
	}
	return []Action{SetTimer{Timer: Timer{Kind: TimerHandover, Join: a.Join}, After: wait}, again}
}

// lastSteps names the steps that reported, for an expired run's reason.
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
func merge(results map[uint32][]byte, want int) []byte {
	if want == 1 {
		for _, v := range results {
			return v
		}
	}
	return spec.MergeJoin(&spec.Join{Merge: spec.MergeArray}, results)
}

// sortedKeys returns the keys of m in a fixed order.
func sortedKeys[V any](m map[Key]V) []Key {
	keys := make([]Key, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool {
		x, y := keys[a], keys[b]
		if x.Step != y.Step {
			return x.Step < y.Step
		}
		if x.Branch != y.Branch {
			return x.Branch < y.Branch
		}
		return x.Outer < y.Outer
	})
	return keys
}
