package flow_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/route/flow"
	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/spec"
)

// The scenario environment: one spec, one run's entry, the joins each
// holder keeps, and every action printed so far. It plays the shell: it
// carries an action where it goes when a command says so, and prints what
// the core answers.
//
// Actions print numbered, "1. forward a#0 to a (/ns/a) {}". A command
// names an earlier action by a selector:
//
//	N        the N-th action of the latest output that listed actions
//	"text"   the earliest action not yet carried whose line holds text,
//	         or else the latest one carried (to carry a copy)
//	a, a#1/0 (finished and the other forward commands) the earliest
//	         forward not yet carried to step a, or to hop a#1/0
//
// Carrying an action (deliver, finished, undelivered, ...) marks it
// carried (placed and fallback do not: the step has still to run); a
// number can still name it again, to carry a duplicate.
//
// The commands (arguments in brackets are optional; defaults after =):
//
//	spec                       the spec, JSON on the input lines
//	entry [run=r1] [self=e] [deadline=NS] [ack=1s] [report-grace=2s]
//	      [spec-grace=100ms] [watch-fallbacks]
//	                           make the run's entry (flow.NewRun)
//	start [JSON]               Run.Start with the input ({} by default)
//	table p1 p2 | all | none   the instances in the route table
//	down p1 / up p1            a holder that cannot be reached, or again can
//	behave                     step results for stabilize and for finished
//	                           without result=: lines "step: RESULT", RESULT
//	                           one of wrap ({"step":input}, the default),
//	                           echo, incr FIELD, set FIELD JSON, error TEXT,
//	                           or a JSON value
//	finished SEL on=INST [result=JSON | error=TEXT] [canhold=true]
//	      [entry-joins] [action=A]
//	                           the step of forward SEL ran on INST
//	                           (Sender.Finished); without result= or
//	                           error=, it returns what behave says
//	finished step=S [branch=B] on=INST [holder=H] [outer=L] [run=R]
//	      [reply-to=E] ...     the same for a frame written out
//	hop step=S [from=F] [branch=B] on=INST [holder=H] [outer=L] [JSON]
//	                           Sender.Hop
//	placed SEL on=INST         Placed: INST acked forward SEL
//	undelivered SEL [why=T]    Undelivered: nobody took forward SEL
//	fallback SEL activation=A [on=INST]
//	                           WentToFallback
//	slot-refused SEL           SlotRefused: slot SEL's holder refused it
//	deliver [SEL...] [ack=in-time|lost|wait]
//	                           carry actions where they go: a reply to the
//	                           entry (Run.Frame), a slot to its holder (see
//	                           below), a handover request to the holder
//	                           and its answer back (Run.HandoverAnswered),
//	                           a timer or a recheck to the Run, a step's
//	                           report to the entry. Without selectors: every
//	                           reply, slot and handover request not carried.
//	ack SEL... [lost]          the ack of slot SEL, delivered with ack=wait,
//	                           reaches its sender in time, or never does
//	stabilize                  carry everything but timers and rechecks
//	                           until nothing is left (slots with their
//	                           acks in time, steps' reports as the shell
//	                           sends them); forwards run on instance
//	                           "p"+step, as behave says
//	result step=S [branch=B] [holder=H] [outer=L] [JSON]
//	error step=S [branch=B] [code=step-failed] [reason=T]
//	log done|started|fallback step=S [branch=B] [outer=L] on=INST
//	      [activation=A] [logs=T] [placed=S#B@INST,...]
//	                           a report; placed: where the step's result
//	                           went, folded into it (no levels)
//	frame kind=K step=S ...    a frame of any kind, to the entry (Run.Frame)
//	gone [table=p1,p2]         Run.InstancesGone
//	timer reports | handover join=J [branch=B] [outer=L] | kind=N
//	                           Run.Timer
//	expire [why=T]             Run.Expire
//	handover-answer SEL [completed | err=T]
//	                           Run.HandoverAnswered for request SEL
//	fallback-ended step=S [branch=B] [outer=L] activation=A [failed]
//	      [status=T] [error=T] Run.FallbackEnded
//	pending                    Run.Pending
//	reports                    Run.Reports and Run.Ended
//	slot on=INST step=J [branch=B] [outer=L] [JSON]
//	                           Joins.Slot at holder INST
//	takes on=INST step=J [branch=B] [outer=L]
//	                           Joins.Takes at holder INST
//	handover on=INST join=J [branch=B] [outer=L]
//	                           Joins.HandOver
//	handover-all on=INST       Joins.HandOverAll
//	holds on=INST              Joins.Held
//	check-step step=S action=A self=INST [target=T] [no-spec]
//	admit [namespace=ns] [key=k] [frame-namespace=N] [signed-with=K]
//	      [kind=step] [deadline=D] now=D
//	seen add|remove step=S [branch=B] [outer=L] [run=R] [now=D] [deadline=D]
//	retry [attempts=N backoff-ms=M | none] n=K [succeeded]
//
// A slot goes to its holder as the shell sends it, with an accept window
// (frame.AcceptBy): a holder that cannot be reached ("down") never sees
// it, and its sender sends it to the entry (SlotRefused). Otherwise the
// holder answers what Joins.Takes says ("takes: ..."): a refusal sends the
// slot to the entry, a duplicate is taken as delivered, and ok is the ack
// that deliver's ack= decides about. In time (the default), the holder
// gives the slot to Joins.Slot ("acked in time; slot: ..."), and sends it
// to the entry itself if Slot refuses it now (the join was handed over
// since Takes). Lost, the holder never takes it and its sender sends it
// to the entry. Wait leaves the ack on its way until an ack command.
//
// Branches print and read as "2", or "1/0" for slot 1 of a join's region
// on branch 0; levels (outer=) as "0@p1,2": slot 0 of a region held by p1,
// then iteration 2 (or slot 2 of a region the entry holds).
type env struct {
	sp      *spec.Spec
	run     *flow.Run
	runCtx  flow.Context // the run's: Run, ReplyTo (the entry), Deadline
	table   map[string]bool
	down    map[string]bool
	holders map[holderKey]*flow.Joins
	seen    flow.Seen
	behave  map[string]string

	all    []*item // every action printed, in order
	latest []*item // the latest output that listed actions

	// The output of the command running.
	out     strings.Builder
	printed []*item
}

