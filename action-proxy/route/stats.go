package route

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsk-route/wsk-route/internal/agentproto"
)

// hopStats counts hops per (destination action, transport) with atomics on
// the hot path; flushStats sends the deltas to the agent once a second.
type hopStats struct {
	mu sync.Mutex // guards m (not the counters)
	m  map[statKey]*hopCounter
}

type statKey struct{ action, via string }

// numBuckets is len(agentproto.LatencyBuckets)+1 (the +Inf bucket);
// stats_test.go checks it.
const numBuckets = 17

// hopCounter holds what was counted since the last flush, which takes the
// counts and zeroes them (Swap).
type hopCounter struct {
	hops, bytes, refused, failed, fallbacks atomic.Uint64
	sumNanos                                atomic.Uint64
	buckets                                 [numBuckets]atomic.Uint64
}

func newHopStats() *hopStats { return &hopStats{m: map[statKey]*hopCounter{}} }

func (s *hopStats) counter(action, via string) *hopCounter {
	k := statKey{action, via}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.m[k]
	if c == nil {
		c = &hopCounter{}
		s.m[k] = c
	}
	return c
}

// observe counts one acknowledged hop.
func (c *hopCounter) observe(took time.Duration, size int) {
	c.hops.Add(1)
	c.bytes.Add(uint64(size))
	c.sumNanos.Add(uint64(max(took, 0)))
	sec := took.Seconds()
	i := 0
	for i < len(agentproto.LatencyBuckets) && sec > agentproto.LatencyBuckets[i] {
		i++
	}
	c.buckets[i].Add(1)
}

// deltas takes what was counted since the last call. A hop counted while
// deltas runs may be split between this call and the next; the sums are
// exact over time.
func (s *hopStats) deltas() []agentproto.HopStats {
	s.mu.Lock()
	keys := make([]statKey, 0, len(s.m))
	counters := make([]*hopCounter, 0, len(s.m))
	for k, c := range s.m {
		keys = append(keys, k)
		counters = append(counters, c)
	}
	s.mu.Unlock()
	var out []agentproto.HopStats
	for i, c := range counters {
		h := agentproto.HopStats{
			Action: keys[i].action, Transport: keys[i].via,
			Hops: c.hops.Swap(0), Bytes: c.bytes.Swap(0), Refused: c.refused.Swap(0),
			Failed: c.failed.Swap(0), Fallbacks: c.fallbacks.Swap(0),
			SumSeconds: float64(c.sumNanos.Swap(0)) / float64(time.Second),
			Buckets:    make([]uint64, numBuckets),
		}
		changed := h.Hops|h.Bytes|h.Refused|h.Failed|h.Fallbacks != 0 || h.SumSeconds != 0
		for j := range c.buckets {
			h.Buckets[j] = c.buckets[j].Swap(0)
			changed = changed || h.Buckets[j] != 0
		}
		if changed {
			out = append(out, h)
		}
	}
	return out
}

// flushStats sends the counters' deltas to the agent once a second while
// a session is up.
func (p *Plane) flushStats(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var reported uint64 // telemetry drops sent so far
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.mu.Lock()
		ws := p.ws
		p.mu.Unlock()
		if ws == nil {
			continue
		}
		d := p.stats.deltas()
		var lost uint64
		if p.telemetry.wanted() { // an agent that asked knows the field
			total := p.telemetry.Dropped()
			lost, reported = total-reported, total
		}
		if len(d) > 0 || lost > 0 {
			ws.send(&agentproto.Message{Type: agentproto.TypeStats, Stats: &agentproto.Stats{Hops: d, TelemetryDropped: lost}})
		}
	}
}
