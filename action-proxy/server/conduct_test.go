package server_test

// An entry that conducts an openwhisk-composer composition (conduct.go):
// composer's semantics in the entry, each action a run of the workflow
// from the action's step, a dynamic action through the API.

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/wsk-route/wsk-route/action-proxy/route"
	"github.com/wsk-route/wsk-route/action-proxy/server"
	"github.com/wsk-route/wsk-route/internal/frame"
)

// conductRouter plays the route plane for a conducting entry: the run
// from step S answers actions[S](input); InvokeAction answers invoked.
type conductRouter struct {
	fakeRouter
	actions map[string]func(in map[string]any) (any, error)
	invoked func(fqn string, in map[string]any) any

	mu     sync.Mutex
	starts []route.RunOptions
	calls  []string // "fqn <- params" of InvokeAction
}

func (r *conductRouter) StartRun(ctx context.Context, workflow string, input []byte, opts route.RunOptions) (*route.Result, error) {
	r.mu.Lock()
	r.starts = append(r.starts, opts)
	r.mu.Unlock()
	f := r.actions[opts.Start]
	if workflow != "comp" || f == nil {
		return nil, fmt.Errorf("run of %s from step %q: no such step", workflow, opts.Start)
	}
	var in map[string]any
	if err := json.Unmarshal(input, &in); err != nil {
		return nil, err
	}
	out, err := f(in)
	if err != nil {
		return nil, &route.RunError{RunID: opts.ID, Step: opts.Start, Code: frame.CodeExpired, Reason: err.Error()}
	}
	b, _ := json.Marshal(out)
	return &route.Result{RunID: opts.ID, Value: b, Steps: []route.StepReport{{Step: opts.Start, Instance: "h/" + opts.Start, Logs: []byte(opts.Start + " ran\n")}}}, nil
}

func (r *conductRouter) InvokeAction(ctx context.Context, fqn string, params []byte) ([]byte, error) {
	var in map[string]any
	json.Unmarshal(params, &in)
	r.mu.Lock()
	r.calls = append(r.calls, fqn+" <- "+string(params))
	r.mu.Unlock()
	return json.Marshal(r.invoked(fqn, in))
}

func (r *conductRouter) StartAction(ctx context.Context, fqn string, params []byte) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, fqn+" <- "+string(params))
	return fmt.Sprintf("%032d", len(r.calls)), nil
}

func conductHarness(t *testing.T, r *conductRouter, composition string, steps map[string]string) *harness {
	t.Helper()
	h := newHarness(t, nil)
	if err := h.proxy.EnableRoute(r); err != nil {
		t.Fatal(err)
	}
	code := server.EntryManifest{Workflow: "comp", Composition: json.RawMessage(composition), Steps: steps}.Code()
	h.mustInit(t, initPayload(code, "main", entryEnv, false))
	return h
}

