package route

import (
	"context"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/agentproto"
	"github.com/wsk-route/wsk-route/internal/runevent"
)

// TestTelemetry: messages queued close together go in one batch after
// TelemetryDelay; a full queue drops and counts; without an agent session
// what is sent is counted as dropped; the sender stops with its ctx.
func TestTelemetry(t *testing.T) {
	p := testPlane()
	p.telemetry.on.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.sendTelemetry(ctx)
	}()
	m := func() *agentproto.Message {
		return &agentproto.Message{Type: agentproto.TypeRunEvent, RunEvent: &runevent.Event{Run: "r", Seq: 1, Kind: runevent.KindEnd}}
	}
	start := time.Now()
	for range 3 {
		p.telemetry.add(m())
	}
	// No session: the three are sent, and counted as dropped, together.
	for p.telemetry.Dropped() < 3 && time.Since(start) < 5*time.Second {
		time.Sleep(5 * time.Millisecond)
	}
	if took := time.Since(start); p.telemetry.Dropped() != 3 || took < TelemetryDelay {
		t.Errorf("dropped %d after %v, want the 3 in one batch after %v", p.telemetry.Dropped(), took, TelemetryDelay)
	}
	for range TelemetryQueue + 5 {
		p.telemetry.add(m())
	}
	cancel()
	<-done
	if got := p.telemetry.Dropped(); got != 3+5+TelemetryQueue {
		t.Errorf("dropped %d, want %d: 5 over the queue, and the queue sent without a session", got, 3+5+TelemetryQueue)
	}
}

// TestTelemetryBytes: the records' results and logs the queue holds are
// bounded (the proxy's memory counts against its action's limit).
func TestTelemetryBytes(t *testing.T) {
	p := testPlane()
	p.telemetry.on.Store(true)
	rec := func(size int) *agentproto.Message {
		return &agentproto.Message{Type: agentproto.TypeActivation, Activation: &agentproto.Activation{Result: make([]byte, size)}}
	}
	p.telemetry.add(rec(TelemetryBytes / 2))
	p.telemetry.add(rec(TelemetryBytes / 2)) // passes the bound with the first's overhead
	p.telemetry.add(rec(1000))
	if q, d := p.telemetry.take(), p.telemetry.Dropped(); len(q) != 2 || d != 1 {
		t.Errorf("queued %d, dropped %d; want the first and the small one queued, the second dropped", len(q), d)
	}
	p.telemetry.add(rec(TelemetryBytes / 2)) // the queue was taken: room again
	if q := p.telemetry.take(); len(q) != 1 {
		t.Errorf("queued %d after the queue was sent, want 1", len(q))
	}
}
