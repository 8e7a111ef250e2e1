package compile

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/wsk-route/wsk-route/composer"
	"github.com/wsk-route/wsk-route/internal/spec"
)

// ErrNeedsRoutePlane marks a construct that today's route spec cannot
// express; every *NeedsRoutePlaneError wraps it.
var ErrNeedsRoutePlane = errors.New("compile: needs the route plane")

// NeedsRoutePlaneError names a construct that the route plane cannot run
// yet, and where it is.
type NeedsRoutePlaneError struct {
	// Construct is the node's kind: "map", "if", "parallel", ...
	Construct string
	Pos       composer.Position
	Path      string
	// Feature names the missing route-plane support.
	Feature string
}

// Error reads "map at flow.yaml:12:5 (.steps[1]) needs the route
// plane's map support, which is not built yet".
func (e *NeedsRoutePlaneError) Error() string {
	where := ""
	if p := e.Pos.String(); p != "" {
		where = " at " + p
	}
	if e.Path != "" {
		where += " (" + e.Path + ")"
	}
	return fmt.Sprintf("%s%s needs the route plane's %s, which is not built yet", e.Construct, where, e.Feature)
}

// Unwrap returns ErrNeedsRoutePlane.
func (e *NeedsRoutePlaneError) Unwrap() error { return ErrNeedsRoutePlane }

// Options tunes Compile.
type Options struct {
	// Namespace is the deployer's namespace. When set, it replaces the
	// default namespace "_" of the workflow and of action names ("/_/a").
	Namespace string
	// ActionExists is passed to composer.Validate (see composer.Options).
	ActionExists func(fqn string) bool
}

// Compile validates w and compiles it into a spec. A workflow that does
// not validate yields its composer.ErrorList (a workflow past
// composer.MaxSteps or MaxNodes is refused there, before any pass over
// it); constructs the route plane cannot run yet yield one
// *NeedsRoutePlaneError each, joined; a workflow whose compiled spec
// would hold more than spec.MaxSteps steps (its routers, joins and forks
// counted) yields a composer.ErrorList wrapping composer.ErrTooLarge.
// Compiling takes time linear in the size of w (times the depth of its
// nested trys).
func Compile(w *composer.Workflow, opt Options) (*spec.Spec, error) {
	if w == nil {
		return nil, errors.New("compile: nil workflow")
	}
	if w.Composition != nil {
		return compileConducted(w, opt)
	}
	if err := composer.Validate(w, composer.Options{ActionExists: opt.ActionExists}); err != nil {
		return nil, err
	}
	ns := w.EffectiveNamespace()
	if ns == composer.DefaultNamespace && opt.Namespace != "" {
		ns = opt.Namespace
	}
	b := &builder{ns: ns, deployNS: opt.Namespace, steps: map[string]spec.Step{}, ids: map[string]bool{},
		suffix: map[string]int{}, stubOf: map[string]*stub{}, regions: map[composer.Node]bool{}}
	root := w.Root
	if _, ok := root.(*composer.Sequence); !ok {
		root = &composer.Sequence{Meta: *root.NodeMeta(), Steps: []composer.Node{root}}
	}
	b.findRegions(root)
	out := b.node(root, "s", nil, place{end: true, alone: true})
	b.resolve()
	if len(b.errs) == 0 && sameIDs(out, nil) {
		b.refuse(root, "workflow without actions", "pass-through support (a workflow whose result is its input)")
	}
	if len(b.steps) > spec.MaxSteps {
		runs := 0
		for _, st := range b.steps {
			if st.Action != "" || st.Value != nil {
				runs++
			}
		}
		b.errs = append(b.errs, composer.ErrorList{composer.Errorf(composer.ErrTooLarge, w.Pos, w.Path,
			"workflow %q compiles to %d steps, more than the %d a compiled workflow holds: its %d actions and values need %d routers, joins and forks besides",
			w.Name, len(b.steps), spec.MaxSteps, runs, len(b.steps)-runs)})
	}
	if len(b.errs) > 0 {
		return nil, errors.Join(b.errs...)
	}
	s := &spec.Spec{Workflow: w.Name, Namespace: ns, Start: b.start, Steps: b.steps, StartJoin: b.startJoin}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("compile: workflow %q: the compiled spec is invalid: %w", w.Name, err)
	}
	return s, nil
}

