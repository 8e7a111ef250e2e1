package hop

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/testenv/netns"

	"github.com/wsk-route/wsk-route/benchmarks/chart"
	"github.com/wsk-route/wsk-route/internal/loadavg"
)

// procConfig says what processReport measures: the sizes of each path
// (iters: timed hops per path, split over rounds).
type procConfig struct {
	sameHost []size // two processes, unix (shm above the transport's threshold)
	// serverInline: sameHost with the receiver's Server.Inline, as the
	// proxy's route plane serves frames.
	serverInline []size
	tcp          []size // two processes, TCP over loopback
	crossHost    []size // two processes, TCP between network namespaces (root)
	relayed      []size // four processes: sender → agent (unix) → agent (TCP between namespaces) → receiver (unix)
	rounds       int    // hop and baseline alternate this many times per size

	// Diagnostics.
	inProcess  []size // unix, receivers in the test process
	inline     []size // two processes, unix, payloads forced inline
	framesUnix []size // two processes, unix, frames on one goroutine a side (what-if)
	framesTCP  []size // the same over TCP on loopback
}

// procFullConfig is the report of docs/benchmarks/hop-processes.md.
var procFullConfig = procConfig{
	sameHost:     []size{{"1 KiB", 1 << 10, 10000}, {"64 KiB", 64 << 10, 4000}, {"1 MiB", 1 << 20, 1000}, {"256 MiB", 256 << 20, 10}},
	serverInline: []size{{"1 KiB", 1 << 10, 10000}, {"64 KiB", 64 << 10, 4000}, {"1 MiB", 1 << 20, 1000}, {"16 MiB", 16 << 20, 100}},
	tcp:          []size{{"1 KiB", 1 << 10, 10000}, {"64 KiB", 64 << 10, 4000}},
	crossHost:    []size{{"1 KiB", 1 << 10, 10000}, {"64 KiB", 64 << 10, 4000}},
	relayed:      []size{{"1 KiB", 1 << 10, 5000}, {"64 KiB", 64 << 10, 2000}},
	rounds:       10,

	inProcess:  []size{{"1 KiB", 1 << 10, 5000}, {"64 KiB", 64 << 10, 2000}, {"1 MiB", 1 << 20, 500}},
	inline:     []size{{"64 KiB", 64 << 10, 2000}, {"1 MiB", 1 << 20, 500}},
	framesUnix: []size{{"1 KiB", 1 << 10, 5000}, {"64 KiB", 64 << 10, 2000}},
	framesTCP:  []size{{"1 KiB", 1 << 10, 5000}},
}

// procRow is one size of one procPair, measured.
type procRow struct {
	path, base   string
	diag         bool
	size         size
	hop, raw     stats
	hopSamples   []time.Duration // sorted
	rawSamples   []time.Duration // sorted
	load0, load1 float64         // 1-minute load average before and after
	hopUse       usage           // of all the timed hops: sender and receiver together
	rawUse       usage           // of all the timed raw round trips: sender and receiver together
}

// loadAvg1 is the 1-minute load average (-1 when unknown).
func loadAvg1() float64 {
	f := strings.Fields(loadavg.String())
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}

// timeHops appends the durations of n round trips of payload over rt to
// into.
func timeHops(ctx context.Context, rt roundTripper, payload []byte, n int, into []time.Duration) ([]time.Duration, error) {
	for range n {
		start := time.Now()
		if err := rt.roundTrip(ctx, payload); err != nil {
			return into, err
		}
		into = append(into, time.Since(start))
	}
	return into, nil
}

// costOf times n round trips of payload over rt and returns them with the
// CPU time and context switches they cost the test process and peers.
func costOf(ctx context.Context, rt roundTripper, peers []*peerProc, payload []byte, n int, into []time.Duration) ([]time.Duration, usage, error) {
	snap := func() (usage, error) {
		sum, err := selfUsage()
		for _, p := range peers {
			if err != nil {
				break
			}
			var u usage
			u, err = p.usage()
			sum = sum.add(u)
		}
		return sum, err
	}
	before, err := snap()
	if err != nil {
		return into, usage{}, err
	}
	into, err = timeHops(ctx, rt, payload, n, into)
	if err != nil {
		return into, usage{}, err
	}
	after, err := snap()
	if err != nil {
		return into, usage{}, err
	}
	return into, after.sub(before), nil
}

