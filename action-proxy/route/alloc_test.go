package route

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/agentproto"
)

// chainFlow is a flow set running a chain of n steps (s0 ... s<n-1>, on
// actions a0 ... a<n-1>, each echoing its input).
func chainFlow(t *testing.T, n int) *flowSet {
	var steps []string
	execs := map[string]*funcExecutor{}
	for i := range n {
		next := ""
		if i+1 < n {
			next = fmt.Sprintf(`,"next":["s%d"]`, i+1)
		}
		steps = append(steps, fmt.Sprintf(`"s%d":{"action":"/ns/a%d"%s}`, i, i, next))
		execs[fmt.Sprintf("a%d", i)] = &funcExecutor{fn: func(v []byte) []byte { return v }}
	}
	wf := fmt.Sprintf("chain%d", n)
	sd := agentproto.SpecData{Workflow: wf, Version: 1, Spec: json.RawMessage(
		fmt.Sprintf(`{"workflow":%q,"namespace":"ns","start":["s0"],"steps":{%s}}`, wf, strings.Join(steps, ",")))}
	fs := newFlowSet(t, sd, execs)
	fs.tables()
	return fs
}

// The allocation budget of a direct step: what a step added to a chain
// costs, entry, sending proxy and receiving proxy together (the planes run
// in this process; the transport, the core and the shell, not the
// action). It pins what the hop path allocates so that it cannot grow
// unseen.
func TestDirectStepAllocs(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("allocation counts mean nothing under -race or -cover")
	}
	input := []byte(`{"text":"an allocation budget"}`)
	perRun := func(n int) float64 {
		fs := chainFlow(t, n)
		entry := fs.planes["entry"]
		wf := fmt.Sprintf("chain%d", n)
		run := func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res, err := entry.StartRun(ctx, wf, input, RunOptions{})
			if err != nil {
				t.Fatalf("chain of %d: %v", n, err)
			}
			if string(res.Value) != string(input) {
				t.Fatalf("chain of %d answered %s, want its input", n, res.Value)
			}
		}
		for range 5 {
			run() // dial, warm the pools
		}
		return testing.AllocsPerRun(50, run)
	}
	one, five := perRun(1), perRun(5)
	step := (five - one) / 4
	t.Logf("allocations: %.0f per run of 1 step, %.0f per run of 5 steps: %.0f per added step", one, five, step)
	// 78 measured, of which about 10 are the test executor's (it decodes
	// the /run body) and 1 or 2 the step's traceparent in the /run body;
	// the rest: contexts and deadlines (step, send, ctx-bound reads), the
	// frame codec's strings, the activation body, the core's actions and
	// maps. The planes here have no agent, so no telemetry: a step's
	// activation record (records.go) adds about 6 more, after its report.
	const budget = 84
	if step > budget {
		t.Errorf("%.0f allocations per added direct step, budget %d", step, budget)
	}
}
