package sandbox_test

// Batching (issue 12): a container whose action allows concurrency
// (limits.concurrency > 1) should run that many direct steps at once, and
// the route table should fill such containers before it falls back to
// cold ones. TestBatchReport measures a 64-wide map and the imagepipe
// example's map, warm, with the mapped action at concurrency 1 and 8: the
// runs' latency, the map's elements that went direct or fell back to the
// OpenWhisk API, the containers started, and the most containers held. It
// measures whatever the proxy and the agent do, so that it shows the
// difference once concurrent direct steps land.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"

	"github.com/wsk-route/wsk-route/cmd/wsk-route/cli"
	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox"
	"github.com/wsk-route/wsk-route/internal/loadavg"
)

// batchWorkload is a deployed workflow whose run maps an array over one
// action, the mapped action.
type batchWorkload struct {
	// workflow is the workflow, also its entry action's name.
	workflow string
	// mapped is the fully qualified name of the action the map runs, and
	// concurrency its limits.concurrency.
	mapped      string
	concurrency int
	// actions are the fully qualified names of every action a run uses,
	// the entry's included: the containers counted as cold starts.
	actions map[string]bool
	// width is how many elements a run maps: each goes to the mapped
	// action once, direct or through the OpenWhisk API.
	width int
	// shape says how the map runs, for the report ("6 strips, 3 at a
	// time").
	shape string
	// input is a run's input; check says what is wrong with a run's
	// result, or returns nil.
	input any
	check func(result any) error
}

// batchPhase bounds one measurement: warm-up runs until one succeeds and
// starts no container (at least minWarm, at most maxWarm), then runs measured runs,
// one after the other, or fewer when budget has passed.
type batchPhase struct {
	minWarm, maxWarm, runs int
	budget                 time.Duration
}

// batchResult is what a phase measured.
type batchResult struct {
	w                   batchWorkload
	warmRuns, warmFails int
	warmFailure         string // the first warm-up run's failure
	runs, failed        int
	firstFailure        string
	p50, p99            time.Duration
	elapsed             time.Duration
	// hops counts the map's elements, from the agent's metrics, over the
	// measured runs only.
	hops hopCounts
	// counted reports whether the metrics reached runs×width elements
	// (direct plus fallbacks) before the wait for them ended.
	counted bool
	// cold is the containers of the workload's actions started during
	// the measured runs, gone those that were removed.
	cold, gone int
	// ctrsStart and ctrsMost are the mapped action's containers when the
	// measured runs began and the most it held at once during them.
	ctrsStart, ctrsMost int
	// loadStart and loadEnd are the load averages before the warm-up and
	// after the measured runs.
	loadStart, loadEnd string
}

// batchBed is a sandbox of its own for the batching report: actions may
// take up to 64 activations per container, the pool holds every
// container a 64-wide map at concurrency 1 needs (and those of the
// other workloads, which stay warm), and the agent serves its metrics.
type batchBed struct {
	sb *ownSandbox
	c  *whisk.Client
}

