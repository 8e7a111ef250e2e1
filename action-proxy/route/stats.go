package route

import (
	"context"
	"math"
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

type hopCounter struct {
	hops, bytes, refused, failed, fallbacks atomic.Uint64
	sumNanos                                atomic.Uint64
	buckets                                 [17]atomic.Uint64 // len(agentproto.LatencyBuckets)+1

	sent     [5]uint64 // hops, bytes, refused, failed, fallbacks as of the last flush; owned by the flusher
	sentSum  uint64
	sentBkts [17]uint64
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

// deltas returns what changed since the last call.
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
		now := [5]uint64{c.hops.Load(), c.bytes.Load(), c.refused.Load(), c.failed.Load(), c.fallbacks.Load()}
		sum := c.sumNanos.Load()
		var b [17]uint64
		changed := sum != c.sentSum
		for j := range b {
			b[j] = c.buckets[j].Load()
			// observe counts the bucket last: it may be all that changed.
			changed = changed || b[j] != c.sentBkts[j]
		}
		for j := range now {
			changed = changed || now[j] != c.sent[j]
		}
		if !changed {
			continue
		}
		h := agentproto.HopStats{
			Action: keys[i].action, Transport: keys[i].via,
			Hops: now[0] - c.sent[0], Bytes: now[1] - c.sent[1], Refused: now[2] - c.sent[2],
			Failed: now[3] - c.sent[3], Fallbacks: now[4] - c.sent[4],
			SumSeconds: float64(sum-c.sentSum) / float64(time.Second),
			Buckets:    make([]uint64, len(b)),
		}
		for j := range b {
			h.Buckets[j] = b[j] - c.sentBkts[j]
		}
		c.sent, c.sentSum, c.sentBkts = now, sum, b
		if math.IsNaN(h.SumSeconds) {
			h.SumSeconds = 0
		}
		out = append(out, h)
	}
	return out
}

// flushStats sends the counters' deltas to the agent once a second while
// a session is up.
func (p *Plane) flushStats(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
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
		if d := p.stats.deltas(); len(d) > 0 {
			ws.send(&agentproto.Message{Type: agentproto.TypeStats, Stats: &agentproto.Stats{Hops: d}})
		}
	}
}
