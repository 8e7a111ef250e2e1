package conductor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/wsk-route/wsk-route/internal/jsfn"
)

// The step API runs a composition the way composer's conductor action is
// driven by OpenWhisk's controller: the machine runs every state it can run
// by itself (functions, lets, masks, tries, choices) and stops where the
// outside world has to act — an action to invoke, branches to run and
// join, an async body to start — handing back a Step that says what to do
// and the State to resume from. State is what composer keeps in $composer
// and marshals to the same JSON, so it can travel in a frame to wherever
// the next step runs. Machine.Run is a loop over this API.

// StepKind says what a Step asks of its caller.
type StepKind uint8

// Kinds of Step.
const (
	// StepDone: the run (or branch) ended with Value.
	StepDone StepKind = iota
	// StepInvoke: invoke Action on Params, then Resume(State, result).
	StepInvoke
	// StepFork: run every branch (Enter(b.State, b.Params) and what
	// follows, to its StepDone), then Join(State, values) in branch order.
	StepFork
	// StepAsync: start Branches[0] as a run of its own, then Resume(State,
	// {"method":"async","activationId":...,"sessionId":...}).
	StepAsync
)

var stepNames = [...]string{"done", "invoke", "fork", "async"}

func (k StepKind) String() string { return stepNames[k] }

// Step is where a run stopped and what its caller must do next.
type Step struct {
	Kind StepKind
	// State is where to resume (StepInvoke, StepFork, StepAsync).
	State State
	// Action and Params: the action to invoke (StepInvoke). Action is
	// fully qualified, except for a dynamic step, which names it as given.
	Action string
	Params []byte
	// Branches to run (StepFork), or the async body (StepAsync).
	Branches []Branch
	// Value is the final parameter object (StepDone): the composition's
	// result, a branch's value for its join, an async body's result.
	Value []byte
	// Failed: Value has a truthy "error" field, which fails a composition
	// (StepDone).
	Failed bool
	// Internal: the run ended with composer's "Internal error" (StepDone);
	// in a branch, composer never joins it.
	Internal bool
	// Logs holds what functions logged on the way.
	Logs []string
}

// Branch is a branch to run: Enter(State, Params).
type Branch struct {
	State  State
	Params []byte
}

// State is composer's $composer state: the index of the next state and
// the stack. The zero value is the start of a run.
type State struct {
	PC    int
	Stack []Frame
}

// Frame is one element of composer's stack (top first): a try's catch
// target, a let's variables, a mask, or the marker that bounds a branch.
type Frame struct {
	frame
}

// frame is one element of composer's stack: a try's catch, a let (decls
// non-nil), a mask, or the marker that bounds a branch.
type frame struct {
	catch  int
	let    *scope
	mask   bool
	marker bool
}

// scope is a let frame's variables, in JavaScript key order.
type scope struct {
	names []string
	vals  []any
}

func (f frame) copy() frame {
	if f.let != nil {
		f.let = &scope{names: f.let.names, vals: append([]any(nil), f.let.vals...)}
	}
	return f
}

