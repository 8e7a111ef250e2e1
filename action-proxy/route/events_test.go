package route

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/agentproto"
	"github.com/wsk-route/wsk-route/internal/runevent"
)

// eventSink records what a RunEvents sender sends; until release is
// closed every send blocks, like a stalled agent websocket.
type eventSink struct {
	release chan struct{}
	mu      sync.Mutex
	got     []runevent.Event
	fail    bool
}

func (s *eventSink) send(m *agentproto.Message) error {
	<-s.release
	if _, err := agentproto.Encode(m); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		return errors.New("websocket closed")
	}
	s.got = append(s.got, *m.RunEvent)
	return nil
}

func testPlane() *Plane {
	return &Plane{cfg: Config{Logger: slog.New(slog.DiscardHandler), Now: time.Now}}
}

func startEvents(t *testing.T, s *eventSink) *RunEvents {
	t.Helper()
	e := newRunEvents(testPlane(), "run-1", s.send)
	go e.sender()
	t.Cleanup(func() {
		select {
		case <-e.Done():
		case <-time.After(5 * time.Second):
			t.Error("the sender did not exit within 5 s of End")
		}
	})
	return e
}

// TestRunEventsNeverBlock publishes far more step events than the queue
// holds while the agent does not read: Step and End return, the excess is
// dropped and counted, and the end event says how many.
func TestRunEventsNeverBlock(t *testing.T) {
	const steps = 5 * RunEventQueue
	s := &eventSink{release: make(chan struct{})}
	e := startEvents(t, s)
	published := make(chan struct{})
	go func() {
		defer close(published)
		for i := range steps {
			e.Step(StepReport{Step: fmt.Sprintf("s%d", i), Logs: []byte("line\n")})
		}
		e.End(nil, time.Millisecond)
	}()
	select {
	case <-published:
	case <-time.After(5 * time.Second):
		t.Fatal("Step or End blocked on a stalled agent")
	}
	if d := e.Dropped(); d < steps-2*RunEventQueue {
		t.Errorf("Dropped() = %d while the agent stalled, want at least %d (one batch in the sender, one queue)", d, steps-2*RunEventQueue)
	}
	close(s.release)
	<-e.Done()
	s.mu.Lock()
	defer s.mu.Unlock()
	last := s.got[len(s.got)-1]
	if last.Kind != runevent.KindEnd || last.Error != "" || last.Seq != steps+1 {
		t.Fatalf("last event %+v, want the successful end event, seq %d", last, steps+1)
	}
	if int(last.Dropped) != steps-(len(s.got)-1) {
		t.Errorf("end event says %d dropped, %d of %d step events arrived", last.Dropped, len(s.got)-1, steps)
	}
	for i := 1; i < len(s.got); i++ {
		if s.got[i].Seq <= s.got[i-1].Seq {
			t.Fatalf("events out of order: seq %d after %d", s.got[i].Seq, s.got[i-1].Seq)
		}
	}
}

// TestRunEventsContent checks each event's fields: logs capped and the cut
// counted, the end event's error, nothing after End, and failed sends
// counted as dropped.
func TestRunEventsContent(t *testing.T) {
	s := &eventSink{release: make(chan struct{})}
	close(s.release)
	e := startEvents(t, s)
	big := make([]byte, runevent.MaxLogs+100)
	for i := range big {
		big[i] = 'x'
	}
	e.Step(StepReport{Step: "a", Branch: 2, Instance: "h/p", Duration: 1500 * time.Millisecond, Logs: []byte("hi\n")})
	e.Step(StepReport{Step: "b", Logs: big})
	e.End(errors.New("route: run run-1 failed at step b: boom"), time.Millisecond)
	e.Step(StepReport{Step: "late"})
	e.End(nil, time.Millisecond)
	<-e.Done()
	s.mu.Lock()
	got := s.got
	s.mu.Unlock()
	if len(got) != 3 {
		t.Fatalf("got %d events %+v, want 3", len(got), got)
	}
	if a := got[0]; a.Seq != 1 || a.Step != "a" || a.Branch != 2 || a.Instance != "h/p" || a.Duration() != 1500*time.Millisecond || a.Logs != "hi\n" || a.LogsCut != 0 {
		t.Errorf("first event %+v", a)
	}
	if b := got[1]; len(b.Logs) != runevent.MaxLogs || b.LogsCut != 100 {
		t.Errorf("second event: %d bytes of logs, %d cut; want %d and 100", len(b.Logs), b.LogsCut, runevent.MaxLogs)
	}
	if end := got[2]; end.Kind != runevent.KindEnd || end.Seq != 3 || end.Error != "route: run run-1 failed at step b: boom" || end.Dropped != 0 {
		t.Errorf("end event %+v", end)
	}

	t.Run("failed sends are dropped", func(t *testing.T) {
		s := &eventSink{release: make(chan struct{}), fail: true}
		close(s.release)
		e := startEvents(t, s)
		e.Step(StepReport{Step: "a"})
		e.End(nil, time.Millisecond)
		<-e.Done()
		if d := e.Dropped(); d != 2 {
			t.Errorf("Dropped() = %d after two failed sends, want 2", d)
		}
	})
}

// TestRunEnded: a run nobody watches queues its end only, marked
// unwatched, with its error and duration, for the plane's telemetry.
func TestRunEnded(t *testing.T) {
	p := testPlane()
	p.RunEnded("run-1", errors.New("step s1 failed"), time.Millisecond)
	if q := p.telemetry.take(); len(q) != 0 {
		t.Fatalf("queued %+v for an agent that takes no telemetry", q)
	}
	p.telemetry.on.Store(true) // the agent's welcome says it takes it
	p.RunEnded("run-1", errors.New("step s1 failed"), time.Millisecond)
	q := p.telemetry.take()
	if len(q) != 1 || q[0].Type != agentproto.TypeRunEvent {
		t.Fatalf("queued %+v, want one run event", q)
	}
	ev := q[0].RunEvent
	if ev.Kind != runevent.KindEnd || !ev.Unwatched || ev.Error != "step s1 failed" || ev.DurationNS != int64(time.Millisecond) || ev.Run != "run-1" {
		t.Errorf("queued %+v, want the end event, unwatched, with its error and duration", ev)
	}
	if _, err := agentproto.Encode(q[0]); err != nil {
		t.Errorf("the agent would refuse it: %v", err)
	}
}