// place says where a node sits.
type place struct {
	// end: the node's results are the workflow's results, which the
	// entry collects (a final parallel's branches need no join).
	end bool
	// alone: nothing beside the node takes its input (the results of
	// the steps in, or the run's input when in is nil), so the step
	// before it can take its switch or open its join region, and the
	// run's start can be a join's fork (the spec's start join). A branch
	// of a parallel is not alone.
	alone bool
}

type builder struct {
	ns       string
	deployNS string
	start    []string
	steps    map[string]spec.Step
	ids      map[string]bool
	errs     []error
	// startJoin is the join of a workflow that opens with a parallel
	// followed by more steps.
	startJoin string
	// stubs are placeholder steps standing for an edge whose targets are
	// not known while its source is compiled (a switch case, a default, a
	// catch): the node after them links to the stub, and resolve moves
	// the stub's Next to the owners' slot.
	stubs []*stub
	// levels counts the loop bodies and join regions around the node
	// being compiled: each is a level of a frame's Outer, at most
	// spec.MaxNesting.
	levels int
	// order lists step ids as newID made them: the steps a node made are
	// those after a mark taken before it (since).
	order []string
	// suffix is, per wanted id, the next "~n" newID tries.
	suffix map[string]int
	// stubOf maps a stub's id to it.
	stubOf map[string]*stub
	// regions holds the nodes that hold a parallel or a map (findRegions).
	regions map[composer.Node]bool
}

// mark returns a mark for since.
func (b *builder) mark() int { return len(b.order) }

// since returns the ids of the steps made after mark m, in the order they
// were made, stubs included.
func (b *builder) since(m int) []string { return b.order[m:] }

// findRegions records in b.regions every node that is, or holds, a
// parallel or a map, in one walk.
func (b *builder) findRegions(n composer.Node) bool {
	has := false
	switch n := n.(type) {
	case *composer.Parallel:
		for _, br := range n.Branches {
			b.findRegions(br.Node)
		}
		has = true
	case *composer.Map:
		b.findRegions(n.Body)
		has = true
	case *composer.Sequence:
		for _, s := range n.Steps {
			has = b.findRegions(s) || has
		}
	case *composer.If:
		has = b.findRegions(n.Then)
		has = b.findRegions(n.Else) || has
	case *composer.Switch:
		for _, c := range n.Cases {
			has = b.findRegions(c.Node) || has
		}
		has = b.findRegions(n.Default) || has
	case *composer.While:
		has = b.findRegions(n.Body)
	case *composer.Try:
		has = b.findRegions(n.Body)
		has = b.findRegions(n.Catch) || has
	case *composer.Retry:
		has = b.findRegions(n.Body)
	}
	if has {
		b.regions[n] = true
	}
	return has
}

// enter opens a level (a loop body or a join region) for n, or refuses n
// when that would be one too many.
func (b *builder) enter(n composer.Node) bool {
	if b.levels >= spec.MaxNesting {
		b.refuse(n, n.Kind(), fmt.Sprintf("support for more than %d nested loops and join regions", spec.MaxNesting))
		return false
	}
	b.levels++
	return true
}

// stub is a placeholder step: its Next, once the workflow is compiled,
// becomes the slot of each owner.
type stub struct {
	id     string
	owners []string
	slot   func(st *spec.Step, next []string)
}

func (b *builder) newStub(id string, owners []string, slot func(st *spec.Step, next []string)) string {
	sid := b.newID(id + "~stub")
	b.steps[sid] = spec.Step{Action: "/-/stub"}
	s := &stub{id: sid, owners: owners, slot: slot}
	b.stubs = append(b.stubs, s)
	b.stubOf[sid] = s
	return sid
}

// resolve replaces every stub by its targets (a stub may itself be
// another stub's target, or a start step), in its owners' slots, in one
// pass over the steps.
func (b *builder) resolve() {
	if len(b.stubs) == 0 {
		return
	}
	targets := make(map[string][]string, len(b.stubs)) // a stub's, expanded
	hasStub := func(list []string) bool {
		for _, x := range list {
			if b.stubOf[x] != nil {
				return true
			}
		}
		return false
	}
	// expand returns list with each stub replaced by its targets.
	var expand func(list []string) []string
	expand = func(list []string) []string {
		if !hasStub(list) {
			return list
		}
		out := make([]string, 0, len(list))
		for _, x := range list {
			if b.stubOf[x] == nil {
				out = append(out, x)
				continue
			}
			t, ok := targets[x]
			if !ok {
				targets[x] = nil // stubs link forward only; this ends a cycle if one ever came
				t = expand(b.steps[x].Next)
				targets[x] = t
			}
			out = append(out, t...)
		}
		return out
	}
	for i := len(b.stubs) - 1; i >= 0; i-- { // inner stubs were made last: an owner's inner slot wins
		s := b.stubs[i]
		next := expand([]string{s.id})
		for _, o := range s.owners {
			st := b.steps[o]
			s.slot(&st, next)
			b.steps[o] = st
		}
	}
	for id, st := range b.steps {
		if b.stubOf[id] == nil && hasStub(st.Next) {
			st.Next = expand(st.Next)
			b.steps[id] = st
		}
	}
	b.start = expand(b.start)
	for _, s := range b.stubs {
		delete(b.steps, s.id)
		delete(b.ids, s.id)
	}
}

