package composer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Op is a test operator of a condition.
type Op string

// The operators. Comparisons take Cond.Value; Exists and Truthy take none.
const (
	OpEq     Op = "=="     // JSON equality (numbers as float64, objects by keys)
	OpNe     Op = "!="     // not ==; true when the path is missing
	OpLt     Op = "<"      // numbers with numbers, strings with strings (bytewise)
	OpLe     Op = "<="     //
	OpGt     Op = ">"      //
	OpGe     Op = ">="     //
	OpExists Op = "exists" // the path is present (even if null)
	OpTruthy Op = "truthy" // present and not false, null, 0 or ""
)

// Cond is a condition: a pure test on a JSON value. Exactly one of Op,
// All, Any and Not is set:
//
//   - {Path, Op, Value}: the test Op on the value found at Path;
//   - All: every condition holds (true when empty is not allowed: at least one);
//   - Any: at least one holds;
//   - Not: the condition does not hold.
//
// A path is a dotted list of object keys with [n] array indices:
// "order.items[0].price"; "" is the value itself. A missing path makes
// every test false except != (true). Ordering tests between values of
// different types, or of types other than number and string, are false.
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

func validOp(op Op) bool {
	switch op {
	case OpEq, OpNe, OpLt, OpLe, OpGt, OpGe, OpExists, OpTruthy:
		return true
	}
	return false
}

// checkCond appends the problems of c to l.
func checkCond(c *Cond, l *ErrorList) {
	bad := func(format string, args ...any) {
		*l = append(*l, Errorf(ErrInvalid, c.Meta.Pos, c.Meta.Path, format, args...))
	}
	for _, f := range c.Meta.Unknown {
		*l = append(*l, Errorf(ErrUnknownField, f.Pos, f.Path, "unknown field %q in condition", f.Key))
	}
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
		bad("empty condition: want {path, op, value}, all, any or not")
		return
	case n > 1:
		bad("condition mixes a test (op), all, any and not: use one, nesting the others")
		return
	}
	switch {
	case c.Op != "":
		if !validOp(c.Op) {
			bad("unknown op %q: want ==, !=, <, <=, >, >=, exists or truthy", c.Op)
			return
		}
		if _, err := ParsePath(c.Path); err != nil {
			bad("%v", err)
		}
		takes := c.Op != OpExists && c.Op != OpTruthy
		switch {
		case takes && len(c.Value) == 0:
			bad("op %q needs a value", c.Op)
		case !takes && len(c.Value) != 0:
			bad("op %q takes no value", c.Op)
		case takes && !json.Valid(c.Value):
			bad("value is not valid JSON")
		}
	case c.All != nil || c.Any != nil:
		subs, what := c.All, "all"
		if c.Any != nil {
			subs, what = c.Any, "any"
		}
		if len(subs) == 0 {
			bad("%s needs at least one condition", what)
		}
		for i := range subs {
			checkCond(&subs[i], l)
		}
	default:
		checkCond(c.Not, l)
	}
}

// Validate reports every problem of c, or nil.
func (c *Cond) Validate() error {
	var l ErrorList
	checkCond(c, &l)
	return l.Err()
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

// Lookup returns the element of v (decoded with UseNumber) at path.
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

// decodeJSON decodes one JSON value, numbers as json.Number.
func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if len(bytes.TrimLeft(data[dec.InputOffset():], " \t\r\n")) != 0 {
		return nil, errors.New("trailing data after the JSON value")
	}
	return v, nil
}

// Eval reports whether cond holds for the JSON value. It fails only when
// cond is invalid (see Cond.Validate) or value is not one JSON value.
func Eval(cond Cond, value json.RawMessage) (bool, error) {
	if err := cond.Validate(); err != nil {
		return false, fmt.Errorf("composer: condition: %w", err)
	}
	v, err := decodeJSON(value)
	if err != nil {
		return false, fmt.Errorf("composer: condition value: %w", err)
	}
	return eval(&cond, v), nil
}

// eval runs a validated condition.
func eval(c *Cond, v any) bool {
	switch {
	case c.All != nil:
		for i := range c.All {
			if !eval(&c.All[i], v) {
				return false
			}
		}
		return true
	case c.Any != nil:
		for i := range c.Any {
			if eval(&c.Any[i], v) {
				return true
			}
		}
		return false
	case c.Not != nil:
		return !eval(c.Not, v)
	}
	path, _ := ParsePath(c.Path)
	got, ok := Lookup(v, path)
	switch c.Op {
	case OpExists:
		return ok
	case OpTruthy:
		return ok && truthy(got)
	case OpNe:
		if !ok {
			return true
		}
	}
	if !ok {
		return false
	}
	want, err := decodeJSON(c.Value)
	if err != nil {
		return false
	}
	switch c.Op {
	case OpEq:
		return equal(got, want)
	case OpNe:
		return !equal(got, want)
	}
	cmp, ok := compare(got, want)
	if !ok {
		return false
	}
	switch c.Op {
	case OpLt:
		return cmp < 0
	case OpLe:
		return cmp <= 0
	case OpGt:
		return cmp > 0
	default: // OpGe
		return cmp >= 0
	}
}

func truthy(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	case string:
		return v != ""
	case json.Number:
		f, err := v.Float64()
		return err != nil || f != 0
	}
	return true // arrays and objects, even empty, as in JavaScript
}

// number reads n as a float64; an out-of-range number reads as ±Inf.
func number(n json.Number) (float64, bool) {
	f, err := strconv.ParseFloat(n.String(), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, false
	}
	return f, true
}

func compare(a, b any) (int, bool) {
	switch a := a.(type) {
	case json.Number:
		bn, ok := b.(json.Number)
		if !ok {
			return 0, false
		}
		x, ok1 := number(a)
		y, ok2 := number(bn)
		if !ok1 || !ok2 {
			return 0, false
		}
		switch {
		case x < y:
			return -1, true
		case x > y:
			return 1, true
		}
		return 0, true
	case string:
		bs, ok := b.(string)
		if !ok {
			return 0, false
		}
		return strings.Compare(a, bs), true
	}
	return 0, false
}

func equal(a, b any) bool {
	switch a := a.(type) {
	case nil:
		return b == nil
	case bool:
		bb, ok := b.(bool)
		return ok && a == bb
	case string:
		bs, ok := b.(string)
		return ok && a == bs
	case json.Number:
		c, ok := compare(a, b)
		return ok && c == 0
	case []any:
		bb, ok := b.([]any)
		if !ok || len(a) != len(bb) {
			return false
		}
		for i := range a {
			if !equal(a[i], bb[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok || len(a) != len(bm) {
			return false
		}
		for k, av := range a {
			bv, ok := bm[k]
			if !ok || !equal(av, bv) {
				return false
			}
		}
		return true
	}
	return false
}
