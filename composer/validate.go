package composer

import (
	"encoding/json"
	"fmt"
)

// Options tunes Validate.
type Options struct {
	// ActionExists, when set, reports whether an action with the given
	// fully qualified name exists; Validate reports every action for which
	// it returns false as ErrUnknownAction. Nil skips the check.
	ActionExists func(fqn string) bool
}

// Validate reports every problem of w as an ErrorList (nil when there is
// none): unknown fields, bad names, empty sequences, parallels without
// branches, object merges with unnamed or repeated branch names, negative
// map concurrency, retries with max < 1, loop bounds out of range, bad
// conditions and, with opt.ActionExists, unknown actions. Each problem
// names its position and path. A workflow read from composer JSON
// (Composition) has no Root: its name, namespace and actions are checked. A workflow past MaxSteps or MaxNodes is
// reported (ErrTooLarge) at the first node past the limit, and Validate
// looks no further: the problems found before that one come with it.
func Validate(w *Workflow, opt Options) error {
	v := validator{opt: opt, ns: w.EffectiveNamespace()}
	v.unknown(&w.Meta, "workflow")
	at := func(p Position) Position {
		if p == (Position{}) {
			return w.Pos
		}
		return p
	}
	switch {
	case w.Name == "" && w.NamePos == (Position{}):
		v.add(w.Pos, "", "missing field \"name\": name the workflow (its entry action gets the name)")
	default:
		if err := CheckName(w.Name); err != nil {
			v.add(at(w.NamePos), ".name", "workflow name: %v", err)
		}
	}
	if err := CheckName(v.ns); err != nil {
		v.add(at(w.NamespacePos), ".namespace", "namespace: %v", err)
	}
	switch {
	case w.Composition != nil:
		// composer JSON: its steps are the conductor's (parse checks them)
	case w.Root == nil:
		v.add(w.Pos, w.Path, "workflow has no steps")
	default:
		v.node(w.Root)
	}
	v.checkActions(w.Actions)
	return v.l.Err()
}

type validator struct {
	opt    Options
	ns     string
	l      ErrorList
	budget Budget
}

func (v *validator) add(pos Position, path, format string, args ...any) {
	if v.budget.Spent() { // past the limit: nothing after it is looked at
		return
	}
	v.l = append(v.l, Errorf(ErrInvalid, pos, path, format, args...))
}

func (v *validator) unknown(m *Meta, what string) {
	for _, f := range m.Unknown {
		v.l = append(v.l, Errorf(ErrUnknownField, f.Pos, f.Path, "unknown field %q in %s", f.Key, what))
	}
}

// child validates a required sub-node.
func (v *validator) child(parent *Meta, n Node, what string) {
	if n == nil {
		v.add(parent.Pos, parent.Path, "%s is missing", what)
		return
	}
	v.node(n)
}

func (v *validator) node(n Node) {
	if v.budget.Spent() {
		return
	}
	m := n.NodeMeta()
	e := v.budget.Node(m.Pos, m.Path)
	switch n.(type) {
	case *Action, *Value:
		if e == nil {
			e = v.budget.Step(m.Pos, m.Path)
		}
	}
	if e != nil {
		v.l = append(v.l, e)
		return
	}
	v.unknown(m, n.Kind())
	switch n := n.(type) {
	case *Action:
		fqn, err := ResolveAction(v.ns, n.Name)
		switch {
		case err != nil:
			v.add(m.Pos, m.Path, "%v", err)
		case v.opt.ActionExists != nil && !v.opt.ActionExists(fqn):
			v.l = append(v.l, Errorf(ErrUnknownAction, m.Pos, m.Path,
				"action %s does not exist: create it first or fix the name", fqn))
		}
	case *Sequence:
		if len(n.Steps) == 0 {
			v.add(m.Pos, m.Path, "empty sequence: give it at least one step")
		}
		for _, s := range n.Steps {
			if v.budget.Spent() {
				break
			}
			v.child(m, s, "step")
		}
	case *Parallel:
		v.parallel(n)
	case *Map:
		if _, err := ParsePath(n.Over); err != nil {
			v.add(m.Pos, m.Path, "over: %v", err)
		}
		if n.Concurrency < 0 {
			v.add(m.Pos, m.Path, "concurrency %d is negative: use 0 for no bound", n.Concurrency)
		}
		v.child(m, n.Body, "map body (do)")
	case *If:
		checkCond(&n.Cond, &v.l)
		v.child(m, n.Then, "then")
		if n.Else != nil {
			v.node(n.Else)
		}
	case *Switch:
		if len(n.Cases) == 0 {
			v.add(m.Pos, m.Path, "switch without cases")
		}
		for i := range n.Cases {
			if v.budget.Spent() {
				break
			}
			checkCond(&n.Cases[i].Cond, &v.l)
			v.child(m, n.Cases[i].Node, fmt.Sprintf("case %d's node", i))
		}
		if n.Default != nil {
			v.node(n.Default)
		}
	case *While:
		checkCond(&n.Cond, &v.l)
		if n.Max < 0 || n.Max > MaxLoopMax {
			v.add(m.Pos, m.Path, "%s max %d is out of range: give 1 to %d iterations, or 0 for the default %d", n.Kind(), n.Max, MaxLoopMax, DefaultLoopMax)
		}
		v.child(m, n.Body, n.Kind()+" body (do)")
	case *Try:
		v.child(m, n.Body, "try body (do)")
		v.child(m, n.Catch, "catch")
	case *Retry:
		if n.Max < 1 {
			v.add(m.Pos, m.Path, "retry max %d is below 1: it counts attempts, the first included", n.Max)
		}
		if n.Backoff < 0 {
			v.add(m.Pos, m.Path, "retry backoff %v is negative", n.Backoff)
		}
		v.child(m, n.Body, "retry body (do)")
	case *Value:
		if !jsonValid(n.Value) {
			v.add(m.Pos, m.Path, "value is not valid JSON")
		}
	case *Pass:
	default:
		v.add(m.Pos, m.Path, "unknown node type %T", n)
	}
}

// jsonValid reports whether b is exactly one JSON value.
func jsonValid(b []byte) bool {
	return json.Valid(b)
}

func (v *validator) parallel(n *Parallel) {
	m := &n.Meta
	merge := n.EffectiveMerge()
	if merge != MergeArray && merge != MergeObject {
		v.add(m.Pos, m.Path, "unknown merge %q: want array or object", n.Merge)
	}
	if len(n.Branches) == 0 {
		v.add(m.Pos, m.Path, "parallel without branches: its join would have nothing to wait for")
	}
	seen := make(map[string]bool, len(n.Branches))
	for i, b := range n.Branches {
		if v.budget.Spent() {
			break
		}
		switch {
		case b.Name == "" && merge == MergeObject:
			v.add(b.Pos, m.Path, "branch %d has no name, but merge object keys results by branch name", i)
		case b.Name != "" && seen[b.Name]:
			v.add(b.Pos, m.Path, "branch name %q is used twice", b.Name)
		}
		seen[b.Name] = true
		v.child(m, b.Node, fmt.Sprintf("branch %d", i))
	}
}
