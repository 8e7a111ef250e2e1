package hop

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/consulstore"
	"github.com/wsk-route/wsk-route/internal/testenv"
	"github.com/wsk-route/wsk-route/internal/testenv/netns"
	"github.com/wsk-route/wsk-route/internal/transport"
	"golang.org/x/sys/unix"

	"github.com/wsk-route/wsk-route/benchmarks/chart"
)

// config says what runReport measures.
type config struct {
	sizes      []size
	threshold  []size        // sizes of the forced inline / forced shm comparison
	tputDur    time.Duration // per throughput case
	tputConns  []int         // client connections per throughput case
	tputWorker int           // goroutines per throughput case
	propN      int           // registrations timed
}

// fullConfig is the report of docs/benchmarks/route-plane.md.
var fullConfig = config{
	sizes: reportSizes,
	threshold: []size{
		{"1 KiB", 1 << 10, 500}, {"4 KiB", 4 << 10, 500}, {"16 KiB", 16 << 10, 500}, {"32 KiB", 32 << 10, 500},
		{"64 KiB", 64 << 10, 500}, {"256 KiB", 256 << 10, 300}, {"1 MiB", 1 << 20, 200},
	},
	tputDur:    3 * time.Second,
	tputConns:  []int{1, 4},
	tputWorker: 32,
	propN:      100,
}

// pair is a hop and its raw baseline at one size.
type pair struct {
	size     size
	hop, raw stats
}

// tputRow is one throughput case.
type tputRow struct {
	conns, workers int
	hops           float64
}

// report holds everything runReport measured.
type report struct {
	cfg         config
	same        []pair // same-host hop, raw unix
	cross       []pair // cross-host hop, raw TCP across namespaces
	relay       []pair // relayed hop, raw TCP across namespaces
	inlineShm   []pair // same-host, forced inline (hop) and forced shm (raw)
	copies      copyCosts
	copySize    size
	tput        []tputRow
	prop        stats
	notMeasured []string
}

// payloadFor returns n deterministic bytes, all pages touched.
func payloadFor(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i) ^ byte(i>>9)
	}
	return b
}

