package composer

import (
	"encoding/json"
	"fmt"

	"github.com/wsk-route/wsk-route/internal/cond"
)

// Op is a test operator of a condition (see package internal/cond).
type Op = cond.Op

// The operators; see internal/cond for their meaning. Comparisons take
// Cond.Value; Exists and Truthy take none.
const (
	OpEq     = cond.OpEq
	OpNe     = cond.OpNe
	OpLt     = cond.OpLt
	OpLe     = cond.OpLe
	OpGt     = cond.OpGt
	OpGe     = cond.OpGe
	OpExists = cond.OpExists
	OpTruthy = cond.OpTruthy
)

// Cond is a condition: a pure test on a JSON value, as parsed, with its
// position. It has the fields and rules of cond.Cond (exactly one of Op,
// All, Any and Not; see there for paths and operators) plus Meta; Wire
// gives the form stored in route specs.
type Cond struct {
	// Meta locates the condition in the input (Meta.Path is its place in
	// the document; Path below is the place in the value it tests).
	Meta  Meta
	Path  string
	Op    Op
	Value json.RawMessage
	All   []Cond
	Any   []Cond
	Not   *Cond
}

// Wire returns c without positions: the JSON form that compiled specs
// store and the route plane evaluates. Nil and empty All/Any stay
// distinct, so the result validates exactly as c does (bar unknown fields).
func (c Cond) Wire() cond.Cond {
	w := cond.Cond{Path: c.Path, Op: c.Op, Value: c.Value}
	if c.All != nil {
		w.All = make([]cond.Cond, len(c.All))
		for i := range c.All {
			w.All[i] = c.All[i].Wire()
		}
	}
	if c.Any != nil {
		w.Any = make([]cond.Cond, len(c.Any))
		for i := range c.Any {
			w.Any[i] = c.Any[i].Wire()
		}
	}
	if c.Not != nil {
		n := c.Not.Wire()
		w.Not = &n
	}
	return w
}

// node returns c's own shape for cond's per-node rules: nested
// conditions are present but empty, as those rules do not look into them.
func (c *Cond) node() cond.Cond {
	w := cond.Cond{Path: c.Path, Op: c.Op, Value: c.Value}
	if c.All != nil {
		w.All = make([]cond.Cond, len(c.All))
	}
	if c.Any != nil {
		w.Any = make([]cond.Cond, len(c.Any))
	}
	if c.Not != nil {
		w.Not = &cond.Cond{}
	}
	return w
}

// checkCond appends the problems of c to l, each with its position.
func checkCond(c *Cond, l *ErrorList) {
	for _, f := range c.Meta.Unknown {
		*l = append(*l, Errorf(ErrUnknownField, f.Pos, f.Path, "unknown field %q in condition", f.Key))
	}
	n := c.node()
	if errs := n.NodeErrors(); len(errs) > 0 {
		for _, err := range errs {
			*l = append(*l, Errorf(ErrInvalid, c.Meta.Pos, c.Meta.Path, "%v", err))
		}
		return
	}
	for i := range c.All {
		checkCond(&c.All[i], l)
	}
	for i := range c.Any {
		checkCond(&c.Any[i], l)
	}
	if c.Not != nil {
		checkCond(c.Not, l)
	}
}

// Validate reports every problem of c, or nil.
func (c *Cond) Validate() error {
	var l ErrorList
	checkCond(c, &l)
	return l.Err()
}

// PathElem is one step of a parsed path (see cond.PathElem).
type PathElem = cond.PathElem

// ParsePath splits a path like "a.b[2].c" into its elements; it is
// cond.ParsePath.
func ParsePath(p string) ([]PathElem, error) {
	return cond.ParsePath(p)
}

// Eval reports whether c holds for the JSON value, with the semantics of
// cond.Cond.Eval. It fails only when c is invalid (see Cond.Validate) or
// value is not one JSON value.
func Eval(c Cond, value json.RawMessage) (bool, error) {
	if err := c.Validate(); err != nil {
		return false, fmt.Errorf("composer: condition: %w", err)
	}
	w := c.Wire()
	ok, err := w.Eval(value)
	if err != nil {
		return false, fmt.Errorf("composer: condition: %w", err)
	}
	return ok, nil
}
