package conductor

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/jsfn"
)

func TestDecodeRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     error
		inMsg    string
	}{
		{"not JSON", `{"type":`, ErrInvalid, ""},
		{"trailing data", `{"type":"empty"} {}`, ErrInvalid, "trailing"},
		{"an array", `[]`, ErrInvalid, ""},
		{"no type", `{"components":[]}`, ErrInvalid, "unknown field"},
		{"unknown combinator", `{"type":"loop"}`, ErrInvalid, `unknown combinator "loop"`},
		{"unknown field", `{"type":"sequence","components":[],"colour":1}`, ErrInvalid, `no field "colour"`},
		{"action without name", `{"type":"action"}`, ErrInvalid, `needs "name"`},
		{"action name not a string", `{"type":"action","name":42}`, ErrInvalid, "Name must be a string"},
		{"action name invalid", `{"type":"action","name":"/a"}`, ErrInvalid, "Name is not valid"},
		{"action name too deep", `{"type":"action","name":"a/b/c/d"}`, ErrInvalid, "Name is not valid"},
		{"components not an array", `{"type":"sequence","components":{}}`, ErrInvalid, "not an array"},
		{"component a number", `{"type":"sequence","components":[42]}`, ErrInvalid, "[0]"},
		{"let declarations an array", `{"type":"let","declarations":[],"components":[]}`, ErrInvalid, "declarations"},
		{"function without code", `{"type":"function","function":{"exec":{"kind":"nodejs:default"}}}`, ErrInvalid, "exec.code"},
		{"function in python", `{"type":"function","function":{"exec":{"kind":"python:3","code":"x"}}}`, ErrInvalid, "python"},
		{"repeat count a string", `{"type":"repeat","count":"3","components":[]}`, ErrInvalid, "count"},
		{"if without test", `{"type":"if","consequent":null}`, ErrInvalid, `needs "test"`},
		{"try without handler", `{"type":"try","body":null}`, ErrInvalid, `needs "handler"`},
		{"nested problem has its path", `{"type":"sequence","components":[{"type":"if","test":"a","consequent":{"type":"nope"}}]}`, ErrInvalid, "composition.components[0].consequent"},
		{"wrapper unknown field", `{"composition":{"type":"empty"},"extra":1}`, ErrInvalid, `unknown field "extra"`},
		{"wrapper nothing to run", `{"version":"0.12.0"}`, ErrInvalid, "nothing to run"},
		{"too deep", strings.Repeat(`{"type":"mask","components":[`, 300) + strings.Repeat(`]}`, 300), ErrTooLarge, "nest deeper"},
		{"too large", `{"type":"empty","path":"` + strings.Repeat("x", 5<<20) + `"}`, ErrTooLarge, "bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode([]byte(tc.in), Limits{})
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.inMsg) {
				t.Errorf("got %q, want it to contain %q", err, tc.inMsg)
			}
		})
	}
}

func TestDecodeReportsEveryProblem(t *testing.T) {
	_, err := Decode([]byte(`{"type":"sequence","components":[{"type":"nope"},{"type":"action"},{"type":"try","body":null}]}`), Limits{})
	if err == nil {
		t.Fatal("got no error")
	}
	for _, want := range []string{"components[0]", "components[1]", "components[2]"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("got %q, want a problem at %s", err, want)
		}
	}
}

func TestDecodeAccepts(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		root     string // the lowered root's type
		inline   int
	}{
		{"bare action name", `"echo"`, "", 0},
		{"null is empty", `{"type":"sequence","components":[null]}`, "sequence", 0},
		{"string component", `{"type":"seq","components":["a","b"]}`, "sequence", 0},
		{"literal lowers to let", `{"type":"literal","value":42}`, "let", 0},
		{"if lowers to let", `{"type":"if","test":"t","consequent":"c"}`, "let", 0},
		{"par lowers to parallel", `{"type":"par","components":["a"]}`, "parallel", 0},
		{"older composition combinator is an action", `{"type":"composition","name":"other"}`, "action", 0},
		{"compile output with inline action", `{"composition":{"type":"action","name":"/_/a","path":""},"ast":{"type":"action","name":"/_/a","action":{"exec":{"kind":"nodejs:default","code":"x"}}},"version":"0.12.0","actions":[{"name":"/_/a","action":{"exec":{"kind":"nodejs:default","code":"x"}}}]}`, "action", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Decode([]byte(tc.in), Limits{})
			if tc.root == "" { // a bare string is not an object: refused at the top
				if err == nil {
					t.Fatalf("got no error for a bare string")
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if c.Root.Type != tc.root {
				t.Errorf("got root %s, want %s", c.Root.Type, tc.root)
			}
			if len(c.Actions) != tc.inline {
				t.Errorf("got %d inline actions, want %d", len(c.Actions), tc.inline)
			}
		})
	}
}

func TestFQN(t *testing.T) {
	// composer's test "action name must parse to fully qualified"
	for _, tc := range []struct{ in, want string }{
		{"", ""}, {" ", ""}, {"/", ""}, {"//", ""}, {"/a", ""}, {"/a/b/c/d", ""},
		{"/a/b/c/d/", ""}, {"a/b/c/d", ""}, {"/a/ /b", ""},
		{"a", "/_/a"}, {"a/b", "/_/a/b"}, {"a/b/c", "/a/b/c"}, {"/a/b", "/a/b"}, {"/a/b/c", "/a/b/c"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := fqn(tc.in)
			if tc.want == "" {
				if err == nil || !strings.HasPrefix(err.Error(), "Name is not valid") {
					t.Errorf("got %q, %v; want Name is not valid", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	conf := loadConformance(f)
	for _, c := range conf.Cases {
		f.Add([]byte(c.Composition))
	}
	for _, s := range []string{`{"type":"if","test":null}`, `"a"`, `{"type":"let","declarations":{"1":2,"a":{}},"components":[]}`, `{"ast":{"type":"retry","count":2,"components":[]}}`} {
		f.Add([]byte(s))
	}
	actions := InvokerFunc(func(_ context.Context, name string, p []byte) ([]byte, error) { return p, nil })
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Decode(data, Limits{MaxNodes: 500})
		if err != nil {
			return
		}
		if c.Root == nil {
			t.Fatal("no error and no root")
		}
		// what decodes compiles, or is refused with an error, and runs to
		// an end within its bounds (never a panic)
		m, err := New(c, Config{Invoker: actions, MaxActions: 50, Functions: jsfn.Limits{Timeout: 10 * time.Millisecond}})
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		res, err := m.Run(ctx, []byte(`{"value":[1,{"a":2}],"type":"action","name":"x","params":{}}`))
		if err == nil && !json.Valid(res.Value) {
			t.Fatalf("result is not JSON: %q", res.Value)
		}
	})
}