// MarshalJSON writes the state as composer writes $composer's state and
// stack: {"state":n,"stack":[{"catch":k},{"let":{...}},{"let":null},{"marker":true}]}.
func (s State) MarshalJSON() ([]byte, error) {
	b := []byte(`{"state":`)
	b = appendNumber(b, float64(s.PC))
	b = append(b, `,"stack":[`...)
	for i, f := range s.Stack {
		if i > 0 {
			b = append(b, ',')
		}
		switch {
		case f.marker:
			b = append(b, `{"marker":true}`...)
		case f.mask:
			b = append(b, `{"let":null}`...)
		case f.let != nil:
			o := &Object{}
			for j, n := range f.let.names {
				o.set(n, f.let.vals[j])
			}
			b = append(b, `{"let":`...)
			b = appendValue(b, o)
			b = append(b, '}')
		default:
			b = append(b, `{"catch":`...)
			b = appendNumber(b, float64(f.catch))
			b = append(b, '}')
		}
	}
	return append(b, "]}"...), nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *State) UnmarshalJSON(data []byte) error {
	v, err := DecodeValue(data)
	if err != nil {
		return fmt.Errorf("%w: state: %v", ErrBadState, err)
	}
	o, ok := v.(*Object)
	if !ok {
		return fmt.Errorf("%w: state is %s", ErrBadState, describe(v))
	}
	pc, ok := intOf(o, "state")
	if !ok {
		return fmt.Errorf("%w: state.state is not an integer", ErrBadState)
	}
	st := State{PC: pc}
	stack, _ := o.Get("stack")
	frames, ok := stack.([]any)
	if !ok && stack != nil {
		return fmt.Errorf("%w: state.stack is not an array", ErrBadState)
	}
	for i, x := range frames {
		fo, ok := x.(*Object)
		if !ok {
			return fmt.Errorf("%w: state.stack[%d] is %s", ErrBadState, i, describe(x))
		}
		var f frame
		if m, _ := fo.Get("marker"); m == true {
			f.marker = true
		} else if l, isLet := fo.Get("let"); isLet {
			switch lv := l.(type) {
			case nil:
				f.mask = true
			case *Object:
				sc := &scope{}
				for _, k := range lv.Keys() {
					sc.names = append(sc.names, k)
					sc.vals = append(sc.vals, lv.vals[k])
				}
				f.let = sc
			default:
				return fmt.Errorf("%w: state.stack[%d].let is %s", ErrBadState, i, describe(l))
			}
		} else if c, ok := intOf(fo, "catch"); ok && c > 0 {
			f.catch = c
		} else {
			return fmt.Errorf("%w: state.stack[%d] is not a frame", ErrBadState, i)
		}
		st.Stack = append(st.Stack, Frame{f})
	}
	*s = st
	return nil
}

func intOf(o *Object, k string) (int, bool) {
	v, _ := o.Get(k)
	f, ok := v.(float64)
	if !ok || f != float64(int(f)) || f < -1<<31 || f > 1<<31 {
		return 0, false
	}
	return int(f), true
}

// run is one conductor step: composer's p (its state, stack, params).
type run struct {
	m      *Machine
	pc     int
	stack  []frame // top first, as composer's p.s.stack
	params any
	logs   []string
}

// internalError ends a run as composer's conductor does when it throws:
// {"error": "Internal error: ..."}, not catchable.
type internalError struct{ msg string }

func (e *internalError) Error() string { return "Internal error: " + e.msg }

func (m *Machine) newRun(st State, params []byte) (*run, error) {
	if st.PC < -1 || st.PC > len(m.fsm) {
		return nil, fmt.Errorf("%w: state %d is outside the machine (%d states)", ErrBadState, st.PC, len(m.fsm))
	}
	for i, f := range st.Stack {
		if f.catch > len(m.fsm) {
			return nil, fmt.Errorf("%w: stack[%d] catches at %d, outside the machine", ErrBadState, i, f.catch)
		}
	}
	v, err := DecodeValue(params)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadParams, err)
	}
	p, ok := v.(*Object)
	if !ok {
		return nil, fmt.Errorf("%w: parameters are %s", ErrBadParams, describe(v))
	}
	r := &run{m: m, pc: st.PC, params: p.without("$composer")}
	r.stack = make([]frame, len(st.Stack))
	for i, f := range st.Stack {
		r.stack[i] = f.copy()
	}
	return r, nil
}

func (r *run) state() State {
	st := State{PC: r.pc, Stack: make([]Frame, len(r.stack))}
	for i, f := range r.stack {
		st.Stack[i] = Frame{f.copy()}
	}
	return st
}

// Start begins a run on params, composer's input parameter object (a
// "$composer" field is removed), and runs it to its first Step.
func (m *Machine) Start(ctx context.Context, params []byte) (*Step, error) {
	r, err := m.newRun(State{}, params)
	if err != nil {
		return nil, err
	}
	return r.advance(ctx)
}