type holderKey struct{ run, instance string }

// item is an action printed, and where it came from.
type item struct {
	a       flow.Action
	line    string
	carried bool
	acking  bool      // a slot its holder would take, whose ack is on its way
	from    *stepExec // the step whose actions it is among, if any
}

// stepExec is one step that ran: its report goes to the entry once.
type stepExec struct {
	ctx      flow.Context
	step     string
	branch   uint32
	instance string
	reported bool
}

func newEnv() *env {
	return &env{
		runCtx:  flow.Context{Run: "r1", ReplyTo: "e"},
		down:    map[string]bool{},
		holders: map[holderKey]*flow.Joins{},
		behave:  map[string]string{},
	}
}

type command func(e *env, a *args, input []string) error

// scenarioCommands are the commands of the scripts, by name.
var scenarioCommands = map[string]command{
	"spec": (*env).cmdSpec, "entry": (*env).cmdEntry, "start": (*env).cmdStart,
	"table": (*env).cmdTable, "down": (*env).cmdDown, "up": (*env).cmdUp, "behave": (*env).cmdBehave,
	"finished": (*env).cmdFinished, "hop": (*env).cmdHop, "placed": (*env).cmdPlaced,
	"undelivered": (*env).cmdUndelivered, "fallback": (*env).cmdFallback, "slot-refused": (*env).cmdSlotRefused,
	"deliver": (*env).cmdDeliver, "ack": (*env).cmdAck, "stabilize": (*env).cmdStabilize,
	"result": (*env).cmdResult, "error": (*env).cmdError, "log": (*env).cmdLog, "frame": (*env).cmdFrame,
	"gone": (*env).cmdGone, "timer": (*env).cmdTimer, "expire": (*env).cmdExpire,
	"handover-answer": (*env).cmdHandoverAnswer, "fallback-ended": (*env).cmdFallbackEnded,
	"pending": (*env).cmdPending, "reports": (*env).cmdReports,
	"slot": (*env).cmdSlot, "takes": (*env).cmdTakes, "handover": (*env).cmdHandover, "handover-all": (*env).cmdHandoverAll, "holds": (*env).cmdHolds,
	"check-step": (*env).cmdCheckStep, "admit": (*env).cmdAdmit, "seen": (*env).cmdSeen, "retry": (*env).cmdRetry,
}

// exec runs one command line and returns what it printed. An error is a
// mistake in the script (an unknown command or argument, a selector that
// names nothing), not an outcome of the core.
func (e *env) exec(line string, input []string) (string, error) {
	toks, err := tokenize(line)
	if err != nil {
		return "", err
	}
	cmd, ok := scenarioCommands[toks[0]]
	if !ok {
		return "", fmt.Errorf("unknown command %q", toks[0])
	}
	e.out.Reset()
	e.printed = nil
	a := parseArgs(toks[1:])
	if err := cmd(e, a, input); err != nil {
		return "", err
	}
	if err := a.done(); err != nil {
		return "", err
	}
	if len(e.printed) > 0 {
		e.latest = e.printed
	}
	return strings.TrimRight(e.out.String(), "\n"), nil
}

// Output.

func (e *env) printf(format string, args ...any) {
	fmt.Fprintf(&e.out, format+"\n", args...)
}

// emit prints acts, numbered, and keeps them for later selectors; from
// is the step they come from.
func (e *env) emit(from *stepExec, acts []flow.Action) {
	for _, a := range acts {
		it := &item{a: a, line: a.String(), from: from}
		switch a.(type) {
		case flow.Reported, flow.End, flow.WatchFallback:
			it.carried = true // nothing to carry
		}
		e.all = append(e.all, it)
		e.printed = append(e.printed, it)
		e.printf("%d. %s", len(e.printed), it.line)
	}
}

// code prints a code and reason the core answered with.
func (e *env) code(c frame.Code, reason string) {
	if reason == "" {
		e.printf("%s", c)
		return
	}
	e.printf("%s: %s", c, reason)
}

// Selectors.

// selectItems resolves the selectors among a's bare words.
func (e *env) selectItems(sels []string, forwardsByStep bool) ([]*item, error) {
	var its []*item
	for _, s := range sels {
		it, err := e.selectItem(s, forwardsByStep)
		if err != nil {
			return nil, err
		}
		its = append(its, it)
	}
	return its, nil
}

