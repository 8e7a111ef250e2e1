package spec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Limits on what a spec may hold; they bound what a frame names.
const (
	MaxSteps   = 1024 // steps in one spec
	MaxIDLen   = 128  // bytes in a step id or a workflow name
	MaxNext    = 256  // successors of one step
	MaxPaths   = 1 << 20
	MaxNameLen = 256 // bytes in a namespace or workflow name CheckName accepts

	maxActionLen = 256 // bytes in a fully qualified action name
)

// Spec is a compiled workflow: which steps exist, which action each runs,
// and where each step's result goes. It is a DAG: a step with several
// successors fans its result out to all of them, one branch each; a step
// with none sends its result to the run's reply-to (the entry), which
// collects one result per path through the DAG.
type Spec struct {
	// Workflow is the workflow's name, unique in its namespace.
	Workflow string `json:"workflow"`
	// Namespace is the OpenWhisk namespace the workflow and its runs belong to.
	Namespace string `json:"namespace"`
	// Version is the Consul modify index the spec was read at. It is not
	// stored in the spec's JSON; the store sets it.
	Version uint64 `json:"-"`
	// Start lists the steps that receive the run's input.
	Start []string `json:"start"`
	// Steps maps step ids to steps.
	Steps map[string]Step `json:"steps"`
	// StartJoin names the join where the paths of the start steps end,
	// for a workflow that opens with a parallel followed by more steps.
	StartJoin string `json:"start_join,omitempty"`

	// paths caches, per step, the number of result paths from it; Validate
	// fills it (a spec does not change once validated), and the methods
	// compute it afresh for a spec that was never validated.
	paths map[string]int
	// slots caches JoinSlots per join, filled by Validate too.
	slots map[string]int
	// kinds caches the Kind of every step, filled by Validate too (and
	// left nil when Validate fails).
	kinds map[string]Kind
}

// Step is one node of the workflow. Which of Action, Value, Join, Map and
// Loop it sets makes its Kind, and its kind decides which of the other
// fields it may have (kind.go).
type Step struct {
	// Action is the fully qualified name of the OpenWhisk action the step
	// runs: "/namespace/name" or "/namespace/package/name".
	Action string `json:"action"`
	// Next lists the successors that receive the step's result. Empty
	// means the result is one of the run's results.
	Next []string `json:"next,omitempty"`
	// Switch routes the result by conditions instead of Next: the first
	// case whose condition holds for the result sends it to its Next;
	// when none holds, it goes to Default. A step has Switch or Next, not
	// both (see route.go).
	Switch []Case `json:"switch,omitempty"`
	// Default is where a switch sends a result no case takes; empty means
	// the result is one of the run's results.
	Default []string `json:"default,omitempty"`
	// Retry runs the action again when it fails.
	Retry *Retry `json:"retry,omitempty"`
	// Catch receives the step's failure, {"error": ...}, when the action
	// still fails after its retries, instead of the run failing there.
	Catch []string `json:"catch,omitempty"`
	// Join makes the step a join (it has no action): it waits for one
	// result from each path of its region, merges them, and sends the
	// merged value to Next (see join.go).
	Join *Join `json:"join,omitempty"`
	// A step with no action, value, join or map is a router: it passes its
	// input on, by its switch or to Next (or, as a fork, into its join's
	// region); the proxy that would send to it routes instead.
	//
	// Value makes the step a constant (it has no action): its result is
	// Value, whatever its input. The proxy that would send to it sends
	// Value on to the step's successors instead.
	Value json.RawMessage `json:"value,omitempty"`
	// Map makes the step a map (it has no action): the array it finds in
	// the value goes element by element through its region (Next, to the
	// join named by Fork), and the join collects one result per element,
	// in element order (see mapstep.go).
	Map *Map `json:"map,omitempty"`
	// Fork names the join where the paths of this step's successors end:
	// the step opens that join's region.
	Fork string `json:"fork,omitempty"`
	// In names the join all of this step's paths lead to: the step is in
	// that join's region.
	In string `json:"in,omitempty"`
	// Loop makes the step a loop head (no action: a router with one switch
	// case, the loop's body, and a default, what follows the loop): each
	// time the value reaches it, the body runs on the value while the
	// case's condition holds (see loop.go).
	Loop *Loop `json:"loop,omitempty"`
	// InLoop names the loop head whose body the step is in: its paths lead
	// back to that head.
	InLoop string `json:"in_loop,omitempty"`
}