// Resume goes on from st with an action's result (or an async start's
// {"method":"async",...} object), as composer's conductor does when the
// controller hands it back: the result is inspected first.
func (m *Machine) Resume(ctx context.Context, st State, result []byte) (*Step, error) {
	r, err := m.newRun(st, result)
	if err != nil {
		return nil, err
	}
	r.inspect()
	return r.advance(ctx)
}

// Enter starts a branch (of StepFork or StepAsync) at its state with its
// parameters; unlike Resume, they are not inspected.
func (m *Machine) Enter(ctx context.Context, st State, params []byte) (*Step, error) {
	r, err := m.newRun(st, params)
	if err != nil {
		return nil, err
	}
	return r.advance(ctx)
}

// Join goes on from a StepFork's state with the branches' final values,
// in branch order: {"value": [...]}, inspected.
func (m *Machine) Join(ctx context.Context, st State, values [][]byte) (*Step, error) {
	arr := make([]any, len(values))
	for i, b := range values {
		v, err := DecodeValue(b)
		if err != nil {
			return nil, fmt.Errorf("%w: branch %d: %v", ErrBadParams, i, err)
		}
		arr[i] = v
	}
	r, err := m.newRun(st, []byte(`{}`))
	if err != nil {
		return nil, err
	}
	r.params = NewObject("value", arr)
	r.inspect()
	return r.advance(ctx)
}

// advance runs states until the run needs its caller, and says how.
func (r *run) advance(ctx context.Context) (*Step, error) {
	st, err := r.loop(ctx)
	var ie *internalError
	if errors.As(err, &ie) {
		return &Step{Kind: StepDone, Value: Marshal(NewObject("error", ie.Error())), Failed: true, Internal: true, Logs: r.logs}, nil
	}
	if err != nil {
		return nil, err
	}
	st.Logs = r.logs
	return st, nil
}