// single returns the one action (or router) step a condition can be
// tested on, or that can open a join region, or false: the route plane
// tests a switch on the result of one step.
func (b *builder) single(in []string) (string, bool) {
	if len(in) != 1 || b.stubOf[in[0]] != nil {
		return "", false
	}
	st := b.steps[in[0]]
	// A fork's result goes into its region as it is: it takes no switch.
	// A constant, a join and a map only pass their value on.
	return in[0], len(st.Next) == 0 && len(st.Switch) == 0 && st.Fork == "" &&
		st.Value == nil && st.Join == nil && st.Map == nil
}

// choice compiles an if or a switch: the step before it gets a switch on
// its result, one case per alternative (their bodies start from a stub),
// and a default (els, or straight on when els is nil).
func (b *builder) choice(n composer.Node, kind, id string, in []string, at place, cases []composer.Case, els composer.Node) []string {
	p, ok := b.single(in)
	if !ok || !at.alone {
		// The value comes from the run's input or from one of several
		// steps, or it goes elsewhere too: a router step (no action)
		// holds the switch.
		p = b.newID(id + "-" + kind)
		b.steps[p] = spec.Step{}
		b.link(in, p)
	}
	{
		st := b.steps[p]
		st.Switch = make([]spec.Case, len(cases))
		for i, c := range cases {
			when, err := json.Marshal(c.Cond.Wire())
			if err != nil {
				b.errs = append(b.errs, fmt.Errorf("compile: %s: condition: %w", n.NodeMeta().Path, err))
				return in
			}
			st.Switch[i].When = when
		}
		b.steps[p] = st
	}
	var out []string
	for i, c := range cases {
		i := i
		sid := b.newStub(fmt.Sprintf("%s.c%d", id, i+1), []string{p}, func(st *spec.Step, next []string) { st.Switch[i].Next = next })
		out = append(out, b.node(c.Node, fmt.Sprintf("%s.c%d", id, i+1), []string{sid}, place{alone: true})...)
	}
	sid := b.newStub(id+".else", []string{p}, func(st *spec.Step, next []string) { st.Default = next })
	if els == nil {
		return append(out, sid)
	}
	// Every alternative gives one result (end is unset: a parallel in
	// one is joined), or the run's result count would depend on it.
	return append(out, b.node(els, id+".else", []string{sid}, place{alone: true})...)
}

// try compiles the body, then gives every step of it a catch: the catch
// body, which starts from a stub; both go on to what follows.
func (b *builder) try(n *composer.Try, id string, in []string, at place) []string {
	if b.regions[n.Body] {
		// A catch would lead out of the join region of the body's
		// parallel (or map), whose join would wait for it forever.
		for _, r := range regionsIn(n.Body) {
			b.refuse(r, r.Kind(), "support for a catch around a parallel or a map (a try whose body holds one; put the try inside its branches or its do)")
		}
		return in
	}
	m := b.mark()
	out := b.node(n.Body, id+".do", in, place{alone: at.alone})
	// Only an action fails: routers, constants, joins and maps take no
	// catch.
	var owners []string
	inLoop := false
	for _, s := range b.since(m) {
		if st := b.steps[s]; b.stubOf[s] == nil && st.Action != "" {
			owners = append(owners, s)
			// A loop in the body has already marked its body's steps;
			// the try's own steps are marked later, by an enclosing loop.
			inLoop = inLoop || st.InLoop != ""
		}
	}
	if len(owners) == 0 {
		b.refuse(n, "try", "support for a try without actions")
		return in
	}
	if inLoop {
		b.refuse(n, "try", "support for a catch around a loop (a try whose body holds a while or a do-while; put the try inside the loop's body)")
		return in
	}
	sort.Strings(owners)
	sid := b.newStub(id+".catch", owners, func(st *spec.Step, next []string) { st.Catch = next })
	return append(out, b.node(n.Catch, id+".catch", []string{sid}, place{alone: true})...)
}

