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
	"github.com/wsk-route/wsk-route/internal/whisk"
	"github.com/wsk-route/wsk-route/invoker-plugin/metrics"
	"github.com/wsk-route/wsk-route/invoker-plugin/proxyconn"
)

// ActivationStore is where the agent writes the activation records of
// the direct steps its proxies run: the sandbox's store, or OpenWhisk's
// activation database (internal/activationdb), so that `wsk activation
// list` shows every step of a workflow run, caused by the run's entry
// activation.
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

// recordWriter writes records one at a time, in arrival order.
type recordWriter struct {
	store   ActivationStore // nil: records are dropped
	log     *slog.Logger
	queue   chan whisk.Activation
	dropped atomic.Uint64 // queue full or no store
	failed  atomic.Uint64 // writes the store refused
	written atomic.Uint64
}

func newRecordWriter(store ActivationStore, log *slog.Logger) *recordWriter {
	return &recordWriter{store: store, log: log, queue: make(chan whisk.Activation, recordQueue)}
}

// counts returns the writer's counters, for the metrics.
func (w *recordWriter) counts() metrics.RecordCounts {
	return metrics.RecordCounts{Written: w.written.Load(), Failed: w.failed.Load(), Dropped: w.dropped.Load()}
}

// add queues a without blocking.
func (w *recordWriter) add(a whisk.Activation) {
	if w.store == nil {
		w.dropped.Add(1)
		return
	}
	select {
	case w.queue <- a:
	default:
		if w.dropped.Add(1)%100 == 1 {
			w.log.Warn("agent: activation record queue full; dropping records", "activation", a.ActivationID, "dropped", w.dropped.Load())
		}
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
				case a := <-w.queue:
					w.write(drain, a)
				default:
					return nil
				}
			}
		case a := <-w.queue:
			w.write(ctx, a)
		}
	}
}

func (w *recordWriter) write(ctx context.Context, a whisk.Activation) {
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
	if a.userEvents != nil {
		a.userEvents.Publish(stepEvent(a.cfg.UserEventsSource, inst.Action, &rec))
	}
	if a.traces != nil {
		if s, ok := stepSpan(inst, &rec, m); ok {
			a.traces.Export(s)
		}
	}
	if a.records.store != nil {
		a.records.add(rec)
	}
}

// stepActivation is the OpenWhisk activation record of a direct step the
// instance inst ran, as the invoker writes one for a component of a
// sequence: in the instance's namespace, named after its action, with
// the path, causedBy "sequence" and waitTime 0 (a warm container, no
// queue) annotations, the run's entry activation as its cause, and a
// "wsk-route" annotation naming the workflow, step and branch.
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

func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}