// measurePair times sz.iters round trips of payload over the hop and as
// many over the baseline of p, alternating between them in rounds (the
// first path of a round alternates too), after warm-ups of both.
func measurePair(ctx context.Context, p procPair, payload []byte, sz size, rounds int) (procRow, error) {
	row := procRow{path: p.path, base: p.base, diag: p.diag, size: sz}
	per := max(1, sz.iters/max(1, rounds))
	for _, rt := range []roundTripper{p.hop, p.raw} {
		if _, err := timeHops(ctx, rt, payload, warmups(sz.iters), nil); err != nil {
			return row, err
		}
	}
	runtime.GC()
	row.load0 = loadAvg1()
	hs := make([]time.Duration, 0, per*rounds)
	rs := make([]time.Duration, 0, per*rounds)
	var hu, ru usage
	for r := range max(1, rounds) {
		for i := range 2 {
			var (
				u   usage
				err error
			)
			if (i+r)%2 == 0 {
				hs, u, err = costOf(ctx, p.hop, p.hopProcs(), payload, per, hs)
				hu = hu.add(u)
			} else {
				rs, u, err = costOf(ctx, p.raw, p.rawProcs(), payload, per, rs)
				ru = ru.add(u)
			}
			if err != nil {
				return row, err
			}
		}
	}
	row.load1 = loadAvg1()
	row.hopUse, row.rawUse = hu, ru
	row.hop, row.raw = summarize(hs), summarize(rs) // sorts hs and rs
	row.hopSamples, row.rawSamples = hs, rs
	return row, nil
}

// per is u per round trip, of n: the CPU time and the context switches.
func (u usage) per(n int) (time.Duration, float64) {
	if n == 0 {
		return 0, 0
	}
	return u.cpu / time.Duration(n), float64(u.switches) / float64(n)
}

// procReport holds everything processReport measured.
type procReport struct {
	cfg         procConfig
	rows        []procRow
	loadStart   string
	loadEnd     string
	notMeasured []string
}

// measureRows appends to rep a row per size of p.
func (rep *procReport) measureRows(t *testing.T, p procPair, sizes []size, big []byte) {
	t.Helper()
	for _, sz := range sizes {
		row, err := measurePair(context.Background(), p, big[:sz.n], sz, rep.cfg.rounds)
		if err != nil {
			t.Fatalf("%s %s: %v", p.path, sz.name, err)
		}
		t.Logf("%s %s: hop p50 %v p99 %v, %s p50 %v p99 %v, load %.2f→%.2f", p.path, sz.name,
			row.hop.p50, row.hop.p99, p.base, row.raw.p50, row.raw.p99, row.load0, row.load1)
		rep.rows = append(rep.rows, row)
	}
}

