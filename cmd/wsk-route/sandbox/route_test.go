package sandbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"

	"github.com/wsk-route/wsk-route/action-proxy/route"
	"github.com/wsk-route/wsk-route/action-proxy/server"
	"github.com/wsk-route/wsk-route/internal/spec"
	owhisk "github.com/wsk-route/wsk-route/internal/whisk"
)

// chain returns the spec of a chain of actions of the guest namespace.
func chain(workflow string, actions ...string) *spec.Spec {
	sp := &spec.Spec{Workflow: workflow, Namespace: "guest", Start: []string{actions[0]}, Steps: map[string]spec.Step{}}
	for i, a := range actions {
		st := spec.Step{Action: "/guest/" + a}
		if i+1 < len(actions) {
			st.Next = []string{actions[i+1]}
		}
		sp.Steps[a] = st
	}
	return sp
}

// startEntry starts a route plane in the test process, as an entry
// action's proxy would run it, connected to the shared sandbox's agent.
func startEntry(t testing.TB, name string) *route.Plane {
	t.Helper()
	return startEntryAt(t, shared.RunDir, name)
}

// startEntryAt starts a route plane in the test process, as the proxy of
// the entry action /guest/<name> would run it, connected to the agent of
// the sandbox whose run directory is runDir. The plane stops when t ends.
func startEntryAt(t testing.TB, runDir, name string) *route.Plane {
	t.Helper()
	plane, err := route.New(route.Config{
		AgentSocket: filepath.Join(runDir, "agent.sock"),
		Name:        name,
		Logger:      slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	plane.Identify(route.Identity{Namespace: "guest", Action: "/guest/" + name})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- plane.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("entry plane: %v", err)
		}
	})
	return plane
}

// TestDirectHops runs a workflow through the sandbox's warm containers
// with direct hops: containers started by the invoker register with the
// sandbox's agent, and a run goes entry → upper → reverse → words → entry
// without the controller, Kafka or the invoker.
func TestDirectHops(t *testing.T) {
	c := client(t, "")
	steps := []string{"dh-upper", "dh-reverse", "dh-words"}
	for _, s := range steps {
		createAct(t, c, s, nil, nil) // the step comes from the name
		if act, _ := invoke(t, c, s, map[string]any{"text": "warm"}); !act.Response.Success {
			t.Fatalf("warming %s: %+v", s, act.Response)
		}
	}
	if _, err := shared.Routes().PutSpec(context.Background(), chain("dh", steps...)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shared.Routes().DeleteSpec(context.Background(), "guest", "dh") })
	entry := startEntry(t, "dh-entry")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := entry.WaitReady(ctx, "dh"); err != nil {
		t.Fatalf("the workflow's instances never became ready: %v (containers: %+v)", err, shared.Containers())
	}
	res, err := entry.StartRun(ctx, "dh", []byte(`{"text":"direct hops"}`), route.RunOptions{})
	if err != nil {
		t.Fatalf("direct run: %v", err)
	}
	var v map[string]any
	if err := json.Unmarshal(res.Value, &v); err != nil || v["text"] != "SPOH TCERID" || v["words"] != float64(2) {
		t.Errorf("direct run result %s (%v), want the text upper-cased and reversed, and 2 words", res.Value, err)
	}
	if len(res.Steps) != 3 {
		t.Fatalf("steps %+v, want 3", res.Steps)
	}
	containers := map[string]bool{}
	for _, ci := range shared.Containers() {
		containers[ci.Name] = true
	}
	for _, st := range res.Steps {
		_, name, _ := strings.Cut(st.Instance, "/")
		if !containers[name] {
			t.Errorf("step %s ran on %s, which is not one of the invoker's containers %v", st.Step, st.Instance, containers)
		}
		if !strings.Contains(string(st.Logs), "step ") {
			t.Errorf("step %s's logs %q lack its line", st.Step, st.Logs)
		}
	}
}