// Parse decodes a spec from JSON and validates it.
func Parse(data []byte) (*Spec, error) {
	var s Spec
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("spec: %w", err)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Marshal encodes s as JSON, with its steps in a stable order.
func (s *Spec) Marshal() ([]byte, error) { return json.Marshal(s) }

// Validate reports the first problem that would make s unroutable: missing
// names, steps with fields their kind may not have, unknown or repeated
// successors, malformed action names, cycles. A spec it accepts caches
// what its methods compute (each step's Kind, path and slot counts), so it
// must not change afterwards.
func (s *Spec) Validate() (err error) {
	s.kinds = nil // until every step has its kind, and again if s is refused
	defer func() {
		if err != nil {
			s.kinds = nil
		}
	}()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("spec %q: "+format, append([]any{s.Workflow}, args...)...)
	}
	switch {
	case s.Workflow == "" || len(s.Workflow) > MaxIDLen || strings.ContainsAny(s.Workflow, "/ \n"):
		return bad("workflow name must be 1 to %d bytes without '/', spaces or newlines", MaxIDLen)
	case s.Namespace == "" || strings.ContainsAny(s.Namespace, "/ \n"):
		return bad("namespace must be non-empty, without '/', spaces or newlines")
	case len(s.Start) == 0:
		return bad("no start step")
	case len(s.Steps) > MaxSteps:
		return bad("%d steps, more than %d", len(s.Steps), MaxSteps)
	}
	if err := checkRefs(s.Start, s.Steps, "start"); err != nil {
		return bad("%v", err)
	}
	kinds := make(map[string]Kind, len(s.Steps))
	for _, id := range s.StepIDs() {
		st := s.Steps[id]
		if id == "" || len(id) > MaxIDLen {
			return bad("step id %q must be 1 to %d bytes", id, MaxIDLen)
		}
		k, err := kindOf(id, st)
		if err != nil {
			return bad("%v", err)
		}
		kinds[id] = k
		switch k {
		case KindAction:
			if err := checkAction(st.Action); err != nil {
				return bad("step %q: %v", id, err)
			}
		case KindValue:
			if err := checkValue(id, st); err != nil {
				return bad("%v", err)
			}
		}
		if len(st.Next) > MaxNext {
			return bad("step %q: %d successors, more than %d", id, len(st.Next), MaxNext)
		}
		if err := checkRefs(st.Next, s.Steps, "step "+id+" next"); err != nil {
			return bad("%v", err)
		}
		if err := s.checkRoutes(id, st); err != nil {
			return bad("%v", err)
		}
	}
	s.kinds = kinds // the checks below ask Kind
	if cycle := s.findCycle(); cycle != nil {
		return bad("cycle: %s", strings.Join(cycle, " -> "))
	}
	if err := s.checkJoins(); err != nil {
		return bad("%v", err)
	}
	if err := s.checkLoops(); err != nil {
		return bad("%v", err)
	}
	memo := make(map[string]int, len(s.Steps))
	n := s.pathsOfStart(memo)
	if n > MaxPaths {
		return bad("%d result paths, more than %d", n, MaxPaths)
	}
	for id := range s.Steps { // complete, so that readers never write to it
		s.pathsFrom(id, memo)
	}
	if err := s.checkAlternatives(memo); err != nil {
		return bad("%v", err)
	}
	slots := map[string]int{}
	for id, k := range kinds {
		if k == KindJoin {
			slots[id] = s.joinSlots(id)
		}
	}
	s.paths, s.slots = memo, slots
	return nil
}

func checkRefs(ids []string, steps map[string]Step, where string) error {
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if _, ok := steps[id]; !ok {
			return fmt.Errorf("%s names unknown step %q", where, id)
		}
		if seen[id] {
			return fmt.Errorf("%s names step %q twice", where, id)
		}
		seen[id] = true
	}
	return nil
}

// checkAction accepts "/ns/name" and "/ns/pkg/name".
func checkAction(name string) error {
	parts := strings.Split(name, "/")
	if len(name) > maxActionLen || parts[0] != "" || len(parts) < 3 || len(parts) > 4 {
		return fmt.Errorf("action %q is not a fully qualified name (/namespace/[package/]name)", name)
	}
	for _, p := range parts[1:] {
		if p == "" || strings.ContainsAny(p, " \n") {
			return fmt.Errorf("action %q has an empty or blank part", name)
		}
	}
	return nil
}

