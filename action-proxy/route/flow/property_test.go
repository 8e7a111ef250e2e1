package flow_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/route/flow"
	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/spec"
)

// Property tests: random specs (gen_test.go) run in a simulated cluster
// whose network delivers messages in a random order, some twice, and
// (in some runs) loses instances, cuts holders off, refuses slots, loses
// slots' acks, stops holders and expires the run. The shell's part is
// played as package route plays it; the core decides everything. A slot
// goes to its holder as the shell sends it, with an accept window: the
// holder answers what Joins.Takes says, and takes the slot (Joins.Slot)
// only when its ack reaches the sender in time, a later event of its own,
// so that a handover can come between the two. Checked for every seed:
//
//   - the run returns exactly one End, and nothing after it;
//   - without faults, the End is what the reference interpreter says:
//     the same value (so no join completed with a missing or an extra
//     branch, and no step's result was taken twice), or a failure at a
//     step where a path of the reference failed;
//   - with faults, a value is still the reference's (faults may fail a
//     run, never change its value), and a run the reference fails fails;
//   - no step execution (Key) runs twice, whatever was duplicated, and
//     the core never sends a step execution, or a join's slot, twice
//     (a join that completed twice would);
//   - the core answers no frame that the shell carries with a code that
//     says the frame was malformed or unknown.
//
// FLOW_SEEDS=n (or -long, for 100000) sets the number of seeds; a failure
// names its seed, and FLOW_SEED=n reruns that one seed with a trace.
var long = flag.Bool("long", false, "run the property tests over many more seeds")

func propertySeeds() int {
	if s := os.Getenv("FLOW_SEEDS"); s != "" {
		if n, err := strconv.Atoi(s); err == nil {
			return n
		}
	}
	if *long {
		return 100000
	}
	if testing.Short() {
		return 500
	}
	return 6000
}

func TestPropertyRuns(t *testing.T) {
	first, n := 0, propertySeeds()
	trace := false
	if s := os.Getenv("FLOW_SEED"); s != "" {
		first, _ = strconv.Atoi(s)
		n, trace = 1, true
	}
	start := time.Now()
	st := simStats{features: map[string]int{}}
	for seed := first; seed < first+n; seed++ {
		if err := runSeed(uint64(seed), trace, &st); err != nil {
			t.Fatalf("seed %d: %v\n(rerun with FLOW_SEED=%d go test -run TestPropertyRuns -v ./action-proxy/route/flow)", seed, err, seed)
		}
	}
	t.Logf("%d seeds in %v: %d specs refused by Parse on the way; %d steps run, %d messages, %d duplicated; "+
		"%d clean runs (%d values, %d failures); %d runs with faults (%d values, %d failures, %d expired); "+
		"%d slot acks lost, %d slots refused by Slot after Takes took them, %d holders stopped",
		n, time.Since(start).Round(time.Millisecond), st.refused, st.execs, st.msgs, st.dups,
		st.clean, st.cleanValues, st.clean-st.cleanValues, st.faulty, st.faultyValues, st.faultyFailures, st.expired,
		st.lostAcks, st.raced, st.stops)
	var fs []string
	for f, n := range st.features {
		fs = append(fs, fmt.Sprintf("%s %d", f, n))
	}
	sort.Strings(fs)
	t.Logf("specs with: %s", strings.Join(fs, ", "))
}

// specFeatures names what a spec holds, to show what the seeds cover.
func specFeatures(sp *spec.Spec) []string {
	set := map[string]bool{}
	if sp.StartJoin != "" {
		set["start join"] = true
	}
	for id, st := range sp.Steps {
		switch k := sp.Kind(id); {
		case k == spec.KindJoin && st.Join.Merge == spec.MergeObject:
			set["object join"] = true
		case k == spec.KindMap && st.In != "":
			set["map in a region"] = true
		case k == spec.KindMap:
			set["map"] = true
		case st.Fork != "" && st.In != "":
			set["parallel in a region"] = true
		case st.Fork != "":
			set["parallel"] = true
		case k == spec.KindLoop && st.InLoop != "":
			set["nested loop"] = true
		case k == spec.KindLoop && st.In != "":
			set["loop in a region"] = true
		case k == spec.KindLoop:
			set["loop"] = true
		case len(st.Switch) > 0:
			set["switch"] = true
		case len(st.Next) > 1 && st.In == "":
			set["fan-out"] = true
		}
		if st.Catch != nil {
			set["catch"] = true
		}
		if strings.HasPrefix(st.Action, "/ns/fail/") {
			set["failing action"] = true
		}
	}
	for id, st := range sp.Steps { // a do-while: a body entered from outside
		for _, n := range append(append(append([]string(nil), st.Next...), st.Default...), st.Catch...) {
			if l := sp.Steps[n].InLoop; l != "" && l != id && !sp.InBody(id, l) {
				set["do-while"] = true
			}
		}
	}
	for _, n := range sp.Start {
		if sp.Steps[n].InLoop != "" {
			set["do-while"] = true
		}
	}
	out := make([]string, 0, len(set))
	for f := range set {
		out = append(out, f)
	}
	return out
}

