package route

import (
	"errors"
	"sync"
	"time"

	"github.com/wsk-route/wsk-route/internal/agentproto"
	"github.com/wsk-route/wsk-route/internal/runevent"
)

// RunEventQueue is how many of a run's step events wait to be sent to
// the agent at most; a step event that finds the queue full is dropped
// and counted (the run never waits for its events). The end event is
// always queued.
const RunEventQueue = 64

// errNoSession is a run event that found no agent session.
var errNoSession = errors.New("route: no agent session")

// RunEvents publishes the events of one run to the host agent, which keeps
// them in the route registry for `wsk-route invoke --watch` (see
// internal/runevent). Create it with Plane.RunEvents; pass Step as the
// run's RunOptions.OnStep and call End once when the run has ended. Its
// methods never block on the agent: one goroutine of the plane sends the
// queued events, one websocket message each, and exits after the end event.
type RunEvents struct {
	p    *Plane
	run  string
	now  func() time.Time
	send func(*agentproto.Message) error // the plane's agent session

	wake chan struct{} // buffer 1: events were queued
	done chan struct{} // closed when the sender has exited

	mu      sync.Mutex // guards the fields below
	queue   []runevent.Event
	seq     uint64 // last seq handed out
	dropped uint64 // events dropped: queue full, or not sent
	ended   bool   // End was called
}

// RunEvents returns the publisher of the events of run, which its caller
// watches, and starts its sender, which the plane's Run waits for. The
// caller must call End.
func (p *Plane) RunEvents(run string) *RunEvents {
	e := newRunEvents(p, run, p.sendToAgent)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		e.sender()
	}()
	return e
}

func newRunEvents(p *Plane, run string, send func(*agentproto.Message) error) *RunEvents {
	return &RunEvents{p: p, run: run, now: p.cfg.Now, send: send, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// sendToAgent sends m on the current agent session, if there is one.
func (p *Plane) sendToAgent(m *agentproto.Message) error {
	p.mu.Lock()
	ws := p.ws
	p.mu.Unlock()
	if ws == nil {
		return errNoSession
	}
	return ws.send(m)
}

// Step queues the event of one step's report; it has the signature of
// RunOptions.OnStep. After End it does nothing.
func (e *RunEvents) Step(st StepReport) {
	logs, cut := runevent.Cap(string(st.Logs), runevent.MaxLogs)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ended {
		return
	}
	e.seq++
	if len(e.queue) >= RunEventQueue {
		e.dropped++
		return
	}
	e.queue = append(e.queue, runevent.Event{Run: e.run, Seq: e.seq, Kind: runevent.KindStep,
		Step: st.Step, Branch: st.Branch, Instance: st.Instance, DurationNS: max(int64(st.Duration), 0),
		Activation: st.Activation, Fallback: st.Fallback,
		Logs: logs, LogsCut: cut, TimeMS: e.now().UnixMilli()})
	e.wakeLocked()
}

// End queues the run's end event (runErr nil: the run succeeded; took:
// how long it ran) and lets the sender exit once it has sent it. Later
// calls do nothing.
func (e *RunEvents) End(runErr error, took time.Duration) {
	ev := runevent.Event{Run: e.run, Kind: runevent.KindEnd, DurationNS: max(int64(took), 0)}
	if runErr != nil {
		ev.Error, _ = runevent.Cap(runErr.Error(), runevent.MaxError)
		if ev.Error == "" {
			ev.Error = "failed"
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ended {
		return
	}
	e.ended = true
	e.seq++
	ev.Seq, ev.TimeMS = e.seq, e.now().UnixMilli()
	e.queue = append(e.queue, ev) // Dropped is set when it is sent
	e.wakeLocked()
}

// RunEnded queues the end event of run, which nobody watches (runErr
// nil: it succeeded; took: how long it ran), marked unwatched: the agent
// counts it in the run metrics and exports the run's span, and stores
// nothing. It never waits; the event goes with the plane's telemetry, if
// the agent takes any.
func (p *Plane) RunEnded(run string, runErr error, took time.Duration) {
	if !p.telemetry.wanted() {
		return
	}
	ev := &runevent.Event{Run: run, Seq: 1, Kind: runevent.KindEnd, Unwatched: true,
		DurationNS: max(int64(took), 0), TimeMS: p.cfg.Now().UnixMilli()}
	if runErr != nil {
		ev.Error, _ = runevent.Cap(runErr.Error(), runevent.MaxError)
		if ev.Error == "" {
			ev.Error = "failed"
		}
	}
	p.telemetry.add(&agentproto.Message{Type: agentproto.TypeRunEvent, RunEvent: ev})
}

// Dropped returns how many of the run's events were dropped so far.
func (e *RunEvents) Dropped() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.dropped
}

// Done is closed when the sender has sent (or dropped) the end event.
func (e *RunEvents) Done() <-chan struct{} { return e.done }

// wakeLocked wakes the sender without blocking. e.mu must be held.
func (e *RunEvents) wakeLocked() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// sender sends the queued events in order until the end event is out.
func (e *RunEvents) sender() {
	defer close(e.done)
	for range e.wake {
		e.mu.Lock()
		batch := e.queue
		e.queue = nil
		e.mu.Unlock()
		for i := range batch {
			ev := &batch[i]
			if ev.Kind == runevent.KindEnd {
				e.mu.Lock()
				ev.Dropped = e.dropped
				e.mu.Unlock()
			}
			if err := e.send(&agentproto.Message{Type: agentproto.TypeRunEvent, RunEvent: ev}); err != nil {
				e.mu.Lock()
				e.dropped++
				e.mu.Unlock()
				e.p.cfg.Logger.Debug("route: run event not sent to the agent", "run", e.run, "seq", ev.Seq, "err", err)
			}
			if ev.Kind == runevent.KindEnd {
				return
			}
		}
	}
}
