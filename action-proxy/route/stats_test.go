package route

import (
	"math"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/agentproto"
)

func TestObserveBuckets(t *testing.T) {
	type placement struct {
		took time.Duration
		want int // bucket index; len(LatencyBuckets) is +Inf
	}
	var cases []placement
	for i, bound := range agentproto.LatencyBuckets {
		d := time.Duration(math.Round(bound * float64(time.Second)))
		// Bounds are inclusive, as Prometheus's "le".
		cases = append(cases, placement{d, i}, placement{d + time.Nanosecond, i + 1})
	}
	cases = append(cases, placement{0, 0}, placement{-time.Second, 0}, placement{time.Hour, len(agentproto.LatencyBuckets)})
	for _, c := range cases {
		t.Run(c.took.String(), func(t *testing.T) {
			s := newHopStats()
			s.counter("/ns/a", "unix").observe(c.took, 10)
			d := s.deltas()
			if len(d) != 1 {
				t.Fatalf("%d deltas, want 1", len(d))
			}
			if n := len(d[0].Buckets); n != len(agentproto.LatencyBuckets)+1 {
				t.Fatalf("%d buckets, want %d", n, len(agentproto.LatencyBuckets)+1)
			}
			for i, n := range d[0].Buckets {
				want := uint64(0)
				if i == c.want {
					want = 1
				}
				if n != want {
					t.Errorf("bucket %d holds %d, want %d (buckets %v)", i, n, want, d[0].Buckets)
				}
			}
		})
	}
}

func TestHopStatsDeltas(t *testing.T) {
	s := newHopStats()
	unix := s.counter("/ns/a", "unix")
	if s.counter("/ns/a", "unix") != unix {
		t.Fatal("counter returned a new counter for the same action and transport")
	}
	unix.observe(3*time.Microsecond, 100)
	unix.observe(2*time.Millisecond, 50)
	unix.refused.Add(1)
	tcp := s.counter("/ns/b", "tcp")
	tcp.failed.Add(2)
	tcp.fallbacks.Add(1)

	byKey := func(d []agentproto.HopStats) map[string]agentproto.HopStats {
		m := map[string]agentproto.HopStats{}
		for _, h := range d {
			m[h.Action+" "+h.Transport] = h
		}
		return m
	}
	first := byKey(s.deltas())
	if len(first) != 2 {
		t.Fatalf("first deltas: %v, want 2 entries", first)
	}
	a := first["/ns/a unix"]
	if a.Hops != 2 || a.Bytes != 150 || a.Refused != 1 || a.Failed != 0 || a.Fallbacks != 0 {
		t.Errorf("/ns/a unix: got %+v, want 2 hops, 150 bytes, 1 refused", a)
	}
	if want := 2003e-6; math.Abs(a.SumSeconds-want) > 1e-12 {
		t.Errorf("/ns/a unix: sum %v s, want %v", a.SumSeconds, want)
	}
	if a.Buckets[0] != 1 || a.Buckets[8] != 1 || sum(a.Buckets) != 2 {
		t.Errorf("/ns/a unix: buckets %v, want one hop in bucket 0 (<=5us) and one in 8 (<=2ms)", a.Buckets)
	}
	b := first["/ns/b tcp"]
	if b.Hops != 0 || b.Failed != 2 || b.Fallbacks != 1 || sum(b.Buckets) != 0 || b.SumSeconds != 0 {
		t.Errorf("/ns/b tcp: got %+v, want 2 failed, 1 fallback, nothing else", b)
	}

	if d := s.deltas(); len(d) != 0 {
		t.Errorf("deltas with nothing new: %+v, want none", d)
	}

	unix.observe(time.Second, 7)
	second := s.deltas()
	if len(second) != 1 {
		t.Fatalf("second deltas: %+v, want only /ns/a unix", second)
	}
	a = second[0]
	if a.Action != "/ns/a" || a.Transport != "unix" || a.Hops != 1 || a.Bytes != 7 || a.Refused != 0 || a.SumSeconds != 1 {
		t.Errorf("second delta: got %+v, want 1 hop of 7 bytes and 1 s", a)
	}
	if a.Buckets[14] != 1 || sum(a.Buckets) != 1 {
		t.Errorf("second delta: buckets %v, want one hop in bucket 14 (<=1s)", a.Buckets)
	}
}

func TestHopStatsDeltasBucketOnly(t *testing.T) {
	// observe adds to its counters one at a time: a flush may come
	// between the sum and the bucket. The bucket must go out in the next
	// flush, not wait for another hop.
	s := newHopStats()
	c := s.counter("/ns/a", "unix")
	c.hops.Add(1)
	c.bytes.Add(10)
	c.sumNanos.Add(uint64(time.Millisecond))
	if d := s.deltas(); len(d) != 1 || d[0].Hops != 1 || sum(d[0].Buckets) != 0 {
		t.Fatalf("first deltas %+v, want the hop without its bucket", d)
	}
	c.buckets[7].Add(1)
	d := s.deltas()
	if len(d) != 1 || d[0].Hops != 0 || d[0].Buckets[7] != 1 || sum(d[0].Buckets) != 1 {
		t.Errorf("deltas after the bucket was counted: %+v, want bucket 7 only", d)
	}
}

func sum(b []uint64) uint64 {
	var n uint64
	for _, v := range b {
		n += v
	}
	return n
}

func TestNumBuckets(t *testing.T) {
	if want := len(agentproto.LatencyBuckets) + 1; numBuckets != want {
		t.Fatalf("numBuckets = %d, want len(agentproto.LatencyBuckets)+1 = %d", numBuckets, want)
	}
}
