package cond

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

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

// Eval reports whether c holds for the JSON value. It fails only when c
// is invalid (the error wraps ErrInvalid, see Validate) or value is not
// one JSON value.
func (c *Cond) Eval(value []byte) (bool, error) {
	if !c.valid {
		if err := c.Validate(); err != nil {
			return false, err
		}
	}
	v, err := decodeJSON(value)
	if err != nil {
		return false, fmt.Errorf("cond: value to test: %w", err)
	}
	return eval(c, v), nil
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
		return ok && Truthy(got)
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

// Truthy is JavaScript truthiness of a decoded JSON value (numbers as
// json.Number): the meaning of OpTruthy.
func Truthy(v any) bool {
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

// compare orders two numbers or two strings; ok is false for any other pair.
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

// equal is JSON equality: numbers by value, no type coercion.
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
