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

// BenchmarkSameHost is the same-host hop (unix, shm above 64 KiB) and its
// raw unix baseline.
func BenchmarkSameHost(b *testing.B) {
	b.Run("path=hop", func(b *testing.B) { benchRoundTrips(b, startSameHost(b).path(b)) })
	b.Run("path=raw-unix", func(b *testing.B) { benchRoundTrips(b, rawUnix(b)) })
}

// BenchmarkCrossHost is the direct and the relayed cross-host hop and the
// raw TCP baseline between two network namespaces (needs root).
func BenchmarkCrossHost(b *testing.B) {
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

// BenchmarkHopsPerSecond runs 32 goroutines of 1 KiB same-host hops for
// one second per b.N and reports hops/s.
func BenchmarkHopsPerSecond(b *testing.B) {
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
