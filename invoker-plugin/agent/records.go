package agent

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/wsk-route/wsk-route/internal/agentproto"
	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/internal/userevents"
	"github.com/wsk-route/wsk-route/internal/whisk"
	"github.com/wsk-route/wsk-route/invoker-plugin/metrics"
	"github.com/wsk-route/wsk-route/invoker-plugin/proxyconn"
)

// ActivationStore is where the agent writes the activation records of
// the direct steps its proxies run: the sandbox's store, or OpenWhisk's
// activation database (internal/activationdb), so that `wsk activation
// list` shows every step of a workflow run, caused by the run's entry
// activation. A store that is also an ActionCatalog (actions.go) gives
// the records and user events their actions' kind and limits.
type ActivationStore interface {
	// PutActivation writes one record; writing the same record twice
	// must be harmless.
	PutActivation(ctx context.Context, a whisk.Activation) error
}

const (
	// recordQueue bounds the records waiting to be written; a record that
	// finds the queue full is dropped and counted.
	recordQueue = 1024
	// recordTimeout bounds one write.
	recordTimeout = 10 * time.Second
)

// recordWriter writes records one at a time, in arrival order. When its
// store is an ActionCatalog it also looks up the records' actions, on
// the same goroutine, for the records whose action version its cache
// could not answer for when they were queued.
type recordWriter struct {
	store   ActivationStore // nil: records are dropped
	actions *actionCache    // nil: the store looks up no actions
	log     *slog.Logger
	queue   chan queuedRecord
	dropped atomic.Uint64 // queue full or no store
	failed  atomic.Uint64 // writes the store refused
	written atomic.Uint64
}

// queuedRecord is a record waiting to be written.
type queuedRecord struct {
	rec whisk.Activation
	// lookup, when set, is the record's action version: the record (and
	// its user event, when there is one) still needs its kind and limits.
	lookup *actionKey
	// event, when set, is the record's user event, to be published once
	// the lookup is done (with what it found) through events.
	event  *userevents.EventMessage
	events *userevents.Publisher
}

func newRecordWriter(store ActivationStore, log *slog.Logger) *recordWriter {
	w := &recordWriter{store: store, log: log, queue: make(chan queuedRecord, recordQueue)}
	if c, ok := store.(ActionCatalog); ok {
		w.actions = newActionCache(c, log)
	}
	return w
}

// counts returns the writer's counters, for the metrics.
func (w *recordWriter) counts() metrics.RecordCounts {
	n := metrics.RecordCounts{Written: w.written.Load(), Failed: w.failed.Load(), Dropped: w.dropped.Load()}
	if w.actions != nil {
		n.LooksUpActions = true
		n.LookupFailures = w.actions.failures.Load()
	}
	return n
}

// action returns what the cache knows of inst's action version, and
// whether that is all there is to know for now (always, without a
// catalog); false: the record writer must look it up. It never waits.
func (w *recordWriter) action(inst routetable.Instance) (actionInfo, bool) {
	if w.actions == nil {
		return actionInfo{}, true
	}
	return w.actions.cached(instanceAction(inst))
}

// add queues a without blocking. A record that finds no room is dropped,
// and its pending user event, if any, is published without the kind and
// limits it was waiting for.
func (w *recordWriter) add(q queuedRecord) {
	if w.store == nil {
		w.dropped.Add(1)
		q.publish()
		return
	}
	select {
	case w.queue <- q:
	default:
		if w.dropped.Add(1)%100 == 1 {
			w.log.Warn("agent: activation record queue full; dropping records", "activation", q.rec.ActivationID, "dropped", w.dropped.Load())
		}
		q.publish()
	}
}

// publish publishes q's pending user event, if any.
func (q *queuedRecord) publish() {
	if q.event != nil {
		q.events.Publish(q.event)
	}
}

// run writes queued records until ctx ends; those still queued then are
// written within recordTimeout, so that a stopping agent loses none it
// took.
func (w *recordWriter) run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			drain, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
			defer cancel()
			for {
				select {
				case q := <-w.queue:
					w.write(drain, q)
				default:
					return nil
				}
			}
		case q := <-w.queue:
			w.write(ctx, q)
		}
	}
}

// write completes q's record with its action's kind and limits when it
// lacks them (looking the action up, bounded by lookupTimeout, unless
// the cache knows it by now), publishes its pending user event, and
// writes the record.
func (w *recordWriter) write(ctx context.Context, q queuedRecord) {
	if q.lookup != nil && w.actions != nil {
		info := w.actions.resolve(ctx, *q.lookup)
		withAction(&q.rec, info)
		if q.event != nil {
			withEventAction(q.event, info)
		}
	}
	q.publish()
	a := q.rec
	cctx, cancel := context.WithTimeout(ctx, recordTimeout)
	defer cancel()
	if err := w.store.PutActivation(cctx, a); err != nil {
		if w.failed.Add(1)%100 == 1 {
			w.log.Warn("agent: writing an activation record failed", "namespace", a.Namespace, "activation", a.ActivationID, "failed", w.failed.Load(), "err", err)
		}
		return
	}
	w.written.Add(1)
}