func (r *run) loop(ctx context.Context) (*Step, error) {
	fsm := r.m.fsm
	for {
		if r.pc < 0 || r.pc >= len(fsm) {
			v, failed := finish(r.params)
			return &Step{Kind: StepDone, Value: v, Failed: failed}, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("conductor: run stopped at state %d: %w", r.pc, err)
		}
		s := fsm[r.pc]
		index := r.pc
		if s.next != 0 {
			r.pc += s.next
		} else {
			r.pc++
		}
		switch s.typ {
		case stPass:
		case stChoice:
			p, _ := r.params.(*Object)
			if v, _ := p.Get("value"); truthy(v) {
				r.pc = index + s.then
			} else {
				r.pc = index + s.els
			}
		case stTry:
			r.push(frame{catch: index + s.catch})
		case stLet:
			if s.mask {
				r.push(frame{mask: true})
			} else {
				sc := &scope{names: make([]string, len(s.decls)), vals: make([]any, len(s.decls))}
				for i, b := range s.decls {
					sc.names[i], sc.vals[i] = b.Name, b.Value
				}
				r.push(frame{let: sc})
			}
		case stExit:
			if len(r.stack) == 0 {
				return nil, &internalError{"pop from an empty stack"}
			}
			r.stack = r.stack[1:]
		case stEmpty:
			r.inspect()
		case stStop:
			r.pc = -1
		case stAction:
			return &Step{Kind: StepInvoke, Action: s.name, Params: Marshal(r.params), State: r.state()}, nil
		case stFunction:
			if err := r.function(s); err != nil {
				return nil, err
			}
		case stDynamic:
			p, _ := r.params.(*Object)
			n, _ := p.Get("name")
			name, okName := n.(string)
			args, okArgs := p.Get("params")
			switch args.(type) {
			case *Object, []any, nil:
			default:
				okArgs = false
			}
			if typ, _ := p.Get("type"); typ != "action" || !okName || !okArgs {
				r.params = NewObject("error", "Incorrect use of the dynamic combinator at AST node root"+s.parent)
				r.inspect()
				break
			}
			if _, isArr := args.([]any); isArr {
				return nil, fmt.Errorf("%w: action %s would get an array as its parameters", ErrBadParams, name)
			}
			if args == nil {
				args = &Object{}
			}
			return &Step{Kind: StepInvoke, Action: name, Params: Marshal(args), State: r.state()}, nil
		case stAsync:
			body := Branch{State: State{PC: r.pc, Stack: r.branchStack()}}
			p, _ := r.params.(*Object)
			body.Params = Marshal(p.without("$composer"))
			r.pc = index + s.ret
			return &Step{Kind: StepAsync, Branches: []Branch{body}, State: r.state()}, nil
		case stParallel:
			saved, _ := r.params.(*Object)
			in := Marshal(saved.without("$composer"))
			branches := make([]Branch, len(s.tasks))
			for i, off := range s.tasks {
				branches[i] = Branch{State: State{PC: index + off, Stack: r.branchStack()}, Params: in}
			}
			if st := r.fork(s, index, branches); st != nil {
				return st, nil
			}
		case stMap:
			p, _ := r.params.(*Object)
			v, _ := p.Get("value")
			elems, isArr := v.([]any)
			if !isArr && truthy(v) && !hasZeroLength(v) {
				// composer: p.params.value || []; array.length === 0 returns
				// early; anything else fails array.map
				r.pc = index + s.ret
				r.params = NewObject("error", "Parallel combinator failed to invoke a composition at AST node root"+s.parent+" (see log for details)")
				r.inspect()
				break
			}
			branches := make([]Branch, len(elems))
			for i, e := range elems {
				in, ok := e.(*Object)
				if !ok {
					in = NewObject("value", e)
				}
				branches[i] = Branch{State: State{PC: index + 1, Stack: r.branchStack()}, Params: Marshal(in.without("$composer"))}
			}
			if st := r.fork(s, index, branches); st != nil {
				return st, nil
			}
		}
	}
}

// fork sets the join's return state and {value: []}; with no branch the run
// goes on (nil), else the caller runs them.
func (r *run) fork(s *state, index int, branches []Branch) *Step {
	r.pc = index + s.ret
	r.params = NewObject("value", []any{})
	if len(branches) == 0 {
		return nil
	}
	return &Step{Kind: StepFork, Branches: branches, State: r.state()}
}

// branchStack is the stack a branch starts with: a marker on a copy.
func (r *run) branchStack() []Frame {
	st := make([]Frame, 0, len(r.stack)+1)
	st = append(st, Frame{frame{marker: true}})
	for _, f := range r.stack {
		st = append(st, Frame{f.copy()})
	}
	return st
}

func (r *run) push(f frame) {
	r.stack = append(r.stack, frame{})
	copy(r.stack[1:], r.stack)
	r.stack[0] = f
}

// finish is composer's finish: a truthy "error" field fails the run.
func finish(params any) ([]byte, bool) {
	p, _ := params.(*Object)
	e, _ := p.Get("error")
	return Marshal(p), truthy(e)
}

// inspect is composer's inspect: wrap a non-object, and on an error object
// keep only its error field and unwind the stack to the nearest catch
// (never past a branch's marker).
func (r *run) inspect() {
	p, ok := r.params.(*Object)
	if !ok {
		p = NewObject("value", r.params)
		r.params = p
	}
	e, isErr := p.Get("error")
	if !isErr {
		return
	}
	r.params = NewObject("error", e)
	r.pc = -1
	for len(r.stack) > 0 && !r.stack[0].marker {
		f := r.stack[0]
		r.stack = r.stack[1:]
		r.pc = -1
		if f.catch > 0 {
			r.pc = f.catch
			break
		}
	}
}

