package finra_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/examples/exampletest"
)

func TestFINRA(t *testing.T) {
	env := exampletest.Start(t, 2*time.Minute)
	// compose deploys the four actions of finra.yaml's actions section,
	// then the workflow.
	env.Compose(t, "finra.yaml")
	steps := []string{"finra-marketdata", "finra-check-price", "finra-check-size", "finra-check-restricted"}
	var input map[string]any
	exampletest.ReadJSON(t, "trade.json", &input)
	type verdict struct {
		Rule   string `json:"rule"`
		OK     bool   `json:"ok"`
		Detail string `json:"detail"`
	}
	run := func(what string, input map[string]any) []verdict {
		t.Helper()
		start := time.Now()
		res, resp, err := env.Client.Actions.Invoke("finra", input, true, true)
		if err != nil {
			t.Fatalf("%s: invoke finra: %v (%v)", what, err, res)
		}
		b, _ := json.Marshal(res)
		var vs []verdict
		if err := json.Unmarshal(b, &vs); err != nil || len(vs) != 3 {
			t.Fatalf("%s: result %s (%v), want 3 verdicts", what, b, err)
		}
		t.Logf("%s run: %s in %v", what, resp.Status, time.Since(start).Round(time.Millisecond))
		return vs
	}
	for _, round := range []string{"cold", "warm"} {
		vs := run(round, input)
		env.WaitIdle(t)
		for i, want := range []string{"price-band", "size", "restricted"} {
			if vs[i].Rule != want || !vs[i].OK {
				t.Errorf("%s: verdict %d = %+v, want %s ok (the trade is clean)", round, i, vs[i], want)
			}
		}
	}
	// A trade that breaks every rule: off-market, too big, restricted.
	bad := map[string]any{"trade": map[string]any{"id": "T-2", "symbol": "XYZ", "side": "sell", "qty": 9e6, "price": 1.0, "trader": "jdoe"}}
	for i, v := range run("bad trade", bad) {
		if v.OK {
			t.Errorf("bad trade: verdict %d = %+v, want a failed check", i, v)
		}
	}
	// The steps of the warm runs went direct: each step has the one
	// activation of its cold start (the fallback), no more.
	for _, s := range steps {
		if n := env.Activations(t, s, 1); n != 1 {
			t.Errorf("%s: %d activations, want 1: warm runs must not go through the controller", s, n)
		}
	}
}

// TestFINRABatch runs finra-batch.yaml: a map over trades whose body forks
// the rule checks in parallel, so the checks' join is nested in the map's
// region; cold, then warm, the same summary.
func TestFINRABatch(t *testing.T) {
	env := exampletest.Start(t, 2*time.Minute)
	env.Compose(t, "finra-batch.yaml") // its five actions, then the workflow
	var input map[string]any
	exampletest.ReadJSON(t, "batch.json", &input)
	names := []string{"finra-marketdata", "finra-check-price", "finra-check-size", "finra-check-restricted", "finra-summary"}
	afterCold := map[string]int{}
	for _, round := range []string{"cold", "warm"} {
		start := time.Now()
		res, _, err := env.Client.Actions.Invoke("finra-batch", input, true, true)
		if err != nil {
			t.Fatalf("%s: invoke finra-batch: %v (%v)", round, err, res)
		}
		b, _ := json.Marshal(res)
		const want = `{"checked":3,"clean":2,"flagged":[{"index":1,"rules":["price-band","restricted","size"]}]}`
		if string(b) != want {
			t.Errorf("%s: result %s, want %s", round, b, want)
		}
		t.Logf("%s run in %v", round, time.Since(start).Round(time.Millisecond))
		env.WaitIdle(t)
		// The warm run went direct: no step has an activation of its own
		// that the cold run did not make.
		for _, name := range names {
			n := env.Activations(t, name, 1)
			if round == "cold" {
				afterCold[name] = n
			} else if n != afterCold[name] {
				t.Errorf("%s: %d activations after the warm run, %d after the cold one: the warm run must not go through the controller", name, n, afterCold[name])
			}
		}
	}
}
