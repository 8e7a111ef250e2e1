package conductor

import (
	"fmt"

	"github.com/wsk-route/wsk-route/internal/jsfn"
)

// stateType is the type of one state of the machine, as composer's
// conductor names them.
type stateType uint8

const (
	stPass stateType = iota
	stAction
	stAsync
	stStop
	stFunction
	stTry
	stExit
	stLet
	stChoice
	stEmpty
	stParallel
	stMap
	stDynamic
)

var stateNames = [...]string{"pass", "action", "async", "stop", "function", "try", "exit", "let", "choice", "empty", "parallel", "map", "dynamic"}

func (t stateType) String() string { return stateNames[t] }

// state is one state of the machine. Offsets (next, catch, then, els,
// ret, tasks) are relative to the state's index, as in composer.
type state struct {
	typ    stateType
	parent string // path of the nearest labelled node: errors say "root"+parent
	next   int    // 0 means 1
	name   string // action
	code   string // function
	fn     *jsfn.Func
	native native    // the function computed in Go, when it is one of lowering's
	decls  []Binding // let
	mask   bool      // let with no declarations: a mask
	catch  int
	then   int
	els    int
	ret    int
	tasks  []int
}

// compileFSM compiles a composition into states, as composer's
// conductor compiles it.
func compileFSM(root *Node) ([]*state, error) {
	c := &fsmCompiler{}
	fsm := c.compile("", root)
	if c.err != nil {
		return nil, c.err
	}
	return fsm, nil
}

type fsmCompiler struct{ err error }

// compile compiles nodes under parent.
func (c *fsmCompiler) compile(parent string, nodes ...*Node) []*state {
	if len(nodes) == 0 {
		return []*state{{typ: stEmpty, parent: parent}}
	}
	if len(nodes) > 1 {
		var fsm []*state
		for _, n := range nodes {
			fsm = append(fsm, c.compile(parent, n)...)
		}
		return fsm
	}
	fsm, err := c.one(parent, nodes[0])
	if err != nil && c.err == nil {
		c.err = err
	}
	if len(fsm) == 0 { // keep offsets computable after an error
		fsm = []*state{{typ: stPass, parent: parent}}
	}
	return fsm
}

func (c *fsmCompiler) one(parent string, n *Node) ([]*state, error) {
	if n == nil {
		return nil, fmt.Errorf("%w: a missing combinator under root%s", ErrInvalid, parent)
	}
	p := parent
	if n.HasPath && n.Path != "" {
		p = n.Path
	}
	st := func(t stateType) *state { return &state{typ: t, parent: p} }
	sub := func(ns ...*Node) []*state { return c.compile(p, ns...) }
	cat := func(parts ...[]*state) []*state {
		var out []*state
		for _, s := range parts {
			out = append(out, s...)
		}
		return out
	}
	need := func(c *Node, what string) error {
		if c == nil {
			return fmt.Errorf("%w: %s at root%s has no %s", ErrInvalid, n.Type, p, what)
		}
		return nil
	}
	switch n.Type {
	case "sequence":
		return cat([]*state{st(stPass)}, sub(n.Components...)), nil
	case "action":
		s := st(stAction)
		s.name = n.Name
		return []*state{s}, nil
	case "async":
		body := sub(n.Components...)
		a := st(stAsync)
		a.ret = len(body) + 2
		return cat([]*state{a}, body, []*state{st(stStop), st(stPass)}), nil
	case "function":
		s := st(stFunction)
		s.code = n.Code
		return []*state{s}, nil
	case "finally":
		if err := firstErr(need(n.Body, "body"), need(n.Finalizer, "finalizer")); err != nil {
			return nil, err
		}
		fin := sub(n.Finalizer)
		t := st(stTry)
		fsm := cat([]*state{t}, sub(n.Body), []*state{st(stExit)}, fin)
		t.catch = len(fsm) - len(fin)
		return fsm, nil
	case "let", "mask":
		l := st(stLet)
		l.decls, l.mask = n.Decls, n.Type == "mask"
		return cat([]*state{l}, sub(n.Components...), []*state{st(stExit)}), nil
	case "try":
		if err := firstErr(need(n.Body, "body"), need(n.Handler, "handler")); err != nil {
			return nil, err
		}
		handler := cat(sub(n.Handler), []*state{st(stPass)})
		t := st(stTry)
		fsm := cat([]*state{t}, sub(n.Body), []*state{st(stExit)}, handler)
		t.catch = len(fsm) - len(handler)
		fsm[len(fsm)-len(handler)-1].next = len(handler)
		return fsm, nil
	case "if_nosave":
		if err := firstErr(need(n.Test, "test"), need(n.Consequent, "consequent"), need(n.Alternate, "alternate")); err != nil {
			return nil, err
		}
		cons := sub(n.Consequent)
		alt := cat(sub(n.Alternate), []*state{st(stPass)})
		ch := st(stChoice)
		ch.then, ch.els = 1, len(cons)+1
		fsm := cat([]*state{st(stPass)}, sub(n.Test), []*state{ch}, cons, alt)
		fsm[len(fsm)-len(alt)-1].next = len(alt)
		return fsm, nil
	case "while_nosave":
		if err := firstErr(need(n.Test, "test"), need(n.Body, "body")); err != nil {
			return nil, err
		}
		body := sub(n.Body)
		ch := st(stChoice)
		ch.then, ch.els = 1, len(body)+1
		fsm := cat([]*state{st(stPass)}, sub(n.Test), []*state{ch}, body, []*state{st(stPass)})
		fsm[len(fsm)-2].next = 2 - len(fsm)
		return fsm, nil
	case "dowhile_nosave":
		if err := firstErr(need(n.Test, "test"), need(n.Body, "body")); err != nil {
			return nil, err
		}
		ch := st(stChoice)
		ch.els = 1
		fsm := cat([]*state{st(stPass)}, sub(n.Body), sub(n.Test), []*state{ch, st(stPass)})
		fsm[len(fsm)-2].then = 2 - len(fsm)
		return fsm, nil
	case "parallel":
		par := st(stParallel)
		fsm := []*state{par}
		off := 1
		for _, c := range n.Components {
			task := cat(sub(c), []*state{st(stStop)})
			par.tasks = append(par.tasks, off)
			off += len(task)
			fsm = append(fsm, task...)
		}
		fsm = append(fsm, st(stPass))
		par.ret = len(fsm) - 1
		return fsm, nil
	case "map":
		tasks := sub(n.Components...)
		m := st(stMap)
		m.ret = len(tasks) + 2
		return cat([]*state{m}, tasks, []*state{st(stStop), st(stPass)}), nil
	case "dynamic":
		return []*state{st(stDynamic)}, nil
	}
	return nil, fmt.Errorf("%w: unexpected %q combinator at root%s", ErrInvalid, n.Type, p)
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
