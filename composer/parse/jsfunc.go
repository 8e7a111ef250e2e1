package parse

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode"

	"github.com/wsk-route/wsk-route/composer"
	"github.com/wsk-route/wsk-route/internal/cond"
)

// This file reads the few shapes of openwhisk-composer inline function
// that have a meaning without a JavaScript engine:
//
//	() => ({"a": 1})  function () { return {a: 'x'} }   a literal (constant)
//	args => args.n > 3  p => p.user.ok  p => !p.err      a test (for if)
//
// Anything else is reported as not supported by the caller.

// funcBody returns the parameter names and the returned expression of a
// function's source: "(a, b) => expr", "a => expr", "a => { return expr }",
// "function name(a) { return expr; }".
func funcBody(code string) (params []string, expr string, ok bool) {
	s := strings.TrimSpace(code)
	var head, body string
	if rest, isFunc := strings.CutPrefix(s, "function"); isFunc {
		open := strings.IndexByte(rest, '(')
		closing := strings.IndexByte(rest, ')')
		if open < 0 || closing < open {
			return nil, "", false
		}
		if name := strings.TrimSpace(rest[:open]); name != "" && !isIdent(name) {
			return nil, "", false
		}
		head = rest[open : closing+1]
		body = strings.TrimSpace(rest[closing+1:])
		if !strings.HasPrefix(body, "{") {
			return nil, "", false
		}
	} else {
		arrow := strings.Index(s, "=>")
		if arrow < 0 {
			return nil, "", false
		}
		head, body = strings.TrimSpace(s[:arrow]), strings.TrimSpace(s[arrow+2:])
	}
	if strings.HasPrefix(head, "(") && strings.HasSuffix(head, ")") {
		head = head[1 : len(head)-1]
	}
	for _, p := range strings.Split(head, ",") {
		p = strings.TrimSpace(p)
		if p == "" && len(params) == 0 && strings.TrimSpace(head) == "" {
			break
		}
		if !isIdent(p) {
			return nil, "", false
		}
		params = append(params, p)
	}
	if strings.HasPrefix(body, "{") && strings.HasSuffix(body, "}") && !strings.HasPrefix(body, "{}") {
		inner := strings.TrimSpace(body[1 : len(body)-1])
		ret, isReturn := strings.CutPrefix(inner, "return")
		if !isReturn || ret == "" || !(ret[0] == ' ' || ret[0] == '\t' || ret[0] == '\n' || ret[0] == '(' || ret[0] == '{' || ret[0] == '[' || ret[0] == '\'' || ret[0] == '"') {
			return nil, "", false
		}
		expr = strings.TrimSuffix(strings.TrimSpace(ret), ";")
	} else {
		expr = body
	}
	return params, strings.TrimSpace(expr), true
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r == '$' || unicode.IsLetter(r) || (i > 0 && unicode.IsDigit(r))) {
			return false
		}
	}
	return true
}

// constantFunction returns the JSON of the literal a function returns,
// when its code is only that.
func constantFunction(code string) (json.RawMessage, bool) {
	_, expr, ok := funcBody(code)
	if !ok {
		return nil, false
	}
	v, ok := jsLiteral(expr)
	if !ok {
		return nil, false
	}
	b, err := json.Marshal(v)
	return b, err == nil
}

// jsLiteral reads a JavaScript literal (JSON, plus unquoted keys,
// single-quoted strings, trailing commas, surrounding parentheses).
func jsLiteral(s string) (any, bool) {
	s = strings.TrimSpace(s)
	for strings.HasPrefix(s, "(") && strings.HasSuffix(s, ")") {
		s = strings.TrimSpace(s[1 : len(s)-1])
	}
	l := &lit{s: s}
	v, ok := l.value(0)
	if !ok {
		return nil, false
	}
	l.space()
	return v, l.i == len(l.s)
}

type lit struct {
	s string
	i int
}

func (l *lit) space() {
	for l.i < len(l.s) && strings.IndexByte(" \t\r\n", l.s[l.i]) >= 0 {
		l.i++
	}
}

func (l *lit) eat(c byte) bool {
	l.space()
	if l.i < len(l.s) && l.s[l.i] == c {
		l.i++
		return true
	}
	return false
}