// runReport measures everything cfg names. Cross-host and Consul parts run
// as subtests (they skip without root or a consul binary, or fail under
// CI=true) and are listed in notMeasured when they did not run.
func runReport(t *testing.T, cfg config) *report {
	rep := &report{cfg: cfg}
	ctx := context.Background()
	big := payloadFor(cfg.sizes[len(cfg.sizes)-1].n)

	t.Run("same-host", func(t *testing.T) {
		sh := startSameHost(t)
		hop := sh.path(t)
		raw := rawUnix(t)
		for _, sz := range cfg.sizes {
			p := pair{size: sz}
			var err error
			runtime.GC()
			if p.hop, err = latency(ctx, hop, big[:sz.n], sz.iters); err != nil {
				t.Fatalf("same-host %s: %v", sz.name, err)
			}
			runtime.GC()
			if p.raw, err = latency(ctx, raw, big[:sz.n], sz.iters); err != nil {
				t.Fatalf("raw unix %s: %v", sz.name, err)
			}
			t.Logf("%s: hop p50 %v p99 %v, raw unix p50 %v p99 %v", sz.name, p.hop.p50, p.hop.p99, p.raw.p50, p.raw.p99)
			rep.same = append(rep.same, p)
		}

		inline, viaShm := sh.pathWith(t, -1), sh.pathWith(t, 1)
		for _, sz := range cfg.threshold {
			p := pair{size: sz}
			var err error
			runtime.GC()
			if p.hop, err = latency(ctx, inline, big[:sz.n], sz.iters); err != nil {
				t.Fatalf("same-host inline %s: %v", sz.name, err)
			}
			runtime.GC()
			if p.raw, err = latency(ctx, viaShm, big[:sz.n], sz.iters); err != nil {
				t.Fatalf("same-host shm %s: %v", sz.name, err)
			}
			rep.inlineShm = append(rep.inlineShm, p)
		}

		rep.copySize = cfg.sizes[len(cfg.sizes)-1]
		runtime.GC()
		var err error
		if rep.copies, err = measureCopies(big, sh.shmDir, max(rep.copySize.iters, 3)); err != nil {
			t.Fatal(err)
		}

		for _, conns := range cfg.tputConns {
			rts := make([]roundTripper, conns)
			for i := range rts {
				rts[i] = sh.path(t)
			}
			runtime.GC()
			hops, err := throughput(ctx, rts, big[:1<<10], cfg.tputWorker, cfg.tputDur)
			if err != nil {
				t.Fatalf("throughput: %v", err)
			}
			t.Logf("throughput %d conns, %d goroutines: %.0f hops/s", conns, cfg.tputWorker, hops)
			rep.tput = append(rep.tput, tputRow{conns: conns, workers: cfg.tputWorker, hops: hops})
		}
	})

	ranCross := false
	t.Run("cross-host", func(t *testing.T) {
		n := netns.New(t, netns.Options{Hosts: 2})
		h1, h2 := n.Hosts[0], n.Hosts[1]
		direct := crossHost(t, h1, h2)
		rel := relayed(t, h1, h2)
		raw := rawTCP(t, h1, h2)
		for _, sz := range cfg.sizes {
			c, r := pair{size: sz}, pair{size: sz}
			var err error
			runtime.GC()
			if c.hop, err = latency(ctx, direct, big[:sz.n], sz.iters); err != nil {
				t.Fatalf("cross-host %s: %v", sz.name, err)
			}
			runtime.GC()
			if c.raw, err = latency(ctx, raw, big[:sz.n], sz.iters); err != nil {
				t.Fatalf("raw tcp %s: %v", sz.name, err)
			}
			runtime.GC()
			if r.hop, err = latency(ctx, rel, big[:sz.n], sz.iters); err != nil {
				t.Fatalf("relayed %s: %v", sz.name, err)
			}
			r.raw = c.raw
			t.Logf("%s: cross p50 %v p99 %v, relayed p50 %v p99 %v, raw tcp p50 %v p99 %v",
				sz.name, c.hop.p50, c.hop.p99, r.hop.p50, r.hop.p99, c.raw.p50, c.raw.p99)
			rep.cross = append(rep.cross, c)
			rep.relay = append(rep.relay, r)
		}
		ranCross = true
	})
	if !ranCross {
		rep.notMeasured = append(rep.notMeasured, "cross-host and relayed hops (need root for network namespaces)")
	}

	ranProp := false
	t.Run("propagation", func(t *testing.T) {
		c := testenv.StartConsul(t, testenv.ConsulOptions{})
		open := func() *consulstore.Store {
			s, err := consulstore.New(consulstore.Options{Address: c.Addr, Prefix: "hopbench", Service: "wsk-route-hopbench"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
		var err error
		if rep.prop, err = propagation(ctx, open(), open(), cfg.propN); err != nil {
			t.Fatal(err)
		}
		ranProp = true
	})
	if !ranProp {
		rep.notMeasured = append(rep.notMeasured, "route propagation (needs a consul binary)")
	}
	return rep
}

// TestReport measures everything docs/benchmarks/route-plane.md reports
// and prints it as markdown. Its hops run client and server in the test
// process: a diagnostic (TestProcessReport measures hops between
// processes). It runs only with WSK_ROUTE_BENCH=1 (it is a
// measurement of several minutes, not a test); with WSK_ROUTE_BENCH_OUT
// set it also writes the markdown to that file.
func TestReport(t *testing.T) {
	benchReport(t, func(t *testing.T) (string, *chart.Chart) {
		start := time.Now()
		rep := runReport(t, fullConfig)
		return rep.markdown(machine(), time.Since(start)), nil
	})
}

// benchReport runs a measurement report, only with WSK_ROUTE_BENCH=1: it
// prints the markdown measure returns and, with WSK_ROUTE_BENCH_OUT set,
// also writes it to that file, and its chart, if any, beside it (the same
// name, .svg).
func benchReport(t *testing.T, measure func(t *testing.T) (string, *chart.Chart)) {
	if os.Getenv("WSK_ROUTE_BENCH") != "1" {
		t.Skip("a measurement, not a test: set WSK_ROUTE_BENCH=1 to run it")
	}
	md, c := measure(t)
	fmt.Print(md)
	out := os.Getenv("WSK_ROUTE_BENCH_OUT")
	if out == "" {
		return
	}
	if err := os.WriteFile(out, []byte(md), 0o644); err != nil {
		t.Error(err)
	}
	if c == nil {
		return
	}
	svg, err := c.SVG()
	if err == nil {
		err = os.WriteFile(strings.TrimSuffix(out, ".md")+".svg", svg, 0o644)
	}
	if err != nil {
		t.Error(err)
	}
}

// TestMeasureSmall runs the report's code on tiny sizes, so that it cannot
// rot: both sides of the shm threshold, a short throughput run, a few
// registrations.
func TestMeasureSmall(t *testing.T) {
	cfg := config{
		sizes:      []size{{"1 KiB", 1 << 10, 20}, {"100 KiB", 100 << 10, 5}},
		threshold:  []size{{"2 KiB", 2 << 10, 5}},
		tputDur:    100 * time.Millisecond,
		tputConns:  []int{1, 2},
		tputWorker: 4,
		propN:      3,
	}
	rep := runReport(t, cfg)
	if t.Failed() {
		return
	}
	checkPairs := func(kind string, ps []pair) {
		t.Helper()
		if len(ps) != len(cfg.sizes) {
			t.Errorf("%s: %d sizes measured, want %d", kind, len(ps), len(cfg.sizes))
		}
		for _, p := range ps {
			if p.hop.n != p.size.iters || p.raw.n != p.size.iters || p.hop.p50 <= 0 || p.hop.p99 < p.hop.p50 {
				t.Errorf("%s %s: stats %+v / %+v, want %d samples with 0 < p50 <= p99", kind, p.size.name, p.hop, p.raw, p.size.iters)
			}
		}
	}
	checkPairs("same-host", rep.same)
	// The cross-host and Consul parts skip without root or a consul binary
	// (and fail instead under CI=true); when they ran they are checked alike.
	ran := func(part string) bool {
		for _, m := range rep.notMeasured {
			if strings.HasPrefix(m, part) {
				return false
			}
		}
		return true
	}
	if ran("cross-host") {
		checkPairs("cross-host", rep.cross)
		checkPairs("relayed", rep.relay)
	} else {
		t.Logf("cross-host and relayed results not checked: %v", rep.notMeasured)
	}
	if ran("route propagation") {
		if rep.prop.n != cfg.propN || rep.prop.p50 <= 0 || rep.prop.p99 < rep.prop.p50 {
			t.Errorf("propagation: stats %+v, want %d samples with 0 < p50 <= p99", rep.prop, cfg.propN)
		}
	} else {
		t.Logf("propagation not checked: %v", rep.notMeasured)
	}
	if rep.copies.pretouched.n == 0 || rep.copies.shmWrite.n == 0 {
		t.Errorf("copy costs not measured: %+v", rep.copies)
	}
	if len(rep.tput) == 0 {
		t.Errorf("no throughput measured")
	}
	for _, r := range rep.tput {
		if r.hops <= 0 {
			t.Errorf("throughput %+v, want > 0 hops/s", r)
		}
	}
	md := rep.markdown(machine(), time.Second)
	if len(rep.inlineShm) != len(cfg.threshold) {
		t.Errorf("inline/shm rows %d, want %d", len(rep.inlineShm), len(cfg.threshold))
	}
	for _, want := range []string{"| 1 KiB | same-host", "| 100 KiB | same-host", "forced inline", "hops/s", "## Targets"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	t.Log("\n" + md)
}

func TestQuantile(t *testing.T) {
	ds := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n)
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	for _, tt := range []struct {
		name   string
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one", ds(7), 0.99, 7},
		{"median of odd", ds(1, 2, 3), 0.5, 2},
		{"median of even is the lower", ds(1, 2, 3, 4), 0.5, 2},
		{"p99 of 10 is the max", ds(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0.99, 10},
		{"p99 of 100", ds(hundred...), 0.99, 99},
		{"p50 of 100", ds(hundred...), 0.5, 50},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := quantile(tt.sorted, tt.q); got != tt.want {
				t.Errorf("quantile(%v, %v) = %v, want %v", tt.sorted, tt.q, got, tt.want)
			}
		})
	}
}

// machine describes the machine the report ran on.
func machine() string {
	var u unix.Utsname
	kernel := "?"
	if unix.Uname(&u) == nil {
		kernel = unix.ByteSliceToString(u.Release[:])
	}
	cpu := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range bytes.Split(b, []byte("\n")) {
			if k, v, ok := bytes.Cut(line, []byte(":")); ok && string(bytes.TrimSpace(k)) == "model name" {
				cpu = string(bytes.TrimSpace(v))
				break
			}
		}
	}
	return fmt.Sprintf("%s UTC; nproc %d, GOMAXPROCS %d; CPU %s; kernel %s; %s %s/%s",
		time.Now().UTC().Format("2006-01-02 15:04"), runtime.NumCPU(), runtime.GOMAXPROCS(0),
		cpu, kernel, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// verdict is "met" or "not met".
func verdict(ok bool) string {
	if ok {
		return "**met**"
	}
	return "**not met**"
}

// row is one line of the latency table.
type row struct {
	path, base string
	pr         pair
}

// markdown renders the report.
func (r *report) markdown(machine string, took time.Duration) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# Route-plane report\n\n%s; took %v\n\n", machine, took.Round(time.Second))
	p("Every hop here has its receivers and relays in the sending process: a diagnostic, which hides the " +
		"wake-ups between processes (TestProcessReport measures the hop between processes).\n\n")

	p("## Hop latency (one Send to its ack; baseline: raw write of the same size + 1-byte ack)\n\n")
	p("| size | path | n | hop p50 | hop p99 | baseline | base p50 | base p99 | p50 ratio | p99 ratio |\n")
	p("|---|---|---|---|---|---|---|---|---|---|\n")
	for i, sp := range r.same {
		rows := []row{{"same-host", "raw unix", sp}}
		if i < len(r.cross) {
			rows = append(rows, row{"cross-host", "raw tcp", r.cross[i]}, row{"relayed", "raw tcp", r.relay[i]})
		}
		for _, row := range rows {
			pr := row.pr
			p("| %s | %s | %d | %s | %s | %s | %s | %s | %.2f | %.2f |\n", pr.size.name, row.path, pr.hop.n,
				fmtDur(pr.hop.p50), fmtDur(pr.hop.p99), row.base, fmtDur(pr.raw.p50), fmtDur(pr.raw.p99),
				ratio(pr.hop.p50, pr.raw.p50), ratio(pr.hop.p99, pr.raw.p99))
		}
	}

	p("\n## Same-host hop with the payload forced inline or forced through shm (the default moves > %d KiB to shm)\n\n", transport.DefaultShmThreshold>>10)
	p("| size | inline p50 | inline p99 | shm p50 | shm p99 | shm/inline p50 |\n|---|---|---|---|---|---|\n")
	for _, x := range r.inlineShm {
		p("| %s | %s | %s | %s | %s | %.2f |\n", x.size.name, fmtDur(x.hop.p50), fmtDur(x.hop.p99),
			fmtDur(x.raw.p50), fmtDur(x.raw.p99), ratio(x.raw.p50, x.hop.p50))
	}

	n := r.copySize.n
	c := r.copies
	p("\n## Bandwidth at %s (p50 of %d; ratios against memcpy)\n\n", r.copySize.name, c.pretouched.n)
	p("| what | p50 | p99 | GB/s at p50 | vs memcpy pre-touched | vs memcpy fresh pages |\n|---|---|---|---|---|---|\n")
	bw := func(what string, s stats) {
		p("| %s | %s | %s | %.2f | %.0f%% | %.0f%% |\n", what, fmtDur(s.p50), fmtDur(s.p99), gbps(n, s.p50),
			100*ratio(c.pretouched.p50, s.p50), 100*ratio(c.fresh.p50, s.p50))
	}
	bw("memcpy into a pre-touched buffer", c.pretouched)
	bw("memcpy into fresh anonymous pages", c.fresh)
	last := len(r.same) - 1
	if last >= 0 {
		bw("same-host hop (shm)", r.same[last].hop)
		bw("raw unix", r.same[last].raw)
	}
	if last >= 0 && last < len(r.cross) {
		bw("cross-host hop (tcp)", r.cross[last].hop)
		bw("raw tcp across namespaces", r.cross[last].raw)
		bw("relayed hop", r.relay[last].hop)
	}
	p("\nParts of the same-host hop, timed alone:\n\n| part | p50 | p99 | GB/s at p50 |\n|---|---|---|---|\n")
	for _, part := range []struct {
		what string
		s    stats
	}{
		{"shm.Write (create, write(2) into fresh tmpfs pages, close)", c.shmWrite},
		{"shm.Open + read one byte per page + Close (mmap, page faults, munmap)", c.shmRead},
		{"shm.Remove", c.shmRemove},
		{"SHA-256 of the payload (inline frames: once in Sign, once in Verify)", c.sha256},
		{"what-if: copy into a reused tmpfs segment already mapped and faulted in", c.reusedSeg},
		{"what-if: open + mmap with MAP_POPULATE + read one byte per page + munmap", c.populate},
	} {
		p("| %s | %s | %s | %.2f |\n", part.what, fmtDur(part.s.p50), fmtDur(part.s.p99), gbps(n, part.s.p50))
	}

	p("\n## Hops per second (same host, unix, 1 KiB, GOMAXPROCS %d, client and server in one process)\n\n", runtime.GOMAXPROCS(0))
	p("| connections | goroutines | hops/s |\n|---|---|---|\n")
	best := 0.0
	for _, t := range r.tput {
		p("| %d | %d | %.0f |\n", t.conns, t.workers, t.hops)
		best = math.Max(best, t.hops)
	}

	if r.prop.n > 0 {
		p("\n## Route propagation (Register on one store → seen by another store's WatchInstances, real Consul dev agent)\n\n")
		p("| n | min | p50 | p99 | max |\n|---|---|---|---|---|\n| %d | %s | %s | %s | %s |\n",
			r.prop.n, fmtDur(r.prop.min), fmtDur(r.prop.p50), fmtDur(r.prop.p99), fmtDur(r.prop.max))
	}

	p("\n## Targets\n\n| target | measured | verdict |\n|---|---|---|\n")
	if len(r.same) > 0 && r.same[0].size.n == 1<<10 {
		s := r.same[0]
		p("| same-host 1 KiB hop p50 ≤ 20 µs | %s | %s |\n", fmtDur(s.hop.p50), verdict(s.hop.p50 <= 20*time.Microsecond))
		p("| same-host 1 KiB hop p50 ≤ 2× raw unix | %.2f× (%s vs %s) | %s |\n", ratio(s.hop.p50, s.raw.p50),
			fmtDur(s.hop.p50), fmtDur(s.raw.p50), verdict(ratio(s.hop.p50, s.raw.p50) <= 2))
		if len(r.cross) > 0 {
			x := r.cross[0]
			p("| cross-host 1 KiB hop p50 ≤ 2× raw tcp | %.2f× (%s vs %s; p99 %.2f×) | %s |\n", ratio(x.hop.p50, x.raw.p50),
				fmtDur(x.hop.p50), fmtDur(x.raw.p50), ratio(x.hop.p99, x.raw.p99), verdict(ratio(x.hop.p50, x.raw.p50) <= 2))
		}
	}
	if last >= 0 {
		h := r.same[last].hop.p50
		pre, fr := ratio(c.pretouched.p50, h), ratio(c.fresh.p50, h)
		p("| %s same-host ≥ 50%% of memcpy bandwidth | %.0f%% of pre-touched, %.0f%% of fresh pages (%.2f GB/s) | %s against pre-touched, %s against fresh |\n",
			r.copySize.name, 100*pre, 100*fr, gbps(n, h), verdict(pre >= 0.5), verdict(fr >= 0.5))
	}
	p("| ≥ 20 000 hops/s | %.0f hops/s (best case above) | %s |\n", best, verdict(best >= 20000))
	if r.prop.n > 0 {
		p("| propagation p99 ≤ 1 s | %s | %s |\n", fmtDur(r.prop.p99), verdict(r.prop.p99 <= time.Second))
	}
	if len(r.notMeasured) > 0 {
		p("\nNot measured in this run: %s.\n", strings.Join(r.notMeasured, "; "))
	}
	return b.String()
}
