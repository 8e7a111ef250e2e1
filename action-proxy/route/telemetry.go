package route

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsk-route/wsk-route/internal/agentproto"
)

const (
	// TelemetryQueue bounds the messages for the agent that no step
	// waits for (the steps' activation records, the ends of runs nobody
	// watches); a message that finds the queue full is dropped and
	// counted.
	TelemetryQueue = 1024
	// TelemetryBytes bounds the results and logs the queued records hold
	// (messageBytes): the proxy's memory counts against its action's
	// limit. A record that would pass it is dropped and counted.
	TelemetryBytes = 8 << 20
	// TelemetryDelay is how long the first queued message waits for
	// others, so that one wake-up of the plane sends them all: on a busy
	// host a wake-up per step costs the steps more than the sending.
	TelemetryDelay = 100 * time.Millisecond
)

// telemetry queues the plane's messages for the agent that nothing waits
// for; the plane's Run sends them (sendTelemetry). Its zero value is
// ready to use.
type telemetry struct {
	// on is the current agent's Welcome.Telemetry: it takes these
	// messages. Off, add drops them uncounted.
	on      atomic.Bool
	once    sync.Once
	wake    chan struct{} // buffer 1: the queue went from empty to not
	mu      sync.Mutex
	queue   []*agentproto.Message
	bytes   int // messageBytes of the queue
	dropped uint64
}

func (t *telemetry) init() { t.once.Do(func() { t.wake = make(chan struct{}, 1) }) }

// wanted reports whether the agent takes telemetry, so that nothing is
// built for an agent that would drop it.
func (t *telemetry) wanted() bool { return t.on.Load() }

// add queues m without blocking, or drops and counts it when the queue
// is full.
func (t *telemetry) add(m *agentproto.Message) {
	t.init()
	n := messageBytes(m)
	t.mu.Lock()
	if len(t.queue) >= TelemetryQueue || t.bytes+n > TelemetryBytes {
		t.dropped++
		t.mu.Unlock()
		return
	}
	t.queue = append(t.queue, m)
	t.bytes += n
	first := len(t.queue) == 1
	t.mu.Unlock()
	if first {
		select {
		case t.wake <- struct{}{}:
		default:
		}
	}
}

// take returns the queued messages and empties the queue.
func (t *telemetry) take() []*agentproto.Message {
	t.mu.Lock()
	defer t.mu.Unlock()
	q := t.queue
	t.queue, t.bytes = nil, 0
	return q
}

// Dropped returns how many messages were dropped: the queue was full, or
// there was no agent session to send them on.
func (t *telemetry) Dropped() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.dropped
}

// sendTelemetry sends the queued messages, TelemetryDelay after the
// first of a batch was queued, until ctx ends; then it sends what is
// queued once more.
func (p *Plane) sendTelemetry(ctx context.Context) {
	t := &p.telemetry
	t.init()
	for {
		select {
		case <-ctx.Done():
			p.flushTelemetry()
			return
		case <-t.wake:
		}
		select {
		case <-ctx.Done():
		case <-time.After(TelemetryDelay):
		}
		p.flushTelemetry()
	}
}

// maxBatchBytes bounds the records' results and logs in one batch,
// well within agentproto.MaxMessage.
const maxBatchBytes = 2 << 20

// flushTelemetry sends the queued messages on the current agent session,
// in batches (one websocket message each) of at most
// agentproto.MaxBatch messages and about maxBatchBytes.
func (p *Plane) flushTelemetry() {
	q := p.telemetry.take()
	lost := uint64(0)
	for len(q) > 0 {
		n, size := 0, 0
		for n < len(q) && n < agentproto.MaxBatch && (n == 0 || size+messageBytes(q[n]) <= maxBatchBytes) {
			size += messageBytes(q[n])
			n++
		}
		m := q[0]
		if n > 1 {
			batch := make([]agentproto.Message, n)
			for i, b := range q[:n] {
				batch[i] = *b
			}
			m = &agentproto.Message{Type: agentproto.TypeBatch, Batch: batch}
		}
		if p.sendToAgent(m) != nil {
			lost += uint64(n)
		}
		q = q[n:]
	}
	if lost > 0 {
		p.telemetry.mu.Lock()
		p.telemetry.dropped += lost
		p.telemetry.mu.Unlock()
	}
}

// messageBytes estimates the size of m's variable parts.
func messageBytes(m *agentproto.Message) int {
	n := 256
	if a := m.Activation; a != nil {
		n += len(a.Result)
		for _, l := range a.Logs {
			n += len(l) + 4
		}
	}
	return n
}