// loop compiles a while or a do-while: a loop head W (a router with the
// loop's bound, one switch case on the condition whose Next is the body's
// first steps, and a default that is what follows the loop), and the body,
// whose steps are all in W's body (InLoop) and whose last steps go back to
// W. A while's input goes to W; a do-while's goes to the body's first
// steps, so that the body runs once before the first test.
func (b *builder) loop(n *composer.While, id string, in []string) []string {
	if b.regions[n.Body] {
		for _, r := range regionsIn(n.Body) {
			b.refuse(r, r.Kind(), "support for a parallel or a map inside a loop body")
		}
		return in
	}
	when, err := json.Marshal(n.Cond.Wire())
	if err != nil {
		b.errs = append(b.errs, fmt.Errorf("compile: %s: condition: %w", n.Path, err))
		return in
	}
	if !b.enter(n) {
		return in
	}
	defer func() { b.levels-- }()
	w := b.newID(id + "-" + n.Kind())
	b.steps[w] = spec.Step{Loop: &spec.Loop{Max: n.Max}, Switch: []spec.Case{{When: when}}}
	body := b.newStub(id+".do", []string{w}, func(st *spec.Step, next []string) { st.Switch[0].Next = next })
	m := b.mark()
	errs := len(b.errs)
	ends := b.node(n.Body, id+".do", []string{body}, place{alone: true})
	if len(b.errs) > errs { // refused inside: the body is not whole
		return in
	}
	actions := false
	for _, s := range b.since(m) {
		if st := b.steps[s]; b.stubOf[s] == nil {
			actions = actions || st.Action != ""
			if st.InLoop == "" { // an inner loop's body is in that loop
				st.InLoop = w
				b.steps[s] = st
			}
		}
	}
	if !actions {
		b.refuse(n, n.Kind(), "support for a loop body without actions")
		return in
	}
	for _, first := range b.steps[body].Next {
		if b.stubOf[first] == nil && b.steps[first].InLoop != w {
			// The body opens with a do-while, whose body's first steps
			// are in that loop: the head's case must lead to a step of
			// its own body, a router (no action) in front of them.
			r := b.newID(id + ".do-enter")
			st := b.steps[body]
			b.steps[r] = spec.Step{Next: st.Next, InLoop: w}
			st.Next = []string{r}
			b.steps[body] = st
			break
		}
	}
	if n.Do {
		for _, first := range append([]string(nil), b.steps[body].Next...) {
			b.link(in, first)
		}
	} else {
		b.link(in, w)
	}
	b.link(ends, w) // the back edge
	return []string{b.newStub(id+".end", []string{w}, func(st *spec.Step, next []string) { st.Default = next })}
}

// regionsIn returns the outermost parallels and maps in n: the nodes that
// would open a join region.
func regionsIn(n composer.Node) []composer.Node {
	var out []composer.Node
	var walk func(composer.Node)
	walk = func(n composer.Node) {
		switch n := n.(type) {
		case *composer.Parallel, *composer.Map:
			out = append(out, n)
		case *composer.Sequence:
			for _, s := range n.Steps {
				walk(s)
			}
		case *composer.If:
			walk(n.Then)
			walk(n.Else)
		case *composer.Switch:
			for _, c := range n.Cases {
				walk(c.Node)
			}
			walk(n.Default)
		case *composer.While:
			walk(n.Body)
		case *composer.Try:
			walk(n.Body)
			walk(n.Catch)
		case *composer.Retry:
			walk(n.Body)
		}
	}
	walk(n)
	return out
}

// retry gives the one action of its body a retry.
func (b *builder) retry(n *composer.Retry, id string, in []string) []string {
	a, ok := n.Body.(*composer.Action)
	if !ok {
		b.refuse(n, "retry", "support for retrying more than one action (retry one action at a time)")
		return in
	}
	out := b.action(a, id, in)
	st := b.steps[out[0]]
	st.Retry = &spec.Retry{Attempts: n.Max, BackoffMS: int(n.Backoff.Milliseconds())}
	b.steps[out[0]] = st
	return out
}

func (b *builder) refuse(n composer.Node, construct, feature string) {
	m := n.NodeMeta()
	b.errs = append(b.errs, &NeedsRoutePlaneError{Construct: construct, Pos: m.Pos, Path: m.Path, Feature: feature})
}