// processReport measures every path of cfg. The cross-host part runs as a
// subtest (it skips without root, or fails under CI=true) and is listed in
// notMeasured when it did not run.
func processReport(t *testing.T, cfg procConfig) *procReport {
	asProxy(t)
	rep := &procReport{cfg: cfg, loadStart: loadavg.String()}
	largest := 0
	for _, szs := range [][]size{cfg.sameHost, cfg.serverInline, cfg.tcp, cfg.crossHost, cfg.relayed, cfg.inProcess, cfg.inline, cfg.framesUnix, cfg.framesTCP} {
		for _, sz := range szs {
			largest = max(largest, sz.n)
		}
	}
	big := payloadFor(largest)

	t.Run("same-host", func(t *testing.T) { rep.measureRows(t, procSameHost(t), cfg.sameHost, big) })
	if len(cfg.serverInline) > 0 {
		t.Run("same-host-server-inline", func(t *testing.T) { rep.measureRows(t, procSameHostServerInline(t), cfg.serverInline, big) })
	}
	t.Run("loopback-tcp", func(t *testing.T) { rep.measureRows(t, procLoopbackTCP(t), cfg.tcp, big) })
	ranCross := false
	if len(cfg.crossHost) > 0 {
		t.Run("cross-host", func(t *testing.T) {
			n := netns.New(t, netns.Options{Hosts: 2})
			rep.measureRows(t, procCrossHost(t, n.Hosts[0], n.Hosts[1]), cfg.crossHost, big)
			if len(cfg.relayed) > 0 {
				rep.measureRows(t, procRelayed(t, n.Hosts[0], n.Hosts[1]), cfg.relayed, big)
			}
			ranCross = true
		})
	}
	if !ranCross {
		rep.notMeasured = append(rep.notMeasured, "cross-host and relayed (need root for network namespaces)")
	}
	diag := func(name string, sizes []size, start func(testing.TB) procPair) {
		if len(sizes) > 0 {
			t.Run(name, func(t *testing.T) { rep.measureRows(t, start(t), sizes, big) })
		}
	}
	diag("in-process", cfg.inProcess, inProcessSameHost)
	diag("forced-inline", cfg.inline, procSameHostInline)
	diag("frames-unix", cfg.framesUnix, func(tb testing.TB) procPair { return procFrames(tb, false) })
	diag("frames-tcp", cfg.framesTCP, func(tb testing.TB) procPair { return procFrames(tb, true) })
	rep.loadEnd = loadavg.String()
	return rep
}

// TestProcessReport measures the hop with sender and receiver in separate
// processes, beside the raw socket baselines of the same shape in the same
// run, and prints docs/benchmarks/hop-processes.md's tables. It runs only
// with WSK_ROUTE_BENCH=1 (a measurement, not a test); with
// WSK_ROUTE_BENCH_OUT set it also writes the markdown to that file.
func TestProcessReport(t *testing.T) {
	benchReport(t, func(t *testing.T) (string, *chart.Chart) {
		start := time.Now()
		rep := processReport(t, procFullConfig)
		return rep.markdown(machine(), time.Since(start)), rep.chart()
	})
}

// chart draws the p50 of each hop beside its baseline's (diagnostics
// left out).
func (r *procReport) chart() *chart.Chart {
	c := &chart.Chart{Title: "Hop between two processes, p50, against its raw baseline", Unit: "µs",
		Series: []string{"wsk-route hop", "raw socket ping-pong (unix or TCP)"}, Log: true}
	for _, row := range r.rows {
		if row.diag {
			continue
		}
		c.Rows = append(c.Rows, chart.Row{Label: row.path + ", " + row.size.name,
			Values: []float64{float64(row.hop.p50) / 1e3, float64(row.raw.p50) / 1e3}})
	}
	return c
}

// TestProcessSmall runs the process report's code on a few hops, so that
// it cannot rot: the receiver processes start, a hop works inline and
// through shm, over unix and TCP, and the report renders.
func TestProcessSmall(t *testing.T) {
	sizes := []size{{"1 KiB", 1 << 10, 4}, {"100 KiB", 100 << 10, 4}}
	cfg := procConfig{
		sameHost: sizes, serverInline: sizes[:1], tcp: sizes[:1], crossHost: sizes[:1], relayed: sizes[:1], rounds: 2,
		inProcess: sizes[:1], inline: sizes[1:], framesUnix: sizes, framesTCP: sizes[:1],
	}
	if testing.Short() {
		cfg.crossHost, cfg.relayed = nil, nil
	}
	rep := processReport(t, cfg)
	if t.Failed() {
		return
	}
	if svg, err := rep.chart().SVG(); err != nil || !bytes.Contains(svg, []byte("same-host unix, 1 KiB")) {
		t.Errorf("the report's chart: %v\n%s", err, svg)
	}
	want := len(cfg.sameHost) + len(cfg.serverInline) + len(cfg.tcp) + len(cfg.inProcess) + len(cfg.inline) + len(cfg.framesUnix) + len(cfg.framesTCP)
	if len(rep.notMeasured) == 0 {
		want += len(cfg.crossHost) + len(cfg.relayed)
	}
	if len(rep.rows) != want {
		t.Errorf("%d rows measured, want %d", len(rep.rows), want)
	}
	for _, r := range rep.rows {
		if r.hop.n != r.size.iters || r.raw.n != r.size.iters || r.hop.p50 <= 0 || r.hop.p99 < r.hop.p50 {
			t.Errorf("%s %s: stats %+v / %+v, want %d samples with 0 < p50 <= p99", r.path, r.size.name, r.hop, r.raw, r.size.iters)
		}
		if r.hopUse.cpu <= 0 {
			t.Errorf("%s %s: hop CPU %v, want > 0", r.path, r.size.name, r.hopUse.cpu)
		}
	}
	md := rep.markdown(machine(), time.Second)
	for _, w := range []string{"| same-host unix | 1 KiB |", "| same-host unix | 100 KiB |", "| loopback tcp | 1 KiB |",
		"in process (diagnostic)", "forced inline (diagnostic)", "one goroutine a side (what-if)", "## Targets"} {
		if !strings.Contains(md, w) {
			t.Errorf("report lacks %q:\n%s", w, md)
		}
	}
	t.Log("\n" + md)
}