func (e *env) selectItem(sel string, forwardsByStep bool) (*item, error) {
	if n, err := strconv.Atoi(sel); err == nil {
		if n < 1 || n > len(e.latest) {
			return nil, fmt.Errorf("selector %d: the latest output listed %d actions", n, len(e.latest))
		}
		return e.latest[n-1], nil
	}
	if strings.HasPrefix(sel, `"`) {
		text := unquote(sel)
		for _, it := range e.all {
			if !it.carried && strings.Contains(it.line, text) {
				return it, nil
			}
		}
		for i := len(e.all) - 1; i >= 0; i-- { // carried already: a copy
			if it := e.all[i]; strings.Contains(it.line, text) {
				return it, nil
			}
		}
		return nil, fmt.Errorf("no action whose line holds %q", text)
	}
	if forwardsByStep {
		for _, it := range e.all {
			if f, ok := it.a.(flow.Forward); ok && !it.carried && (f.Hop.Step == sel || strings.HasPrefix(it.line, "forward "+sel+" ")) {
				return it, nil
			}
		}
		return nil, fmt.Errorf("no forward left to %s", sel)
	}
	return nil, fmt.Errorf("bad selector %q", sel)
}

// oneForward resolves the one selector of a forward command, and marks
// the forward carried if carry.
func (e *env) oneForward(a *args, carry bool) (*item, flow.Forward, error) {
	sels := a.takePos()
	if len(sels) != 1 {
		return nil, flow.Forward{}, fmt.Errorf("want one selector, got %v", sels)
	}
	it, err := e.selectItem(sels[0], true)
	if err != nil {
		return nil, flow.Forward{}, err
	}
	f, ok := it.a.(flow.Forward)
	if !ok {
		return nil, flow.Forward{}, fmt.Errorf("%q is no forward", it.line)
	}
	it.carried = it.carried || carry
	e.printf("> %s", it.line)
	return it, f, nil
}

// Helpers.

func (e *env) needSpec() error {
	if e.sp == nil {
		return errors.New("no spec yet")
	}
	return nil
}

func (e *env) needRun() error {
	if e.run == nil {
		return errors.New("no entry yet")
	}
	return nil
}

func (e *env) inTable(id string) bool { return e.table == nil || e.table[id] }

// holder returns the joins instance keeps for the run of ctx.
func (e *env) holder(ctx flow.Context, instance string) *flow.Joins {
	k := holderKey{ctx.Run, instance}
	js := e.holders[k]
	if js == nil {
		s := flow.Sender{Spec: e.sp, Ctx: flow.Context{Run: ctx.Run, ReplyTo: ctx.ReplyTo, Deadline: ctx.Deadline}, Self: instance, CanHold: true}
		js = flow.NewJoins(s)
		e.holders[k] = js
	}
	return js
}

// frameCtx reads the routing context of a frame written out: run=,
// reply-to=, holder=, outer=.
func (e *env) frameCtx(a *args) (flow.Context, error) {
	ctx := e.runCtx
	ctx.Run = a.text("run", ctx.Run)
	ctx.ReplyTo = a.text("reply-to", ctx.ReplyTo)
	ctx.Holder = a.text("holder", "")
	var err error
	ctx.Outer, err = a.outer("outer")
	return ctx, err
}

func branchString(b uint32) string {
	slot, br := spec.SplitBranch(b)
	if slot == 0 {
		return strconv.Itoa(int(br))
	}
	return fmt.Sprintf("%d/%d", slot, br)
}

func keyString(k flow.Key) string {
	s := k.Step + "#" + branchString(k.Branch)
	if k.Outer != "" {
		s += " in " + k.Outer
	}
	return s
}

// Setup.

func (e *env) cmdSpec(a *args, input []string) error {
	sp, err := spec.Parse([]byte(strings.Join(input, "\n")))
	if err != nil {
		e.printf("error: %v", err)
		return nil
	}
	e.sp = sp
	e.holders = map[holderKey]*flow.Joins{} // they hold joins of the old spec
	e.printf("ok: %d steps, %d result(s)", len(sp.Steps), sp.Paths())
	return nil
}

func (e *env) cmdEntry(a *args, _ []string) error {
	if err := e.needSpec(); err != nil {
		return err
	}
	var cfg flow.RunConfig
	var err error
	e.runCtx.Run = a.text("run", "r1")
	e.runCtx.ReplyTo = a.text("self", "e")
	dl, err := a.integer("deadline", 0)
	if err != nil {
		return err
	}
	e.runCtx.Deadline = int64(dl)
	if cfg.AckTimeout, err = a.dur("ack", time.Second); err != nil {
		return err
	}
	if cfg.ReportGrace, err = a.dur("report-grace", 2*time.Second); err != nil {
		return err
	}
	if cfg.SpecGrace, err = a.dur("spec-grace", 100*time.Millisecond); err != nil {
		return err
	}
	cfg.WatchFallbacks = a.flag("watch-fallbacks")
	for _, it := range e.all {
		it.carried = true // the actions of an earlier run are left behind
	}
	e.run = flow.NewRun(flow.Sender{Spec: e.sp, Ctx: e.runCtx, Self: e.runCtx.ReplyTo}, cfg)
	e.printf("run %s at %s waits for %d result(s)", e.runCtx.Run, e.runCtx.ReplyTo, e.sp.Paths())
	return nil
}