// newBatchBed starts the bed's sandbox with a pool of poolMB, its proxies
// waiting busyWait for a busy instance's slot (sandbox.Config.BusyWait).
func newBatchBed(t *testing.T, poolMB int, busyWait time.Duration) *batchBed {
	t.Helper()
	sb := startSandbox(t, sandbox.Config{UserMemoryMB: poolMB, MaxConcurrency: 64, AgentMetricsListen: "127.0.0.1:0", BusyWait: busyWait})
	// A run answers within its entry's 60 s time limit; the client waits
	// a little longer.
	c, err := whisk.NewClient(&http.Client{Timeout: 75 * time.Second}, &whisk.Config{Host: sb.URL, AuthToken: sb.Auth, Namespace: "_", Version: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	return &batchBed{sb: sb, c: c}
}

// deployFanOut deploys the workflow fan<concurrency>w<width>: a map with
// no bound over the input's "items", each element to the test action
// (256 MB, the given concurrency), which sleeps sleepMS and echoes it;
// the results joined into an array. Its entry is as compose creates
// entries: 64 runs at once, 128 MB.
func (b *batchBed) deployFanOut(t *testing.T, width, concurrency, sleepMS int) batchWorkload {
	t.Helper()
	workflow := fmt.Sprintf("fan%dw%d", concurrency, width)
	action := workflow + "-work" // no step suffix: the test action runs the input's mode
	memory := 256
	createAct(t, b.c, action, nil, &whisk.Limits{Memory: &memory, Concurrency: &concurrency})
	sp := mustSpec(t, fmt.Sprintf(`{"workflow":%q,"namespace":"guest","start":["m"],"steps":{
	 "m":{"action":"","map":{"over":"items"},"fork":"j","next":["work"]},
	 "work":{"action":"/guest/%s","in":"j","next":["j"]},
	 "j":{"action":"","join":{"merge":"array"}}}}`, workflow, action))
	if _, err := b.sb.Routes().PutSpec(context.Background(), sp); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.sb.Routes().DeleteSpec(context.Background(), "guest", workflow) })
	(&scaleBed{c: b.c}).createEntry(t, workflow, 64)
	items := make([]any, width)
	for i := range items {
		items[i] = map[string]any{"mode": "sleep", "ms": sleepMS, "i": i}
	}
	return batchWorkload{
		workflow: workflow, mapped: "/guest/" + action, concurrency: concurrency,
		actions: map[string]bool{"/guest/" + workflow: true, "/guest/" + action: true},
		width:   width, shape: fmt.Sprintf("%d × sleep %d ms, unbounded", width, sleepMS),
		input: map[string]any{"items": items},
		check: func(result any) error {
			arr, ok := result.([]any)
			if !ok || len(arr) != width {
				return fmt.Errorf("result %.200v, want an array of %d", result, width)
			}
			for i, e := range arr {
				m, _ := e.(map[string]any)
				if m["i"] != float64(i) || m["greeting"] == nil {
					return fmt.Errorf("element %d of the result is %v, want element %d echoed with a greeting", i, e, i)
				}
			}
			return nil
		},
	}
}

// imagepipeDir is the imagepipe example, from this package's folder.
const imagepipeDir = "../../../examples/imagepipe"

// filterLine is ip-filter's declaration in imagepipe.yaml, as a code
// file; mapBound is the bound of the map over the strips.
var (
	filterLine = regexp.MustCompile(`(?m)^(\s+)ip-filter:\s*(\S+)\s*$`)
	mapBound   = regexp.MustCompile(`map: \{[^}]*concurrency: (\d+)`)
)

// deployImagepipe deploys the imagepipe example with `wsk-route compose`
// as ip<concurrency>: its workflow file and actions as they are, the
// actions renamed ip<concurrency>-split and so on, ip-filter given
// limits.concurrency concurrency. Its map is the example's (6 strips of
// input.json, 3 at a time).
func (b *batchBed) deployImagepipe(t *testing.T, concurrency int) batchWorkload {
	t.Helper()
	yml, err := os.ReadFile(filepath.Join(imagepipeDir, "imagepipe.yaml"))
	if err != nil {
		t.Fatalf("reading the imagepipe example: %v", err)
	}
	if !filterLine.Match(yml) || !bytes.Contains(yml, []byte("\nname: imagepipe\n")) {
		t.Fatalf("%s/imagepipe.yaml no longer has \"name: imagepipe\" and \"ip-filter: <code file>\" lines: update deployImagepipe", imagepipeDir)
	}
	bound := "unbounded"
	if m := mapBound.FindSubmatch(yml); m != nil {
		bound = string(m[1]) + " at a time"
	}
	prefix := fmt.Sprintf("ip%d", concurrency)
	yml = filterLine.ReplaceAll(yml, []byte(fmt.Sprintf("${1}ip-filter: {code: ${2}, limits: {concurrency: %d}}", concurrency)))
	yml = bytes.ReplaceAll(yml, []byte("\nname: imagepipe\n"), []byte("\nname: "+prefix+"\n"))
	yml = bytes.ReplaceAll(yml, []byte("ip-"), []byte(prefix+"-"))
	// compose reads the code relative to the workflow file: a copy of the
	// example's folder, with the rewritten file.
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(imagepipeDir)); err != nil {
		t.Fatalf("copying the imagepipe example: %v", err)
	}
	file := filepath.Join(dir, prefix+".yaml")
	if err := os.WriteFile(file, yml, 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := cli.Run([]string{"compose", "--apihost", b.sb.URL, "--auth", b.sb.Auth, file}, nil, &out, &errOut); code != 0 {
		t.Fatalf("wsk-route compose %s: exit %d\n%s%s", file, code, out.String(), errOut.String())
	}
	t.Cleanup(func() {
		var out bytes.Buffer
		cli.Run([]string{"delete", "--apihost", b.sb.URL, "--auth", b.sb.Auth, prefix, "--actions"}, nil, &out, &out)
	})
	var input map[string]any
	raw, err := os.ReadFile(filepath.Join(imagepipeDir, "input.json"))
	if err == nil {
		err = json.Unmarshal(raw, &input)
	}
	chunks, _ := input["chunks"].(float64)
	if err != nil || chunks < 1 {
		t.Fatalf("the imagepipe example's input.json: %v, %s: want its number of chunks", err, raw)
	}
	// Every run's image must be the same (the actions are deterministic):
	// the first result's digest is the one.
	var mu sync.Mutex
	var digest string
	return batchWorkload{
		workflow: prefix, mapped: "/guest/" + prefix + "-filter", concurrency: concurrency,
		actions: map[string]bool{"/guest/" + prefix: true, "/guest/" + prefix + "-split": true,
			"/guest/" + prefix + "-filter": true, "/guest/" + prefix + "-stitch": true},
		width: int(chunks), shape: fmt.Sprintf("%d strips, %s", int(chunks), bound),
		input: input,
		check: func(result any) error {
			r, _ := result.(map[string]any)
			sha, _ := r["sha256"].(string)
			if r["strips"] != chunks || len(sha) != 64 {
				return fmt.Errorf("result %.300v, want the %d strips stitched and hashed", result, int(chunks))
			}
			mu.Lock()
			defer mu.Unlock()
			if digest == "" {
				digest = sha
			}
			if sha != digest {
				return fmt.Errorf("sha256 %s, want the first run's %s: the pipeline is deterministic", sha, digest)
			}
			return nil
		},
	}
}

