package sandbox_test

// What a run in flight costs (issue 12, "Scale"): throughput and latency
// of concurrent clients running workflows through their entry actions,
// beside the same actions as OpenWhisk sequences, and the containers and
// memory each side holds.

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"

	"github.com/wsk-route/wsk-route/action-proxy/server"
	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox"
	"github.com/wsk-route/wsk-route/internal/loadavg"
)

// scalePhase is one measured load: clients invoking workflow, each
// blocking for its result, runs times in all, or fewer when budget (the
// warm-up included) runs out first.
type scalePhase struct {
	workflow string
	clients  int
	runs     int
	budget   time.Duration
}

// scaleResult is what a phase measured: runs per second, latency
// percentiles of the runs that succeeded, the runs that failed (the first
// failure's text), and the most containers and memory the pool held
// while it ran, for the entry and for the steps.
type scaleResult struct {
	phase                 scalePhase
	perSec                float64
	failed                int
	notRun                int // runs the budget left unstarted
	firstFailure          string
	p50, p99              time.Duration
	entries, steps        int // containers, at most
	entryMemMB, stepMemMB int // their memory limits' sum, at most
}

// scaleBed is a sandbox of its own (actions may take 64 activations per
// container) with the workflows scale3 and scale8 (chains of 3 and 8
// actions, their entries as wsk-route compose creates them: 64 runs at
// once, 128 MB), scale3c1 and scale8c1 (the same, their entries one run
// at a time), and the sequences seq3 and seq8 of the same actions.
type scaleBed struct {
	sb      *ownSandbox
	c       *whisk.Client
	entries map[string]bool
}