func (e *env) cmdStart(a *args, input []string) error {
	if err := e.needRun(); err != nil {
		return err
	}
	e.emit(nil, e.run.Start(a.payload(input, "{}")))
	return nil
}

func (e *env) cmdTable(a *args, _ []string) error {
	ids := a.takePos()
	switch {
	case len(ids) == 1 && ids[0] == "all":
		e.table = nil
	case len(ids) == 1 && ids[0] == "none":
		e.table = map[string]bool{}
	default:
		e.table = map[string]bool{}
		for _, id := range ids {
			e.table[id] = true
		}
	}
	return nil
}

func (e *env) cmdDown(a *args, _ []string) error {
	for _, id := range a.takePos() {
		e.down[id] = true
	}
	return nil
}

func (e *env) cmdUp(a *args, _ []string) error {
	for _, id := range a.takePos() {
		delete(e.down, id)
	}
	return nil
}

func (e *env) cmdBehave(_ *args, input []string) error {
	for _, l := range input {
		step, b, ok := strings.Cut(l, ":")
		if !ok {
			return fmt.Errorf("behave: %q is not step: result", l)
		}
		e.behave[strings.TrimSpace(step)] = strings.TrimSpace(b)
	}
	return nil
}

// behaviour is what step returns for input, as behave says.
func (e *env) behaviour(step string, input []byte) ([]byte, error) {
	b := e.behave[step]
	switch {
	case b == "" || b == "wrap":
		return []byte(`{"` + step + `":` + string(input) + `}`), nil
	case b == "echo":
		return input, nil
	case strings.HasPrefix(b, "error "):
		return nil, errors.New(strings.TrimPrefix(b, "error "))
	case strings.HasPrefix(b, "set "):
		field, v, _ := strings.Cut(strings.TrimPrefix(b, "set "), " ")
		var m map[string]json.RawMessage
		if err := json.Unmarshal(input, &m); err != nil {
			return nil, fmt.Errorf("set %s: input %s is no object", field, input)
		}
		m[field] = json.RawMessage(v)
		return json.Marshal(m)
	case strings.HasPrefix(b, "incr "):
		field := strings.TrimPrefix(b, "incr ")
		var m map[string]any
		if err := json.Unmarshal(input, &m); err != nil {
			return nil, fmt.Errorf("incr %s: input %s is no object", field, input)
		}
		n, _ := m[field].(float64)
		m[field] = n + 1
		return json.Marshal(m)
	}
	return []byte(b), nil
}

// Steps.

func (e *env) cmdFinished(a *args, input []string) error {
	if err := e.needSpec(); err != nil {
		return err
	}
	var ctx flow.Context
	var step, action string
	var branch uint32
	var in []byte // the step's input, for behave
	entryJoins := a.flag("entry-joins")
	if a.has("step") {
		var err error
		if ctx, err = e.frameCtx(a); err != nil {
			return err
		}
		step = a.text("step", "")
		if branch, err = a.branch("branch"); err != nil {
			return err
		}
		action = e.sp.Steps[step].Action
		in = a.payload(input, "{}")
	} else {
		_, f, err := e.oneForward(a, true)
		if err != nil {
			return err
		}
		ctx, step, branch, action, in = f.Ctx, f.Hop.Step, f.Hop.Branch, f.Action, f.Payload
	}
	on, err := a.need("on")
	if err != nil {
		return err
	}
	canHold, err := a.boolean("canhold", true)
	if err != nil {
		return err
	}
	s := flow.Sender{Spec: e.sp, Ctx: ctx, Self: on, CanHold: canHold, EntryJoins: entryJoins}
	action = a.text("action", action)
	var result []byte
	var stepErr error
	switch {
	case a.has("result"):
		result = []byte(a.raw("result", ""))
	case a.has("error"):
		stepErr = errors.New(a.text("error", ""))
	default:
		result, stepErr = e.ran(step, in, on)
	}
	e.emit(&stepExec{ctx: ctx, step: step, branch: branch, instance: on}, s.Finished(step, branch, result, stepErr, action))
	return nil
}

// ran runs step on input as behave says, and prints its outcome.
func (e *env) ran(step string, input []byte, instance string) ([]byte, error) {
	result, err := e.behaviour(step, input)
	if err != nil {
		e.printf("failed on %s: %v", instance, err)
	} else {
		e.printf("ran on %s: %s", instance, result)
	}
	return result, err
}

// runForward runs the step of forward f on instance as behave says (for
// stabilize).
func (e *env) runForward(f flow.Forward, instance string) {
	result, err := e.ran(f.Hop.Step, f.Payload, instance)
	s := flow.Sender{Spec: e.sp, Ctx: f.Ctx, Self: instance, CanHold: true}
	e.emit(&stepExec{ctx: f.Ctx, step: f.Hop.Step, branch: f.Hop.Branch, instance: instance}, s.Finished(f.Hop.Step, f.Hop.Branch, result, err, f.Action))
}

