package jsfn

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// sameJSON reports whether a and b are the same JSON value (key order aside).
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("got invalid JSON %s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("want invalid JSON %s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

func TestCall(t *testing.T) {
	type v = []Var
	tests := []struct {
		name   string
		code   string
		params string
		vars   []Var
		kind   Kind
		want   string   // the shaped value (KindOK), exact bytes
		wantV  []string // vars written back
		inMsg  string   // part of Message (not KindOK)
		inLogs string
	}{
		// composer's test/conductor.js "functions"
		{name: "even true", code: "({ n }) => n % 2 === 0", params: `{"n":4}`, want: `{"value":true}`},
		{name: "even false function", code: "function ({ n }) { return n % 2 === 0 }", params: `{"n":3}`, want: `{"value":false}`},
		{name: "undefined variable throws", code: "() => n", params: `{}`, kind: KindThrew, inMsg: "n is not defined"},
		{name: "error object is a value", code: "() => ({ error: 'foo', n: 42 })", params: `{}`, want: `{"error":"foo","n":42}`},
		{name: "mutate params", code: "params => { params.foo = 'foo' }", params: `{"n":42}`, want: `{"n":42,"foo":"foo"}`},
		{name: "promise", code: "({ n }) => Promise.resolve(n % 2 === 0)", params: `{"n":4}`, want: `{"value":true}`},
		{name: "async function", code: "async ({ n }) => { await null; return { m: n + 1 } }", params: `{"n":4}`, want: `{"m":5}`},
		{name: "rejected promise", code: "() => Promise.reject(new Error('no'))", params: `{}`, kind: KindThrew, inMsg: "no"},
		{name: "returns a function", code: "() => () => 1", params: `{}`, kind: KindFunction},
		// the wrongly translated conditions
		{name: "loose equality number string", code: "p => p.n == '4'", params: `{"n":4}`, want: `{"value":true}`},
		{name: "strict equality number string", code: "p => p.n === '4'", params: `{"n":4}`, want: `{"value":false}`},
		{name: "missing field == null", code: "p => p.next == null", params: `{}`, want: `{"value":true}`},
		{name: "missing field === null", code: "p => p.next === null", params: `{}`, want: `{"value":false}`},
		{name: "null field == undefined", code: "p => p.next == undefined", params: `{"next":null}`, want: `{"value":true}`},
		{name: "length of array", code: "p => p.items.length > 0", params: `{"items":[1]}`, want: `{"value":true}`},
		{name: "length of empty array", code: "p => p.items.length > 0", params: `{"items":[]}`, want: `{"value":false}`},
		{name: "length of string", code: "p => p.items.length", params: `{"items":"abc"}`, want: `{"value":3}`},
		{name: "length of missing throws", code: "p => p.items.length > 0", params: `{}`, kind: KindThrew, inMsg: "undefined"},
		{name: "string greater than number", code: "() => '10' > 3", params: `{}`, want: `{"value":true}`},
		{name: "string greater than string", code: "() => '10' > '3'", params: `{}`, want: `{"value":false}`},
		{name: "plus concatenates", code: "p => p.a + p.b", params: `{"a":"1","b":2}`, want: `{"value":"12"}`},
		// JSON shaping as JSON.stringify does it
		{name: "NaN becomes null", code: "() => NaN", params: `{}`, want: `{"value":null}`},
		{name: "big number", code: "() => 1e21", params: `{}`, want: `{"value":1e+21}`},
		{name: "float", code: "() => 0.1 + 0.2", params: `{}`, want: `{"value":0.30000000000000004}`},
		{name: "array", code: "() => [1, undefined, 'x']", params: `{}`, want: `{"value":[1,null,"x"]}`},
		{name: "undefined field dropped", code: "() => ({ a: undefined, b: 1 })", params: `{}`, want: `{"b":1}`},
		{name: "date", code: "() => new Date(0)", params: `{}`, want: `{"value":"1970-01-01T00:00:00.000Z"}`},
		{name: "null", code: "() => null", params: `{}`, want: `{"value":null}`},
		{name: "symbol is not JSON", code: "() => Symbol('s')", params: `{}`, kind: KindInternal},
		{name: "cycle is not JSON", code: "() => { const a = {}; a.a = a; return a }", params: `{}`, kind: KindInternal},
		{name: "code not a function", code: "42", params: `{}`, kind: KindThrew},
		{name: "syntax error", code: "=> 1", params: `{}`, kind: KindThrew},
		// let variables
		{name: "one variable", code: "() => x", vars: v{{"x", []byte("42")}}, params: `{}`, want: `{"value":42}`, wantV: []string{"42"}},
		{name: "two variables", code: "() => x + y", vars: v{{"x", []byte("42")}, {"y", []byte("69")}}, params: `{}`, want: `{"value":111}`, wantV: []string{"42", "69"}},
		{name: "assignment persists", code: "args => { params = args }", vars: v{{"params", []byte("null")}}, params: `{"n":3}`, want: `{"n":3}`, wantV: []string{`{"n":3}`}},
		{name: "decrement", code: "() => count-- > 0", vars: v{{"count", []byte("1")}}, params: `{}`, want: `{"value":true}`, wantV: []string{"0"}},
		{name: "assignment before throw persists", code: "() => { x = 5; throw new Error('e') }", vars: v{{"x", []byte("1")}}, params: `{}`, kind: KindThrew, wantV: []string{"5"}},
		{name: "undefined variable stops write back", code: "() => { a = 2; b = undefined; c = 3 }", vars: v{{"a", []byte("1")}, {"b", []byte("1")}, {"c", []byte("1")}}, params: `{}`, kind: KindThrew, wantV: []string{"2"}},
		{name: "bad variable name", code: "() => 1", vars: v{{"a-b", []byte("1")}}, params: `{}`, kind: KindThrew},
		{name: "reserved variable name", code: "() => 1", vars: v{{"if", []byte("1")}}, params: `{}`, kind: KindThrew},
		{name: "object variable mutated", code: "() => { o.k = 1 }", vars: v{{"o", []byte(`{}`)}}, params: `{}`, want: `{}`, wantV: []string{`{"k":1}`}},
		// sandbox
		{name: "no require", code: "() => require('fs')", params: `{}`, kind: KindThrew},
		{name: "no timers", code: "() => typeof setTimeout + typeof process + typeof fetch", params: `{}`, want: `{"value":"undefinedundefinedundefined"}`},
		{name: "console captured", code: "p => { console.log('n is', p.n); return p }", params: `{"n":1}`, want: `{"n":1}`, inLogs: "n is 1"},
		{name: "deep recursion throws", code: "() => { const f = () => f(); return f() }", params: `{}`, kind: KindThrew},
		{name: "runaway loop", code: "() => { for (;;) {} }", params: `{}`, kind: KindInterrupted, inMsg: "time limit"},
		{name: "never settles", code: "() => new Promise(() => {})", params: `{}`, kind: KindInterrupted, inMsg: "never settled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Compile(tc.code, Limits{Timeout: 100 * time.Millisecond})
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			r, err := f.Call([]byte(tc.params), tc.vars)
			if err != nil {
				t.Fatalf("Call: %v", err)
			}
			if r.Kind != tc.kind {
				t.Fatalf("got kind %v (%s, value %s), want %v", r.Kind, r.Message, r.Value, tc.kind)
			}
			if tc.kind == KindOK {
				if string(r.Value) != tc.want && !sameJSON(t, r.Value, []byte(tc.want)) {
					t.Errorf("got %s, want %s", r.Value, tc.want)
				}
				if !strings.HasPrefix(tc.want, `{"n":42,`) && string(r.Value) != tc.want {
					t.Errorf("got bytes %s, want %s", r.Value, tc.want)
				}
			} else if !strings.Contains(r.Message, tc.inMsg) {
				t.Errorf("got message %q, want it to contain %q", r.Message, tc.inMsg)
			}
			var gotV []string
			for _, b := range r.Vars {
				gotV = append(gotV, string(b))
			}
			if tc.kind != KindInterrupted && !reflect.DeepEqual(gotV, tc.wantV) {
				t.Errorf("got vars %q, want %q", gotV, tc.wantV)
			}
			if tc.inLogs != "" && !strings.Contains(strings.Join(r.Logs, "\n"), tc.inLogs) {
				t.Errorf("got logs %q, want %q in them", r.Logs, tc.inLogs)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		code string
		ok   bool
	}{
		{"args => args.n > 3", true},
		{"function (p) { return p }", true},
		{"=> 1", false},
		{"return 1", false},
		{"x => { ", false},
	} {
		t.Run(tc.code, func(t *testing.T) {
			f, err := Compile(tc.code, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Check(); (got == nil) != tc.ok {
				t.Errorf("got Check() = %v, want ok %v", got, tc.ok)
			} else if got != nil && !errors.Is(got, ErrCompile) {
				t.Errorf("got %v, want it to wrap ErrCompile", got)
			}
		})
	}
}

func TestInputRefused(t *testing.T) {
	f, err := Compile("p => p", Limits{MaxParams: 64, MaxScope: 16})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		params string
		vars   []Var
		want   error
	}{
		{"params not JSON", `{"a":`, nil, ErrBadInput},
		{"params an array", `[1]`, nil, ErrBadInput},
		{"params a number", `1`, nil, ErrBadInput},
		{"params too large", `{"a":"` + strings.Repeat("x", 100) + `"}`, nil, ErrTooLarge},
		{"variable not JSON", `{}`, []Var{{"x", []byte("{")}}, ErrBadInput},
		{"scope too large", `{}`, []Var{{"x", []byte(`"` + strings.Repeat("x", 20) + `"`)}}, ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.Call([]byte(tc.params), tc.vars)
			if !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := Compile(strings.Repeat(" ", 100), Limits{MaxSource: 10}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("got %v for a long source, want ErrTooLarge", err)
	}
}

func TestResultLimit(t *testing.T) {
	f, err := Compile("() => 'x'.repeat(200)", Limits{MaxResult: 100})
	if err != nil {
		t.Fatal(err)
	}
	r, err := f.Call([]byte(`{}`), nil)
	if err != nil || r.Kind != KindInterrupted {
		t.Fatalf("got %v %v, want KindInterrupted", r.Kind, err)
	}
}

func TestHeapBound(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates tens of MB")
	}
	f, err := Compile("() => { const a = []; for (;;) a.push(new Array(1e4).fill(1)) }",
		Limits{Timeout: 10 * time.Second, MaxHeapGrowth: 32 << 20, CheckEvery: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r, err := f.Call([]byte(`{}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Kind != KindInterrupted || !strings.Contains(r.Message, "heap") {
		t.Fatalf("got %v %q, want interrupted by the heap bound", r.Kind, r.Message)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v to stop", d)
	}
}

func TestEngineReusedAfterInterrupt(t *testing.T) {
	f, err := Compile("p => { if (p.loop) for (;;) {} return p.n + 1 }", Limits{Timeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		params string
		kind   Kind
	}{{`{"n":1}`, KindOK}, {`{"loop":true}`, KindInterrupted}, {`{"n":2}`, KindOK}, {`{"loop":true}`, KindInterrupted}, {`{"n":3}`, KindOK}} {
		r, err := f.Call([]byte(tc.params), nil)
		if err != nil || r.Kind != tc.kind {
			t.Fatalf("call %d: got %v %v (%s), want %v", i, r.Kind, err, r.Message, tc.kind)
		}
	}
}

func TestGlobalsDoNotLeak(t *testing.T) {
	f, err := Compile("p => { const before = typeof leaked; leaked = 1; globalThis.other = 2; return before }", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		r, err := f.Call([]byte(`{}`), nil)
		if err != nil || string(r.Value) != `{"value":"undefined"}` {
			t.Fatalf("call %d: got %s %v, want undefined (no leak from the call before)", i, r.Value, err)
		}
	}
}

func TestJSONCannotBeReplaced(t *testing.T) {
	f, err := Compile("() => { x = 7; JSON.stringify = () => 'hacked' }", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := f.Call([]byte(`{"a":1}`), []Var{{"x", []byte("1")}})
	if err != nil || r.Kind != KindOK || len(r.Vars) != 1 || string(r.Vars[0]) != "7" {
		t.Fatalf("got %v %v vars %q, want x written back as 7", r.Kind, err, r.Vars)
	}
}

func TestErrorObject(t *testing.T) {
	for _, tc := range []struct {
		r    Result
		want string
	}{
		{Result{Kind: KindOK}, ""},
		{Result{Kind: KindThrew}, `{"error":"Function combinator threw an exception at AST node root.components[1] (see log for details)"}`},
		{Result{Kind: KindFunction}, `{"error":"Function combinator evaluated to a function type at AST node root.components[1]"}`},
		{Result{Kind: KindInternal, Message: `Do not know "x"`}, `{"error":"Internal error: Do not know \"x\""}`},
	} {
		t.Run(tc.r.Kind.String(), func(t *testing.T) {
			if got := string(tc.r.ErrorObject(".components[1]")); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestConcurrentCalls(t *testing.T) {
	f, err := Compile("({ n }) => ({ n: n * 2, s: x })", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				r, err := f.Call([]byte(fmt.Sprintf(`{"n":%d}`, i)), []Var{{"x", []byte(fmt.Sprint(g))}})
				want := fmt.Sprintf(`{"n":%d,"s":%d}`, 2*i, g)
				if err != nil || string(r.Value) != want {
					errs <- fmt.Errorf("goroutine %d call %d: got %s %v, want %s", g, i, r.Value, err, want)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
