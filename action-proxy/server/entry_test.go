package server_test

// Entry mode (entry.go): an action whose code is an entry manifest runs
// its workflow on the route plane for every /run.

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/route"
	"github.com/wsk-route/wsk-route/action-proxy/server"
	"github.com/wsk-route/wsk-route/internal/frame"
)

var entryEnv = map[string]any{"__OW_NAMESPACE": "guest", "__OW_ACTION_NAME": "/guest/flow", "__OW_ACTION_VERSION": "0.0.1"}

func TestEntryCodeIsAManifest(t *testing.T) {
	var doc map[string]server.EntryManifest
	if err := json.Unmarshal([]byte(server.EntryCode("flow")), &doc); err != nil || doc[server.EntryKey].Workflow != "flow" {
		t.Fatalf("EntryCode = %s (%v)", server.EntryCode("flow"), err)
	}
}

func TestEntryRun(t *testing.T) {
	h, r := routeHarness(t, nil)
	r.result = &route.Result{RunID: "r1", Value: json.RawMessage(`{"text":"DONE"}`), Steps: []route.StepReport{
		{Step: "upper", Instance: "h/c1", Duration: 70 * time.Microsecond, Logs: []byte("upper: 4 characters\n")},
		{Step: "words", Instance: "h/c2", Duration: 60 * time.Microsecond, Logs: []byte("words: 1\n")},
	}}
	h.mustInit(t, initPayload(server.EntryCode("flow"), "main", entryEnv, false))
	if ids := r.claims; len(ids) != 1 || ids[0].Action != "/guest/flow" {
		t.Errorf("claims %v, want the entry claimed at /init", ids)
	}
	deadline := time.Now().Add(30 * time.Second).Truncate(time.Millisecond)
	resp := h.run(t, runPayload(map[string]any{"text": "done"}, map[string]string{
		"deadline": strconvMS(deadline), "namespace": "guest", "action_name": "/guest/flow"}))
	want(t, "entry run", resp, 200, `{"text":"DONE"}`+"\n")
	runs := r.startedRuns()
	if want := deadline.Add(-250 * time.Millisecond); len(runs) != 1 || runs[0].workflow != "flow" || runs[0].input != `{"text":"done"}` || !runs[0].deadline.Equal(want) {
		t.Fatalf("runs %+v, want one run of flow with the value and the activation's deadline less the margin, %v", runs, want)
	}
	stdout, _ := h.checkStreams(t, 1)
	for _, line := range []string{"wsk-route: step upper ran on h/c1 in 70µs", "upper: 4 characters", "wsk-route: step words ran on h/c2 in 60µs", "words: 1", "wsk-route: workflow flow: 2 step(s) in"} {
		if !strings.Contains(stdout, line) {
			t.Errorf("entry stdout %q lacks %q", stdout, line)
		}
	}
}

func TestEntryRunFailure(t *testing.T) {
	h, r := routeHarness(t, nil)
	r.err = &route.RunError{RunID: "r2", Step: "words", Code: frame.CodeStepFailed, Reason: "boom",
		Steps: []route.StepReport{{Step: "upper", Instance: "h/c1", Logs: []byte("upper ran\n")}}}
	h.mustInit(t, initPayload(server.EntryCode("flow"), "main", entryEnv, false))
	resp := h.run(t, runPayload(map[string]any{}, nil))
	if resp.status != 200 {
		t.Fatalf("failed run answered %v, want 200 with an error (an application error)", resp)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(resp.body), &body); err != nil {
		t.Fatal(err)
	}
	if msg, _ := body["error"].(string); !strings.Contains(msg, "workflow flow") || body["step"] != "words" || body["run"] != "r2" {
		t.Errorf("error answer %v, want the workflow, the failed step and the run id", body)
	}
	stdout, _ := h.checkStreams(t, 1)
	if !strings.Contains(stdout, "upper ran") || !strings.Contains(stdout, "wsk-route: workflow flow failed after") {
		t.Errorf("stdout %q lacks the reported step's logs or the failure line", stdout)
	}
	if runs := r.startedRuns(); len(runs) != 1 || runs[0].input != "{}" {
		t.Errorf("runs %+v, want one with input {}", runs)
	}
}

// TestEntryWithoutAgent: an entry needs the route plane; without it /init
// fails and says what to deploy.
func TestEntryWithoutAgent(t *testing.T) {
	h := newHarness(t, nil)
	resp := h.init(t, initPayload(server.EntryCode("flow"), "main", entryEnv, false))
	if resp.status != 502 || !strings.Contains(resp.body, "no wsk-route host agent") {
		t.Errorf("entry /init without an agent: %v, want 502 naming the missing agent", resp)
	}
}

// TestEntryLookalikes: code that merely mentions the key is ordinary code.
func TestEntryLookalikes(t *testing.T) {
	for _, code := range []string{
		`{"wsk-route-entry": {"workflow": ""}}`,
		`{"wsk-route-entry": {"workflow": "a"}, "other": 1}`,
		`#!/bin/sh
# wsk-route-entry
while read l; do echo '{}' >&3; done`,
	} {
		h, r := routeHarness(t, nil)
		resp := h.init(t, initPayload(code, "main", entryEnv, false))
		if resp.status == 200 {
			h.run(t, runPayload(map[string]any{}, nil))
		}
		if runs := r.startedRuns(); len(runs) != 0 {
			t.Errorf("code %q started a workflow run", code)
		}
	}
}

func strconvMS(t time.Time) string { return strings.TrimSpace(string(mustJSON(t.UnixMilli()))) }

// TestFallbackEnvelope: an invoker /run whose value is a fallback envelope
// goes to the route plane, which runs the step on this /run's process; the
// /run answers what the plane says, with the sentinels of a /run.
func TestFallbackEnvelope(t *testing.T) {
	h, r := routeHarness(t, nil)
	initScript(t, h, printAction, map[string]any{"__OW_NAMESPACE": "guest", "__OW_ACTION_NAME": "/guest/step"})
	env := map[string]any{"$wsk-route": map[string]string{"frame": "AAAA"}}
	resp := h.run(t, runPayload(env, map[string]string{"activation_id": "a-fallback", "namespace": "guest", "action_name": "/guest/step"}))
	want(t, "fallback run", resp, 200, `{"fallback-result":{"n":1}}`+"\n")
	if got := r.fallbacks; len(got) != 1 || !strings.Contains(got[0], `"$wsk-route"`) {
		t.Errorf("RunFallback got %v, want the envelope", got)
	}
	stdout, _ := h.checkStreams(t, 1)
	if !strings.Contains(stdout, "stdout 1") {
		t.Errorf("the step's logs %q are not in this activation's stdout", stdout)
	}
	// An ordinary /run after it still reaches the action.
	want(t, "ordinary run", h.run(t, runPayload(map[string]any{"x": 1}, nil)), 200, `{"n":2}`+"\n")
}
