package spec

import "fmt"

// Kind is what a step is.
//
// A step's fields make its kind: Loop makes a loop head, Value a
// constant, Map a map, Join a join, Action an action step, and none of
// them a router. Each kind may have only some of the other fields
// (kindTable); Validate refuses a step with a field its kind may not have.
type Kind uint8

// The kinds of step. The zero Kind is none: Spec.Kind's answer for a
// step id the spec does not have.
const (
	KindAction Kind = iota + 1 // runs an OpenWhisk action
	KindRouter                 // no action: routes its input by its switch or to Next (also a plain fork)
	KindValue                  // a constant: its result is Value
	KindJoin                   // merges its region's results
	KindMap                    // runs its region once per array element
	KindLoop                   // a loop head: a router whose one case is the body
)

var kindNames = [...]string{
	KindAction: "action",
	KindRouter: "router",
	KindValue:  "value",
	KindJoin:   "join",
	KindMap:    "map",
	KindLoop:   "loop",
}

// String returns the kind's name: "action", "router", "value", "join",
// "map" or "loop"; "Kind(n)" for a value that is none of them.
func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Kind returns the kind of step id, or 0 when s has no step id. A spec
// that Validate accepted answers from what Validate cached; a spec never
// validated works the kind out from the step's fields each time, without
// checking that they agree.
func (s *Spec) Kind(id string) Kind {
	if s.kinds != nil {
		return s.kinds[id]
	}
	st, ok := s.Steps[id]
	if !ok {
		return 0
	}
	k, _ := kindOf(id, st)
	return k
}

// fields is a set of the fields of a step that make its kind or that only
// some kinds may have. Next, Default, In and InLoop are not among them:
// any kind may have them, and how they are used is checked with the
// structure around the step (route.go, join.go, loop.go).
type fields uint16

const (
	hasAction fields = 1 << iota
	hasValue
	hasJoin
	hasMap
	hasLoop
	hasSwitch
	hasRetry
	hasCatch
	hasFork
)

// fieldsOf returns the fields st sets.
func fieldsOf(st Step) fields {
	var f fields
	for _, b := range [...]struct {
		set bool
		f   fields
	}{
		{st.Action != "", hasAction},
		{st.Value != nil, hasValue},
		{st.Join != nil, hasJoin},
		{st.Map != nil, hasMap},
		{st.Loop != nil, hasLoop},
		{len(st.Switch) > 0, hasSwitch},
		{st.Retry != nil, hasRetry},
		{st.Catch != nil, hasCatch},
		{st.Fork != "", hasFork},
	} {
		if b.set {
			f |= b.f
		}
	}
	return f
}

// kindTable says which fields each kind of step may have. A step is of
// the first kind whose mark it sets (the router, with no mark, is the
// last resort), so a step that sets two marks is of the first of their
// kinds, and the refusal of that kind names the other mark.
var kindTable = [...]struct {
	kind Kind
	mark fields // the field that makes a step of the kind
	may  fields // the other fields a step of the kind may have
	// refuse is the error, formatted with the step's id, for a step of
	// the kind with any other field.
	refuse string
}{
	{KindLoop, hasLoop, hasSwitch, "loop %q has an action, a value, a join, a map, a fork, a retry or a catch: a loop head only tests"},
	{KindValue, hasValue, 0, "value step %q has an action, a switch, a retry, a catch, a join, a map or a fork: a value step only replaces the value"},
	{KindMap, hasMap, hasFork, "map %q has an action, a switch, a retry, a catch or a join: a map only distributes"},
	{KindJoin, hasJoin, 0, "join %q has an action, a switch, a retry, a catch or a fork: a join only merges"},
	// The fields an action step may not have are the marks of the kinds
	// above, which take the step first: its refusal is there for the
	// table's sake.
	{KindAction, hasAction, hasSwitch | hasRetry | hasCatch | hasFork, "step %q has an action and a value, a join, a map or a loop: a step runs an action or is one of those"},
	{KindRouter, 0, hasSwitch | hasFork, "step %q has no action (a router) but a retry or a catch"},
}

// kindOf works out the kind of step st, named id, from its fields, and
// refuses a step with fields its kind may not have. It is the one place
// that tells the kinds apart; everything else asks Spec.Kind.
func kindOf(id string, st Step) (Kind, error) {
	f := fieldsOf(st)
	for _, k := range kindTable {
		if k.mark != 0 && f&k.mark == 0 {
			continue
		}
		if f&^(k.mark|k.may) != 0 {
			return k.kind, fmt.Errorf(k.refuse, id)
		}
		return k.kind, nil
	}
	panic("spec: kindTable has no last resort") // the router matches every step
}