func (l *lit) value(depth int) (any, bool) {
	if depth > MaxDepth {
		return nil, false
	}
	l.space()
	if l.i >= len(l.s) {
		return nil, false
	}
	switch c := l.s[l.i]; {
	case c == '{':
		l.i++
		m := map[string]any{}
		for !l.eat('}') {
			l.space()
			var key string
			if l.i < len(l.s) && (l.s[l.i] == '"' || l.s[l.i] == '\'') {
				k, ok := l.str()
				if !ok {
					return nil, false
				}
				key = k
			} else {
				start := l.i
				for l.i < len(l.s) && (isIdent(l.s[start:l.i+1]) || (l.i > start && l.s[l.i] >= '0' && l.s[l.i] <= '9')) {
					l.i++
				}
				key = l.s[start:l.i]
				if key == "" {
					return nil, false
				}
			}
			if !l.eat(':') {
				return nil, false
			}
			v, ok := l.value(depth + 1)
			if !ok {
				return nil, false
			}
			m[key] = v
			if !l.eat(',') {
				if !l.eat('}') {
					return nil, false
				}
				break
			}
		}
		return m, true
	case c == '[':
		l.i++
		a := []any{}
		for !l.eat(']') {
			v, ok := l.value(depth + 1)
			if !ok {
				return nil, false
			}
			a = append(a, v)
			if !l.eat(',') {
				if !l.eat(']') {
					return nil, false
				}
				break
			}
		}
		return a, true
	case c == '"' || c == '\'':
		return l.str()
	}
	for _, w := range []struct {
		word string
		v    any
	}{{"true", true}, {"false", false}, {"null", nil}} {
		if strings.HasPrefix(l.s[l.i:], w.word) && !l.identAfter(len(w.word)) {
			l.i += len(w.word)
			return w.v, true
		}
	}
	start := l.i
	for l.i < len(l.s) && strings.IndexByte("+-0123456789.eE", l.s[l.i]) >= 0 {
		l.i++
	}
	n := json.Number(l.s[start:l.i])
	if _, err := strconv.ParseFloat(string(n), 64); err != nil || !json.Valid([]byte(n)) {
		return nil, false
	}
	return n, true
}

func (l *lit) identAfter(n int) bool {
	if l.i+n >= len(l.s) {
		return false
	}
	c := rune(l.s[l.i+n])
	return c == '_' || c == '$' || unicode.IsLetter(c) || unicode.IsDigit(c)
}

// str reads a quoted string with JSON's escapes.
func (l *lit) str() (string, bool) {
	q := l.s[l.i]
	var sb strings.Builder
	sb.WriteByte('"')
	for l.i++; l.i < len(l.s); l.i++ {
		c := l.s[l.i]
		switch {
		case c == q:
			l.i++
			sb.WriteByte('"')
			var out string
			if err := json.Unmarshal([]byte(sb.String()), &out); err != nil {
				return "", false
			}
			return out, true
		case c == '\\' && l.i+1 < len(l.s):
			l.i++
			if l.s[l.i] == '\'' {
				sb.WriteByte('\'')
			} else {
				sb.WriteByte('\\')
				sb.WriteByte(l.s[l.i])
			}
		case c == '"':
			sb.WriteString(`\"`)
		default:
			sb.WriteByte(c)
		}
	}
	return "", false
}

// jsOps maps JavaScript comparison operators to condition ops, longest
// first so that "===" is not read as "==".
var jsOps = []struct {
	js string
	op composer.Op
}{
	{"===", composer.OpEq}, {"!==", composer.OpNe}, {"==", composer.OpEq}, {"!=", composer.OpNe},
	{"<=", composer.OpLe}, {">=", composer.OpGe}, {"<", composer.OpLt}, {">", composer.OpGt},
}

// testFunction reads a test function: p => p.path, p => !p.path,
// p => p.path OP literal, or a function returning a literal (constant).
func testFunction(code string) (composer.Cond, bool) {
	params, expr, ok := funcBody(code)
	if !ok {
		return composer.Cond{}, false
	}
	for strings.HasPrefix(expr, "(") && strings.HasSuffix(expr, ")") {
		expr = strings.TrimSpace(expr[1 : len(expr)-1])
	}
	if v, isLit := jsLiteral(expr); isLit { // a constant test: always or never
		always := composer.Cond{Path: "", Op: composer.OpExists}
		if cond.Truthy(v) {
			return always, true
		}
		return composer.Cond{Not: &always}, true
	}
	if len(params) != 1 {
		return composer.Cond{}, false
	}
	p := params[0]
	if rest, neg := strings.CutPrefix(expr, "!"); neg && !strings.HasPrefix(rest, "=") {
		path, ok := jsPath(strings.TrimSpace(rest), p)
		if !ok {
			return composer.Cond{}, false
		}
		return composer.Cond{Not: &composer.Cond{Path: path, Op: composer.OpTruthy}}, true
	}
	for _, o := range jsOps {
		i := strings.Index(expr, o.js)
		if i < 0 {
			continue
		}
		path, ok := jsPath(strings.TrimSpace(expr[:i]), p)
		if !ok {
			return composer.Cond{}, false
		}
		v, ok := jsLiteral(expr[i+len(o.js):])
		if !ok {
			return composer.Cond{}, false
		}
		b, err := json.Marshal(v)
		if err != nil {
			return composer.Cond{}, false
		}
		return composer.Cond{Path: path, Op: o.op, Value: b}, true
	}
	path, ok := jsPath(expr, p)
	if !ok {
		return composer.Cond{}, false
	}
	return composer.Cond{Path: path, Op: composer.OpTruthy}, true
}

// jsPath turns "p.a.b[0]" (p the parameter) into the path "a.b[0]".
func jsPath(s, param string) (string, bool) {
	rest, ok := strings.CutPrefix(s, param)
	if !ok {
		return "", false
	}
	if rest == "" {
		return "", true
	}
	if rest[0] != '.' && rest[0] != '[' {
		return "", false
	}
	path := strings.TrimPrefix(rest, ".")
	if _, err := composer.ParsePath(path); err != nil {
		return "", false
	}
	for _, r := range path {
		if !(r == '_' || r == '$' || r == '.' || r == '[' || r == ']' || unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return "", false
		}
	}
	return path, true
}
