package conductor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/jsfn"
)

// conformance is testdata/conformance.json, written by testdata/gen/gen.js:
// composer's own test compositions and issue 13's cases, compiled by
// composer's compile() and run by composer's conductor code; result and
// failed are what composer's conductor gave (and what each case states).
type conformance struct {
	Composer string `json:"composer"`
	Cases    []struct {
		Name        string          `json:"name"`
		Composition json.RawMessage `json:"composition"`
		Params      json.RawMessage `json:"params"`
		Result      json.RawMessage `json:"result"`
		Failed      bool            `json:"failed"`
		Async       []struct {
			Failed bool            `json:"failed"`
			Result json.RawMessage `json:"result"`
		} `json:"async"`
		// Trace is the main activation's component invocations: the
		// action, its parameters and $composer's state and stack.
		Trace []struct {
			Action string          `json:"action"`
			Params json.RawMessage `json:"params"`
			State  json.RawMessage `json:"state"`
		} `json:"trace"`
	} `json:"cases"`
}

// testActions plays composer's test actions (testdata/actions.json: the
// code composer's test suite deploys) by running their JavaScript.
type testActions struct {
	fns map[string]*jsfn.Func
}

func loadTestActions(t testing.TB) *testActions {
	t.Helper()
	data, err := os.ReadFile("testdata/actions.json")
	if err != nil {
		t.Fatal(err)
	}
	var src map[string]string
	if err := json.Unmarshal(data, &src); err != nil {
		t.Fatal(err)
	}
	a := &testActions{fns: map[string]*jsfn.Func{}}
	for name, code := range src {
		f, err := jsfn.Compile("(params => { "+code+"\n; return main(params) })", jsfn.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Check(); err != nil {
			t.Fatalf("action %s: %v", name, err)
		}
		a.fns[name] = f
	}
	return a
}

func (a *testActions) Invoke(_ context.Context, name string, params []byte) ([]byte, error) {
	f := a.fns[strings.TrimPrefix(name, "/_/")]
	if f == nil {
		return Marshal(NewObject("error", fmt.Sprintf("action %s not found", name))), nil
	}
	r, err := f.Call(params, nil)
	if err != nil {
		return nil, err
	}
	if r.Kind != jsfn.KindOK {
		return Marshal(NewObject("error", "action "+name+": "+r.Message)), nil
	}
	return r.Value, nil
}

func loadConformance(t testing.TB) *conformance {
	t.Helper()
	data, err := os.ReadFile("testdata/conformance.json")
	if err != nil {
		t.Fatal(err)
	}
	var c conformance
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	if len(c.Cases) == 0 {
		t.Fatal("no cases in testdata/conformance.json")
	}
	return &c
}

// canonical re-encodes JSON text as Marshal writes it (composer's result
// as Node.js's JSON.stringify wrote it, in the same key order).
func canonical(t testing.TB, raw []byte) string {
	t.Helper()
	v, err := DecodeValue(raw)
	if err != nil {
		t.Fatalf("bad JSON %s: %v", raw, err)
	}
	return string(Marshal(v))
}

// TestConformance runs every case from the composition compile() lowered
// (what composer's conductor runs) and from its AST (lowered here), and
// compares with composer's conductor's result byte for byte, key order
// included.
func TestConformance(t *testing.T) {
	conf := loadConformance(t)
	actions := loadTestActions(t)
	for _, tc := range conf.Cases {
		// "concurrent" runs the lowered composition with branches at the
		// same time, as an entry does.
		for _, form := range []string{"composition", "ast", "concurrent"} {
			t.Run(tc.Name+"/"+form, func(t *testing.T) {
				var doc map[string]json.RawMessage
				if err := json.Unmarshal(tc.Composition, &doc); err != nil {
					t.Fatal(err)
				}
				input := tc.Composition
				if form == "ast" {
					input = doc["ast"]
				}
				comp, err := Decode(input, Limits{})
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				cfg := Config{Invoker: actions, Functions: jsfn.Limits{Timeout: 2 * time.Second}}
				if form == "concurrent" {
					var ids atomic.Int32
					cfg.Concurrent = true
					cfg.NewActivationID = func() string { return fmt.Sprintf("async-%d", ids.Add(1)) }
				}
				m, err := New(comp, cfg)
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				res, err := m.Run(ctx, tc.Params)
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
				got, want := string(res.Value), canonical(t, tc.Result)
				if got != want || res.Failed != tc.Failed {
					t.Errorf("got %s (failed %v), want %s (failed %v)", got, res.Failed, want, tc.Failed)
				}
				if len(res.Async) != len(tc.Async) {
					t.Fatalf("got %d async bodies, want %d", len(res.Async), len(tc.Async))
				}
				for i, a := range tc.Async {
					got, want := string(res.Async[i].Value), canonical(t, a.Result)
					if got != want || res.Async[i].Failed != a.Failed {
						t.Errorf("async %d: got %s (failed %v), want %s (failed %v)", i, got, res.Async[i].Failed, want, a.Failed)
					}
				}
			})
		}
	}
}

// TestStepsMatchConductor drives every case through the step API and
// checks each action invocation of the main run against composer's
// conductor: the same action, the same parameters, and the same state
// index and stack ($composer.state and $composer.stack), byte for byte.
func TestStepsMatchConductor(t *testing.T) {
	conf := loadConformance(t)
	actions := loadTestActions(t)
	ctx := context.Background()
	for _, tc := range conf.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			comp, err := Decode(tc.Composition, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			m, err := New(comp, Config{Invoker: actions})
			if err != nil {
				t.Fatal(err)
			}
			st, err := m.Start(ctx, tc.Params)
			if err != nil {
				t.Fatal(err)
			}
			res := &Result{}
			for i := 0; st.Kind != StepDone; i++ {
				switch st.Kind {
				case StepFork:
					values := make([][]byte, len(st.Branches))
					for j, b := range st.Branches {
						if values[j], _, err = m.branch(ctx, res, b); err != nil {
							t.Fatal(err)
						}
					}
					st, err = m.Join(ctx, st.State, values)
				case StepAsync:
					if _, _, err := m.branch(ctx, res, st.Branches[0]); err != nil {
						t.Fatal(err)
					}
					st, err = m.Resume(ctx, st.State, []byte(`{"method":"async","activationId":"async-1","sessionId":"session"}`))
				case StepInvoke:
					if len(tc.Trace) == 0 {
						t.Fatalf("step %d: invokes %s, composer's conductor invoked nothing more", i, st.Action)
					}
					want := tc.Trace[0]
					tc.Trace = tc.Trace[1:]
					state, err := json.Marshal(st.State)
					if err != nil {
						t.Fatal(err)
					}
					if st.Action != want.Action || string(st.Params) != canonical(t, want.Params) || string(state) != canonical(t, want.State) {
						t.Fatalf("step %d: got %s %s state %s, composer's conductor: %s %s state %s",
							i, st.Action, st.Params, state, want.Action, canonical(t, want.Params), canonical(t, want.State))
					}
					out, err := actions.Invoke(ctx, st.Action, st.Params)
					if err != nil {
						t.Fatal(err)
					}
					st, err = m.Resume(ctx, st.State, out)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if len(tc.Trace) != 0 {
				t.Errorf("composer's conductor invoked %d more actions", len(tc.Trace))
			}
		})
	}
}

func TestStateJSON(t *testing.T) {
	for _, tc := range []struct {
		in   string
		ok   bool
		want string
	}{
		{`{"state":3,"stack":[{"catch":7},{"let":{"b":1,"a":[2]}},{"let":null},{"marker":true}]}`, true, ""},
		{`{"state":-1,"stack":[]}`, true, ""},
		{`{"state":0}`, true, `{"state":0,"stack":[]}`},
		{`{"state":"3","stack":[]}`, false, ""},
		{`{"state":1.5,"stack":[]}`, false, ""},
		{`{"state":1,"stack":{}}`, false, ""},
		{`{"state":1,"stack":[{"let":3}]}`, false, ""},
		{`{"state":1,"stack":[{}]}`, false, ""},
		{`{"state":1,"stack":[{"catch":0}]}`, false, ""},
		{`[]`, false, ""},
	} {
		t.Run(tc.in, func(t *testing.T) {
			var st State
			err := json.Unmarshal([]byte(tc.in), &st)
			if (err == nil) != tc.ok {
				t.Fatalf("got %v, want ok %v", err, tc.ok)
			}
			if err != nil {
				if !errors.Is(err, ErrBadState) {
					t.Errorf("got %v, want ErrBadState", err)
				}
				return
			}
			out, err := json.Marshal(st)
			want := tc.want
			if want == "" {
				want = tc.in
			}
			if err != nil || string(out) != want {
				t.Errorf("got %s %v, want %s", out, err, want)
			}
		})
	}
}

func TestResumeRefusesForeignStates(t *testing.T) {
	m := machine(t, `{"type":"seq","components":["a"]}`, echo, Config{})
	for _, st := range []State{{PC: 99}, {PC: -5}, {PC: 0, Stack: []Frame{{frame{catch: 99}}}}} {
		if _, err := m.Resume(context.Background(), st, []byte(`{}`)); !errors.Is(err, ErrBadState) {
			t.Errorf("Resume(%+v): got %v, want ErrBadState", st, err)
		}
	}
}