type simStats struct {
	features                                      map[string]int
	refused, execs, msgs, dups                    int
	lostAcks, raced, stops                        int
	clean, cleanValues                            int
	faulty, faultyValues, faultyFailures, expired int
}

// faults are the probabilities of what can go wrong in one run.
type faults struct {
	dup        float64 // a message is delivered twice
	undeliver  float64 // no instance takes a forward
	kill       float64 // the instance dies right after it took a step
	cutHolder  float64 // a holder can no longer be reached, for good
	refuseSlot float64 // a slot's send fails once (the holder never saw it)
	lostAck    float64 // a slot's holder would take it, but its ack does not reach the sender in time
	stop       float64 // a holder stops (Joins.HandOverAll), at any moment
	fallback   float64 // a forward goes to the OpenWhisk API; half the activations fail before any proxy takes the step
	expire     float64 // the run's deadline passes, at any moment
}

func (f faults) any() bool {
	return f.undeliver+f.kill+f.cutHolder+f.refuseSlot+f.lostAck+f.stop+f.fallback+f.expire > 0
}

func runSeed(seed uint64, trace bool, st *simStats) error {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	sp, src, refused := genSpec(rng)
	st.refused += refused
	for _, f := range specFeatures(sp) {
		st.features[f]++
	}
	input := []byte(fmt.Sprintf(`{"n":%d}`, rng.IntN(4)))
	var fl faults
	fl.dup = []float64{0, 0.1, 0.3}[rng.IntN(3)]
	if rng.IntN(2) == 0 {
		for _, p := range []*float64{&fl.undeliver, &fl.kill, &fl.cutHolder, &fl.refuseSlot, &fl.lostAck, &fl.stop, &fl.fallback, &fl.expire} {
			if rng.IntN(3) == 0 {
				*p = []float64{0.02, 0.1, 0.3}[rng.IntN(3)]
			}
		}
	}
	s := newSim(sp, rng, fl, trace)
	err := s.runAll(input)
	st.execs += s.execCount
	st.msgs += s.msgCount
	st.dups += s.dupCount
	st.lostAcks += s.lostAcks
	st.raced += s.raced
	st.stops += s.stops
	if err == nil {
		err = s.check(reference(sp, input))
	}
	if err != nil {
		return fmt.Errorf("%v\nspec: %s\ninput: %s\nfaults: %+v%s", err, src, input, fl, s.traceText())
	}
	switch {
	case !fl.any():
		st.clean++
		if s.end.Failure == nil {
			st.cleanValues++
		}
	default:
		st.faulty++
		switch {
		case s.end.Failure == nil:
			st.faultyValues++
		case s.end.Failure.Code == frame.CodeExpired:
			st.expired++
		default:
			st.faultyFailures++
		}
	}
	return nil
}

