package agent

import (
	"context"
	"log/slog"
	"sync/atomic"

	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/internal/runevent"
	"github.com/wsk-route/wsk-route/invoker-plugin/proxyconn"
)

// RunEvents keeps the step events of runs, for `wsk-route invoke
// --watch`. A Registry that also implements it (*consulstore.Store, the
// sandbox's embedded registry) gets the events the host's entry proxies
// send; with one that does not, the agent drops them.
type RunEvents interface {
	// AppendRunEvent stores ev as an event of run in namespace.
	AppendRunEvent(ctx context.Context, namespace, run string, ev runevent.Event) error
}

// runEventQueue bounds the events waiting to be written to the registry;
// an event that finds it full is dropped and counted.
const runEventQueue = 1024

// nsEvent is one run event and the namespace of the session it came on.
type nsEvent struct {
	namespace string
	ev        runevent.Event
}

// eventWriter writes the run events of the host's entries to the
// registry, one at a time and in arrival order, so that a run's events
// are stored in the order its entry sent them.
type eventWriter struct {
	store   RunEvents // nil: events are dropped
	log     *slog.Logger
	queue   chan nsEvent
	dropped atomic.Uint64 // events dropped: queue full or no store
	failed  atomic.Uint64 // events the registry refused or did not take
}

func newEventWriter(reg Registry, log *slog.Logger) *eventWriter {
	store, _ := reg.(RunEvents)
	return &eventWriter{store: store, log: log, queue: make(chan nsEvent, runEventQueue)}
}

// add queues ev without blocking.
func (w *eventWriter) add(namespace string, ev runevent.Event) {
	if w.store == nil {
		w.dropped.Add(1)
		return
	}
	select {
	case w.queue <- nsEvent{namespace, ev}:
	default:
		if w.dropped.Add(1)%100 == 1 {
			w.log.Warn("agent: run event queue full; dropping events", "run", ev.Run, "dropped", w.dropped.Load())
		}
	}
}

// run writes queued events until ctx ends.
func (w *eventWriter) run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case e := <-w.queue:
			cctx, cancel := context.WithTimeout(ctx, registryTimeout)
			err := w.store.AppendRunEvent(cctx, e.namespace, e.ev.Run, e.ev)
			cancel()
			if err != nil && ctx.Err() == nil {
				if w.failed.Add(1)%100 == 1 {
					w.log.Warn("agent: storing a run event failed", "namespace", e.namespace, "run", e.ev.Run, "seq", e.ev.Seq, "failed", w.failed.Load(), "err", err)
				}
			}
		}
	}
}

var _ proxyconn.RunEventSink = (*registrar)(nil)

// RunEvent implements proxyconn.RunEventSink: the event of a watched run
// is stored under the namespace the proxy registered in, never one the
// event names; an end event feeds the run metrics (userevents.go).
func (r *registrar) RunEvent(id string, ev *runevent.Event) {
	a := (*Agent)(r)
	entry, ok := a.readyInstance(id)
	if !ok {
		return
	}
	if !ev.Unwatched {
		a.events.add(entry.Namespace, *ev)
	}
	a.observeRunEvent(entry, ev)
}

// readyInstance returns the instance registered through this agent as
// id, once its registration is complete.
func (a *Agent) readyInstance(id string) (routetable.Instance, bool) {
	inst, _, ok := a.readyInstanceUser(id)
	return inst, ok
}

// readyInstanceUser is readyInstance, with the uuid of the key the
// instance's action runs with ("" when its proxy did not say).
func (a *Agent) readyInstanceUser(id string) (routetable.Instance, string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	li := a.local[id]
	if li == nil || !li.ready {
		return routetable.Instance{}, "", false
	}
	return li.inst, li.user, true
}