// histBounds are the upper bounds of the latency histogram's buckets.
var histBounds = func() []time.Duration {
	var b []time.Duration
	for d := time.Microsecond; d <= 10*time.Second; d *= 10 {
		b = append(b, d, 2*d, 5*d)
	}
	return b
}()

// histogram renders sorted samples as bucket counts, "≤ 50 µs: 12",
// from the first bucket that holds a sample to the last.
func histogram(sorted []time.Duration) string {
	if len(sorted) == 0 {
		return ""
	}
	counts := make([]int, len(histBounds)+1)
	for _, d := range sorted {
		i, _ := slices.BinarySearch(histBounds, d) // first bound >= d
		counts[i]++
	}
	first := slices.IndexFunc(counts, func(c int) bool { return c > 0 })
	last := len(counts) - 1
	for counts[last] == 0 {
		last--
	}
	parts := make([]string, 0, last-first+1)
	for i := first; i <= last; i++ {
		bound := "> " + fmtDur(histBounds[len(histBounds)-1])
		if i < len(histBounds) {
			bound = "≤ " + fmtDur(histBounds[i])
		}
		parts = append(parts, fmt.Sprintf("%s: %d", bound, counts[i]))
	}
	return strings.Join(parts, " · ")
}

// markdown renders the report.
func (r *procReport) markdown(machine string, took time.Duration) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# Hop between processes\n\n%s; took %v; load average (1, 5, 15 min) %s at the start, %s at the end\n\n",
		machine, took.Round(time.Second), r.loadStart, r.loadEnd)

	p("## Latency of one hop (Send to its ack) against the raw baseline of the same run\n\n")
	p("Hop: `transport.Client.Send` in the test process to a `transport.Server` in a receiver process "+
		"(tag checked, one byte per 4 KiB page read, payload released). Baseline: a raw write of an 8-byte length "+
		"and the payload, and a 1-byte ack, to another process on the same kind of socket. "+
		"The sender and the receivers run on one scheduler thread (GOMAXPROCS 1), as proxies do; the relays, as host agents, "+
		"on the machine's. The receivers of the tcp, cross-host and relayed rows serve frames on the reading goroutine "+
		"(Server.Inline), as the route plane serves every endpoint; the same-host unix rows show the transport's default "+
		"and Server.Inline. "+
		"Hop and baseline alternate in %d rounds; n is per path. Load: the 1-minute load average before → after the row.\n\n", r.cfg.rounds)
	latencies := func(diag bool) {
		p("| path | size | n | hop p50 | hop p99 | baseline | base p50 | base p99 | p50 ratio | p99 ratio | load |\n")
		p("|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, row := range r.rows {
			if row.diag != diag {
				continue
			}
			p("| %s | %s | %d | %s | %s | %s | %s | %s | %.2f | %.2f | %.2f → %.2f |\n", row.path, row.size.name, row.hop.n,
				fmtDur(row.hop.p50), fmtDur(row.hop.p99), row.base, fmtDur(row.raw.p50), fmtDur(row.raw.p99),
				ratio(row.hop.p50, row.raw.p50), ratio(row.hop.p99, row.raw.p99), row.load0, row.load1)
		}
	}
	latencies(false)
	if slices.ContainsFunc(r.rows, func(row procRow) bool { return row.diag }) {
		p("\n## Diagnostics, same run\n\n")
		p("Not what production does; each beside its own baseline, measured alternately like the rows above. " +
			"In process: hop and baseline with their receivers in the test process (what `TestReport` measures). " +
			"Forced inline: the two-process hop with the client's ShmThreshold -1. " +
			"Frames on one goroutine a side: the same signed frames and acks, written and read by the sending " +
			"goroutine and served by `hop.SyncFrames` in the receiver process, with no goroutine hand-off on either side " +
			"(a what-if, not the transport).\n\n")
		latencies(true)
	}

	p("\n## What one hop costs the machine\n\n")
	p("CPU time (user + system) and context switches (voluntary + involuntary, from getrusage) of the sender " +
		"and the receiver together, per round trip.\n\n")
	p("| path | size | hop CPU | base CPU | hop switches | base switches |\n|---|---|---|---|---|---|\n")
	for _, row := range r.rows {
		hc, hs := row.hopUse.per(row.hop.n)
		rc, rs := row.rawUse.per(row.raw.n)
		p("| %s | %s | %s | %s | %.1f | %.1f |\n", row.path, row.size.name, fmtDur(hc), fmtDur(rc), hs, rs)
	}

	p("\n## Distributions (round trips per latency bucket)\n\n")
	for _, row := range r.rows {
		p("- %s, %s, hop: %s\n", row.path, row.size.name, histogram(row.hopSamples))
		p("- %s, %s, %s: %s\n", row.path, row.size.name, row.base, histogram(row.rawSamples))
	}

	p("\n## Targets (issue 12; two processes, p50)\n\n| target | measured | verdict |\n|---|---|---|\n")
	find := func(path string, n int) (procRow, bool) {
		for _, row := range r.rows {
			if !row.diag && row.path == path && row.size.n == n {
				return row, true
			}
		}
		return procRow{}, false
	}
	target := func(what, path string, n int, ok func(float64) bool) {
		row, found := find(path, n)
		if path == "same-host unix" {
			// The route plane serves frames inline: its row, where measured.
			if inline, ok := find(inlinePath, n); ok {
				row, found, what = inline, true, what+" (Server.Inline, as the route plane serves)"
			}
		}
		if !found {
			return
		}
		x := ratio(row.hop.p50, row.raw.p50)
		p("| %s | %.2f× (%s vs %s; p99 %.2f×) | %s |\n", what, x, fmtDur(row.hop.p50), fmtDur(row.raw.p50),
			ratio(row.hop.p99, row.raw.p99), verdict(ok(x)))
	}
	target("same-host 1 KiB ≤ 1.5× raw unix", "same-host unix", 1<<10, func(x float64) bool { return x <= 1.5 })
	target("same-host 64 KiB ≤ 2× raw unix", "same-host unix", 64<<10, func(x float64) bool { return x <= 2 })
	target("same-host 1 MiB faster than raw unix", "same-host unix", 1<<20, func(x float64) bool { return x < 1 })
	target("TCP (loopback) 1 KiB ≤ 1.5× raw TCP", "loopback tcp", 1<<10, func(x float64) bool { return x <= 1.5 })
	target("cross-host 1 KiB ≤ 1.5× raw TCP", "cross-host tcp", 1<<10, func(x float64) bool { return x <= 1.5 })
	target("relayed 1 KiB ≤ 2.5× raw TCP", "relayed", 1<<10, func(x float64) bool { return x <= 2.5 })
	if len(r.notMeasured) > 0 {
		p("\nNot measured in this run: %s.\n", strings.Join(r.notMeasured, "; "))
	}
	return b.String()
}
