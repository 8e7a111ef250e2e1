package routetest_test

import (
	"bytes"
	"context"
	"os"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/route"
	"github.com/wsk-route/wsk-route/internal/spec"
)

// BenchmarkDirectChain runs workflows of 1 and 4 steps through real proxy
// processes on one host (each step an "upper" action, four instances), so
// that the cost of one direct step — frame, hop, the action's activation
// through the proxy, the step's log report to the entry, its activation
// record to the agent — reads as the difference between the two, per
// added step. It also reports what a run costs the machine (CPU time
// and context switches of the test process, the proxies, their actions
// and the agent together, from /proc), which the machine's noise moves
// far less than the latency:
//
//	go test -run '^$' -bench DirectChain -benchtime 2000x ./action-proxy/routetest/
func BenchmarkDirectChain(b *testing.B) {
	for _, steps := range []int{1, 4} {
		b.Run(strconv.Itoa(steps)+"-steps", func(b *testing.B) {
			benchChain(b, steps)
		})
	}
}

func benchChain(b *testing.B, steps int) {
	tb := testing.TB(b)
	// The agent as the ansible roles deploy it, serving metrics: it takes
	// the steps' activation records and the runs' ends (telemetry), so
	// their cost is in the figures. WSK_ROUTE_BENCH_TELEMETRY=off starts
	// it without, to measure that cost in one binary.
	var agentArgs []string
	if os.Getenv("WSK_ROUTE_BENCH_TELEMETRY") != "off" {
		agentArgs = []string{"-metrics-listen", "127.0.0.1:0"}
	}
	s := newSameHost(tb, agentArgs...)
	for i := 0; i < 4; i++ {
		startAction(tb, s.h, "p-upper-"+strconv.Itoa(i), "upper", "upper")
	}
	sp := &spec.Spec{Workflow: "bench", Namespace: "guest", Start: []string{"s0"}, Steps: map[string]spec.Step{}}
	for i := 0; i < steps; i++ {
		st := spec.Step{Action: "/guest/upper"}
		if i+1 < steps {
			st.Next = []string{"s" + strconv.Itoa(i+1)}
		}
		sp.Steps["s"+strconv.Itoa(i)] = st
	}
	s.deploy(tb, sp)
	waitFor(tb, 10*time.Second, "four upper instances in the table", func() bool {
		return len(s.entry.plane.Instances("/guest/upper")) == 4
	})
	input := []byte(`{"text":"benchmark"}`)
	for i := 0; i < 20; i++ { // warm up, checking what the chain answers
		v, err := runOnce(s, input)
		if err != nil {
			b.Fatal(err)
		}
		if !bytes.Contains(v, []byte(`"text":"BENCHMARK"`)) {
			b.Fatalf("the chain answered %s, want the text upper-cased", v)
		}
	}
	// The entry runs in this process; in production it is a proxy, which
	// runs on one scheduler thread (proxymain), and so does it here.
	// WSK_ROUTE_BENCH_ENTRY_PROCS=default leaves this process's setting.
	if os.Getenv("WSK_ROUTE_BENCH_ENTRY_PROCS") != "default" {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	}
	took := make([]time.Duration, 0, b.N)
	before := readTreeCost()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if _, err := runOnce(s, input); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	b.StopTimer()
	// What the runs cost the machine, all processes together: the figure
	// that noise in the machine's scheduling moves least.
	if c := readTreeCost().sub(before); c.ok {
		b.ReportMetric(float64(c.cpu.Microseconds())/float64(b.N), "cpu-µs/op")
		b.ReportMetric(float64(c.switches)/float64(b.N), "switches/op")
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(steps), "µs/step")
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
}

func runOnce(s *sameHost, input []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := s.entry.plane.StartRun(ctx, "bench", input, route.RunOptions{})
	if err != nil {
		return nil, err
	}
	return res.Value, nil
}

// BenchmarkJoinAcrossHosts is a fork and join on another host than the
// entry, held where it forks ("fork") or by the entry ("entry"), with the
// hosts' link as it is and with 250 µs added to each packet from the
// region's host (a round trip of about half a millisecond, as between
// racks); compare them with benchstat:
//
//	go test -run '^$' -bench JoinAcrossHosts -count 6 ./action-proxy/routetest/ | tee /tmp/j.txt
func BenchmarkJoinAcrossHosts(b *testing.B) {
	for _, delay := range []time.Duration{0, 250 * time.Microsecond} {
		th := joinAcross(b, delay)
		b.Run("delay="+delay.String(), func(b *testing.B) { benchJoin(b, th) })
	}
}

func benchJoin(b *testing.B, th *twoHosts) {
	for _, c := range []struct{ name, workflow string }{{"holder=fork", "xjoin"}, {"holder=entry", "xjoin-entry"}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				res, err := th.run(b, c.workflow, `{"text":"join across"}`, 10*time.Second)
				if err != nil {
					b.Fatal(err)
				}
				if !bytes.Contains(res.Value, []byte(`"SSORCA NIOJ"`)) {
					b.Fatalf("result %s", res.Value)
				}
			}
		})
	}
}