// runOnce runs w once through its entry, blocking, and returns how long
// the run took, or why it failed.
func (b *batchBed) runOnce(w batchWorkload) (time.Duration, error) {
	start := time.Now()
	res, resp, err := b.c.Actions.Invoke(w.workflow, w.input, true, false)
	took := time.Since(start)
	switch {
	case resp == nil:
		return 0, fmt.Errorf("no answer: %v", err)
	case resp.StatusCode == http.StatusAccepted:
		return 0, fmt.Errorf("no result within the blocking wait (%v)", took.Round(time.Millisecond))
	case res == nil:
		return 0, fmt.Errorf("%s: %v", resp.Status, err)
	}
	raw, _ := json.Marshal(res)
	var act whisk.Activation
	if err := json.Unmarshal(raw, &act); err != nil || act.ActivationID == "" {
		return 0, fmt.Errorf("%s: the answer %.300s is not an activation", resp.Status, raw)
	}
	if !act.Response.Success {
		r, _ := json.Marshal(act.Response.Result)
		return 0, fmt.Errorf("%s: %s %.500s", resp.Status, act.Response.Status, r)
	}
	if err := w.check(act.Response.Result); err != nil {
		return 0, err
	}
	return took, nil
}

// containersOf returns the names of the live containers of actions, and
// how many of them are mapped's.
func (b *batchBed) containersOf(actions map[string]bool, mapped string) (names map[string]bool, nMapped int) {
	names = map[string]bool{}
	for _, ci := range b.sb.Containers() {
		if actions[ci.Action] {
			names[ci.Name] = true
			if ci.Action == mapped {
				nMapped++
			}
		}
	}
	return names, nMapped
}