// sim is a cluster running one run: the entry, the instances of each
// action (two per action), the holders' joins, and a network of
// messages in flight.
type sim struct {
	sp      *spec.Spec
	rng     *rand.Rand
	fl      faults
	run     *flow.Run
	ctx     flow.Context
	holders map[holderKey]*flow.Joins // by instance and run
	seen    map[string]*flow.Seen
	dead    map[string]bool // killed instances
	cut     map[string]bool // holders that cannot be reached
	stopped map[string]bool // holders that stopped (HandOverAll)
	insts   []string        // every instance, for stop
	inTable func(string) bool
	queue   []*msg
	now     time.Time

	execs map[flow.Key]int
	// sent are the step executions and join slots the core sent, to
	// find one it sent twice.
	sent map[string]bool
	// inFlight counts, per map run whose elements start with an action
	// (outside a loop), the elements the entry sent and whose results have not reached the
	// map's join: never more than the map's concurrency.
	inFlight map[flow.JoinKey]int
	joined   map[string]bool // the slots that reached a map's join
	ends     []flow.End
	end      flow.End
	// reported are the step executions whose report reached the entry
	// before its End; byTimer says the End came when the reports timer
	// fired (a run may stop waiting for reports then).
	reported map[flow.Key]bool
	byTimer  bool
	// fromHolder says the actions being carried are a join holder's (its
	// merge sent on); afterHolder are the step executions downstream of
	// one, which the entry may learn of only after their successors
	// (see check).
	fromHolder  bool
	afterHolder map[flow.Key]bool
	execCount   int
	msgCount    int
	dupCount    int
	lostAcks    int // slots not taken because their ack was lost
	raced       int // slots Slot refused after Takes said it takes them
	stops       int // holders stopped
	trace       bool
	lines       []string
}

type msgKind int

const (
	mAction        msgKind = iota // an action to carry: Forward, Slot, Reply, AskHandover
	mExec                         // an instance runs a step it took
	mTimer                        // a timer the run armed fires
	mRecheck                      // the run's instances are looked at again
	mGone                         // an instance left the route table
	mFallbackEnded                // a fallback activation ended
	mWatch                        // the shell looks at the run's pending activations
	mAck                          // a slot's ack reaches its sender in time, or is lost
)

type msg struct {
	kind  msgKind
	a     flow.Action
	inst  string       // mExec: the instance
	took  *string      // mAction Forward: the instance that took it (shared by its copies)
	f     *frame.Frame // mExec: the step frame
	after []*msg       // a report waits for the sends before it
	from  *stepRun     // mAction Forward: the step whose result it is (nil: the entry's)
	// afterHolder: mAction Forward, mExec: sent by a join's holder, or
	// downstream of one.
	afterHolder bool
	rep         *stepRun // mAction Reply: the report of this step
	// mFallbackEnded: the step execution, its activation, and whether it
	// failed before a proxy took the step.
	key        flow.Key
	activation string
	failed     bool
	done       bool
	dup        bool
	lost       bool // mAck: the ack does not reach the slot's sender in time
}

// stepRun is a step that ran, whose report goes to the entry once.
type stepRun struct {
	f           *frame.Frame
	inst        string
	reported    bool
	afterHolder bool
	// placed are the notes of where its result went that its sender
	// folded into its report (as the shell may), until the report took
	// them.
	placed []frame.Placement
	taken  bool
	report *msg // its report, once ReportStep sent it
}

const entryID = "entry"

