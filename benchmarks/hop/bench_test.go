package hop

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/consulstore"
	"github.com/wsk-route/wsk-route/internal/testenv"
	"github.com/wsk-route/wsk-route/internal/testenv/netns"
	"golang.org/x/sys/unix"
)

// benchName turns "64 KiB" into "64KiB" for benchmark names.
func benchName(s size) string { return strings.ReplaceAll(s.name, " ", "") }

// benchRoundTrips runs one sub-benchmark per report size over rt.
func benchRoundTrips(b *testing.B, rt roundTripper) {
	ctx := context.Background()
	big := payloadFor(reportSizes[len(reportSizes)-1].n)
	for _, sz := range reportSizes {
		b.Run("size="+benchName(sz), func(b *testing.B) {
			payload := big[:sz.n]
			if err := rt.roundTrip(ctx, payload); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := rt.roundTrip(ctx, payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDiagInProcessSameHost is the same-host hop (unix, shm above
// transport.DefaultShmThreshold) and its raw unix baseline, with client
// and server in the test process: a diagnostic, which hides the wake-ups
// between processes (BenchmarkProcSameHost measures what production does).
func BenchmarkDiagInProcessSameHost(b *testing.B) {
	b.Run("path=hop", func(b *testing.B) { benchRoundTrips(b, startSameHost(b).path(b)) })
	b.Run("path=raw-unix", func(b *testing.B) { benchRoundTrips(b, rawUnix(b)) })
}

// BenchmarkDiagInProcessCrossHost is the direct and the relayed cross-host
// hop and the raw TCP baseline between two network namespaces (needs
// root), every receiver and relay in the test process: a diagnostic
// (BenchmarkProcCrossHost measures what production does).
func BenchmarkDiagInProcessCrossHost(b *testing.B) {
	n := netns.New(b, netns.Options{Hosts: 2})
	h1, h2 := n.Hosts[0], n.Hosts[1]
	b.Run("path=hop", func(b *testing.B) { benchRoundTrips(b, crossHost(b, h1, h2)) })
	b.Run("path=relayed", func(b *testing.B) { benchRoundTrips(b, relayed(b, h1, h2)) })
	b.Run("path=raw-tcp", func(b *testing.B) { benchRoundTrips(b, rawTCP(b, h1, h2)) })
}

// BenchmarkMemcpy is the copy baseline of the largest size: into a
// pre-touched buffer, and into fresh anonymous pages.
func BenchmarkMemcpy(b *testing.B) {
	sz := reportSizes[len(reportSizes)-1]
	src := payloadFor(sz.n)
	b.Run("dst=pretouched/size="+benchName(sz), func(b *testing.B) {
		dst := payloadFor(sz.n)
		b.SetBytes(int64(sz.n))
		b.ResetTimer()
		for range b.N {
			copy(dst, src)
		}
	})
	b.Run("dst=fresh/size="+benchName(sz), func(b *testing.B) {
		b.SetBytes(int64(sz.n))
		for range b.N {
			m, err := unix.Mmap(-1, 0, sz.n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
			if err != nil {
				b.Fatal(err)
			}
			copy(m, src)
			b.StopTimer()
			if err := unix.Munmap(m); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	})
}

// BenchmarkDiagInProcessHopsPerSecond runs 32 goroutines of 1 KiB
// same-host hops for one second per b.N and reports hops/s, with client
// and server in the test process (a diagnostic).
func BenchmarkDiagInProcessHopsPerSecond(b *testing.B) {
	for _, conns := range fullConfig.tputConns {
		b.Run("conns="+strconv.Itoa(conns), func(b *testing.B) {
			sh := startSameHost(b)
			rts := make([]roundTripper, conns)
			for i := range rts {
				rts[i] = sh.path(b)
			}
			payload := payloadFor(1 << 10)
			var sum float64
			for range b.N {
				hops, err := throughput(context.Background(), rts, payload, fullConfig.tputWorker, time.Second)
				if err != nil {
					b.Fatal(err)
				}
				sum += hops
			}
			b.ReportMetric(sum/float64(b.N), "hops/s")
		})
	}
}

// BenchmarkPropagation times b.N registrations through a real Consul
// agent (skipped without a consul binary) and reports p50 and p99.
func BenchmarkPropagation(b *testing.B) {
	c := testenv.StartConsul(b, testenv.ConsulOptions{})
	open := func() *consulstore.Store {
		s, err := consulstore.New(consulstore.Options{Address: c.Addr, Prefix: "hopbench", Service: "wsk-route-hopbench"})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	}
	st, err := propagation(context.Background(), open(), open(), b.N)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(st.p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(st.p99.Microseconds())/1000, "p99-ms")
}

// benchPair runs, for each size, the hop of p and then its baseline as
// sub-benchmarks, timing every round trip: besides ns/op each reports the
// p50 and p99 of those times, the CPU time and context switches per round
// trip of the sender and the receiver process together, and the 1-minute
// load average at its end.
func benchPair(b *testing.B, p procPair, sizes []size) {
	asProxy(b)
	ctx := context.Background()
	big := payloadFor(sizes[len(sizes)-1].n)
	for _, sz := range sizes {
		for _, c := range []struct {
			name  string
			rt    roundTripper
			peers []*peerProc
		}{{"hop", p.hop, p.hopProcs()}, {strings.ReplaceAll(p.base, " ", "-"), p.raw, p.rawProcs()}} {
			b.Run("size="+benchName(sz)+"/path="+c.name, func(b *testing.B) {
				payload := big[:sz.n]
				if _, err := timeHops(ctx, c.rt, payload, warmups(sz.iters), nil); err != nil {
					b.Fatal(err)
				}
				samples := make([]time.Duration, 0, b.N)
				b.SetBytes(int64(sz.n))
				b.ReportAllocs()
				b.ResetTimer()
				samples, use, err := costOf(ctx, c.rt, c.peers, payload, b.N, samples)
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				st := summarize(samples)
				cpu, switches := use.per(len(samples))
				b.ReportMetric(float64(st.p50.Nanoseconds())/1e3, "p50-µs")
				b.ReportMetric(float64(st.p99.Nanoseconds())/1e3, "p99-µs")
				b.ReportMetric(float64(cpu.Nanoseconds())/1e3, "cpu-µs/op")
				b.ReportMetric(switches, "switches/op")
				b.ReportMetric(loadAvg1(), "load1")
			})
		}
	}
}

// BenchmarkProcSameHost is the same-host hop with sender (the test
// process) and receiver in separate processes over a unix socket (shm
// above transport.DefaultShmThreshold), beside the raw unix baseline
// between two processes.
func BenchmarkProcSameHost(b *testing.B) { benchPair(b, procSameHost(b), procFullConfig.sameHost) }

// BenchmarkProcLoopbackTCP is the hop over TCP on loopback, sender and
// receiver in separate processes, beside the raw TCP baseline.
func BenchmarkProcLoopbackTCP(b *testing.B) { benchPair(b, procLoopbackTCP(b), procFullConfig.tcp) }

// BenchmarkProcCrossHost is the hop over TCP from network namespace host 1
// (the test process) to a receiver process in host 2, beside the raw TCP
// baseline (needs root).
func BenchmarkProcCrossHost(b *testing.B) {
	n := netns.New(b, netns.Options{Hosts: 2})
	benchPair(b, procCrossHost(b, n.Hosts[0], n.Hosts[1]), procFullConfig.crossHost)
}

// BenchmarkProcRelayed is the relayed hop, every party a process of its
// own: the test process in network namespace host 1 sends to host 1's
// agent relay (unix), which forwards to host 2's agent relay (TCP), which
// delivers to the receiver (unix); beside the raw TCP baseline from host
// 1 to host 2 (needs root).
func BenchmarkProcRelayed(b *testing.B) {
	n := netns.New(b, netns.Options{Hosts: 2})
	benchPair(b, procRelayed(b, n.Hosts[0], n.Hosts[1]), procFullConfig.relayed)
}