// wantsTelemetry reports whether the agent does anything with the steps'
// records and the ends of unwatched runs: writes records, publishes user
// events, exports traces or serves metrics (agentproto.Welcome.Telemetry).
func (a *Agent) wantsTelemetry() bool {
	return a.records.store != nil || a.userEvents != nil || a.traces != nil || a.metricsLn != nil
}

var _ proxyconn.ActivationSink = (*registrar)(nil)

// Activation implements proxyconn.ActivationSink. The step feeds the step
// metric; its record, built only when something reads it, becomes the
// step's user event, its span and the written record, under the
// namespace, action and version the proxy registered with, never ones the
// message names. It never blocks: it runs on the proxy's session reader.
func (r *registrar) Activation(id string, m *agentproto.Activation) {
	a := (*Agent)(r)
	inst, ok := a.readyInstance(id)
	if !ok {
		return
	}
	a.metrics.StepRan(workflowAction(inst.Namespace, m.Workflow), inst.Action, time.Duration(m.End-m.Start)*time.Millisecond)
	if a.records.store == nil && a.userEvents == nil && a.traces == nil {
		return // only the metric reads it: no record built
	}
	rec := stepActivation(inst, m)
	// The action's kind and limits, when the cache knows them (or knows
	// that they cannot be had for now); else the record writer looks them
	// up and publishes the user event once it has.
	info, final := a.records.action(inst)
	withAction(&rec, info)
	var event *userevents.EventMessage
	if a.userEvents != nil {
		event = stepEvent(a.cfg.UserEventsSource, inst.Action, &rec, info)
		if final || a.records.store == nil {
			a.userEvents.Publish(event)
			event = nil
		}
	}
	if a.traces != nil {
		if s, ok := stepSpan(inst, &rec, m); ok {
			a.traces.Export(s)
		}
	}
	if a.records.store != nil {
		q := queuedRecord{rec: rec, event: event, events: a.userEvents}
		if !final {
			k := instanceAction(inst)
			q.lookup = &k
		}
		a.records.add(q)
	}
}

// stepActivation is the OpenWhisk activation record of a direct step the
// instance inst ran, as the invoker writes one for a component of a
// sequence: in the instance's namespace, named after its action, with
// the path, causedBy "sequence" and waitTime 0 (a warm container, no
// queue) annotations, the run's entry activation as its cause, and a
// "wsk-route" annotation naming the workflow, step and branch. The kind
// and limits annotations are withAction's.
func stepActivation(inst routetable.Instance, m *agentproto.Activation) whisk.Activation {
	path := strings.TrimPrefix(inst.Action, "/")
	name := path[strings.LastIndexByte(path, '/')+1:]
	version := inst.Version
	if version == "" {
		version = "0.0.1"
	}
	result := m.Result
	if len(result) == 0 {
		result = json.RawMessage(`{}`)
	}
	route, _ := json.Marshal(map[string]any{"workflow": m.Workflow, "step": m.Step, "branch": m.Branch})
	return whisk.Activation{
		Namespace:    inst.Namespace,
		Name:         name,
		Subject:      inst.Namespace,
		ActivationID: m.ActivationID,
		Start:        m.Start,
		End:          m.End,
		Cause:        m.Cause,
		Response:     whisk.Result{StatusCode: m.StatusCode, Result: result},
		Logs:         append([]string{}, m.Logs...),
		Version:      version,
		Annotations: whisk.KeyValues{
			{Key: whisk.AnnPath, Value: jsonString(path)},
			{Key: whisk.AnnCausedBy, Value: jsonString("sequence")},
			{Key: whisk.AnnWaitTime, Value: json.RawMessage("0")},
			{Key: "wsk-route", Value: route},
		},
		Duration: m.End - m.Start,
	}
}

// withAction gives rec its action's "kind" and "limits" annotations, with
// the keys and value shapes OpenWhisk's invoker writes ("python:3";
// {"timeout":60000,"memory":256,"logs":10,"concurrency":1}), right after
// "path", as the sandbox's invoker orders them. An unknown action leaves
// rec as it is.
func withAction(rec *whisk.Activation, info actionInfo) {
	if !info.known {
		return
	}
	limits, err := json.Marshal(info.limits)
	if err != nil {
		return
	}
	at := 0
	for i, kv := range rec.Annotations {
		if kv.Key == whisk.AnnPath {
			at = i + 1
			break
		}
	}
	ann := make(whisk.KeyValues, 0, len(rec.Annotations)+2)
	ann = append(ann, rec.Annotations[:at]...)
	ann = append(ann, whisk.KeyValue{Key: whisk.AnnKind, Value: jsonString(info.kind)}, whisk.KeyValue{Key: whisk.AnnLimits, Value: limits})
	rec.Annotations = append(ann, rec.Annotations[at:]...)
}

func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}