// node compiles n, whose input comes from the steps in (nil: the run's
// input), and returns the steps whose results are n's results. id is the
// step id prefix of n's place.
func (b *builder) node(n composer.Node, id string, in []string, at place) []string {
	switch n := n.(type) {
	case *composer.Action:
		return b.action(n, id, in)
	case *composer.Sequence:
		return b.sequence(n, id, in, at)
	case *composer.Parallel:
		return b.parallel(n, id, in, at)
	case *composer.Pass:
		return in
	case *composer.Map:
		return b.mapNode(n, id, in, at)
	case *composer.If:
		cases := []composer.Case{{Cond: n.Cond, Node: n.Then}}
		return b.choice(n, "if", id, in, at, cases, n.Else)
	case *composer.Switch:
		return b.choice(n, "switch", id, in, at, n.Cases, n.Default)
	case *composer.While:
		return b.loop(n, id, in)
	case *composer.Try:
		return b.try(n, id, in, at)
	case *composer.Retry:
		return b.retry(n, id, in)
	case *composer.Value:
		vid := b.newID(id + "-value")
		b.steps[vid] = spec.Step{Value: n.Result()}
		b.link(in, vid)
		return []string{vid}
	default:
		b.refuse(n, n.Kind(), n.Kind()+" support")
	}
	return in
}

func (b *builder) action(n *composer.Action, id string, in []string) []string {
	fqn, err := composer.ResolveAction(b.ns, n.Name)
	if err != nil { // Validate has checked it; keep the error anyway
		b.errs = append(b.errs, fmt.Errorf("compile: %s: %w", n.Path, err))
		return in
	}
	if b.deployNS != "" && strings.HasPrefix(fqn, "/"+composer.DefaultNamespace+"/") {
		fqn = "/" + b.deployNS + fqn[len(composer.DefaultNamespace)+1:]
	}
	sid := b.newID(id + "-" + base(fqn))
	b.steps[sid] = spec.Step{Action: fqn}
	b.link(in, sid)
	return []string{sid}
}

// link makes step id a successor of every step in in, or a start step.
func (b *builder) link(in []string, id string) {
	if in == nil {
		b.start = append(b.start, id)
		return
	}
	for _, p := range in {
		st := b.steps[p]
		st.Next = append(st.Next, id)
		b.steps[p] = st
	}
}

func (b *builder) sequence(n *composer.Sequence, id string, in []string, at place) []string {
	last := -1 // the last step that is not a pass
	for i, s := range n.Steps {
		if _, pass := s.(*composer.Pass); !pass {
			last = i
		}
	}
	cur := in
	for i, s := range n.Steps {
		sub := fmt.Sprintf("%s%d", id, i+1)
		if id != "s" {
			sub = fmt.Sprintf("%s.%d", id, i+1)
		}
		// A step after another takes that one's results alone.
		cur = b.node(s, sub, cur, place{end: at.end && i >= last, alone: at.alone || !sameIDs(cur, in)})
	}
	return cur
}

func (b *builder) parallel(n *composer.Parallel, id string, in []string, at place) []string {
	switch {
	case !at.end || n.EffectiveMerge() == composer.MergeObject || len(n.Branches) == 1:
		// A join step merges the branches (at the entry) and goes on.
		return b.joined(n, id, in, at)
	}
	var out []string
	for i, br := range n.Branches {
		name := br.Name
		if name == "" {
			name = fmt.Sprintf("b%d", i+1)
		}
		bid := id + "." + sanitize(name)
		// Each branch gives one result, one element of the array (end
		// is unset: a parallel in it is joined, not collected here);
		// the branches share in (alone is unset).
		got := b.node(br.Node, bid, in, place{})
		if sameIDs(got, in) {
			b.refuse(br.Node, "parallel branch "+name, "pass-through branch support (a branch without actions)")
			continue
		}
		out = append(out, got...)
	}
	return out
}

func sameIDs(a, b []string) bool {
	if len(a) != len(b) || (a == nil) != (b == nil) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// base returns the last part of an action name.
func base(fqn string) string { return sanitize(fqn[strings.LastIndexByte(fqn, '/')+1:]) }

// sanitize keeps [A-Za-z0-9_-] and turns everything else into '_'.
func sanitize(s string) string {
	var sb strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
			sb.WriteRune(r)
		default:
			sb.WriteByte('_')
		}
	}
	return sb.String()
}