func newScaleBed(t *testing.T, poolMB int, busyWait time.Duration, sizes ...int) *scaleBed {
	t.Helper()
	sb := startSandbox(t, sandbox.Config{UserMemoryMB: poolMB, MaxConcurrency: 64, BusyWait: busyWait})
	c, err := whisk.NewClient(&http.Client{Timeout: 20 * time.Second}, &whisk.Config{Host: sb.URL, AuthToken: sb.Auth, Namespace: "_", Version: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	b := &scaleBed{sb: sb, c: c, entries: map[string]bool{}}
	for _, n := range sizes {
		var names []string
		for i := 1; i <= n; i++ {
			name := fmt.Sprintf("scale-a%d", i)
			createAct(t, b.c, name, nil, nil) // shared by both sizes
			names = append(names, name)
		}
		// scaleN's entry takes 64 runs at once, scaleNc1's one (the same
		// workflow, as on a deployment that allows no more).
		for _, e := range []struct {
			suffix      string
			concurrency int
		}{{"", 64}, {"c1", 1}} {
			workflow := fmt.Sprintf("scale%d%s", n, e.suffix)
			if _, err := sb.Routes().PutSpec(context.Background(), chain(workflow, names...)); err != nil {
				t.Fatal(err)
			}
			b.createEntry(t, workflow, e.concurrency)
			b.entries[workflow] = true
		}
		createSeq(t, b.c, fmt.Sprintf("seq%d", n), names...)
	}
	return b
}

// createEntry creates the entry of workflow with the limits compose
// gives entries (128 MB), taking concurrency runs at once.
func (b *scaleBed) createEntry(t *testing.T, workflow string, concurrency int) {
	t.Helper()
	code := server.EntryCode(workflow)
	memory := 128
	entry := &whisk.Action{Name: workflow, Namespace: "_",
		Exec:   &whisk.Exec{Kind: "blackbox", Image: "openwhisk/actionloop-base", Code: &code},
		Limits: &whisk.Limits{Concurrency: &concurrency, Memory: &memory}}
	if _, resp, err := b.c.Actions.Insert(entry, true); err != nil {
		t.Fatalf("creating the entry %s: %v %s", workflow, err, status(resp))
	}
	t.Cleanup(func() { b.c.Actions.Delete(workflow) })
}

// run measures one phase: clients goroutines invoke p.workflow until
// p.runs have run, after a warm-up of two runs per client; a sampler
// reads the pool every 20 ms.
func (b *scaleBed) run(t *testing.T, p scalePhase) scaleResult {
	t.Helper()
	input := map[string]any{"text": "the quick brown fox"}
	invokeOnce := func() (time.Duration, error) {
		start := time.Now()
		_, resp, err := b.c.Actions.Invoke(p.workflow, input, true, true)
		took := time.Since(start)
		if err != nil {
			return 0, fmt.Errorf("%s: %v %s", p.workflow, err, status(resp))
		}
		return took, nil
	}
	// load runs runs invocations on p.clients goroutines; record gets the
	// latency of each that succeeded, fail the error of each that did not.
	deadline := time.Now().Add(p.budget)
	if p.budget <= 0 {
		deadline = time.Now().Add(24 * time.Hour)
	}
	load := func(runs int, record func(time.Duration), fail func(error)) (notRun int) {
		var (
			mu   sync.Mutex
			left = runs
			wg   sync.WaitGroup
		)
		for range p.clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					mu.Lock()
					if left == 0 || time.Now().After(deadline) {
						mu.Unlock()
						return
					}
					left--
					mu.Unlock()
					d, err := invokeOnce()
					mu.Lock()
					if err != nil {
						fail(err)
					} else {
						record(d)
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		return left
	}
	res := scaleResult{phase: p}
	warmFailures := 0
	load(p.clients, func(time.Duration) {}, func(error) { warmFailures++ })
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			var entries, steps, entryMem, stepMem int
			for _, ci := range b.sb.Containers() {
				if b.entries[strings.TrimPrefix(ci.Action, "/guest/")] {
					entries, entryMem = entries+1, entryMem+ci.MemoryMB
				} else {
					steps, stepMem = steps+1, stepMem+ci.MemoryMB
				}
			}
			res.entries, res.steps = max(res.entries, entries), max(res.steps, steps)
			res.entryMemMB, res.stepMemMB = max(res.entryMemMB, entryMem), max(res.stepMemMB, stepMem)
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	var took []time.Duration
	start := time.Now()
	res.notRun = load(p.runs, func(d time.Duration) { took = append(took, d) }, func(err error) {
		if res.failed++; res.firstFailure == "" {
			res.firstFailure = err.Error()
		}
	})
	elapsed := time.Since(start)
	close(stop)
	<-sampled
	if warmFailures > 0 && res.firstFailure == "" {
		res.firstFailure = fmt.Sprintf("%d runs of the warm-up failed", warmFailures)
	}
	if len(took) > 0 {
		slices.Sort(took)
		res.perSec = float64(len(took)) / elapsed.Seconds()
		res.p50, res.p99 = took[len(took)/2], took[len(took)*99/100]
	}
	return res
}

// TestScaleReport prints, for 1, 16 and 64 clients, the throughput,
// p50 and p99 of the 3- and 8-step workflows and of their sequences, and
// the containers and memory each held at most (WSK_ROUTE_BENCH=1;
// docs/benchmarks/scale.md holds a saved report).
func TestScaleReport(t *testing.T) {
	if os.Getenv("WSK_ROUTE_BENCH") != "1" {
		t.Skip("the scale report runs with WSK_ROUTE_BENCH=1 (go test -run TestScaleReport -v -timeout 30m ./cmd/wsk-route/sandbox/)")
	}
	busyWait := envBusyWait(t, "WSK_ROUTE_SCALE_BUSY_WAIT")
	b := newScaleBed(t, 0, busyWait, 3, 8) // the sandbox's default pool, 2048 MB
	fmt.Printf("scale report: load average %s at the start; entries 128 MB, 64 runs at once (scaleN) or 1 (scaleNc1); steps 256 MB, 1 at once; pool 2048 MB; busy wait %v\n", loadavg.String(), busyWait)
	fmt.Printf("each phase: 200 runs (8 per client at 64), or fewer when 45 s pass; a run that has no answer within 20 s failed\n")
	fmt.Printf("%-8s %7s %9s %10s %10s %7s %7s %14s %14s\n", "workflow", "clients", "runs/s", "p50", "p99", "failed", "not run", "entry ctrs/MB", "step ctrs/MB")
	var failures []string
	clientCounts, workflows := []int{1, 16, 64}, []string{"scale3", "scale3c1", "seq3", "scale8", "seq8"}
	// A part of the report, for a quicker look: WSK_ROUTE_SCALE_CLIENTS
	// ("16") and WSK_ROUTE_SCALE_WORKFLOWS ("scale3,seq3") pick phases.
	if v := os.Getenv("WSK_ROUTE_SCALE_CLIENTS"); v != "" {
		clientCounts = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(f)
			if err != nil || n < 1 {
				t.Fatalf("WSK_ROUTE_SCALE_CLIENTS=%q: want client counts such as 1,16,64", v)
			}
			clientCounts = append(clientCounts, n)
		}
	}
	if v := os.Getenv("WSK_ROUTE_SCALE_WORKFLOWS"); v != "" {
		workflows = strings.Split(v, ",")
		for _, w := range workflows {
			if !slices.Contains([]string{"scale3", "scale3c1", "seq3", "scale8", "seq8"}, w) {
				t.Fatalf("WSK_ROUTE_SCALE_WORKFLOWS=%q: %q is none of scale3, scale3c1, seq3, scale8, seq8", v, w)
			}
		}
	}
	for _, clients := range clientCounts {
		for _, w := range workflows {
			r := b.run(t, scalePhase{workflow: w, clients: clients, runs: max(200, 8*clients), budget: 45 * time.Second})
			fmt.Printf("%-8s %7d %9.1f %10v %10v %7d %7d %8d/%-5d %8d/%-5d\n", w, clients, r.perSec,
				r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond), r.failed, r.notRun, r.entries, r.entryMemMB, r.steps, r.stepMemMB)
			if r.failed > 0 {
				failures = append(failures, fmt.Sprintf("%s, %d clients: %s", w, clients, r.firstFailure))
			}
		}
	}
	for _, f := range failures {
		fmt.Printf("first failure of %s\n", f)
	}
	fmt.Printf("load average %s at the end\n", loadavg.String())
}

// TestScaleSmall runs the report's phases small, so that CI checks what
// TestScaleReport measures: a workflow and its sequence under concurrent
// clients.
func TestScaleSmall(t *testing.T) {
	// A pool that holds every container the runs need: no eviction.
	b := newScaleBed(t, 8192, 0, 3)
	for _, w := range []string{"scale3", "seq3"} {
		r := b.run(t, scalePhase{workflow: w, clients: 4, runs: 8})
		if w == "scale3" && r.entries != 1 {
			t.Errorf("%s: %d entry containers for 4 clients, want 1: the entry takes 64 runs at once", w, r.entries)
		}
		if r.failed > 0 {
			t.Errorf("%s: %d runs failed, the first with: %s", w, r.failed, r.firstFailure)
		}
		if r.perSec <= 0 || r.p50 <= 0 || r.steps == 0 {
			t.Errorf("%s: %+v, want runs measured and step containers seen", w, r)
		}
		if w == "scale3" && r.entries == 0 {
			t.Errorf("%s: no entry container seen while its runs ran", w)
		}
	}
}