// view is composer's view of the stack for a function: the let frames not
// hidden by a mask (each mask hides the nearest let below it), top first.
func (r *run) view() []*scope {
	var v []*scope
	n := 0
	for _, f := range r.stack {
		switch {
		case f.mask:
			n++
		case f.let != nil:
			if n == 0 {
				v = append(v, f.let)
			} else {
				n--
			}
		}
	}
	return v
}

// function runs an inline function with the variables in view, writes
// its assignments back, and shapes its result.
func (r *run) function(s *state) error {
	view := r.view()
	// the environment: bottom-most frame first, upper frames override
	var names []string
	env := map[string]any{}
	for i := len(view) - 1; i >= 0; i-- {
		for j, n := range view[i].names {
			if n == "__proto__" {
				continue // Object.assign would set env's prototype instead
			}
			if _, ok := env[n]; !ok {
				names = append(names, n)
			}
			env[n] = view[i].vals[j]
		}
	}
	if s.native != nil {
		if out, ok := s.native(r.params, env); ok {
			if out.setVar != "" {
				set(view, out.setVar, out.setVal)
			}
			if !out.keep {
				r.params = out.result
			}
			r.inspect()
			return nil
		}
	}
	names = jsKeyOrder(names)
	vars := make([]jsfn.Var, len(names))
	for i, n := range names {
		vars[i] = jsfn.Var{Name: n, JSON: Marshal(env[n])}
	}
	res, err := s.fn.Call(Marshal(r.params), vars)
	if err != nil {
		return &internalError{fmt.Sprintf("function at root%s: %v", s.parent, err)}
	}
	r.logs = append(r.logs, res.Logs...)
	for i, b := range res.Vars {
		v, err := DecodeValue(b)
		if err != nil {
			return &internalError{fmt.Sprintf("variable %s: %v", names[i], err)}
		}
		set(view, names[i], v)
	}
	switch res.Kind {
	case jsfn.KindOK:
		v, err := DecodeValue(res.Value)
		if err != nil {
			return &internalError{err.Error()}
		}
		r.params = v
	case jsfn.KindThrew, jsfn.KindFunction:
		v, err := DecodeValue(res.ErrorObject(s.parent))
		if err != nil {
			return &internalError{err.Error()}
		}
		r.params = v
	case jsfn.KindInternal:
		return &internalError{res.Message}
	default:
		return &internalError{fmt.Sprintf("function at root%s: %s", s.parent, res.Message)}
	}
	r.inspect()
	return nil
}

// objectProto lists the properties every JavaScript object inherits:
// composer looks a name up with frame.let[name] !== undefined, which finds
// these in the top-most frame whether it declares them or not.
var objectProto = map[string]bool{
	"constructor": true, "hasOwnProperty": true, "isPrototypeOf": true,
	"propertyIsEnumerable": true, "toLocaleString": true, "toString": true,
	"valueOf": true, "__defineGetter__": true, "__defineSetter__": true,
	"__lookupGetter__": true, "__lookupSetter__": true,
}

// set writes v to the top-most frame in view that declares name.
func set(view []*scope, name string, v any) {
	if objectProto[name] && len(view) > 0 {
		sc := view[0]
		for i, n := range sc.names {
			if n == name {
				sc.vals[i] = v
				return
			}
		}
		sc.names = append(sc.names[:len(sc.names):len(sc.names)], name)
		sc.vals = append(sc.vals, v)
		return
	}
	for _, sc := range view {
		for i, n := range sc.names {
			if n == name {
				sc.vals[i] = v
				return
			}
		}
	}
}

// hasZeroLength reports whether v.length === 0 in JavaScript for a truthy
// non-array JSON value.
func hasZeroLength(v any) bool {
	m, ok := v.(*Object)
	if !ok {
		return false // a non-empty string has a length > 0; others none
	}
	l, _ := m.Get("length")
	n, ok := l.(float64)
	return ok && n == 0
}

var _ json.Marshaler = State{}
var _ json.Unmarshaler = (*State)(nil)