// newID returns want, shortened to fit spec.MaxIDLen and suffixed with
// ~2, ~3... if taken, and records it in b.order.
func (b *builder) newID(want string) string {
	const room = 8 // for a "~n" suffix
	if len(want) > spec.MaxIDLen-room {
		want = want[:spec.MaxIDLen-room]
	}
	id := want
	if b.ids[id] {
		// The suffixes below b.suffix[want] are taken (ids are never
		// freed while compiling): start from there, not from 2 again.
		i := max(b.suffix[want], 2)
		for id = fmt.Sprintf("%s~%d", want, i); b.ids[id]; id = fmt.Sprintf("%s~%d", want, i) {
			i++
		}
		b.suffix[want] = i + 1
	}
	b.ids[id] = true
	b.order = append(b.order, id)
	return id
}

// joined compiles a parallel whose branches end in a join step: the step
// before it (or the run's start) opens the join's region, every step of
// the branches is in it, and the join's merge is the parallel's result.
func (b *builder) joined(n *composer.Parallel, id string, in []string, at place) []string {
	fork := ""
	switch {
	case in == nil && at.alone && b.startJoin == "":
		// The run's start opens the region (fork stays "").
	case in == nil:
		// The run's input goes elsewhere too (the parallel is a branch
		// of another one, or of a final parallel): a router step at the
		// start opens the region.
		fork = b.newID(id + "-fork")
		b.steps[fork] = spec.Step{}
		b.link(nil, fork)
		in = []string{fork}
	default:
		p, ok := b.single(in)
		if !ok || !at.alone {
			// Several steps (or a constant, a join, a map) produce the
			// value, or it goes elsewhere too: a router step (no action)
			// opens the region.
			p = b.newID(id + "-fork")
			b.steps[p] = spec.Step{}
			b.link(in, p)
		}
		fork, in = p, []string{p}
	}
	if !b.enter(n) {
		return in
	}
	defer func() { b.levels-- }()
	join := &spec.Join{Merge: spec.MergeArray}
	if n.EffectiveMerge() == composer.MergeObject {
		join.Merge = spec.MergeObject
	}
	jid := b.newID(id + ".join")
	b.steps[jid] = spec.Step{Join: join}
	if fork != "" { // now: a node at the start of a branch must not take it as its own
		st := b.steps[fork]
		st.Fork = jid
		b.steps[fork] = st
	}
	m := b.mark()
	var ends []string
	for i, br := range n.Branches {
		name := br.Name
		if name == "" {
			name = fmt.Sprintf("b%d", i+1)
		}
		got := b.node(br.Node, id+"."+sanitize(name), in, place{})
		if sameIDs(got, in) {
			b.refuse(br.Node, "parallel branch "+name, "pass-through branch support (a branch without actions)")
			continue
		}
		ends = append(ends, got...)
		join.Names = append(join.Names, br.Name)
	}
	if join.Merge != spec.MergeObject {
		join.Names = nil
	}
	b.enclose(m, jid)
	b.link(ends, jid)
	if fork == "" {
		b.startJoin = jid
	}
	return []string{jid}
}

// mapNode compiles a map: a map step (linked from in, or a start step)
// opens the region of its join; the body, compiled from the map step, is
// the region, and its ends meet in the join, whose merge (the results in
// element order) is the map's result.
func (b *builder) mapNode(n *composer.Map, id string, in []string, at place) []string {
	if !b.enter(n) {
		return in
	}
	defer func() { b.levels-- }()
	jid := b.newID(id + ".join")
	mid := b.newID(id + ".map")
	b.steps[jid] = spec.Step{Join: &spec.Join{Merge: spec.MergeArray}}
	b.steps[mid] = spec.Step{Map: &spec.Map{Over: n.Over, Concurrency: n.Concurrency}, Fork: jid}
	b.link(in, mid)
	m := b.mark()
	errs := len(b.errs)
	ends := b.node(n.Body, id+".do", []string{mid}, place{alone: true})
	if sameIDs(ends, []string{mid}) {
		if len(b.errs) == errs { // not already refused inside
			b.refuse(n, "map", "a map without actions")
		}
		return in
	}
	b.enclose(m, jid)
	b.link(ends, jid)
	return []string{jid}
}

// enclose puts the steps made since mark m into the region of join jid,
// except those already in an inner region: a parallel or a map nested in
// this one has put its own steps in its join's region, and its join (and
// its fork, when that is new) comes into this one.
func (b *builder) enclose(m int, jid string) {
	for _, s := range b.since(m) {
		if st := b.steps[s]; b.stubOf[s] == nil && st.In == "" {
			st.In = jid
			b.steps[s] = st
		}
	}
}