// TestEntryAction invokes a workflow the way users will: `wsk action
// invoke` of an entry action (an action whose code is an entry manifest),
// whose proxy runs the workflow with direct hops through the warm
// containers of its steps and answers with the result; the entry's
// activation logs show every step.
func TestEntryAction(t *testing.T) {
	c := client(t, "")
	steps := []string{"ea-upper", "ea-words"}
	// ea-words has limits of its own, ea-upper the defaults.
	memory, timeout := 192, 30000
	limits := map[string]*whisk.Limits{"ea-words": {Memory: &memory, Timeout: &timeout}}
	// The warm-up activations, which the sandbox's invoker recorded as
	// OpenWhisk's does: the steps' records must say the same kind and limits.
	warm := map[string]*whisk.Activation{}
	for _, s := range steps {
		createAct(t, c, s, nil, limits[s])
		act, _ := invoke(t, c, s, map[string]any{"text": "warm"})
		if !act.Response.Success {
			t.Fatalf("warming %s: %+v", s, act.Response)
		}
		warm[s] = act
	}
	wantLimits := map[string]any{
		"ea-upper": map[string]any{"timeout": 60000.0, "memory": 256.0, "logs": 10.0, "concurrency": 1.0},
		"ea-words": map[string]any{"timeout": 30000.0, "memory": 192.0, "logs": 10.0, "concurrency": 1.0},
	}
	if _, err := shared.Routes().PutSpec(context.Background(), chain("ea", steps...)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shared.Routes().DeleteSpec(context.Background(), "guest", "ea") })
	code := server.EntryCode("ea")
	entry := &whisk.Action{Name: "ea", Namespace: "_", Exec: &whisk.Exec{Kind: "blackbox", Image: "openwhisk/actionloop-base", Code: &code}}
	if _, resp, err := c.Actions.Insert(entry, true); err != nil {
		t.Fatalf("creating the entry action: %v %s", err, status(resp))
	}
	t.Cleanup(func() { c.Actions.Delete("ea") })

	entries := map[string]bool{}
	var entryLogs []string
	for i := 0; i < 3; i++ {
		act, resp := invoke(t, c, "ea", map[string]any{"text": "entry action"})
		if resp.StatusCode != http.StatusOK || !act.Response.Success {
			t.Fatalf("invoke %d of the entry: %s %+v (logs %q)", i, resp.Status, act.Response, act.Logs)
		}
		entries[act.ActivationID] = true
		entryLogs = append(entryLogs, act.Logs...)
		r := act.Response.Result.(map[string]any)
		if r["text"] != "ENTRY ACTION" || fmt.Sprint(r["words"]) != "2" {
			t.Errorf("invoke %d: result %v, want the upper-cased text and 2 words", i, r)
		}
		logs := strings.Join(act.Logs, "\n")
		for _, want := range []string{"wsk-route: step ea-upper ran on sandbox/", "wsk-route: step ea-words ran on sandbox/", `step upper: "entry action"`, "stdout: stderr: step upper on stderr", "wsk-route: workflow ea: 2 step(s) in"} {
			if !strings.Contains(logs, want) {
				t.Errorf("invoke %d: the entry's logs %q lack %q", i, act.Logs, want)
			}
		}
	}
	// The steps ran direct: no activation through the controller since
	// the warm-up, and one record per run, caused by the run's entry.
	for _, s := range steps {
		if n := activations(t, c, s, 1); n != 1 {
			t.Errorf("%s has %d activations through the controller, want only its warm-up: the workflow's steps must not go through it", s, n)
		}
		recs := stepRecords(t, c, s, 3)
		if len(recs) != 3 {
			t.Fatalf("%s has %d step records, want one per run (3)", s, len(recs))
		}
		for _, r := range recs {
			if !entries[r.Cause] {
				t.Errorf("%s's record %s has cause %q, not one of the entry's activations %v", s, r.ActivationID, r.Cause, entries)
			}
			if !strings.Contains(strings.Join(entryLogs, "\n"), "(activation "+r.ActivationID+")") {
				t.Errorf("the entry's logs do not name %s's record %s", s, r.ActivationID)
			}
			// wsk activation get ID: the whole record, with its logs.
			full, _, err := c.Activations.Get(r.ActivationID)
			if err != nil {
				t.Fatalf("wsk activation get %s: %v", r.ActivationID, err)
			}
			if !full.Response.Success || full.Response.Result == nil || full.Duration < 0 || full.End < full.Start || full.Namespace != "guest" {
				t.Errorf("record %s: %+v, want a successful step with its result and times", r.ActivationID, full)
			}
			if s == "ea-upper" {
				checkStepLogs(t, full, `step upper: "entry action"`, "step upper on stderr")
			}
			// OpenWhisk's invoker says whether the activation timed out.
			if got := full.Annotations.GetValue("timeout"); got != false {
				t.Errorf("record %s: timeout annotation %v, want false", r.ActivationID, got)
			}
			if got := full.Annotations.GetValue("path"); got != "guest/"+s {
				t.Errorf("record %s: path annotation %v, want guest/%s", r.ActivationID, got, s)
			}
			// kind and limits, right after path, as the invoker's record of
			// the same action has them.
			if len(full.Annotations) < 3 || full.Annotations[1].Key != "kind" || full.Annotations[2].Key != "limits" {
				t.Errorf("record %s: annotations %v, want path, kind, limits first", r.ActivationID, full.Annotations)
			}
			if got := full.Annotations.GetValue("kind"); got != "blackbox" || got != warm[s].Annotations.GetValue("kind") {
				t.Errorf("record %s: kind %v, want blackbox as the invoker's record has %v", r.ActivationID, got, warm[s].Annotations.GetValue("kind"))
			}
			if got := full.Annotations.GetValue("limits"); !sameJSON(got, wantLimits[s]) || !sameJSON(got, warm[s].Annotations.GetValue("limits")) {
				t.Errorf("record %s: limits %v, want %v as the invoker's record has %v", r.ActivationID, got, wantLimits[s], warm[s].Annotations.GetValue("limits"))
			}
		}
	}
	// The agent's Prometheus series of every edge the runs took: the
	// entry to the first step, and the first step to the second.
	for _, edge := range [][2]string{{"/guest/ea", "/guest/ea-upper"}, {"/guest/ea-upper", "/guest/ea-words"}} {
		waitAgentMetric(t, fmt.Sprintf(`wsk_route_edge_hops_total{from_action=%q,outcome="ok",to_action=%q,transport="unix"}`, edge[0], edge[1]), 3)
	}
	waitAgentMetric(t, `wsk_route_step_duration_seconds_count{action="/guest/ea-words",workflow="/guest/ea"}`, 3)
}