// StepIDs returns the ids of s's steps, sorted.
func (s *Spec) StepIDs() []string {
	ids := make([]string, 0, len(s.Steps))
	for id := range s.Steps {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// findCycle returns the steps of one cycle, or nil.
func (s *Spec) findCycle() []string {
	const (
		unseen = iota
		onPath
		done
	)
	state := make(map[string]int, len(s.Steps))
	var path []string
	var visit func(id string) []string
	visit = func(id string) []string {
		switch state[id] {
		case onPath:
			for i, p := range path {
				if p == id {
					return append(append([]string{}, path[i:]...), id)
				}
			}
		case done:
			return nil
		}
		state[id] = onPath
		path = append(path, id)
		st := s.Steps[id]
		for _, n := range st.successors() {
			if n == st.InLoop {
				continue // the back edge of a loop body to its head
			}
			if c := visit(n); c != nil {
				return c
			}
		}
		path = path[:len(path)-1]
		state[id] = done
		return nil
	}
	for _, id := range s.StepIDs() {
		if c := visit(id); c != nil {
			return c
		}
	}
	return nil
}

// Paths returns the number of results a run of s produces: the number of
// paths from the start steps to steps without successors. It is the number
// the entry waits for.
func (s *Spec) Paths() int { return s.pathsOfStart(s.memo()) }

// StartAt returns the hop of a run that starts at step id instead of the
// spec's start steps, and the number of results such a run gives. An
// entry that conducts a composition (composer's conductor runs in the
// entry) starts one such run per action it invokes. id must be a step
// outside every join region and loop body.
func (s *Spec) StartAt(id string) ([]Hop, int, error) {
	st, ok := s.Steps[id]
	switch {
	case !ok:
		return nil, 0, fmt.Errorf("spec %q: no step %q to start at", s.Workflow, id)
	case st.In != "" || st.InLoop != "":
		return nil, 0, fmt.Errorf("spec %q: step %q is inside a join region or a loop: a run cannot start there", s.Workflow, id)
	}
	return []Hop{{Step: id}}, s.pathsFrom(id, s.memo()), nil
}

// pathsOfStart counts the run's results from its start steps: through
// the start join when the run opens with a join region.
func (s *Spec) pathsOfStart(memo map[string]int) int {
	if s.StartJoin != "" {
		return s.pathsFrom(s.StartJoin, memo)
	}
	n := 0
	for _, id := range s.Start {
		n += s.pathsInto(id, memo)
	}
	return n
}

// pathsInto is the number of result paths of a value sent to step id from
// outside the loops id is in: a value that enters a loop's body other
// than through its head reaches the head, and goes on from there.
func (s *Spec) pathsInto(id string, memo map[string]int) int {
	if s.Steps[id].InLoop != "" {
		id = s.Loops(id)[0]
	}
	return s.pathsFrom(id, memo)
}

// memo returns the path counts Validate cached, or a fresh map to fill.
func (s *Spec) memo() map[string]int {
	if s.paths != nil {
		return s.paths
	}
	return make(map[string]int, len(s.Steps))
}

func (s *Spec) pathsFrom(id string, memo map[string]int) int {
	if n, ok := memo[id]; ok {
		return n
	}
	st := s.Steps[id]
	var n int
	switch {
	case st.Fork != "":
		n = s.pathsFrom(st.Fork, memo) // its region's paths end in the join
	case st.InLoop != "":
		n = 0 // its paths lead back to its loop's head
	case st.In != "":
		n = 0 // its paths end in a join: they are no results of the run
	default:
		n = s.pathsOf(st.primary(), memo)
	}
	memo[id] = n
	return n
}

// pathsOf is the number of result paths from a list of successors: one
// (the result itself) when the list is empty.
func (s *Spec) pathsOf(next []string, memo map[string]int) int {
	if len(next) == 0 {
		return 1
	}
	n := 0
	for _, id := range next {
		n += s.pathsInto(id, memo)
		if n > MaxPaths {
			return MaxPaths + 1
		}
	}
	return n
}

// Hop is one frame to send: step Step, branch Branch.
type Hop struct {
	Step   string
	Branch uint32
}

// StartHops returns the frames that begin a run: one per start step, each
// with the first branch number of the paths below it.
func (s *Spec) StartHops() []Hop {
	if s.StartJoin != "" {
		return s.slotHops(s.Start, 0, 0, s.StartJoin)
	}
	return s.fanOut(s.Start, 0)
}

// NextHops returns where the result of step id, running as branch, goes.
// Branch numbers are assigned so that every result path of the run ends
// with a distinct branch in [0, Paths()): a fan-out gives successor i the
// branch of its parent plus the number of paths under successors 0..i-1.
// An empty result means the result goes to the run's reply-to as branch.
func (s *Spec) NextHops(id string, branch uint32) []Hop {
	return s.fanOut(s.Steps[id].Next, branch)
}

func (s *Spec) fanOut(next []string, base uint32) []Hop {
	if len(next) == 0 {
		return nil
	}
	memo := s.memo()
	hops := make([]Hop, len(next))
	off := base
	for i, id := range next {
		hops[i] = Hop{Step: id, Branch: off}
		off += uint32(s.pathsInto(id, memo))
	}
	return hops
}

// Key names the spec in a store and in frames: "namespace/workflow".
func (s *Spec) Key() string { return s.Namespace + "/" + s.Workflow }
