package cond

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrInvalid marks a condition that breaks a rule of the language;
// Validate, Parse and Eval wrap it.
var ErrInvalid = errors.New("cond: invalid condition")

// Op is a test operator of a condition.
type Op string

// The operators. Comparisons take Cond.Value; Exists and Truthy take none.
// Only these spellings are valid here: parsers map friendlier ones (eq,
// ne, lt, le, gt, ge) onto them.
const (
	OpEq     Op = "=="     // JSON equality (numbers as float64, objects by keys)
	OpNe     Op = "!="     // not ==; true when the path is missing
	OpLt     Op = "<"      // numbers with numbers, strings with strings (bytewise)
	OpLe     Op = "<="     // see OpLt
	OpGt     Op = ">"      // see OpLt
	OpGe     Op = ">="     // see OpLt
	OpExists Op = "exists" // the path is present (even if null)
	OpTruthy Op = "truthy" // present and not false, null, 0 or ""
)

// Cond is a condition in its JSON form: a pure test on a JSON value.
// Exactly one of Op, All, Any and Not is set:
//
//   - {Path, Op, Value}: the test Op on the value found at Path;
//   - All: every condition holds (at least one condition);
//   - Any: at least one holds (at least one condition);
//   - Not: the condition does not hold.
//
// A path is a dotted list of object keys with [n] array indices:
// "order.items[0].price"; "" is the value itself. A missing path makes
// every test false except != (true). Ordering tests between values of
// different types, or of types other than number and string, are false.
type Cond struct {
	Path  string          `json:"path,omitempty"`
	Op    Op              `json:"op,omitempty"`
	Value json.RawMessage `json:"value,omitempty"`
	All   []Cond          `json:"all,omitempty"`
	Any   []Cond          `json:"any,omitempty"`
	Not   *Cond           `json:"not,omitempty"`

	// valid: Parse validated it, so Eval need not again (a spec's
	// conditions are evaluated on every frame of a switch step).
	valid bool
}

// Parse decodes one condition from JSON, refusing unknown fields and
// trailing data, and validates it. Its result is not to be changed: Eval
// trusts that it stays valid.
func Parse(data []byte) (*Cond, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c Cond
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%w: decoding JSON: %w", ErrInvalid, err)
	}
	if len(bytes.TrimLeft(data[dec.InputOffset():], " \t\r\n")) != 0 {
		return nil, fmt.Errorf("%w: trailing data after the JSON condition", ErrInvalid)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c.valid = true
	return &c, nil
}

func validOp(op Op) bool {
	switch op {
	case OpEq, OpNe, OpLt, OpLe, OpGt, OpGe, OpExists, OpTruthy:
		return true
	}
	return false
}

// NodeErrors lists the problems of c itself, not of the conditions nested
// in it, in plain text without location (callers add theirs). When it
// returns none, c is well formed and its nested conditions (All, Any or
// Not) are the ones left to check.
func (c *Cond) NodeErrors() []error {
	n := 0
	if c.Op != "" {
		n++
	}
	if c.All != nil {
		n++
	}
	if c.Any != nil {
		n++
	}
	if c.Not != nil {
		n++
	}
	switch {
	case n == 0:
		return []error{errors.New("empty condition: want {path, op, value}, all, any or not")}
	case n > 1:
		return []error{errors.New("condition mixes a test (op), all, any and not: use one, nesting the others")}
	}
	var errs []error
	switch {
	case c.Op != "":
		if !validOp(c.Op) {
			return []error{fmt.Errorf("unknown op %q: want ==, !=, <, <=, >, >=, exists or truthy", c.Op)}
		}
		if _, err := ParsePath(c.Path); err != nil {
			errs = append(errs, err)
		}
		takes := c.Op != OpExists && c.Op != OpTruthy
		switch {
		case takes && len(c.Value) == 0:
			errs = append(errs, fmt.Errorf("op %q needs a value", c.Op))
		case !takes && len(c.Value) != 0:
			errs = append(errs, fmt.Errorf("op %q takes no value", c.Op))
		case takes && !json.Valid(c.Value):
			errs = append(errs, errors.New("value is not valid JSON"))
		}
	case c.All != nil && len(c.All) == 0:
		errs = append(errs, errors.New("all needs at least one condition"))
	case c.Any != nil && len(c.Any) == 0:
		errs = append(errs, errors.New("any needs at least one condition"))
	}
	return errs
}

// Validate reports the first problem of c, wrapping ErrInvalid and naming
// where it is (like "all[1].not"), or nil.
func (c *Cond) Validate() error {
	return c.validate("")
}

func (c *Cond) validate(where string) error {
	if errs := c.NodeErrors(); len(errs) > 0 {
		if where == "" {
			return fmt.Errorf("%w: %w", ErrInvalid, errs[0])
		}
		return fmt.Errorf("%w: at %s: %w", ErrInvalid, where, errs[0])
	}
	join := func(s string) string {
		if where == "" {
			return s
		}
		return where + "." + s
	}
	for i := range c.All {
		if err := c.All[i].validate(fmt.Sprintf("%s[%d]", join("all"), i)); err != nil {
			return err
		}
	}
	for i := range c.Any {
		if err := c.Any[i].validate(fmt.Sprintf("%s[%d]", join("any"), i)); err != nil {
			return err
		}
	}
	if c.Not != nil {
		return c.Not.validate(join("not"))
	}
	return nil
}

// PathElem is one step of a parsed path: an object key, or an array index
// when Key is "" and Index >= 0.
type PathElem struct {
	Key   string
	Index int
}

// ParsePath splits a path like "a.b[2].c" into its elements; "" is the
// empty path. Keys are non-empty and hold none of ".[]" or blanks.
func ParsePath(p string) ([]PathElem, error) {
	if p == "" {
		return nil, nil
	}
	var out []PathElem
	s := p
	first := true
	for s != "" {
		switch {
		case s[0] == '[':
			end := strings.IndexByte(s, ']')
			if end < 0 {
				return nil, fmt.Errorf("path %q: unclosed [", p)
			}
			n, err := strconv.Atoi(s[1:end])
			if err != nil || n < 0 || s[1] == '+' {
				return nil, fmt.Errorf("path %q: index %q is not a non-negative integer", p, s[1:end])
			}
			out = append(out, PathElem{Index: n})
			s = s[end+1:]
		case s[0] == '.' && !first:
			s = s[1:]
			fallthrough
		default:
			end := strings.IndexAny(s, ".[")
			if end < 0 {
				end = len(s)
			}
			k := s[:end]
			if k == "" || strings.ContainsAny(k, "] \t\n") {
				return nil, fmt.Errorf("path %q: empty or malformed key", p)
			}
			out = append(out, PathElem{Key: k, Index: -1})
			s = s[end:]
		}
		first = false
	}
	return out, nil
}

// Lookup returns the element of v (decoded with UseNumber) at path, and
// whether it is there.
func Lookup(v any, path []PathElem) (any, bool) {
	for _, e := range path {
		if e.Key != "" {
			m, ok := v.(map[string]any)
			if !ok {
				return nil, false
			}
			if v, ok = m[e.Key]; !ok {
				return nil, false
			}
			continue
		}
		a, ok := v.([]any)
		if !ok || e.Index >= len(a) {
			return nil, false
		}
		v = a[e.Index]
	}
	return v, true
}