func (e *env) cmdHop(a *args, input []string) error {
	if err := e.needSpec(); err != nil {
		return err
	}
	ctx, err := e.frameCtx(a)
	if err != nil {
		return err
	}
	step, err := a.need("step")
	if err != nil {
		return err
	}
	branch, err := a.branch("branch")
	if err != nil {
		return err
	}
	on, err := a.need("on")
	if err != nil {
		return err
	}
	s := flow.Sender{Spec: e.sp, Ctx: ctx, Self: on, CanHold: true}
	e.emit(nil, s.Hop(a.text("from", ""), spec.Hop{Step: step, Branch: branch}, a.payload(input, "{}")))
	return nil
}

func (e *env) cmdPlaced(a *args, _ []string) error {
	_, f, err := e.oneForward(a, false)
	if err != nil {
		return err
	}
	on, err := a.need("on")
	if err != nil {
		return err
	}
	e.emit(nil, flow.Placed(f, on))
	return nil
}

func (e *env) cmdUndelivered(a *args, _ []string) error {
	_, f, err := e.oneForward(a, true)
	if err != nil {
		return err
	}
	e.emit(nil, flow.Undelivered(f, errors.New(a.text("why", "no instance took it"))))
	return nil
}

func (e *env) cmdFallback(a *args, _ []string) error {
	_, f, err := e.oneForward(a, false)
	if err != nil {
		return err
	}
	act, err := a.need("activation")
	if err != nil {
		return err
	}
	e.emit(nil, flow.WentToFallback(f, a.text("on", "e"), act))
	return nil
}

func (e *env) cmdSlotRefused(a *args, _ []string) error {
	its, err := e.selectItems(a.takePos(), false)
	if err != nil {
		return err
	}
	for _, it := range its {
		s, ok := it.a.(flow.Slot)
		if !ok {
			return fmt.Errorf("%q is no slot", it.line)
		}
		it.carried = true
		e.printf("> %s", it.line)
		e.emit(nil, []flow.Action{flow.SlotRefused(s)})
	}
	return nil
}

// Carrying actions.

func (e *env) cmdDeliver(a *args, _ []string) error {
	ack := a.text("ack", ackInTime)
	if ack != ackInTime && ack != ackLost && ack != ackWait {
		return fmt.Errorf("ack=%s: want in-time, lost or wait", ack)
	}
	sels := a.takePos()
	var its []*item
	if len(sels) == 0 {
		for _, it := range e.all {
			switch it.a.(type) {
			case flow.Reply, flow.Slot, flow.AskHandover:
				if !it.carried {
					its = append(its, it)
				}
			}
		}
	} else {
		var err error
		if its, err = e.selectItems(sels, false); err != nil {
			return err
		}
	}
	slots := 0
	for _, it := range its {
		if _, ok := it.a.(flow.Slot); ok {
			slots++
		}
		if err := e.deliver(it, ack); err != nil {
			return err
		}
	}
	if a.has("ack") && slots == 0 {
		return errors.New("ack= says how a slot's ack goes, and no slot was delivered")
	}
	return nil
}

// How the ack of a slot its holder would take reaches the slot's sender
// (deliver ack=).
const (
	ackInTime = "in-time" // in time: the holder takes the slot
	ackLost   = "lost"    // never: the holder does not take it, the sender sends it to the entry
	ackWait   = "wait"    // later: an ack command says how
)

// deliver carries one action where it goes and prints what follows; ack
// says how a slot's ack goes.
func (e *env) deliver(it *item, ack string) error {
	it.carried = true
	e.printf("> %s", it.line)
	switch a := it.a.(type) {
	case flow.Reply:
		return e.toEntry(a)
	case flow.Slot:
		e.deliverSlot(it, a, ack)
	case flow.AskHandover:
		if err := e.needRun(); err != nil {
			return err
		}
		if e.down[a.Holder] {
			e.printf("holder %s cannot be reached", a.Holder)
			e.emit(nil, e.run.HandoverAnswered(a, false, fmt.Errorf("%s cannot be reached", a.Holder)))
			return nil
		}
		code, reason, acts := e.holder(e.runCtx, a.Holder).HandOver(a.Join.Step, a.Join.Branch, a.Outer)
		e.printf("holder %s: %s", a.Holder, codeText(code, reason))
		e.emit(nil, acts)
		e.emit(nil, e.run.HandoverAnswered(a, code == frame.CodeDuplicate, nil))
	case flow.SetTimer:
		if err := e.needRun(); err != nil {
			return err
		}
		e.emit(nil, e.run.Timer(a.Timer))
	case flow.Recheck:
		if err := e.needRun(); err != nil {
			return err
		}
		e.emit(nil, e.run.InstancesGone(e.inTable))
	case flow.ReportStep:
		x := it.from
		switch {
		case x == nil:
			e.printf("nothing to report: these actions come from no step")
		case x.reported:
			e.printf("%s#%s reported already", x.step, branchString(x.branch))
		default:
			x.reported = true
			return e.toEntry(flow.Reply{Ctx: x.ctx, Frame: frame.Frame{Kind: frame.KindLog, Step: x.step, Branch: x.branch, Outer: x.ctx.Outer,
				Report: frame.Report{Kind: frame.ReportDone, Instance: x.instance}}})
		}
	default:
		return fmt.Errorf("%q is not carried by deliver (a forward runs with finished)", it.line)
	}
	return nil
}