func newSim(sp *spec.Spec, rng *rand.Rand, fl faults, trace bool) *sim {
	s := &sim{sp: sp, rng: rng, fl: fl, holders: map[holderKey]*flow.Joins{}, seen: map[string]*flow.Seen{},
		dead: map[string]bool{}, cut: map[string]bool{}, stopped: map[string]bool{}, execs: map[flow.Key]int{}, sent: map[string]bool{},
		inFlight: map[flow.JoinKey]int{}, joined: map[string]bool{}, trace: trace, now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	for _, st := range sp.Steps {
		if st.Action != "" {
			s.insts = append(s.insts, s.instances(st.Action)...)
		}
	}
	sort.Strings(s.insts) // the map's order would make a seed's run vary
	s.inTable = func(id string) bool { return !s.dead[id] }
	s.ctx = flow.Context{Run: "r1", ReplyTo: entryID}
	s.run = flow.NewRun(flow.Sender{Spec: sp, Ctx: s.ctx, Self: entryID}, flow.RunConfig{
		AckTimeout: time.Second, ReportGrace: 2 * time.Second, SpecGrace: 100 * time.Millisecond, WatchFallbacks: true})
	return s
}

func (s *sim) tracef(format string, args ...any) {
	if s.trace {
		s.lines = append(s.lines, fmt.Sprintf(format, args...))
	}
}

func (s *sim) traceText() string {
	if !s.trace {
		return ""
	}
	return "\ntrace:\n" + strings.Join(s.lines, "\n")
}

// run runs the run to its end, and then until nothing is left in flight.
func (s *sim) runAll(input []byte) error {
	if err := s.fromRun("start", s.run.Start(input)); err != nil {
		return err
	}
	for steps := 0; ; steps++ {
		if steps > 200000 {
			return errors.New("the run does not settle")
		}
		if s.fl.expire > 0 && s.rng.Float64() < s.fl.expire/10 {
			if err := s.fromRun("expire", s.run.Expire("deadline")); err != nil {
				return err
			}
		}
		if s.fl.stop > 0 && len(s.insts) > 0 && s.rng.Float64() < s.fl.stop/10 {
			if err := s.stop(s.insts[s.rng.IntN(len(s.insts))]); err != nil {
				return err
			}
		}
		m := s.pick()
		if m == nil {
			break
		}
		if err := s.deliver(m); err != nil {
			return err
		}
	}
	if len(s.ends) == 0 { // nothing in flight and no end: only the deadline would end it
		return errors.New("the run is stuck: nothing in flight, and no End")
	}
	if len(s.ends) != 1 {
		return fmt.Errorf("%d Ends: %v", len(s.ends), s.ends)
	}
	s.end = s.ends[0]
	return nil
}

// pick takes a message in flight at random, of those that may go.
func (s *sim) pick() *msg {
	var ready []int
	for i, m := range s.queue {
		if m.ready() {
			ready = append(ready, i)
		}
	}
	if len(ready) == 0 {
		if len(s.queue) > 0 {
			panic("messages in flight, none ready")
		}
		return nil
	}
	i := ready[s.rng.IntN(len(ready))]
	m := s.queue[i]
	s.queue = append(s.queue[:i], s.queue[i+1:]...)
	if m.kind == mAction && s.fl.dup > 0 && !m.dup && s.rng.Float64() < s.fl.dup {
		c := *m
		c.dup = true
		s.queue = append(s.queue, &c)
		s.dupCount++
	}
	return m
}

func (m *msg) ready() bool {
	for _, b := range m.after {
		if !b.done {
			return false
		}
	}
	return true
}

func (s *sim) send(m *msg) *msg {
	s.queue = append(s.queue, m)
	s.msgCount++
	return m
}

// carry carries out acts in order, as the shell does: sends go out at
// once; a ReportStep sends from's report once the sends before it are
// delivered; the entry's own actions are taken at once.
func (s *sim) carry(from *stepRun, acts []flow.Action) error {
	var batch []*msg
	for _, a := range acts {
		s.tracef("    %s", a)
		switch a := a.(type) {
		case flow.Forward, flow.Slot, flow.Reply, flow.AskHandover:
			if err := s.sentOnce(a); err != nil {
				return err
			}
			batch = append(batch, s.send(&msg{kind: mAction, a: a, took: new(string), from: from,
				afterHolder: s.fromHolder || (from != nil && from.afterHolder)}))
			if f, ok := a.(flow.Forward); ok && s.sp.Kind(f.From) == spec.KindMap && s.sp.Steps[f.Hop.Step].InLoop == "" {
				if err := s.elementSent(f); err != nil {
					return err
				}
			}
		case flow.ReportStep:
			if from == nil || from.reported {
				continue
			}
			from.reported = true
			f := from.f
			rep := flow.Reply{Ctx: flow.ContextOf(f), Frame: frame.Frame{Kind: frame.KindLog, Step: f.Step, Branch: f.Branch, Outer: f.Outer,
				Report: frame.Report{Kind: frame.ReportDone, Instance: from.inst}}}
			from.report = s.send(&msg{kind: mAction, a: rep, after: append([]*msg(nil), batch...), rep: from})
		case flow.SetTimer:
			s.send(&msg{kind: mTimer, a: a})
		case flow.Recheck:
			s.send(&msg{kind: mRecheck, a: a})
		case flow.End:
			s.ends = append(s.ends, a)
		case flow.WatchFallback:
			s.send(&msg{kind: mWatch})
		case flow.Reported:
		default:
			return fmt.Errorf("unexpected action %T %s", a, a)
		}
	}
	return nil
}

// fromRun carries out what the run returned for event, and checks that
// an ended run returns nothing.
func (s *sim) fromRun(event string, acts []flow.Action) error {
	s.tracef("  run %s", event)
	if len(s.ends) > 0 && len(acts) > 0 {
		return fmt.Errorf("after its End, the run returned %v for %s", acts, event)
	}
	return s.carry(nil, acts)
}

func (s *sim) deliver(m *msg) error {
	defer func() { m.done = true }()
	switch m.kind {
	case mExec:
		return s.exec(m)
	case mTimer:
		t := m.a.(flow.SetTimer)
		ended := len(s.ends)
		err := s.fromRun("timer "+t.Timer.String(), s.run.Timer(t.Timer))
		if len(s.ends) > ended && t.Timer.Kind == flow.TimerReports {
			s.byTimer = true
		}
		return err
	case mRecheck, mGone:
		return s.fromRun("instances gone", s.run.InstancesGone(s.inTable))
	case mFallbackEnded:
		return s.fromRun("fallback ended", s.run.FallbackEnded(m.key, m.activation, m.failed, "developer error", "the container did not start"))
	case mWatch:
		s.run.Pending()
		return nil
	case mAck:
		return s.acked(m)
	}
	s.tracef("> %s", m.a)
	switch a := m.a.(type) {
	case flow.Forward:
		return s.forward(m, a)
	case flow.Reply:
		if m.rep != nil {
			// The report takes the notes folded so far; later ones go on
			// their own.
			m.rep.taken = true
			a.Frame.Report.Placed = m.rep.placed
		}
		return s.reply(a)
	case flow.Slot:
		return s.slot(m, a)
	case flow.AskHandover:
		if s.cut[a.Holder] || s.dead[a.Holder] {
			return s.fromRun("handover unanswered", s.run.HandoverAnswered(a, false, errors.New(a.Holder+" cannot be reached")))
		}
		code, reason, acts := s.holder(a.Holder).HandOver(a.Join.Step, a.Join.Branch, a.Outer)
		if code != frame.CodeOK && code != frame.CodeDuplicate {
			return fmt.Errorf("holder %s answered a handover with %s: %s", a.Holder, code, reason)
		}
		if err := s.carry(nil, acts); err != nil {
			return err
		}
		return s.fromRun("handover answered", s.run.HandoverAnswered(a, code == frame.CodeDuplicate, nil))
	}
	return fmt.Errorf("cannot deliver %T", m.a)
}

// instances of action a: two per action.
func (s *sim) instances(action string) []string {
	name := action[strings.LastIndexByte(action, '/')+1:]
	return []string{name + ".1", name + ".2"}
}

// forward gives a step to an instance of its action: the same one for a
// copy of the frame.
func (s *sim) forward(m *msg, a flow.Forward) error {
	if *m.took == "" && s.rng.Float64() < s.fl.fallback {
		// To the OpenWhisk API: the sender tells the entry, and the
		// activation's end is seen once the entry knows of it.
		*m.took = "fallback"
		act := fmt.Sprintf("act-%d", s.msgCount)
		note := s.send(&msg{kind: mAction, a: flow.WentToFallback(a, "sender", act)[0], took: new(string)})
		k := flow.Key{Run: a.Ctx.Run, Step: a.Hop.Step, Branch: a.Hop.Branch, Outer: flow.SlotsKey(a.Ctx.Outer)}
		ended := &msg{kind: mFallbackEnded, key: k, activation: act, failed: true, after: []*msg{note}}
		if s.rng.IntN(2) == 0 {
			s.tracef("    %s fails before any proxy takes the step", act)
			s.send(ended)
			return nil
		}
		ended.failed = false
		s.send(ended)
		*m.took = "" // a proxy takes the step from the envelope
	}
	if *m.took == "fallback" {
		return nil // a copy of a frame that went to the fallback
	}
	if *m.took == "" {
		var live []string
		for _, id := range s.instances(a.Action) {
			if !s.dead[id] {
				live = append(live, id)
			}
		}
		if len(live) == 0 || s.rng.Float64() < s.fl.undeliver {
			return s.carry(nil, flow.Undelivered(a, errors.New("no instance took it")))
		}
		*m.took = live[s.rng.IntN(len(live))]
	}
	inst := *m.took
	if s.dead[inst] {
		return s.carry(nil, flow.Undelivered(a, errors.New(inst+" is gone")))
	}
	f := &frame.Frame{Kind: frame.KindStep, RunID: a.Ctx.Run, Workflow: s.sp.Workflow, Namespace: s.sp.Namespace, ReplyTo: a.Ctx.ReplyTo,
		Deadline: a.Ctx.Deadline, Step: a.Hop.Step, Branch: a.Hop.Branch, Target: inst, Holder: a.Ctx.Holder, Outer: a.Ctx.Outer, Payload: a.Payload}
	action := s.sp.Steps[f.Step].Action
	if code, reason := flow.CheckStep(s.sp, f, inst, action); code != frame.CodeOK {
		return fmt.Errorf("CheckStep refused %s at %s: %s: %s", a, inst, code, reason)
	}
	sn := s.seen[inst]
	if sn == nil {
		sn = &flow.Seen{}
		s.seen[inst] = sn
	}
	s.now = s.now.Add(time.Millisecond)
	if !sn.Add(flow.KeyOf(f), time.Time{}, s.now) {
		s.tracef("    duplicate at %s", inst)
		return s.placed(m, a, inst) // acked as a duplicate: placed, as far as the sender knows
	}
	if err := s.placed(m, a, inst); err != nil {
		return err
	}
	if s.rng.Float64() < s.fl.kill {
		s.tracef("    %s dies", inst)
		s.dead[inst] = true
		s.send(&msg{kind: mGone})
		return nil
	}
	s.send(&msg{kind: mExec, inst: inst, f: f, afterHolder: m.afterHolder})
	return nil
}

// placed tells the entry that inst took a: in its sender's report, half
// the time when that is still to go (as the shell folds its notes), or in
// a note of its own.
func (s *sim) placed(m *msg, a flow.Forward, inst string) error {
	if r := m.from; r != nil && !r.taken && s.rng.IntN(2) == 0 {
		r.placed = append(r.placed, frame.Placement{Step: a.Hop.Step, Branch: a.Hop.Branch, Outer: a.Ctx.Outer, Instance: inst})
		s.tracef("    folded into %s#%d's report", r.f.Step, r.f.Branch)
		return nil
	}
	for _, p := range flow.Placed(a, inst) {
		s.tracef("    %s", p)
		note := s.send(&msg{kind: mAction, a: p, took: new(string)})
		if r := m.from; r != nil && r.report != nil {
			// The shell sends the note, and has its ack, before the report.
			r.report.after = append(r.report.after, note)
		}
	}
	return nil
}

// exec runs a step on the instance that took it.
func (s *sim) exec(m *msg) error {
	if s.dead[m.inst] {
		return nil // killed before it ran the step
	}
	f := m.f
	k := flow.KeyOf(f)
	s.execs[k]++
	s.execCount++
	if s.execs[k] > 1 {
		return fmt.Errorf("step execution %+v ran %d times", k, s.execs[k])
	}
	action := s.sp.Steps[f.Step].Action
	result, _ := actionResult(f.Step, action, f.Payload)
	s.tracef("  %s runs %s#%d %v: %s", m.inst, f.Step, f.Branch, f.Outer, result)
	sender := flow.Sender{Spec: s.sp, Ctx: flow.ContextOf(f), Self: m.inst, CanHold: true}
	if m.afterHolder {
		if s.afterHolder == nil {
			s.afterHolder = map[flow.Key]bool{}
		}
		s.afterHolder[k] = true
	}
	return s.carry(&stepRun{f: f, inst: m.inst, afterHolder: m.afterHolder}, sender.Finished(f.Step, f.Branch, result, nil, action))
}

// elementKey is the map run a slot of map join j belongs to.
func elementKey(j string, branch uint32, outer []frame.Level) flow.JoinKey {
	_, fb := spec.SplitBranch(branch)
	return flow.JoinKey{Step: j, Branch: fb, Outer: flow.SlotsKey(outer)}
}

// elementSent counts an element the entry sent into a map's region.
func (s *sim) elementSent(f flow.Forward) error {
	m := s.sp.Steps[f.From]
	k := elementKey(m.Fork, f.Hop.Branch, f.Ctx.Outer)
	s.inFlight[k]++
	if c := m.Map.Concurrency; c > 0 && s.inFlight[k] > c {
		return fmt.Errorf("map %s has %d elements in flight, its concurrency is %d", f.From, s.inFlight[k], c)
	}
	return nil
}

// reply delivers a frame to the run's entry.
func (s *sim) reply(a flow.Reply) error {
	f := a.Frame
	f.RunID, f.ReplyTo, f.Deadline, f.Workflow, f.Namespace = a.Ctx.Run, a.Ctx.ReplyTo, a.Ctx.Deadline, s.sp.Workflow, s.sp.Namespace
	ended := len(s.ends) > 0
	code, reason, acts := s.run.Frame(&f, f.Payload, s.inTable)
	if !ended && f.Kind == frame.KindLog && f.Report.Kind == frame.ReportDone {
		if s.reported == nil {
			s.reported = map[flow.Key]bool{}
		}
		s.reported[flow.KeyOf(&f)] = true
	}
	if code == frame.CodeOK && f.Kind == frame.KindResult && s.sp.Kind(f.Step) == spec.KindJoin {
		k := elementKey(f.Step, f.Branch, f.Outer)
		slot := fmt.Sprint(k, f.Branch)
		if s.inFlight[k] > 0 && !s.joined[slot] {
			s.joined[slot] = true
			s.inFlight[k]-- // an element's result reached its map's join
		}
	}
	switch {
	case ended && code != frame.CodeUnknownStep:
		return fmt.Errorf("an ended run answered %s with %s", a, code)
	case !ended && code != frame.CodeOK && code != frame.CodeDuplicate:
		return fmt.Errorf("the run answered %s with %s: %s", a, code, reason)
	}
	return s.fromRun("frame", acts)
}

func (s *sim) holder(id string) *flow.Joins {
	k := holderKey{run: s.ctx.Run, instance: id}
	js := s.holders[k]
	if js == nil {
		js = flow.NewJoins(flow.Sender{Spec: s.sp, Ctx: flow.Context{Run: s.ctx.Run, ReplyTo: s.ctx.ReplyTo}, Self: id, CanHold: true})
		s.holders[k] = js
	}
	return js
}

// sentOnce checks that the core sends step execution or join slot a
// once: a second Forward (or Slot) for it is a decision taken twice, as
// when a join completes at two places. Replies are not checked: a slot
// goes to the entry again when its holder did not take it.
func (s *sim) sentOnce(a flow.Action) error {
	var k string
	switch a := a.(type) {
	case flow.Forward:
		k = fmt.Sprintf("step %s#%d in %s", a.Hop.Step, a.Hop.Branch, flow.SlotsKey(a.Ctx.Outer))
	case flow.Slot:
		k = fmt.Sprintf("slot %s#%d in %s", a.Hop.Step, a.Hop.Branch, flow.SlotsKey(a.Ctx.Outer))
	default:
		return nil
	}
	if s.sent[k] {
		return fmt.Errorf("the core sent %s twice: %s", k, a)
	}
	s.sent[k] = true
	return nil
}

// slot delivers a slot to its holder as the shell sends it, with an accept
// window: a holder that cannot be reached, or whose connection fails,
// never sees it, and its sender sends it to the entry. Otherwise the
// holder answers what Joins.Takes says, and its ack reaches the sender in
// time (or not) later (acked). A copy of the slot comes after its sender
// had the outcome of the first: nobody waits for its ack, and the holder
// never takes it.
func (s *sim) slot(m *msg, a flow.Slot) error {
	h := a.Ctx.Holder
	if !s.cut[h] && s.rng.Float64() < s.fl.cutHolder {
		s.tracef("    %s is cut off", h)
		s.cut[h] = true
	}
	if m.dup {
		if s.cut[h] || s.dead[h] {
			return nil
		}
		code, reason := s.holder(h).Takes(a.Hop.Step, a.Hop.Branch, a.Ctx.Outer)
		s.tracef("    a copy: takes: %s; nobody waits for its ack", codeText(code, reason))
		switch code {
		case frame.CodeOK, frame.CodeDuplicate, frame.CodeUnavailable:
			return nil
		}
		return fmt.Errorf("holder %s refused a copy of %s: %s: %s", h, a, code, reason)
	}
	if s.cut[h] || s.dead[h] || s.rng.Float64() < s.fl.refuseSlot {
		return s.carry(nil, []flow.Action{flow.SlotRefused(a)})
	}
	code, reason := s.holder(h).Takes(a.Hop.Step, a.Hop.Branch, a.Ctx.Outer)
	s.tracef("    takes: %s", codeText(code, reason))
	switch code {
	case frame.CodeOK:
		s.send(&msg{kind: mAck, a: a, lost: s.rng.Float64() < s.fl.lostAck})
		return nil
	case frame.CodeUnavailable: // handed over, or stopping: to the entry
		return s.carry(nil, []flow.Action{flow.SlotRefused(a)})
	}
	// A duplicate too: the core sends each slot once (sentOnce), and
	// copies never reach this far.
	return fmt.Errorf("holder %s refused %s: %s: %s", h, a, code, reason)
}

// acked carries the ack of a slot its holder said it takes: lost (or the
// holder was lost meanwhile, and its ack with it), the holder never takes
// the slot, and its sender sends it to the entry; in time, the holder
// takes it, and sends it to the entry itself when Slot refuses it now
// (the join was handed over, or the holder stopped, since Takes).
func (s *sim) acked(m *msg) error {
	a := m.a.(flow.Slot)
	h := a.Ctx.Holder
	s.tracef("> ack of %s", a)
	if m.lost || s.cut[h] || s.dead[h] {
		s.tracef("    lost: not taken")
		s.lostAcks++
		return s.carry(nil, []flow.Action{flow.SlotRefused(a)})
	}
	code, reason, acts := s.holder(h).Slot(a.Hop.Step, a.Hop.Branch, a.Ctx.Outer, a.Payload)
	s.tracef("    in time; slot: %s", codeText(code, reason))
	switch code {
	case frame.CodeOK:
	case frame.CodeUnavailable:
		s.raced++
		acts = append(acts, flow.SlotRefused(a))
	default:
		return fmt.Errorf("holder %s took %s (Takes), then Slot answered %s: %s", h, a, code, reason)
	}
	s.fromHolder = true
	defer func() { s.fromHolder = false }()
	return s.carry(nil, acts)
}

// stop stops holder id: it hands every join it holds over to the entry
// (Joins.HandOverAll), and takes no slot from then on. Its steps still
// run: a step it was running finishes.
func (s *sim) stop(id string) error {
	if s.stopped[id] {
		return nil
	}
	s.stopped[id] = true
	s.stops++
	s.tracef("  %s stops", id)
	return s.carry(nil, s.holder(id).HandOverAll())
}

// check compares the run's End with the reference's outcome.
func (s *sim) check(ref refOutcome) error {
	end := s.end
	if end.Failure == nil && !s.byTimer && !s.fl.any() {
		// A run that ends with its value has heard from every step
		// execution that ran: it learns where each went no later than
		// the report of the step that sent it there. Not downstream of a
		// join's holder: the holder's note of where it sent the merge
		// races with what follows (a gap the note of this commit
		// states), and only the step whose result came is waited for.
		for k := range s.execs {
			if !s.reported[k] && !s.afterHolder[k] {
				return fmt.Errorf("the run ended with %s before %s#%d (outer %q) reported", end.Value, k.Step, k.Branch, k.Outer)
			}
		}
	}
	switch {
	case end.Failure != nil && end.Failure.Code == frame.CodeExpired:
		if !s.fl.any() {
			return fmt.Errorf("a run without faults expired: %s", end)
		}
	case end.Failure != nil && ref.value != nil && !s.fl.any():
		return fmt.Errorf("the run failed (%s); the reference's value is %s", end, ref.value)
	case end.Failure != nil && ref.value == nil && !ref.fails[end.Failure.Step] && !s.fl.any():
		return fmt.Errorf("the run failed at %s (%s); the reference failed at %v", end.Failure.Step, end, sortedSet(ref.fails))
	case end.Failure == nil && ref.value == nil:
		return fmt.Errorf("the run ended with %s; the reference failed at %v", end.Value, sortedSet(ref.fails))
	case end.Failure == nil && !bytes.Equal(canonical(end.Value), canonical(ref.value)):
		return fmt.Errorf("the run ended with\n  %s\nthe reference with\n  %s", canonical(end.Value), canonical(ref.value))
	}
	return nil
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
