package jsfn

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/dop251/goja"
)

// fromJSON builds the JavaScript value of JSON text, as JSON.parse would,
// without going through goja's JSON.parse (which reads token by token
// through encoding/json and dominates a short call). The text is checked
// with json.Valid first (which also bounds nesting), so the builder below
// only ever sees valid JSON.
func fromJSON(rt *goja.Runtime, data []byte) (goja.Value, error) {
	if !json.Valid(data) {
		return nil, fmt.Errorf("%w: invalid JSON text", ErrBadInput)
	}
	b := builder{rt: rt, data: data}
	v := b.value()
	if b.err != nil {
		return nil, b.err
	}
	return v, nil
}

type builder struct {
	rt   *goja.Runtime
	data []byte
	pos  int
	err  error
}

func (b *builder) skip() {
	for b.pos < len(b.data) {
		switch b.data[b.pos] {
		case ' ', '\t', '\n', '\r':
			b.pos++
		default:
			return
		}
	}
}

func (b *builder) value() goja.Value {
	b.skip()
	if b.pos >= len(b.data) || b.err != nil {
		return goja.Undefined()
	}
	switch c := b.data[b.pos]; {
	case c == '{':
		b.pos++
		o := b.rt.NewObject()
		b.skip()
		if b.data[b.pos] == '}' {
			b.pos++
			return o
		}
		for b.err == nil {
			b.skip()
			k := b.str()
			b.skip()
			b.pos++ // ':'
			v := b.value()
			var err error
			if k == "__proto__" { // a data property, as JSON.parse makes it
				err = o.DefineDataProperty(k, v, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_TRUE)
			} else {
				err = o.Set(k, v)
			}
			if err != nil && b.err == nil {
				b.err = fmt.Errorf("%w: %v", ErrBadInput, err)
			}
			b.skip()
			if b.data[b.pos] == ',' {
				b.pos++
				continue
			}
			b.pos++ // '}'
			break
		}
		return o
	case c == '[':
		b.pos++
		var elems []any
		b.skip()
		if b.data[b.pos] == ']' {
			b.pos++
			return b.rt.NewArray()
		}
		for b.err == nil {
			elems = append(elems, b.value())
			b.skip()
			if b.data[b.pos] == ',' {
				b.pos++
				continue
			}
			b.pos++ // ']'
			break
		}
		return b.rt.NewArray(elems...)
	case c == '"':
		return b.rt.ToValue(b.str())
	case c == 't':
		b.pos += 4
		return b.rt.ToValue(true)
	case c == 'f':
		b.pos += 5
		return b.rt.ToValue(false)
	case c == 'n':
		b.pos += 4
		return goja.Null()
	default:
		start := b.pos
		for b.pos < len(b.data) {
			switch b.data[b.pos] {
			case '-', '+', '.', 'e', 'E', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
				b.pos++
				continue
			}
			break
		}
		f, err := strconv.ParseFloat(string(b.data[start:b.pos]), 64)
		if err != nil { // out of range: ±Inf, as JSON.parse gives
			if ne, ok := err.(*strconv.NumError); !ok || ne.Err != strconv.ErrRange {
				b.err = fmt.Errorf("%w: number %s", ErrBadInput, b.data[start:b.pos])
			}
		}
		return b.rt.ToValue(f)
	}
}

// str reads a string at pos (its opening quote).
func (b *builder) str() string {
	start := b.pos
	b.pos++
	escaped := false
	for b.pos < len(b.data) {
		c := b.data[b.pos]
		if c == '\\' {
			escaped = true
			b.pos += 2
			continue
		}
		b.pos++
		if c == '"' {
			break
		}
	}
	raw := b.data[start:b.pos]
	if !escaped {
		return string(raw[1 : len(raw)-1])
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil && b.err == nil {
		b.err = fmt.Errorf("%w: string: %v", ErrBadInput, err)
	}
	return s
}