// deliverSlot carries slot it (a) to its holder as the shell does: the
// holder answers what Joins.Takes says, and takes the slot only once its
// ack reached the sender in time (ack says whether it does).
func (e *env) deliverSlot(it *item, a flow.Slot, ack string) {
	if e.down[a.Ctx.Holder] {
		e.printf("holder %s cannot be reached", a.Ctx.Holder)
		e.emit(nil, []flow.Action{flow.SlotRefused(a)})
		return
	}
	code, reason := e.holder(a.Ctx, a.Ctx.Holder).Takes(a.Hop.Step, a.Hop.Branch, a.Ctx.Outer)
	e.printf("takes: %s", codeText(code, reason))
	switch code {
	case frame.CodeOK:
		e.ackSlot(it, a, ack)
	case frame.CodeDuplicate: // the sender counts it as delivered
	default: // refused: the sender sends it to the entry
		e.emit(nil, []flow.Action{flow.SlotRefused(a)})
	}
}

// ackSlot carries the ack of slot it (a), which its holder would take, as
// ack says.
func (e *env) ackSlot(it *item, a flow.Slot, ack string) {
	it.acking = ack == ackWait
	switch ack {
	case ackWait:
		e.printf("its ack is on its way")
	case ackLost:
		e.printf("its ack is lost: %s does not take it, its sender sends it to the entry", a.Ctx.Holder)
		e.emit(nil, []flow.Action{flow.SlotRefused(a)})
	default:
		code, reason, acts := e.holder(a.Ctx, a.Ctx.Holder).Slot(a.Hop.Step, a.Hop.Branch, a.Ctx.Outer, a.Payload)
		e.printf("acked in time; slot: %s", codeText(code, reason))
		e.emit(nil, acts)
		if code != frame.CodeOK && code != frame.CodeDuplicate {
			// The sender counts on the holder, which sends it to the entry.
			e.emit(nil, []flow.Action{flow.SlotRefused(a)})
		}
	}
}

func (e *env) cmdAck(a *args, _ []string) error {
	ack := ackInTime
	if a.flag("lost") {
		ack = ackLost
	}
	sels := a.takePos()
	if len(sels) == 0 {
		return errors.New("ack needs a selector")
	}
	for _, sel := range sels {
		it, err := e.selectAcking(sel)
		if err != nil {
			return err
		}
		e.printf("> ack of %s", it.line)
		e.ackSlot(it, it.a.(flow.Slot), ack)
	}
	return nil
}

// selectAcking resolves the selector of a slot whose ack is on its way:
// a number of the latest output, or "text" (the earliest such slot whose
// line holds text).
func (e *env) selectAcking(sel string) (*item, error) {
	if strings.HasPrefix(sel, `"`) {
		text := unquote(sel)
		for _, it := range e.all {
			if it.acking && strings.Contains(it.line, text) {
				return it, nil
			}
		}
		return nil, fmt.Errorf("no slot whose ack is on its way holds %q", text)
	}
	it, err := e.selectItem(sel, false)
	if err != nil {
		return nil, err
	}
	if !it.acking {
		return nil, fmt.Errorf("%q has no ack on its way", it.line)
	}
	return it, nil
}

func codeText(c frame.Code, reason string) string {
	if reason == "" {
		return c.String()
	}
	return c.String() + ": " + reason
}

// toEntry delivers a reply to the run's entry.
func (e *env) toEntry(a flow.Reply) error {
	if err := e.needRun(); err != nil {
		return err
	}
	if a.Ctx.ReplyTo != e.runCtx.ReplyTo || a.Ctx.Run != e.runCtx.Run {
		return fmt.Errorf("reply for run %s at %s, but the entry is run %s at %s", a.Ctx.Run, a.Ctx.ReplyTo, e.runCtx.Run, e.runCtx.ReplyTo)
	}
	f := a.Frame
	f.RunID, f.ReplyTo, f.Deadline = a.Ctx.Run, a.Ctx.ReplyTo, a.Ctx.Deadline
	f.Workflow, f.Namespace = e.sp.Workflow, e.sp.Namespace
	code, reason, acts := e.run.Frame(&f, f.Payload, e.inTable)
	e.code(code, reason)
	e.emit(nil, acts)
	return nil
}

func (e *env) cmdStabilize(*args, []string) error {
	for range 10000 {
		var next *item
		for _, it := range e.all {
			switch it.a.(type) {
			case flow.Forward, flow.Reply, flow.Slot, flow.AskHandover, flow.ReportStep:
				if !it.carried {
					next = it
				}
			}
			if next != nil {
				break
			}
		}
		if next == nil {
			return nil
		}
		if f, ok := next.a.(flow.Forward); ok {
			next.carried = true
			e.printf("> %s", next.line)
			e.runForward(f, "p"+f.Hop.Step)
			continue
		}
		if err := e.deliver(next, ackInTime); err != nil {
			return err
		}
	}
	return errors.New("stabilize: still busy after 10000 actions")
}

// Frames to the entry.

