package conductor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/wsk-route/wsk-route/internal/jsfn"
)

// Values are what JSON.parse gives in JavaScript, held in Go as *Object,
// []any, float64, string, bool and nil. They are never mutated once built:
// code that changes one builds a new one.

// Object is a JSON object that keeps its keys in JavaScript's order
// (array-index keys ascending, then the others in insertion order), so a
// function that looks at key order, or stringifies its input, sees what
// it would see in composer. The zero value and nil are empty objects.
type Object struct {
	keys []string // insertion order
	vals map[string]any
}

// NewObject builds an object from key, value pairs, in order.
func NewObject(kv ...any) *Object {
	o := &Object{}
	for i := 0; i+1 < len(kv); i += 2 {
		o.set(kv[i].(string), kv[i+1])
	}
	return o
}

// set adds or replaces k (a replaced key keeps its position). Only for
// objects being built.
func (o *Object) set(k string, v any) {
	if o.vals == nil {
		o.vals = map[string]any{}
	}
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

// Get returns the value of k and whether o has it.
func (o *Object) Get(k string) (any, bool) {
	if o == nil {
		return nil, false
	}
	v, ok := o.vals[k]
	return v, ok
}

// Len is the number of keys.
func (o *Object) Len() int {
	if o == nil {
		return 0
	}
	return len(o.keys)
}

// Keys returns the keys in JavaScript's enumeration order.
func (o *Object) Keys() []string {
	if o == nil {
		return nil
	}
	return jsKeyOrder(o.keys)
}

// without returns a copy of o without k (o itself when it has no k).
func (o *Object) without(k string) *Object {
	if _, ok := o.Get(k); !ok {
		if o == nil {
			return &Object{}
		}
		return o
	}
	c := &Object{vals: make(map[string]any, len(o.keys)-1)}
	for _, x := range o.keys {
		if x != k {
			c.keys = append(c.keys, x)
			c.vals[x] = o.vals[x]
		}
	}
	return c
}

// maxValueDepth bounds the nesting of values DecodeValue reads.
const maxValueDepth = 10000

// DecodeValue reads one JSON value the way JSON.parse does: objects keep
// their key order (a repeated key keeps its first position and its last
// value), every number becomes a float64 (out-of-range numbers become
// ±Inf).
func DecodeValue(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeNext(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("trailing data after the JSON value")
	}
	return v, nil
}

func decodeNext(dec *json.Decoder, depth int) (any, error) {
	if depth > maxValueDepth {
		return nil, fmt.Errorf("values nest deeper than %d", maxValueDepth)
	}
	t, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch x := t.(type) {
	case json.Delim:
		switch x {
		case '{':
			o := &Object{vals: map[string]any{}}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				v, err := decodeNext(dec, depth+1)
				if err != nil {
					return nil, err
				}
				o.set(k, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return o, nil
		case '[':
			a := []any{}
			for dec.More() {
				v, err := decodeNext(dec, depth+1)
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return a, nil
		}
		return nil, fmt.Errorf("unexpected %v", x)
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, err
		}
		return f, nil
	}
	return t, nil // string, bool, nil
}

// Marshal writes v as JSON.stringify writes it: keys in JavaScript's
// order, numbers as JavaScript prints them, non-finite numbers as null.
func Marshal(v any) []byte {
	return appendValue(nil, v)
}

func appendValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		return strconv.AppendBool(b, x)
	case float64:
		return appendNumber(b, x)
	case int:
		return appendNumber(b, float64(x))
	case string:
		return jsfn.AppendString(b, x)
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendValue(b, e)
		}
		return append(b, ']')
	case *Object:
		b = append(b, '{')
		for i, k := range x.Keys() {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsfn.AppendString(b, k)
			b = append(b, ':')
			b = appendValue(b, x.vals[k])
		}
		return append(b, '}')
	}
	// not a JSON value: what JSON.stringify does with undefined in arrays
	return append(b, "null"...)
}

// appendNumber writes f as ECMAScript's Number::toString does.
func appendNumber(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	if f == 0 {
		return append(b, '0')
	}
	if f < 0 {
		b = append(b, '-')
		f = -f
	}
	// shortest digits and exponent: d.ddde±x
	s := strconv.FormatFloat(f, 'e', -1, 64)
	mant, exp, _ := strings.Cut(s, "e")
	digits := strings.Replace(mant, ".", "", 1)
	e, _ := strconv.Atoi(exp)
	k := len(digits)
	n := e + 1 // position of the decimal point
	switch {
	case k <= n && n <= 21:
		b = append(b, digits...)
		for i := 0; i < n-k; i++ {
			b = append(b, '0')
		}
	case 0 < n && n <= 21:
		b = append(b, digits[:n]...)
		b = append(b, '.')
		b = append(b, digits[n:]...)
	case -6 < n && n <= 0:
		b = append(b, "0."...)
		for i := 0; i < -n; i++ {
			b = append(b, '0')
		}
		b = append(b, digits...)
	default:
		b = append(b, digits[0])
		if k > 1 {
			b = append(b, '.')
			b = append(b, digits[1:]...)
		}
		b = append(b, 'e')
		if n-1 >= 0 {
			b = append(b, '+')
		}
		b = strconv.AppendInt(b, int64(n-1), 10)
	}
	return b
}

// truthy is JavaScript's ToBoolean on a JSON value.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case float64:
		return x != 0 && !math.IsNaN(x)
	case string:
		return x != ""
	}
	return true
}

// isObject is composer's isObject: an object, not null, not an array.
func isObject(v any) bool {
	_, ok := v.(*Object)
	return ok
}

// jsKeyOrder orders object keys as JavaScript enumerates them: array-index
// keys first, ascending, then the others in insertion order.
func jsKeyOrder(keys []string) []string {
	var idx, rest []string
	for _, k := range keys {
		if isArrayIndex(k) {
			idx = append(idx, k)
		} else {
			rest = append(rest, k)
		}
	}
	sort.Slice(idx, func(i, j int) bool {
		a, _ := strconv.ParseUint(idx[i], 10, 64)
		b, _ := strconv.ParseUint(idx[j], 10, 64)
		return a < b
	})
	return append(idx, rest...)
}

func isArrayIndex(k string) bool {
	if k == "" || (len(k) > 1 && k[0] == '0') {
		return false
	}
	n, err := strconv.ParseUint(k, 10, 64)
	return err == nil && n < 1<<32-1
}

// describe names a JSON value's type for error messages.
func describe(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case float64:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case *Object:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
