package server_test

// Entry mode (entry.go): an action whose code is an entry manifest runs
// its workflow on the route plane for every /run.

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
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

// TestEntryWithoutAgent: an entry whose manifest has no spec needs the
// route plane; without it /init fails and says what to do.
func TestEntryWithoutAgent(t *testing.T) {
	h := newHarness(t, nil)
	resp := h.init(t, initPayload(server.EntryCode("flow"), "main", entryEnv, false))
	if resp.status != 502 || !strings.Contains(resp.body, "no wsk-route host agent") || !strings.Contains(resp.body, "deploy it again") {
		t.Errorf("entry /init without an agent: %v, want 502 naming the missing agent and what to do", resp)
	}
	bad := server.EntryManifest{Workflow: "flow", Spec: json.RawMessage(`{"workflow":"flow","namespace":"guest","start":["a"],"steps":{}}`)}
	resp = newHarness(t, nil).init(t, initPayload(bad.Code(), "main", entryEnv, false))
	if resp.status != 502 || !strings.Contains(resp.body, "the spec in its manifest") {
		t.Errorf("entry /init with a bad spec and no agent: %v, want 502 naming the spec", resp)
	}
}

// TestEntryThroughAPI: without a host agent, an entry whose manifest
// carries its spec runs the workflow through the OpenWhisk API (the
// container's __OW_API_HOST, the /run's key): every step a blocking
// invoke, its activation named in the entry's logs. A composition is
// conducted the same way.
func TestEntryThroughAPI(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	takeCalls := func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := calls
		calls = nil
		return out
	}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p map[string]any
		json.NewDecoder(r.Body).Decode(&p)
		name := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
		mu.Lock()
		calls = append(calls, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("x-openwhisk-activation-id", strings.Repeat("a", 31)+strconv.Itoa(len(name)))
		text, _ := p["text"].(string)
		switch name {
		case "upper":
			json.NewEncoder(w).Encode(map[string]any{"text": strings.ToUpper(text)})
		case "words":
			json.NewEncoder(w).Encode(map[string]any{"text": text, "words": len(strings.Fields(text))})
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer api.Close()
	sp := json.RawMessage(`{"workflow":"flow","namespace":"guest","start":["a"],"steps":{"a":{"action":"/guest/upper","next":["b"]},"b":{"action":"/guest/words"}}}`)
	for _, m := range []server.EntryManifest{
		{Workflow: "flow", Spec: sp},
		{Workflow: "flow", Spec: json.RawMessage(`{"workflow":"flow","namespace":"guest","start":["start"],"steps":{"start":{"value":{}},"a0-upper":{"action":"/guest/upper","catch":["caught"]},"a1-words":{"action":"/guest/words","catch":["caught"]},"caught":{}}}`),
			Composition: json.RawMessage(`{"type":"sequence","components":[{"type":"action","name":"/_/upper"},{"type":"action","name":"/_/words"}]}`),
			Steps:       map[string]string{"/_/upper": "a0-upper", "/_/words": "a1-words"}},
	} {
		h := newHarness(t, func(c *server.Config) { c.Environ = append(c.Environ, "__OW_API_HOST="+api.URL) })
		h.mustInit(t, initPayload(m.Code(), "main", entryEnv, false))
		resp := h.run(t, runPayload(map[string]any{"text": "wsk route"}, map[string]string{
			"namespace": "guest", "action_name": "/guest/flow", "api_key": "u:k", "activation_id": "0123456789abcdef0123456789abcdef"}))
		want(t, "entry run through the API", resp, 200, `{"text":"WSK ROUTE","words":2}`+"\n")
		auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("u:k"))
		if calls := takeCalls(); len(calls) != 2 || calls[0] != "POST /api/v1/namespaces/guest/actions/upper?blocking=true&result=true "+auth || !strings.HasPrefix(calls[1], "POST /api/v1/namespaces/guest/actions/words?") {
			t.Errorf("API calls %q, want a blocking invoke of each step with the /run's key", calls)
		}
		stdout, stderr := h.checkStreams(t, 1)
		if !strings.Contains(stdout, "ran on openwhisk-api in") || !strings.Contains(stdout, "(through OpenWhisk: activation "+strings.Repeat("a", 31)+"5)") {
			t.Errorf("entry stdout %q: want each step's activation", stdout)
		}
		if !strings.Contains(stderr, "no host agent: workflow flow runs each step through the OpenWhisk API") {
			t.Errorf("entry stderr %q: want a line saying it runs through the API", stderr)
		}
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