func (e *env) frameTo(a *args, kind frame.Kind, input []string) error {
	if err := e.needRun(); err != nil {
		return err
	}
	ctx, err := e.frameCtx(a)
	if err != nil {
		return err
	}
	f := frame.Frame{Kind: kind, Step: a.text("step", ""), Holder: ctx.Holder, Outer: ctx.Outer}
	if f.Branch, err = a.branch("branch"); err != nil {
		return err
	}
	switch kind {
	case frame.KindError:
		if f.Code, err = parseCode(a.text("code", "step-failed")); err != nil {
			return err
		}
		f.Reason = a.text("reason", "")
	case frame.KindLog:
		kinds := a.takePos()
		if len(kinds) != 1 {
			return fmt.Errorf("log needs one report kind, got %v", kinds)
		}
		if f.Report.Kind, err = parseReportKind(kinds[0]); err != nil {
			return err
		}
		f.Report.Instance = a.text("on", "")
		f.Report.Activation = a.text("activation", "")
		if f.Report.Placed, err = a.placements("placed"); err != nil {
			return err
		}
		if l := a.text("logs", ""); l != "" {
			f.Payload = []byte(l)
		}
	default:
		f.Payload = a.payload(input, "")
	}
	ctx.Holder, ctx.Outer = "", nil
	return e.toEntry(flow.Reply{Ctx: ctx, Frame: f})
}

func (e *env) cmdResult(a *args, input []string) error { return e.frameTo(a, frame.KindResult, input) }
func (e *env) cmdError(a *args, input []string) error  { return e.frameTo(a, frame.KindError, input) }
func (e *env) cmdLog(a *args, input []string) error    { return e.frameTo(a, frame.KindLog, input) }

func (e *env) cmdFrame(a *args, input []string) error {
	k, err := parseKind(a.text("kind", ""))
	if err != nil {
		return err
	}
	return e.frameTo(a, k, input)
}

// Run events.

func (e *env) cmdGone(a *args, _ []string) error {
	if err := e.needRun(); err != nil {
		return err
	}
	in := e.inTable
	if a.has("table") {
		t := map[string]bool{}
		for _, id := range strings.Split(a.text("table", ""), ",") {
			t[id] = true
		}
		in = func(id string) bool { return t[id] }
	}
	e.emit(nil, e.run.InstancesGone(in))
	return nil
}

func (e *env) cmdTimer(a *args, _ []string) error {
	if err := e.needRun(); err != nil {
		return err
	}
	var t flow.Timer
	switch {
	case a.flag("reports"):
		t.Kind = flow.TimerReports
	case a.flag("handover"):
		t.Kind = flow.TimerHandover
		b, err := a.branch("branch")
		if err != nil {
			return err
		}
		outer, err := a.outer("outer")
		if err != nil {
			return err
		}
		t.Join = flow.JoinKey{Step: a.text("join", ""), Branch: b, Outer: flow.SlotsKey(outer)}
	default:
		k, err := a.integer("kind", 0)
		if err != nil {
			return err
		}
		t.Kind = flow.TimerKind(k)
	}
	e.printf("> timer %s", t)
	e.emit(nil, e.run.Timer(t))
	return nil
}

func (e *env) cmdExpire(a *args, _ []string) error {
	if err := e.needRun(); err != nil {
		return err
	}
	e.emit(nil, e.run.Expire(a.text("why", "context deadline exceeded")))
	return nil
}

func (e *env) cmdHandoverAnswer(a *args, _ []string) error {
	if err := e.needRun(); err != nil {
		return err
	}
	completed := a.flag("completed")
	its, err := e.selectItems(a.takePos(), false)
	if err != nil {
		return err
	}
	if len(its) != 1 {
		return errors.New("handover-answer needs one selector")
	}
	ask, ok := its[0].a.(flow.AskHandover)
	if !ok {
		return fmt.Errorf("%q is no handover request", its[0].line)
	}
	its[0].carried = true
	e.printf("> %s", its[0].line)
	var herr error
	if a.has("err") {
		herr = errors.New(a.text("err", ""))
	}
	e.emit(nil, e.run.HandoverAnswered(ask, completed, herr))
	return nil
}

func (e *env) cmdFallbackEnded(a *args, _ []string) error {
	if err := e.needRun(); err != nil {
		return err
	}
	b, err := a.branch("branch")
	if err != nil {
		return err
	}
	outer, err := a.outer("outer")
	if err != nil {
		return err
	}
	k := flow.Key{Run: a.text("run", e.runCtx.Run), Step: a.text("step", ""), Branch: b, Outer: flow.SlotsKey(outer)}
	e.emit(nil, e.run.FallbackEnded(k, a.text("activation", ""), a.flag("failed"), a.text("status", "success"), a.text("error", "")))
	return nil
}

func (e *env) cmdPending(*args, []string) error {
	if err := e.needRun(); err != nil {
		return err
	}
	p := e.run.Pending()
	if len(p) == 0 {
		e.printf("no fallback activation pending")
		return nil
	}
	keys := make([]flow.Key, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keyString(keys[i]) < keyString(keys[j]) })
	for _, k := range keys {
		e.printf("%s: activation %s", keyString(k), p[k])
	}
	return nil
}

func (e *env) cmdReports(*args, []string) error {
	if err := e.needRun(); err != nil {
		return err
	}
	for _, r := range e.run.Reports() {
		line := fmt.Sprintf("%s#%s on %s", r.Step, branchString(r.Branch), r.Instance)
		if len(r.Logs) > 0 {
			line += " logs: " + string(r.Logs)
		}
		e.printf("%s", line)
	}
	e.printf("ended: %v", e.run.Ended())
	return nil
}

