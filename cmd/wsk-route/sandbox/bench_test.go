package sandbox_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"
	"github.com/wsk-route/wsk-route/action-proxy/route"
)

// benchSteps are the actions both paths run: the same three warm
// containers, first as an OpenWhisk sequence through the controller,
// Kafka and the invoker, then as a workflow of direct hops.
var benchSteps = []string{"bench-upper", "bench-reverse", "bench-words"}

const benchInput = `{"text":"the quick brown fox jumps over the lazy dog"}`

// setupPaths creates the actions, the sequence "bench-seq" and the spec
// "bench", warms the containers, and returns the client and the entry.
func setupPaths(tb testing.TB) (*whisk.Client, *route.Plane) {
	tb.Helper()
	c, err := whisk.NewClient(&http.Client{Timeout: 30 * time.Second}, &whisk.Config{Host: shared.URL, AuthToken: shared.Auth, Namespace: "_", Version: "v1"})
	if err != nil {
		tb.Fatal(err)
	}
	bin := true
	components := []string{}
	for _, s := range benchSteps {
		a := &whisk.Action{Name: s, Namespace: "_", Exec: &whisk.Exec{Kind: "blackbox", Image: "openwhisk/actionloop-base", Code: &actCode, Binary: &bin}}
		if _, _, err := c.Actions.Insert(a, true); err != nil {
			tb.Fatalf("creating %s: %v", s, err)
		}
		components = append(components, "/guest/"+s)
	}
	seq := &whisk.Action{Name: "bench-seq", Namespace: "_", Exec: &whisk.Exec{Kind: "sequence", Components: components}}
	if _, _, err := c.Actions.Insert(seq, true); err != nil {
		tb.Fatalf("creating the sequence: %v", err)
	}
	if _, err := shared.Routes().PutSpec(context.Background(), chain("bench", benchSteps...)); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		for _, s := range append(slices.Clone(benchSteps), "bench-seq") {
			c.Actions.Delete(s)
		}
		shared.Routes().DeleteSpec(context.Background(), "guest", "bench")
	})
	// One sequence run warms a container of each action.
	if _, _, err := c.Actions.Invoke("bench-seq", map[string]any{"text": "warm"}, true, true); err != nil {
		tb.Fatalf("warming the sequence: %v", err)
	}
	entry := startEntry(tb, "bench-entry")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := entry.WaitReady(ctx, "bench"); err != nil {
		tb.Fatalf("the bench workflow's instances never became ready: %v", err)
	}
	return c, entry
}

func sequenceOnce(tb testing.TB, c *whisk.Client) {
	res, _, err := c.Actions.Invoke("bench-seq", map[string]any{"text": "the quick brown fox jumps over the lazy dog"}, true, true)
	if err != nil {
		tb.Fatalf("sequence: %v", err)
	}
	if m, _ := res.(map[string]any); fmt.Sprint(m["words"]) != "9" {
		tb.Fatalf("sequence result %v", res)
	}
}

func directOnce(tb testing.TB, entry *route.Plane) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := entry.StartRun(ctx, "bench", []byte(benchInput), route.RunOptions{})
	if err != nil {
		tb.Fatalf("direct run: %v", err)
	}
	if !bytes.Contains(res.Value, []byte(`"words":9`)) {
		tb.Fatalf("direct run: result %s, want 9 words", res.Value)
	}
}

// BenchmarkSequence measures one step of a 3-action workflow on the two
// paths, in the same process, on the same warm containers: "controller"
// is OpenWhisk's sequence (REST → controller → Kafka → invoker → /run →
// Kafka → controller, per step), "direct" is wsk-route's hop. The metric
// to compare is ns/step.
func BenchmarkSequence(b *testing.B) {
	c, entry := setupPaths(b)
	b.Run("controller", func(b *testing.B) {
		for b.Loop() {
			sequenceOnce(b, c)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(benchSteps)), "ns/step")
	})
	b.Run("direct", func(b *testing.B) {
		for b.Loop() {
			directOnce(b, entry)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(benchSteps)), "ns/step")
	})
}

// TestReport prints the per-step cost of both paths and their ratio, from
// alternating rounds in one run (WSK_ROUTE_BENCH=1; docs/benchmarks/
// sandbox.md holds a saved report).
func TestReport(t *testing.T) {
	if os.Getenv("WSK_ROUTE_BENCH") != "1" {
		t.Skip("the sandbox report runs with WSK_ROUTE_BENCH=1 (go test -run TestReport -v ./cmd/wsk-route/sandbox/)")
	}
	c, entry := setupPaths(t)
	const rounds, perRound = 10, 50
	var seq, direct []time.Duration
	for r := 0; r < rounds; r++ {
		start := time.Now()
		for i := 0; i < perRound; i++ {
			sequenceOnce(t, c)
		}
		seq = append(seq, time.Since(start)/time.Duration(perRound*len(benchSteps)))
		start = time.Now()
		for i := 0; i < perRound; i++ {
			directOnce(t, entry)
		}
		direct = append(direct, time.Since(start)/time.Duration(perRound*len(benchSteps)))
	}
	slices.Sort(seq)
	slices.Sort(direct)
	med := func(d []time.Duration) time.Duration { return d[len(d)/2] }
	fmt.Printf("per step of a %d-step workflow, %d rounds x %d runs, median of rounds (min..max):\n", len(benchSteps), rounds, perRound)
	fmt.Printf("  controller path (sequence): %v (%v..%v)\n", med(seq), seq[0], seq[len(seq)-1])
	fmt.Printf("  direct hop:                 %v (%v..%v)\n", med(direct), direct[0], direct[len(direct)-1])
	fmt.Printf("  ratio controller/direct:    %.1fx\n", float64(med(seq))/float64(med(direct)))
}

// TestBothPaths runs the benchmark's two paths once each, so that CI
// checks what BenchmarkSequence and TestReport measure.
func TestBothPaths(t *testing.T) {
	c, entry := setupPaths(t)
	sequenceOnce(t, c)
	directOnce(t, entry)
}