func TestConductedEntry(t *testing.T) {
	double := func(in map[string]any) (any, error) { return map[string]any{"n": in["n"].(float64) * 2}, nil }
	failing := func(in map[string]any) (any, error) { return map[string]any{"error": "no " + fmt.Sprint(in["n"])}, nil }
	for _, tc := range []struct {
		name, composition string
		input             map[string]any
		want              string // the /run answer's body
		wantStarts        []string
		wantLog           string
	}{
		{
			name:        "let, a while, functions that read the variable and log",
			composition: `{"type":"let","declarations":{"max":8},"components":[{"type":"while","test":{"type":"function","function":{"exec":{"kind":"nodejs:default","code":"p => p.n < max"}}},"body":{"type":"action","name":"/_/double"}},{"type":"function","function":{"exec":{"kind":"nodejs:default","code":"p => { console.log('done at', p.n); return {n: p.n, max} }"}}}]}`,
			input:       map[string]any{"n": 1},
			want:        `{"n":8,"max":8}`,
			wantStarts:  []string{"a0", "a0", "a0"},
			wantLog:     "done at 8",
		},
		{
			name:        "try catches the action's own error object",
			composition: `{"type":"try","body":{"type":"action","name":"/_/fail"},"handler":{"type":"function","function":{"exec":{"kind":"nodejs:default","code":"e => ({caught: e.error})"}}}}`,
			input:       map[string]any{"n": 3},
			want:        `{"caught":"no 3"}`,
			wantStarts:  []string{"a0"},
		},
		{
			name:        "an uncaught error is the answer, an application error",
			composition: `{"type":"sequence","components":[{"type":"action","name":"/_/fail"},{"type":"action","name":"/_/double"}]}`,
			input:       map[string]any{"n": 4},
			want:        `{"error":"no 4"}`,
			wantStarts:  []string{"a0"},
		},
		{
			name:        "parallel joins into value, literal shaped",
			composition: `{"type":"parallel","components":[{"type":"action","name":"/_/double"},{"type":"literal","value":42}]}`,
			input:       map[string]any{"n": 5},
			want:        `{"value":[{"n":10},{"value":42}]}`,
			wantStarts:  []string{"a0"},
		},
		{
			name:        "dynamic goes through the API, in the entry's namespace",
			composition: `{"type":"dynamic"}`,
			input:       map[string]any{"type": "action", "name": "other", "params": map[string]any{"n": 1}},
			want:        `{"invoked":"/guest/other"}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &conductRouter{
				actions: map[string]func(map[string]any) (any, error){"a0": double, "a1": double},
				invoked: func(fqn string, in map[string]any) any { return map[string]any{"invoked": fqn} },
			}
			steps := map[string]string{"/_/double": "a0"}
			if strings.Contains(tc.composition, "/_/fail") {
				r.actions["a0"] = failing
				steps = map[string]string{"/_/fail": "a0", "/_/double": "a1"}
			}
			h := conductHarness(t, r, tc.composition, steps)
			resp := h.run(t, runPayload(tc.input, map[string]string{"namespace": "guest", "activation_id": "0123456789abcdef0123456789abcdef"}))
			want(t, tc.name, resp, 200, tc.want+"\n")
			var starts []string
			for i, o := range r.starts {
				starts = append(starts, o.Start)
				if wantID := fmt.Sprintf("0123456789abcdef0123456789abcdef-%d", i+1); o.ID != wantID {
					t.Errorf("run %d has id %q, want %q", i, o.ID, wantID)
				}
			}
			if strings.Join(starts, ",") != strings.Join(tc.wantStarts, ",") {
				t.Errorf("runs started at %v, want %v", starts, tc.wantStarts)
			}
			stdout, _ := h.checkStreams(t, 1)
			if tc.wantLog != "" && !strings.Contains(stdout, tc.wantLog) {
				t.Errorf("entry stdout %q lacks the function's log %q", stdout, tc.wantLog)
			}
			if len(tc.wantStarts) > 0 && !strings.Contains(stdout, "a0 ran") {
				t.Errorf("entry stdout %q lacks the step's logs", stdout)
			}
		})
	}
}

// TestConductedEntryRunFails: an action whose run fails (its deadline, an
// instance that vanished) ends the composition with an error naming it.
func TestConductedEntryRunFails(t *testing.T) {
	r := &conductRouter{actions: map[string]func(map[string]any) (any, error){
		"a0": func(map[string]any) (any, error) { return nil, fmt.Errorf("deadline passed") },
	}}
	h := conductHarness(t, r, `{"type":"action","name":"/_/slow"}`, map[string]string{"/_/slow": "a0"})
	resp := h.run(t, runPayload(map[string]any{}, map[string]string{"namespace": "guest"}))
	var body map[string]any
	if err := json.Unmarshal([]byte(resp.body), &body); err != nil || resp.status != 200 {
		t.Fatalf("answer %v (%v), want 200 with an error", resp, err)
	}
	if msg, _ := body["error"].(string); !strings.Contains(msg, "/_/slow") || !strings.Contains(msg, "deadline passed") || body["step"] != "a0" {
		t.Errorf("error answer %v, want the action, the reason and the step", body)
	}
}

// TestConductedEntryBadManifest: a composition that does not decode, or
// names an action its manifest maps to no step, fails /init and says so.
// (A function that does not compile is not one: as in composer, it throws
// when it runs, which a try can catch.)
func TestConductedEntryBadManifest(t *testing.T) {
	for _, tc := range []struct {
		name, composition string
		steps             map[string]string
		want              string
	}{
		{"unknown combinator", `{"type":"teleport"}`, nil, "teleport"},
		{"action without step", `{"type":"action","name":"/_/a"}`, map[string]string{}, "invokes /_/a, which its manifest maps to no step"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			if err := h.proxy.EnableRoute(&conductRouter{}); err != nil {
				t.Fatal(err)
			}
			code := server.EntryManifest{Workflow: "comp", Composition: json.RawMessage(tc.composition), Steps: tc.steps}.Code()
			resp := h.init(t, initPayload(code, "main", entryEnv, false))
			if resp.status != 502 || !strings.Contains(resp.body, tc.want) {
				t.Errorf("/init answered %d %s, want 502 naming %q", resp.status, resp.body, tc.want)
			}
		})
	}
}

// TestConductedAsync: an async body starts as an activation of the entry
// action itself, with composer's state in "$composer", and the
// composition goes on at once with composer's answer; that activation
// runs the body from the state, in the same session.
func TestConductedAsync(t *testing.T) {
	r := &conductRouter{actions: map[string]func(map[string]any) (any, error){
		"a0": func(in map[string]any) (any, error) { return map[string]any{"n": in["n"].(float64) * 2}, nil },
	}}
	h := conductHarness(t, r, `{"type":"sequence","components":[{"type":"async","components":[{"type":"action","name":"/_/double"}]},{"type":"function","function":{"exec":{"kind":"nodejs:default","code":"p => ({started: p.method, id: p.activationId, session: p.sessionId})"}}}]}`,
		map[string]string{"/_/double": "a0"})
	const run = "0123456789abcdef0123456789abcdef"
	extra := map[string]string{"namespace": "guest", "action_name": "/guest/flow", "activation_id": run}
	resp := h.run(t, runPayload(map[string]any{"n": 4}, extra))
	want(t, "the composition", resp, 200, `{"started":"async","id":"00000000000000000000000000000001","session":"`+run+`"}`+"\n")
	if len(r.starts) != 0 || len(r.calls) != 1 {
		t.Fatalf("runs %v, API calls %v: want the body started through the API, not run here", r.starts, r.calls)
	}
	self, params, _ := strings.Cut(r.calls[0], " <- ")
	if self != "/guest/flow" || !strings.HasPrefix(params, `{"$composer":{"state":`) || !strings.Contains(params, `"session":"`+run+`"`) || !strings.HasSuffix(params, `,"n":4}`) {
		t.Fatalf("started %s with %s, want the entry itself with composer's state, the session and the input", self, params)
	}

	// The body's activation: another /run of the entry with those params.
	var in map[string]any
	if err := json.Unmarshal([]byte(params), &in); err != nil {
		t.Fatal(err)
	}
	extra["activation_id"] = "00000000000000000000000000000001"
	resp = h.run(t, runPayload(in, extra))
	want(t, "the body", resp, 200, `{"n":8}`+"\n")
	if len(r.starts) != 1 || r.starts[0].Start != "a0" {
		t.Errorf("runs %v, want the body's action run once", r.starts)
	}
}