// Holders.

func (e *env) holderArgs(a *args) (*flow.Joins, error) {
	if err := e.needSpec(); err != nil {
		return nil, err
	}
	on, err := a.need("on")
	if err != nil {
		return nil, err
	}
	return e.holder(e.runCtx, on), nil
}

// joinArgs reads what the holder commands share: the holder (on=), a
// branch (branch=, slot/branch) and the regions around (outer=).
func (e *env) joinArgs(a *args) (*flow.Joins, uint32, []frame.Level, error) {
	js, err := e.holderArgs(a)
	if err != nil {
		return nil, 0, nil, err
	}
	b, err := a.branch("branch")
	if err != nil {
		return nil, 0, nil, err
	}
	outer, err := a.outer("outer")
	if err != nil {
		return nil, 0, nil, err
	}
	return js, b, outer, nil
}

func (e *env) cmdSlot(a *args, input []string) error {
	js, b, outer, err := e.joinArgs(a)
	if err != nil {
		return err
	}
	code, reason, acts := js.Slot(a.text("step", ""), b, outer, a.payload(input, "{}"))
	e.code(code, reason)
	e.emit(nil, acts)
	return nil
}

func (e *env) cmdTakes(a *args, _ []string) error {
	js, b, outer, err := e.joinArgs(a)
	if err != nil {
		return err
	}
	e.code(js.Takes(a.text("step", ""), b, outer))
	return nil
}

func (e *env) cmdHandover(a *args, _ []string) error {
	js, b, outer, err := e.joinArgs(a)
	if err != nil {
		return err
	}
	code, reason, acts := js.HandOver(a.text("join", ""), b, outer)
	e.code(code, reason)
	e.emit(nil, acts)
	return nil
}

func (e *env) cmdHandoverAll(a *args, _ []string) error {
	js, err := e.holderArgs(a)
	if err != nil {
		return err
	}
	e.emit(nil, js.HandOverAll())
	return nil
}

func (e *env) cmdHolds(a *args, _ []string) error {
	js, err := e.holderArgs(a)
	if err != nil {
		return err
	}
	e.printf("holds joins in progress: %v", js.Held())
	return nil
}

// Checks.

func (e *env) cmdCheckStep(a *args, _ []string) error {
	sp := e.sp
	if a.flag("no-spec") {
		sp = nil
	}
	f := &frame.Frame{Kind: frame.KindStep, Workflow: "wf", Step: a.text("step", ""), Target: a.text("target", "")}
	if e.sp != nil {
		f.Workflow = e.sp.Workflow
	}
	e.code(flow.CheckStep(sp, f, a.text("self", ""), a.text("action", "")))
	return nil
}

func (e *env) cmdAdmit(a *args, _ []string) error {
	ns := a.text("namespace", "ns")
	key := a.text("key", "k")
	k, err := parseKind(a.text("kind", "step"))
	if err != nil {
		return err
	}
	dl, err := a.dur("deadline", 0)
	if err != nil {
		return err
	}
	now, err := a.dur("now", 0)
	if err != nil {
		return err
	}
	f := &frame.Frame{Kind: k, RunID: "r1", Workflow: "wf", Step: "a", Namespace: a.text("frame-namespace", ns), Deadline: int64(dl)}
	f.Sign([]byte(a.text("signed-with", key)))
	e.code(flow.Admit(f, ns, []byte(key), int64(now)))
	return nil
}

func (e *env) cmdSeen(a *args, _ []string) error {
	b, err := a.branch("branch")
	if err != nil {
		return err
	}
	outer, err := a.outer("outer")
	if err != nil {
		return err
	}
	k := flow.Key{Run: a.text("run", "r1"), Step: a.text("step", ""), Branch: b, Outer: flow.SlotsKey(outer)}
	switch {
	case a.flag("add"):
		now, err := a.dur("now", 0)
		if err != nil {
			return err
		}
		var deadline time.Time
		if a.has("deadline") {
			d, err := a.dur("deadline", 0)
			if err != nil {
				return err
			}
			deadline = epoch.Add(d)
		}
		if e.seen.Add(k, deadline, epoch.Add(now)) {
			e.printf("new")
		} else {
			e.printf("duplicate")
		}
	case a.flag("remove"):
		e.seen.Remove(k)
	default:
		return errors.New("seen add or seen remove")
	}
	e.printf("remembered: %d", e.seen.Len())
	return nil
}

// epoch is the time 0 of the seen command's times.
var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func (e *env) cmdRetry(a *args, _ []string) error {
	var r *spec.Retry
	if !a.flag("none") {
		r = &spec.Retry{}
		var err error
		if r.Attempts, err = a.integer("attempts", 1); err != nil {
			return err
		}
		if r.BackoffMS, err = a.integer("backoff-ms", 0); err != nil {
			return err
		}
	}
	n, err := a.integer("n", 1)
	if err != nil {
		return err
	}
	wait, again := flow.Retry(r, n, !a.flag("succeeded"))
	if again {
		e.printf("attempt %d in %v", n+1, wait)
	} else {
		e.printf("no more attempts")
	}
	return nil
}