// measure warms w up, then measures its runs, as p says.
func (b *batchBed) measure(t *testing.T, w batchWorkload, p batchPhase) batchResult {
	t.Helper()
	res := batchResult{w: w, loadStart: loadavg.String()}
	idle := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := b.sb.WaitIdle(ctx); err != nil {
			t.Logf("%s: %v", w.workflow, err)
		}
	}
	// Warm-up: until a run succeeds and starts no container of the
	// workflow's actions (a cold map starts them through its fallbacks).
	warmUntil := time.Now().Add(3 * time.Minute)
	for res.warmRuns < p.maxWarm && time.Now().Before(warmUntil) {
		before, _ := b.containersOf(w.actions, w.mapped)
		_, err := b.runOnce(w)
		if err != nil {
			if res.warmFails++; res.warmFailure == "" {
				res.warmFailure = err.Error()
			}
			t.Logf("%s: warm-up run %d: %v", w.workflow, res.warmRuns+1, err)
		}
		res.warmRuns++
		idle()
		after, _ := b.containersOf(w.actions, w.mapped)
		if res.warmRuns >= p.minWarm && err == nil && len(after) == len(before) {
			break
		}
	}
	// The counts of the warm-up, once the proxies flushed them (once a
	// second), are the baseline; new instances reach the route tables
	// meanwhile.
	base, _ := waitHops(b.sb.AgentMetrics, w.mapped, res.warmRuns*w.width)

	baseline, nMapped := b.containersOf(w.actions, w.mapped)
	res.ctrsStart, res.ctrsMost = nMapped, nMapped
	seen := map[string]bool{}
	stop, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			names, n := b.containersOf(w.actions, w.mapped)
			for name := range names {
				seen[name] = true
			}
			res.ctrsMost = max(res.ctrsMost, n)
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	var took []time.Duration
	start := time.Now()
	for res.runs < p.runs && time.Since(start) < p.budget {
		d, err := b.runOnce(w)
		res.runs++
		if err != nil {
			if res.failed++; res.firstFailure == "" {
				res.firstFailure = err.Error()
			}
			continue
		}
		took = append(took, d)
	}
	res.elapsed = time.Since(start)
	idle() // the last fallbacks' containers hold their runs a little longer
	close(stop)
	<-sampled
	end, _ := b.containersOf(w.actions, w.mapped)
	for name := range seen {
		if !baseline[name] {
			res.cold++
		}
	}
	for name := range baseline {
		if !end[name] {
			res.gone++
		}
	}
	after, counted := waitHops(b.sb.AgentMetrics, w.mapped, (res.warmRuns+res.runs)*w.width)
	res.hops, res.counted = after.minus(base), counted
	if len(took) > 0 {
		slices.Sort(took)
		res.p50, res.p99 = took[len(took)/2], took[len(took)*99/100]
	}
	res.loadEnd = loadavg.String()
	return res
}

// hopCounts are the agent's counts of the hops to one action, as its
// senders report them (wsk_route_hops_total and the like, by destination
// action): direct are hops a warm instance acknowledged, fallbacks those
// no instance took (the step then ran through the OpenWhisk API), refused
// and failed the sends an instance refused (busy) or that failed, after
// which the sender tried the next instance. Every element of a map is
// one direct hop or one fallback.
type hopCounts struct{ direct, fallbacks, refused, failed float64 }

func (h hopCounts) minus(o hopCounts) hopCounts {
	return hopCounts{h.direct - o.direct, h.fallbacks - o.fallbacks, h.refused - o.refused, h.failed - o.failed}
}

