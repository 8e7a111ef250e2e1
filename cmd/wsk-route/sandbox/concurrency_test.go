package sandbox_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"
)

// TestConcurrentInvokes: 8 blocking invokes at once of an action whose
// limits.concurrency is 8 go through the API, the controller and Kafka to
// one container, which runs them together (OpenWhisk's intra-container
// concurrency); each gets its own result, and no logs.
func TestConcurrentInvokes(t *testing.T) {
	const n = 8
	c := client(t, "")
	conc := n
	bin := true
	a := &whisk.Action{Name: "conc8", Namespace: "_",
		Exec:   &whisk.Exec{Kind: "blackbox", Image: "openwhisk/actionloop-base", Code: &actCode, Binary: &bin},
		Limits: &whisk.Limits{Concurrency: &conc}}
	if _, resp, err := c.Actions.Insert(a, true); err != nil {
		t.Fatalf("creating conc8 with concurrency %d: %v (%s)", n, err, status(resp))
	}
	t.Cleanup(func() { c.Actions.Delete("conc8") })

	type answer struct {
		res  any
		resp *http.Response
		err  error
	}
	answers := make([]answer, n)
	var wg sync.WaitGroup
	for k := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, resp, err := c.Actions.Invoke("conc8", map[string]any{"mode": "sleep", "ms": 1500, "name": string(rune('a' + k))}, true, false)
			answers[k] = answer{res, resp, err}
		}()
	}
	wg.Wait()
	acts := make([]*whisk.Activation, n)
	for k, a := range answers {
		switch {
		case a.resp == nil:
			t.Fatalf("invoke %d: %v", k, a.err)
		case a.resp.StatusCode == http.StatusAccepted:
			// Past the sandbox's short blocking wait on a loaded machine.
			id, _ := a.res.(map[string]any)["activationId"].(string)
			acts[k] = waitActivation(t, c, id, 2*time.Minute)
		case a.resp.StatusCode == http.StatusOK:
			acts[k] = decodeActivation(t, a.res, a.resp, a.err)
		default:
			t.Fatalf("invoke %d: %v (%s)", k, a.err, status(a.resp))
		}
	}
	var lastStart, firstEnd int64 = 0, 1 << 62
	for k, act := range acts {
		r, _ := act.Response.Result.(map[string]any)
		if want := "Hello, " + string(rune('a'+k)) + "!"; r["greeting"] != want {
			t.Errorf("invoke %d: result %v, want greeting %q", k, act.Response.Result, want)
		}
		if len(act.Logs) != 0 {
			t.Errorf("invoke %d: logs %q, want none (a concurrent container's)", k, act.Logs)
		}
		lastStart, firstEnd = max(lastStart, act.Start), min(firstEnd, act.End)
	}
	if lastStart >= firstEnd {
		t.Errorf("the activations did not all run at once: one started at %d, after another ended at %d", lastStart, firstEnd)
	}
	var mine []string
	for _, ci := range shared.Containers() {
		if ci.Action == "/guest/conc8" {
			mine = append(mine, ci.Name)
			if ci.Concurrency != n || ci.InFlight != 0 {
				t.Errorf("container %s: concurrency %d, %d in flight; want %d, 0", ci.Name, ci.Concurrency, ci.InFlight, n)
			}
		}
	}
	if len(mine) != 1 {
		t.Errorf("the action's containers: %v, want one", mine)
	}
}

// TestConcurrentDirectSteps: a fan-out of 4 branches to one action whose
// limits.concurrency is 4 runs direct, the 4 steps at once in one warm
// container, as OpenWhisk's intra-container concurrency would run 4
// activations (issue 12's "Batching"), instead of 1 direct and 3 through
// the API into new containers. Their records say their logs were not
// captured.
func TestConcurrentDirectSteps(t *testing.T) {
	const n = 4
	c := client(t, "")
	deploySpec(t, c, mustSpec(t, `{"workflow":"cds","namespace":"guest","start":["a","b","c","d"],"start_join":"j","steps":{
	 "a":{"action":"/guest/cds-sleeper","in":"j","next":["j"]},
	 "b":{"action":"/guest/cds-sleeper","in":"j","next":["j"]},
	 "c":{"action":"/guest/cds-sleeper","in":"j","next":["j"]},
	 "d":{"action":"/guest/cds-sleeper","in":"j","next":["j"]},
	 "j":{"action":"","join":{"merge":"array"}}}}`))
	conc := n
	createAct(t, c, "cds-sleeper", nil, &whisk.Limits{Concurrency: &conc})
	if act, _ := invoke(t, c, "cds-sleeper", map[string]any{"name": "warm"}); !act.Response.Success {
		t.Fatalf("warming cds-sleeper: %+v", act.Response)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := shared.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	act, resp := invoke(t, c, "cds", map[string]any{"mode": "sleep", "ms": 600, "name": "fan"})
	if resp.StatusCode != http.StatusOK || !act.Response.Success {
		t.Fatalf("cds: %s %+v (logs %q)", resp.Status, act.Response, act.Logs)
	}
	if r, ok := act.Response.Result.([]any); !ok || len(r) != n {
		t.Errorf("cds: result %v, want the %d branches' results", act.Response.Result, n)
	}
	logs := strings.Join(act.Logs, "\n")
	if strings.Count(logs, "ran on sandbox/") != n || strings.Contains(logs, "through OpenWhisk") {
		t.Errorf("cds: want %d direct steps, none through OpenWhisk:\n%s", n, logs)
	}
	recs := stepRecords(t, c, "cds-sleeper", n)
	if len(recs) < n {
		t.Fatalf("%d records of direct steps of cds-sleeper, want %d", len(recs), n)
	}
	var lastStart, firstEnd int64 = 0, 1 << 62
	for _, r := range recs[:n] {
		lastStart, firstEnd = max(lastStart, r.Start), min(firstEnd, r.End)
		full, _, err := c.Activations.Get(r.ActivationID)
		if err != nil {
			t.Fatalf("wsk activation get %s: %v", r.ActivationID, err)
		}
		if l := strings.Join(full.Logs, "\n"); !strings.Contains(l, "logs are not captured") {
			t.Errorf("record %s: logs %q, want the note that a concurrent action's are not captured", r.ActivationID, full.Logs)
		}
	}
	if lastStart >= firstEnd {
		t.Errorf("the %d steps did not run at once: one started at %d, after another ended at %d", n, lastStart, firstEnd)
	}
	var mine []string
	for _, ci := range shared.Containers() {
		if ci.Action == "/guest/cds-sleeper" {
			mine = append(mine, ci.Name)
		}
	}
	if len(mine) != 1 {
		t.Errorf("containers of cds-sleeper: %v, want the one warm container", mine)
	}
}