// waitAgentMetric waits until the sandbox's agent serves series at value
// want or more.
func waitAgentMetric(t *testing.T, series string, want float64) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(shared.AgentMetrics)
		if err != nil {
			t.Fatalf("the agent's metrics: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, l := range strings.Split(string(body), "\n") {
			if v, ok := strings.CutPrefix(l, series+" "); ok {
				if got, err := strconv.ParseFloat(v, 64); err == nil && got >= want {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent's %s lacks %s >= %v:\n%s", shared.AgentMetrics, series, want, grepLines(string(body), "wsk_route"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkStepLogs checks that a direct step's record has the step's own
// log lines, each as OpenWhisk writes them: its stdout line and its
// stderr line, named after their streams, stamped when the proxy read
// them: within the step's run, or just after it (the output crosses a
// pipe, and may be read after the result).
func checkStepLogs(t *testing.T, rec *whisk.Activation, stdout, stderr string) {
	t.Helper()
	want := map[string]string{"stdout": stdout, "stderr": stderr}
	for _, l := range rec.Logs {
		at, stream, text, ok := owhisk.ParseLogLine(l)
		if !ok {
			t.Errorf("record %s: log line %q is not OpenWhisk's \"<time> <stream>: <text>\"", rec.ActivationID, l)
			continue
		}
		if want[stream] != text {
			continue
		}
		delete(want, stream)
		if ms := at.UnixMilli(); ms < rec.Start || ms > rec.End+1000 {
			t.Errorf("record %s: line %q stamped outside the step's run (%d to %d)", rec.ActivationID, l, rec.Start, rec.End)
		}
	}
	for stream, text := range want {
		t.Errorf("record %s has logs %q, want the step's %s line %q", rec.ActivationID, rec.Logs, stream, text)
	}
}

// TestStepUserEvents: the direct steps of a workflow run reach the
// sandbox's events topic as OpenWhisk user events (one per step, from its
// agent), and its user-events service turns them into OpenWhisk's
// metrics at /metrics, as OpenWhisk's own user-events service does.
func TestStepUserEvents(t *testing.T) {
	c := client(t, "")
	steps := []string{"ue-upper", "ue-words"}
	deployFlow(t, c, "ue", steps...)
	// ue-words gets a memory limit of its own (the defaults are 256 MB).
	// The steps are warmed after the last update: a container of an older
	// version would run the steps as that version, of which the store
	// knows nothing any more (its events would say kind "unknown").
	memory := 192
	createAct(t, c, "ue-words", nil, &whisk.Limits{Memory: &memory})
	for _, s := range steps {
		if act, _ := invoke(t, c, s, map[string]any{"text": "warm"}); !act.Response.Success {
			t.Fatalf("warming %s: %+v", s, act.Response)
		}
	}
	const runs = 4
	for i := 0; i < runs; i++ {
		if act, resp := invoke(t, c, "ue", map[string]any{"text": "user events"}); resp.StatusCode != http.StatusOK || !act.Response.Success {
			t.Fatalf("invoke %d of the entry: %s %+v (logs %q)", i, resp.Status, act.Response, act.Logs)
		}
	}
	// The events carry the steps' kind and memory limit, which OpenWhisk's
	// user-events service labels the activations with.
	wantMemory := map[string]int{"ue-upper": 256, "ue-words": 192}
	for _, s := range steps {
		want := fmt.Sprintf(`openwhisk_action_activations_total{action=%q,initiator="guest",kind="blackbox",memory="%d",namespace="guest"} %d`, s, wantMemory[s], runs)
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp, err := http.Get(shared.URL + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(body), want) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("/metrics lacks %s:\n%s", want, grepLines(string(body), "openwhisk_action_activations_total"))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	resp, err := http.Get(shared.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, l := range strings.Split(grepLines(string(body), `action="ue-`), "\n") {
		if strings.Contains(l, `kind="unknown"`) {
			t.Errorf("a step's event went without its kind: %s", l)
		}
	}
}

// sameJSON reports whether a and b have the same JSON (numbers decoded
// as float64 or json.Number alike).
func sameJSON(a, b any) bool {
	ja, erra := json.Marshal(a)
	jb, errb := json.Marshal(b)
	return erra == nil && errb == nil && string(ja) == string(jb)
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// isStepRecord reports whether a is the record of a direct step (the
// agent writes it with a "wsk-route" annotation), not an activation the
// controller made.
func isStepRecord(a whisk.Activation) bool {
	return a.Annotations.GetValue("wsk-route") != nil
}

// TestNativeStep runs a workflow whose second step is a --native script
// (openwhisk/dockerskeleton: one process per activation, the result on the
// last line of its output) through direct hops: the script runs once per
// step, its log line reaches the entry's logs, and no step goes through
// the controller once warm.
func TestNativeStep(t *testing.T) {
	c := client(t, "")
	createAct(t, c, "ns-upper", nil, nil)
	script := "#!/bin/sh\necho \"native step pid $$\"\necho \"$1\" | sed 's/^{/{\"native\":true,/'\n"
	native := &whisk.Action{Name: "ns-native", Namespace: "_", Exec: &whisk.Exec{Kind: "blackbox", Image: "openwhisk/dockerskeleton", Code: &script}}
	if _, resp, err := c.Actions.Insert(native, true); err != nil {
		t.Fatalf("wsk action create ns-native native.sh --native: %v %s", err, status(resp))
	}
	t.Cleanup(func() { c.Actions.Delete("ns-native") })
	for _, s := range []string{"ns-upper", "ns-native"} {
		if act, _ := invoke(t, c, s, map[string]any{"text": "warm"}); !act.Response.Success {
			t.Fatalf("warming %s: %+v (logs %q)", s, act.Response, act.Logs)
		}
	}
	if _, err := shared.Routes().PutSpec(context.Background(), chain("ns", "ns-upper", "ns-native")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shared.Routes().DeleteSpec(context.Background(), "guest", "ns") })
	code := server.EntryCode("ns")
	entry := &whisk.Action{Name: "ns", Namespace: "_", Exec: &whisk.Exec{Kind: "blackbox", Image: "openwhisk/actionloop-base", Code: &code}}
	if _, resp, err := c.Actions.Insert(entry, true); err != nil {
		t.Fatalf("creating the entry action: %v %s", err, status(resp))
	}
	t.Cleanup(func() { c.Actions.Delete("ns") })

	pids := map[string]bool{}
	for i := 0; i < 2; i++ {
		act, resp := invoke(t, c, "ns", map[string]any{"text": "native"})
		if resp.StatusCode != http.StatusOK || !act.Response.Success {
			t.Fatalf("invoke %d of the entry: %s %+v (logs %q)", i, resp.Status, act.Response, act.Logs)
		}
		r := act.Response.Result.(map[string]any)
		if r["text"] != "NATIVE" || r["native"] != true {
			t.Errorf("invoke %d: result %v, want the upper-cased text marked native", i, r)
		}
		for _, l := range act.Logs {
			if _, pid, ok := strings.Cut(l, "native step pid "); ok {
				pids[pid] = true
			}
		}
	}
	if len(pids) != 2 {
		t.Errorf("the native step's log lines name the pids %v, want two: one process per step", pids)
	}
	for _, s := range []string{"ns-upper", "ns-native"} {
		if n := activations(t, c, s, 1); n != 1 {
			t.Errorf("%s has %d activations, want only its warm-up: the workflow's steps must not go through the controller", s, n)
		}
	}
}

// deployFlow creates the step actions and an entry action named workflow,
// and puts the chain of the steps in the registry.
func deployFlow(t *testing.T, c *whisk.Client, workflow string, steps ...string) {
	t.Helper()
	for _, s := range steps {
		createAct(t, c, s, nil, nil)
	}
	if _, err := shared.Routes().PutSpec(context.Background(), chain(workflow, steps...)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shared.Routes().DeleteSpec(context.Background(), "guest", workflow) })
	code := server.EntryCode(workflow)
	entry := &whisk.Action{Name: workflow, Namespace: "_", Exec: &whisk.Exec{Kind: "blackbox", Image: "openwhisk/actionloop-base", Code: &code}}
	if _, resp, err := c.Actions.Insert(entry, true); err != nil {
		t.Fatalf("creating the entry action: %v %s", err, status(resp))
	}
	t.Cleanup(func() { c.Actions.Delete(workflow) })
}

// activations returns how many activations through the controller name
// has, once it has at least atLeast (waiting a little: a fallback step's
// record is written after its result went on, so the run can end first),
// or what it has after the wait. The records of direct steps do not
// count.
func activations(t *testing.T, c *whisk.Client, name string, atLeast int) int {
	t.Helper()
	return len(listActivations(t, c, name, atLeast, false))
}

// stepRecords returns the records of name's direct steps, once it has at
// least atLeast, or what it has after a little wait.
func stepRecords(t *testing.T, c *whisk.Client, name string, atLeast int) []whisk.Activation {
	t.Helper()
	return listActivations(t, c, name, atLeast, true)
}

func listActivations(t *testing.T, c *whisk.Client, name string, atLeast int, direct bool) []whisk.Activation {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		list, _, err := c.Activations.List(&whisk.ActivationListOptions{Name: name, Limit: 200, Docs: true})
		if err != nil {
			t.Fatal(err)
		}
		var got []whisk.Activation
		for _, a := range list {
			if isStepRecord(a) == direct {
				got = append(got, a)
			}
		}
		if len(got) >= atLeast || time.Now().After(deadline) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestColdWarmHalfWarm runs a three-step workflow through its entry action
// fully cold (no step has a container: every hop falls back to the
// OpenWhisk API, which starts the containers), then fully warm (every hop
// direct), and a second workflow half-warm (its middle step cold): the
// result is the same every time, and a step goes through the controller
// exactly when it had no warm instance.
func TestColdWarmHalfWarm(t *testing.T) {
	c := client(t, "")
	const input = `hello cold world`
	check := func(what, workflow string) *whisk.Activation {
		t.Helper()
		act, resp := invoke(t, c, workflow, map[string]any{"text": input})
		if resp.StatusCode != http.StatusOK || !act.Response.Success {
			t.Fatalf("%s run: %s %+v (logs %q)", what, resp.Status, act.Response, act.Logs)
		}
		r := act.Response.Result.(map[string]any)
		if r["text"] != "DLROW DLOC OLLEH" || fmt.Sprint(r["words"]) != "3" {
			t.Errorf("%s run: result %v, want the text upper-cased and reversed, and 3 words", what, r)
		}
		return act
	}

	steps := []string{"cw-upper", "cw-reverse", "cw-words"}
	deployFlow(t, c, "cw", steps...)
	cold := check("cold", "cw")
	if logs := strings.Join(cold.Logs, "\n"); !strings.Contains(logs, "ran through the OpenWhisk API as activation") {
		t.Errorf("the cold run's entry logs %q do not show the fallback", cold.Logs)
	}
	for _, s := range steps {
		if n := activations(t, c, s, 1); n != 1 {
			t.Errorf("cold: %s has %d activations, want 1 (its fallback)", s, n)
		}
	}
	waitIdle(t)
	check("warm", "cw")
	for _, s := range steps {
		if n := activations(t, c, s, 1); n != 1 {
			t.Errorf("warm: %s has %d activations, want still 1: warm hops are direct", s, n)
		}
	}

	half := []string{"hw-upper", "hw-reverse", "hw-words"}
	deployFlow(t, c, "hw", half...)
	for _, s := range []string{"hw-upper", "hw-words"} {
		invoke(t, c, s, map[string]any{"text": "warm-up"})
	}
	check("half-warm", "hw")
	for s, want := range map[string]int{"hw-upper": 1, "hw-reverse": 1, "hw-words": 1} {
		if n := activations(t, c, s, want); n != want {
			t.Errorf("half-warm: %s has %d activations, want %d (warm-up or fallback, not both)", s, n, want)
		}
	}
}

// api calls the sandbox's REST API with the guest key and decodes the
// answer into out (when not nil); it returns the status.
func api(t *testing.T, method, path string, body []byte, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, shared.URL+path, strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	user, pass, _ := strings.Cut(shared.Auth, ":")
	req.SetBasicAuth(user, pass)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %s: %v", method, path, resp.Status, err)
		}
	}
	return resp.StatusCode
}

// TestWorkflowsAPI stores, reads, lists and deletes a compiled spec
// through the sandbox's /wsk-route/workflows routes (what `wsk-route
// compose` uses against the sandbox), and reads the route table.
func TestWorkflowsAPI(t *testing.T) {
	c := client(t, "")
	createAct(t, c, "wf-upper", nil, nil)
	invoke(t, c, "wf-upper", map[string]any{"text": "warm"})
	sp, _ := chain("wf", "wf-upper").Marshal()
	var stored struct {
		Workflow string `json:"workflow"`
		Version  uint64 `json:"version"`
	}
	if st := api(t, "PUT", "/api/v1/namespaces/_/wsk-route/workflows/wf", sp, &stored); st != 200 || stored.Workflow != "wf" || stored.Version == 0 {
		t.Fatalf("PUT: %d %+v", st, stored)
	}
	t.Cleanup(func() { api(t, "DELETE", "/api/v1/namespaces/_/wsk-route/workflows/wf", nil, nil) })
	got, err := shared.Routes().GetSpec(context.Background(), "guest", "wf")
	if err != nil || got == nil || got.Version != stored.Version {
		t.Fatalf("the registry holds %+v (%v), want version %d", got, err, stored.Version)
	}
	var one struct {
		Steps   map[string]spec.Step `json:"steps"`
		Version uint64               `json:"version"`
	}
	if st := api(t, "GET", "/api/v1/namespaces/_/wsk-route/workflows/wf", nil, &one); st != 200 || one.Version != stored.Version || one.Steps["wf-upper"].Action != "/guest/wf-upper" {
		t.Errorf("GET: %d %+v", st, one)
	}
	var list []struct{ Workflow string }
	if st := api(t, "GET", "/api/v1/namespaces/_/wsk-route/workflows", nil, &list); st != 200 || !containsWorkflow(list, "wf") {
		t.Errorf("list: %d %+v", st, list)
	}
	var routes []struct{ ID, Action string }
	if st := api(t, "GET", "/api/v1/namespaces/_/wsk-route/routes?action=/guest/wf-upper", nil, &routes); st != 200 || len(routes) != 1 || routes[0].Action != "/guest/wf-upper" {
		t.Errorf("routes: %d %+v, want the one warm instance of wf-upper", st, routes)
	}
	for _, tc := range []struct {
		name, path string
		body       []byte
		want       int
	}{
		{"name mismatch", "/api/v1/namespaces/_/wsk-route/workflows/other", sp, 400},
		{"not a spec", "/api/v1/namespaces/_/wsk-route/workflows/wf", []byte(`{"workflow":"wf"}`), 400},
		{"other namespace", "/api/v1/namespaces/_/wsk-route/workflows/wf", []byte(strings.Replace(string(sp), `"guest"`, `"other"`, 1)), 403},
	} {
		if st := api(t, "PUT", tc.path, tc.body, nil); st != tc.want {
			t.Errorf("PUT %s: %d, want %d", tc.name, st, tc.want)
		}
	}
	if st := api(t, "DELETE", "/api/v1/namespaces/_/wsk-route/workflows/wf", nil, nil); st != 200 {
		t.Errorf("DELETE: %d", st)
	}
	if st := api(t, "GET", "/api/v1/namespaces/_/wsk-route/workflows/wf", nil, nil); st != 404 {
		t.Errorf("GET after DELETE: %d, want 404", st)
	}
}

func containsWorkflow(list []struct{ Workflow string }, name string) bool {
	for _, w := range list {
		if w.Workflow == name {
			return true
		}
	}
	return false
}

// deploySpec creates the actions of sp's steps (the test action, each
// behaving by its name) and an entry action, and puts sp in the registry.
func deploySpec(t *testing.T, c *whisk.Client, sp *spec.Spec) {
	t.Helper()
	seen := map[string]bool{}
	for _, st := range sp.Steps {
		name := strings.TrimPrefix(st.Action, "/guest/")
		if st.Action != "" && !seen[name] {
			seen[name] = true
			createAct(t, c, name, nil, nil)
		}
	}
	if _, err := shared.Routes().PutSpec(context.Background(), sp); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shared.Routes().DeleteSpec(context.Background(), "guest", sp.Workflow) })
	code := server.EntryCode(sp.Workflow)
	entry := &whisk.Action{Name: sp.Workflow, Namespace: "_", Exec: &whisk.Exec{Kind: "blackbox", Image: "openwhisk/actionloop-base", Code: &code}}
	if _, resp, err := c.Actions.Insert(entry, true); err != nil {
		t.Fatalf("creating the entry action: %v %s", err, status(resp))
	}
	t.Cleanup(func() { c.Actions.Delete(sp.Workflow) })
}

// TestSwitchCatchRetry runs workflows whose steps route by a condition on
// their result, catch a failure, and retry a flaky action, through their
// entry actions, cold (fallback) and warm (direct).
func TestSwitchCatchRetry(t *testing.T) {
	c := client(t, "")
	deploySpec(t, c, mustSpec(t, `{"workflow":"sw","namespace":"guest","start":["up"],"steps":{
	 "up":{"action":"/guest/sw-upper","switch":[{"when":{"path":"text","op":"==","value":"HELLO"},"next":["rev"]}],"default":["count"]},
	 "rev":{"action":"/guest/sw-reverse"},
	 "count":{"action":"/guest/sw-words"}}}`))
	deploySpec(t, c, mustSpec(t, `{"workflow":"ct","namespace":"guest","start":["risky"],"steps":{
	 "risky":{"action":"/guest/ct-echo","catch":["fix"]},
	 "fix":{"action":"/guest/ct-recover"}}}`))
	deploySpec(t, c, mustSpec(t, `{"workflow":"rt","namespace":"guest","start":["flaky"],"steps":{
	 "flaky":{"action":"/guest/rt-echo","retry":{"attempts":3,"backoff_ms":10},"next":["count"]},
	 "count":{"action":"/guest/rt-words"}}}`))

	for _, round := range []string{"cold", "warm"} {
		for _, tc := range []struct {
			name, workflow string
			input          map[string]any
			want           map[string]any
		}{
			{"switch case", "sw", map[string]any{"text": "hello"}, map[string]any{"text": "OLLEH"}},
			{"switch default", "sw", map[string]any{"text": "hi there"}, map[string]any{"text": "HI THERE", "words": "2"}},
			{"catch", "ct", map[string]any{"mode": "fail"}, map[string]any{"recovered": "failed on purpose"}},
			{"no failure, no catch", "ct", map[string]any{"name": "ok"}, map[string]any{"greeting": "Hello, ok!"}},
			{"retry until it works", "rt", map[string]any{"mode": "flaky", "fails": 2, "key": round + "-a", "text": "a b c"}, map[string]any{"words": "3"}},
		} {
			t.Run(round+"/"+tc.name, func(t *testing.T) {
				act, resp := invoke(t, c, tc.workflow, tc.input)
				if resp.StatusCode != http.StatusOK || !act.Response.Success {
					t.Fatalf("%s: %s %+v (logs %q)", tc.workflow, resp.Status, act.Response, act.Logs)
				}
				got := act.Response.Result.(map[string]any)
				for k, v := range tc.want {
					if fmt.Sprint(got[k]) != fmt.Sprint(v) {
						t.Errorf("%s: result %v, want %s = %v", tc.workflow, got, k, v)
					}
				}
			})
		}
	}
	// A run whose flaky step runs direct, on an idle warm container, three
	// times: two retries, counted by the agent of the host that ran it.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := shared.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	if act, resp := invoke(t, c, "rt", map[string]any{"mode": "flaky", "fails": 2, "key": "direct", "text": "a b"}); resp.StatusCode != http.StatusOK || !act.Response.Success {
		t.Fatalf("rt, direct: %s %+v (logs %q)", resp.Status, act.Response, act.Logs)
	} else if logs := strings.Join(act.Logs, "\n"); !strings.Contains(logs, "step flaky ran on sandbox/") {
		t.Fatalf("rt, direct: the flaky step did not run direct:\n%s", logs)
	}
	waitAgentMetric(t, `wsk_route_step_retries_total{action="/guest/rt-echo",workflow="/guest/rt"}`, 2)
	// Out of attempts: the run fails at the flaky step, naming it.
	act, resp := invoke(t, c, "rt", map[string]any{"mode": "flaky", "fails": 5, "key": "b", "text": "x"})
	if resp.StatusCode != http.StatusBadGateway || act.Response.Status != "application error" {
		t.Fatalf("retries exhausted: %s %+v, want an application error", resp.Status, act.Response)
	}
	if msg := fmt.Sprint(act.Response.Result); !strings.Contains(msg, "flaky attempt 3") || !strings.Contains(msg, "flaky") {
		t.Errorf("retries exhausted: %s, want the third attempt's error and the step", msg)
	}
}

// TestJoins runs workflows whose parallel branches meet in a join that
// goes on: one forked by a step (merged into an object, then one more
// step), one forked at the start (merged into an array that is the run's
// result); cold (fallback) and warm (direct).
func TestJoins(t *testing.T) {
	c := client(t, "")
	deploySpec(t, c, mustSpec(t, `{"workflow":"jn","namespace":"guest","start":["up"],"steps":{
	 "up":{"action":"/guest/jn-upper","fork":"j","next":["rev","count"]},
	 "rev":{"action":"/guest/jn-reverse","in":"j","next":["j"]},
	 "count":{"action":"/guest/jn-words","in":"j","next":["j"]},
	 "j":{"action":"","join":{"merge":"object","names":["rev","count"]},"next":["after"]},
	 "after":{"action":"/guest/jn-echo"}}}`))
	deploySpec(t, c, mustSpec(t, `{"workflow":"sj","namespace":"guest","start":["a","b"],"start_join":"j","steps":{
	 "a":{"action":"/guest/sj-upper","in":"j","next":["j"]},
	 "b":{"action":"/guest/sj-words","in":"j","next":["j"]},
	 "j":{"action":"","join":{"merge":"array"}}}}`))
	for _, round := range []string{"cold", "warm"} {
		act, resp := invoke(t, c, "jn", map[string]any{"text": "hello"})
		if resp.StatusCode != http.StatusOK || !act.Response.Success {
			t.Fatalf("%s jn: %s %+v (logs %q)", round, resp.Status, act.Response, act.Logs)
		}
		b, _ := json.Marshal(act.Response.Result)
		var got struct {
			Rev      struct{ Text string }
			Count    struct{ Words int }
			Greeting string
		}
		if err := json.Unmarshal(b, &got); err != nil || got.Rev.Text != "OLLEH" || got.Count.Words != 1 || got.Greeting == "" {
			t.Errorf("%s jn: result %s, want the reversed text under rev, 1 word under count, and the last step's greeting", round, b)
		}
		act, resp = invoke(t, c, "sj", map[string]any{"text": "hi there"})
		if resp.StatusCode != http.StatusOK || !act.Response.Success {
			t.Fatalf("%s sj: %s %+v (logs %q)", round, resp.Status, act.Response, act.Logs)
		}
		b, _ = json.Marshal(act.Response.Result)
		var arr []map[string]any
		if err := json.Unmarshal(b, &arr); err != nil || len(arr) != 2 || arr[0]["text"] != "HI THERE" || fmt.Sprint(arr[1]["words"]) != "2" {
			t.Errorf("%s sj: result %s, want [upper's result, words' result]", round, b)
		}
	}
}

// TestMap runs maps: after a step and at the start, with a concurrency
// bound, over an empty array, and over something that is not an array.
func TestMap(t *testing.T) {
	c := client(t, "")
	deploySpec(t, c, mustSpec(t, `{"workflow":"mp","namespace":"guest","start":["first"],"steps":{
	 "first":{"action":"/guest/mp-echo","next":["m"]},
	 "m":{"action":"","map":{"over":"items","concurrency":2},"fork":"j","next":["count"]},
	 "count":{"action":"/guest/mp-words","in":"j","next":["j"]},
	 "j":{"action":"","join":{"merge":"array"},"next":["last"]},
	 "last":{"action":"/guest/mp-recover"}}}`))
	deploySpec(t, c, mustSpec(t, `{"workflow":"ms","namespace":"guest","start":["m"],"steps":{
	 "m":{"action":"","map":{"over":"items"},"fork":"j","next":["up"]},
	 "up":{"action":"/guest/ms-upper","in":"j","next":["j"]},
	 "j":{"action":"","join":{"merge":"array"}}}}`))
	items := []any{}
	for i := 0; i < 5; i++ {
		items = append(items, map[string]any{"text": strings.Repeat("w ", i+1)})
	}
	for _, round := range []string{"cold", "warm"} {
		// mp: the words of each item, in item order, handed as an array to
		// the last step (recover wraps its input's "error", here absent).
		act, resp := invoke(t, c, "mp", map[string]any{"items": items})
		if resp.StatusCode != http.StatusOK || !act.Response.Success {
			t.Fatalf("%s mp: %s %+v (logs %q)", round, resp.Status, act.Response, act.Logs)
		}
		act, resp = invoke(t, c, "ms", map[string]any{"items": []any{map[string]any{"text": "a"}, map[string]any{"text": "b"}, map[string]any{"text": "c"}}})
		if resp.StatusCode != http.StatusOK || !act.Response.Success {
			t.Fatalf("%s ms: %s %+v (logs %q)", round, resp.Status, act.Response, act.Logs)
		}
		b, _ := json.Marshal(act.Response.Result)
		if string(b) != `[{"text":"A"},{"text":"B"},{"text":"C"}]` {
			t.Errorf("%s ms: result %s, want the three items upper-cased, in order", round, b)
		}
	}
	// The mp run's map results, checked through a workflow that ends at
	// the join (the last step above only shows the run went on).
	deploySpec(t, c, mustSpec(t, `{"workflow":"mw","namespace":"guest","start":["m"],"steps":{
	 "m":{"action":"","map":{"over":"items","concurrency":2},"fork":"j","next":["count"]},
	 "count":{"action":"/guest/mw-words","in":"j","next":["j"]},
	 "j":{"action":"","join":{"merge":"array"}}}}`))
	act, _ := invoke(t, c, "mw", map[string]any{"items": items})
	b, _ := json.Marshal(act.Response.Result)
	var got []struct{ Words int }
	if err := json.Unmarshal(b, &got); err != nil || len(got) != 5 {
		t.Fatalf("mw: result %s, want 5 counts", b)
	}
	for i, g := range got {
		if g.Words != i+1 {
			t.Errorf("mw: element %d has %d words, want %d: results must be in element order", i, g.Words, i+1)
		}
	}
	if act, _ := invoke(t, c, "mw", map[string]any{"items": []any{}}); fmt.Sprint(act.Response.Result) != "[]" {
		t.Errorf("map over an empty array: %v, want []", act.Response.Result)
	}
	act, resp := invoke(t, c, "mw", map[string]any{"items": "not an array"})
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(fmt.Sprint(act.Response.Result), "no array at") {
		t.Errorf("map over a string: %s %v, want an application error saying there is no array", resp.Status, act.Response.Result)
	}
}

// TestLargePayloadFallback sends a 1.5 MB result to a cold step: more than
// an OpenWhisk invocation carries, so the fallback passes it as a shm
// segment of the host; then the same warm, where it goes direct.
func TestLargePayloadFallback(t *testing.T) {
	c := client(t, "")
	deploySpec(t, c, mustSpec(t, `{"workflow":"lg","namespace":"guest","start":["in"],"steps":{
	 "in":{"action":"/guest/lg-inflate","next":["out"]},
	 "out":{"action":"/guest/lg-measure"}}}`))
	const size = 1500000
	segments := func() []string {
		m, _ := filepath.Glob(filepath.Join(filepath.Dir(shared.RunDir), "shm", "guest", "*.seg"))
		return m
	}
	var warm []string
	for _, round := range []string{"cold", "warm", "warm again"} {
		act, resp := invoke(t, c, "lg", map[string]any{"size": size})
		if resp.StatusCode != http.StatusOK || !act.Response.Success {
			t.Fatalf("%s: %s %+v (logs %q)", round, resp.Status, act.Response, act.Logs)
		}
		if got, _ := act.Response.Result.(map[string]any)["bytes"].(float64); int(got) != size {
			t.Errorf("%s: the last step measured %v bytes, want %d: result %.300v, logs %q", round, got, size, act.Response.Result, act.Logs)
		}
		switch round {
		case "cold":
			if !strings.Contains(strings.Join(act.Logs, "\n"), "ran through the OpenWhisk API") {
				t.Errorf("cold: logs %q do not show the fallback", act.Logs)
			}
			// No segment is left behind: the receiver removes the
			// fallback's once its /run ends, which may be just after the
			// step's result went on to the entry.
			deadline := time.Now().Add(5 * time.Second)
			for len(segments()) != 0 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if left := segments(); len(left) != 0 {
				t.Errorf("shm segments left 5 s after the cold run: %v", left)
			}
		case "warm":
			warm = segments() // the sender's pool keeps its segment
		default:
			if again := segments(); !slices.Equal(again, warm) {
				t.Errorf("shm segments %v after a second warm run, want the first's %v (the pool's, written again)", again, warm)
			}
		}
	}
}

// mustSpec parses a spec or fails the test.
func mustSpec(t *testing.T, s string) *spec.Spec {
	t.Helper()
	sp, err := spec.Parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

// TestValueSteps: constant steps replace the value, after a step and at
// the start, without an action of their own.
func TestValueSteps(t *testing.T) {
	c := client(t, "")
	deploySpec(t, c, mustSpec(t, `{"workflow":"vl","namespace":"guest","start":["up"],"steps":{
	 "up":{"action":"/guest/vl-upper","next":["v"]},
	 "v":{"action":"","value":{"text":"constant"},"next":["rev"]},
	 "rev":{"action":"/guest/vl-reverse"}}}`))
	deploySpec(t, c, mustSpec(t, `{"workflow":"vs","namespace":"guest","start":["v"],"steps":{
	 "v":{"action":"","value":{"text":"abc"},"next":["up"]},
	 "up":{"action":"/guest/vs-upper"}}}`))
	for _, tc := range []struct{ workflow, want string }{{"vl", "tnatsnoc"}, {"vs", "ABC"}} {
		act, resp := invoke(t, c, tc.workflow, map[string]any{"text": "ignored"})
		if resp.StatusCode != http.StatusOK || act.Response.Result.(map[string]any)["text"] != tc.want {
			t.Errorf("%s: %s %+v, want text %q", tc.workflow, resp.Status, act.Response, tc.want)
		}
	}
}

// TestRouters: conditions and forks where no single step's result is the
// value (on the run's input, right after an if) compile to router steps,
// which the sending proxy (or the entry) evaluates.
func TestRouters(t *testing.T) {
	c := client(t, "")
	// if on the input; then an if right after it; then a parallel right
	// after that, joined into an object.
	deploySpec(t, c, mustSpec(t, `{"workflow":"ro","namespace":"guest","start":["r1"],"steps":{
	 "r1":{"action":"","switch":[{"when":{"path":"loud","op":"truthy"},"next":["up"]}],"default":["low"]},
	 "up":{"action":"/guest/ro-upper","next":["r2"]},
	 "low":{"action":"/guest/ro-echo","next":["r2"]},
	 "r2":{"action":"","switch":[{"when":{"path":"text","op":"==","value":"HI"},"next":["rev"]}],"default":["f"]},
	 "rev":{"action":"/guest/ro-reverse","next":["f"]},
	 "f":{"action":"","fork":"j","next":["w1","w2"]},
	 "w1":{"action":"/guest/ro-words","in":"j","next":["j"]},
	 "w2":{"action":"/guest/ro-upper","in":"j","next":["j"]},
	 "j":{"action":"","join":{"merge":"object","names":["words","upper"]}}}}`))
	for _, tc := range []struct {
		name  string
		input map[string]any
		want  string
	}{
		{"loud HI", map[string]any{"text": "hi", "loud": true}, `"upper":{"loud":true,"text":"IH"},"words":{"loud":true,"text":"IH","words":1}`},
		{"quiet", map[string]any{"text": "hi there"}, `"upper":{"greeting":"Hello, stranger!","text":"HI THERE"}`},
	} {
		act, resp := invoke(t, c, "ro", tc.input)
		if resp.StatusCode != http.StatusOK || !act.Response.Success {
			t.Fatalf("%s: %s %+v (logs %q)", tc.name, resp.Status, act.Response, act.Logs)
		}
		b, _ := json.Marshal(act.Response.Result)
		if !strings.Contains(string(b), tc.want) {
			t.Errorf("%s: result %s, want it to contain %s", tc.name, b, tc.want)
		}
	}
}

// waitIdle waits until no container of the shared sandbox is busy (see
// Sandbox.WaitIdle), between a cold run and a warm one a test counts.
func waitIdle(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := shared.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
}