// seriesLine is one sample of Prometheus' text format: the name, the
// labels, the value.
var seriesLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\} (\S+)$`)

// labelPair is one label of a series.
var labelPair = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

// scrapeHops reads the hop counts of action from the agent's metrics.
func scrapeHops(metricsURL, action string) (hopCounts, error) {
	var h hopCounts
	resp, err := http.Get(metricsURL)
	if err != nil {
		return h, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return h, err
	}
	if resp.StatusCode != http.StatusOK {
		return h, fmt.Errorf("%s: %s", metricsURL, resp.Status)
	}
	for _, l := range strings.Split(string(body), "\n") {
		m := seriesLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		labels := map[string]string{}
		for _, kv := range labelPair.FindAllStringSubmatch(m[2], -1) {
			labels[kv[1]] = kv[2]
		}
		if labels["action"] != action {
			continue
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			continue
		}
		switch m[1] {
		case "wsk_route_hops_total":
			if labels["transport"] != "fallback" { // the API invokes that carried fallbacks
				h.direct += v
			}
		case "wsk_route_fallbacks_total":
			h.fallbacks += v
		case "wsk_route_hop_refusals_total":
			h.refused += v
		case "wsk_route_hop_failures_total":
			h.failed += v
		}
	}
	return h, nil
}

// waitHops waits (up to 5 s) until the agent counts at least elements
// hops to action, direct or fallen back (its proxies report once a
// second), and returns its counts, and whether they reached elements.
func waitHops(metricsURL, action string, elements int) (hopCounts, bool) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		h, err := scrapeHops(metricsURL, action)
		if err == nil && h.direct+h.fallbacks >= float64(elements) {
			// One more flush, for a hop counted after the elements (a
			// duplicate's).
			time.Sleep(1100 * time.Millisecond)
			if h2, err := scrapeHops(metricsURL, action); err == nil {
				h = h2
			}
			return h, true
		}
		if time.Now().After(deadline) {
			return h, false
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// batchMarkdown is the report: a header, the table, then the notes
// (failures, and counts that did not add up).
func batchMarkdown(header string, rows []batchResult) string {
	var b, notes strings.Builder
	b.WriteString(header)
	b.WriteString("\n| workflow | map | mapped action's concurrency | runs | failed | p50 | p99 | direct | fallbacks | refused | cold starts | mapped ctrs start/most | load start | load end |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	dur := func(d time.Duration) string {
		if d == 0 {
			return "—"
		}
		return d.Round(100 * time.Microsecond).String()
	}
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %s | %s | %.0f | %.0f | %.0f | %d | %d/%d | %s | %s |\n",
			r.w.workflow, r.w.shape, r.w.concurrency, r.runs, r.failed, dur(r.p50), dur(r.p99),
			r.hops.direct, r.hops.fallbacks, r.hops.refused, r.cold, r.ctrsStart, r.ctrsMost, r.loadStart, r.loadEnd)
		fmt.Fprintf(&notes, "- %s: %d warm-up runs (%d failed); measured runs took %v in all", r.w.workflow, r.warmRuns, r.warmFails, r.elapsed.Round(time.Millisecond))
		if r.hops.failed > 0 {
			fmt.Fprintf(&notes, "; %.0f sends failed", r.hops.failed)
		}
		if r.gone > 0 {
			fmt.Fprintf(&notes, "; %d of its containers were removed", r.gone)
		}
		if want := float64(r.runs * r.w.width); !r.counted || r.hops.direct+r.hops.fallbacks != want {
			fmt.Fprintf(&notes, "; the agent counted %.0f elements (direct + fallbacks), not %.0f", r.hops.direct+r.hops.fallbacks, want)
		}
		if r.firstFailure != "" {
			fmt.Fprintf(&notes, "; first failure: %s", r.firstFailure)
		}
		if r.warmFailure != "" {
			fmt.Fprintf(&notes, "; first warm-up failure: %s", r.warmFailure)
		}
		notes.WriteString("\n")
	}
	b.WriteString("\n")
	b.WriteString(notes.String())
	return b.String()
}

// envBusyWait reads the environment variable name ("100ms"), the busy
// wait a report gives the proxies (wsk-route dev --busy-wait): how long a
// hop waits for a busy instance's slot before it falls back; 0 when unset.
func envBusyWait(t *testing.T, name string) time.Duration {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		t.Fatalf("%s=%q: want a duration such as 100ms", name, v)
	}
	return d
}

// TestBatchReport measures issue 12's "Batching" (WSK_ROUTE_BENCH=1): a
// 64-wide map and the imagepipe example's map, warm, with the mapped
// action at concurrency 1 and 8. It prints a markdown report, and writes
// it to WSK_ROUTE_BENCH_OUT when that is set.
func TestBatchReport(t *testing.T) {
	if os.Getenv("WSK_ROUTE_BENCH") != "1" {
		t.Skip("the batching report runs with WSK_ROUTE_BENCH=1 (go test -run '^TestBatchReport$' -v -timeout 30m ./cmd/wsk-route/sandbox/)")
	}
	const (
		width   = 64
		sleepMS = 10
		poolMB  = 64 << 10 // 64 GB of pool: every workload's containers stay, none is evicted
	)
	busyWait := envBusyWait(t, "WSK_ROUTE_BATCH_BUSY_WAIT")
	began := time.Now()
	load := loadavg.String()
	b := newBatchBed(t, poolMB, busyWait)
	phase := batchPhase{minWarm: 2, maxWarm: 6, runs: 30, budget: 90 * time.Second}
	var rows []batchResult
	for _, deploy := range []func() batchWorkload{
		func() batchWorkload { return b.deployFanOut(t, width, 1, sleepMS) },
		func() batchWorkload { return b.deployFanOut(t, width, 8, sleepMS) },
		func() batchWorkload { return b.deployImagepipe(t, 1) },
		func() batchWorkload { return b.deployImagepipe(t, 8) },
	} {
		w := deploy()
		r := b.measure(t, w, phase)
		t.Logf("%s: %d runs, %d failed, p50 %v, p99 %v, direct %.0f, fallbacks %.0f, refused %.0f, cold %d, ctrs %d/%d",
			w.workflow, r.runs, r.failed, r.p50, r.p99, r.hops.direct, r.hops.fallbacks, r.hops.refused, r.cold, r.ctrsStart, r.ctrsMost)
		rows = append(rows, r)
	}
	header := fmt.Sprintf("# Batching (issue 12): direct steps of a map, at concurrency 1 and 8\n\n"+
		"%s, %d cores; load average %s before the sandbox started, %s at the end; %v in all.\n"+
		"`WSK_ROUTE_BENCH=1 go test -count=1 -run '^TestBatchReport$' -v -timeout 30m ./cmd/wsk-route/sandbox/`\n\n"+
		"- One sandbox (process mode, pool %d MB, limits.concurrency up to 64, busy wait %v). Entries as compose creates them: 64 runs at once, 128 MB.\n"+
		"- fanCw%d: a map with no bound over %d elements, each to the test action (256 MB, concurrency C), which sleeps %d ms; the results joined into an array.\n"+
		"- ipC: the imagepipe example composed as it is (its Go actions, input.json), its ip-filter at concurrency C.\n"+
		"- Each row: warm-up runs until a run succeeds and starts no container (%d to %d runs), then up to %d runs one after the other (at most %v). A failed run: an error, a 202 or a wrong result.\n"+
		"- p50/p99: of the whole run, as the client of a blocking invoke of the entry sees it (p99 of 30 runs is their maximum).\n"+
		"- direct, fallbacks, refused: the map's elements (hops to the mapped action) in the measured runs, from the agent's "+
		"wsk_route_hops_total (all transports but \"fallback\"), wsk_route_fallbacks_total and wsk_route_hop_refusals_total "+
		"(sends a busy instance refused, after which the sender tried another).\n"+
		"- cold starts: containers of the workflow's actions (its entry's included) that appeared during the measured runs (sampled every 20 ms). "+
		"mapped ctrs: the mapped action's containers when the measured runs began, and the most at once during them.\n",
		time.Now().Format("2006-01-02"), runtime.NumCPU(), load, loadavg.String(), time.Since(began).Round(time.Second),
		poolMB, busyWait, width, width, sleepMS, phase.minWarm, phase.maxWarm, phase.runs, phase.budget)
	md := batchMarkdown(header, rows)
	fmt.Print(md)
	if out := os.Getenv("WSK_ROUTE_BENCH_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(md), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// TestBatchSmall runs the report's code small, so that it cannot rot: an
// 8-wide map over an action of concurrency 8, warm. Every run succeeds,
// and the agent counts each element of the map once, as a direct hop or
// as a fallback.
func TestBatchSmall(t *testing.T) {
	b := newBatchBed(t, 4096, 0)
	w := b.deployFanOut(t, 8, 8, 5)
	r := b.measure(t, w, batchPhase{minWarm: 1, maxWarm: 3, runs: 3, budget: 20 * time.Second})
	if r.failed > 0 || r.warmFails > 0 {
		t.Errorf("%d of %d runs failed (%d of %d warm-up runs), the first with: %s", r.failed, r.runs, r.warmFails, r.warmRuns, r.firstFailure)
	}
	if want := float64(r.runs * w.width); !r.counted || r.hops.direct+r.hops.fallbacks != want {
		t.Errorf("the agent counted %+v for %d runs of %d elements: want %.0f direct hops and fallbacks in all", r.hops, r.runs, w.width, want)
	}
	if r.p50 <= 0 || r.ctrsMost == 0 {
		t.Errorf("%+v: want the runs timed and the mapped action's containers seen", r)
	}
	if md := batchMarkdown("", []batchResult{r}); !strings.Contains(md, "| "+w.workflow+" |") {
		t.Errorf("the report lacks the row of %s:\n%s", w.workflow, md)
	}
}
