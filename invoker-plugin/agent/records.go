package agent

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strconv"
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

// BatchStore is the optional method set of an ActivationStore that
// writes several records at once, as OpenWhisk's invoker batches its
// activation writes (internal/activationdb's Store: one POST _bulk_docs).
// The agent then writes the records that queued up while it was writing
// in one call.
type BatchStore interface {
	// PutActivations writes recs; writing the same record twice must be
	// harmless. It must not retain recs. It returns nil when it wrote
	// them all; an error that is (or wraps) a PartialWriteError when it
	// wrote some and not others; any other error when it wrote none.
	PutActivations(ctx context.Context, recs []whisk.Activation) error
}

// PartialWriteError is the error of a BatchStore's PutActivations that
// wrote some records and not others (internal/activationdb's
// BatchError).
type PartialWriteError interface {
	error
	// FailedRecords returns the indexes in recs of the records not
	// written.
	FailedRecords() []int
}

const (
	// recordQueue bounds the records waiting to be written; a record that
	// finds the queue full is dropped and counted.
	recordQueue = 1024
	// recordBatch bounds the records written in one call of a
	// BatchStore: the batch size of OpenWhisk's invoker (CouchDbRestStore's
	// Batcher, 500).
	recordBatch = 500
	// recordTimeout bounds one write (of one record, or of a batch).
	recordTimeout = 10 * time.Second
)

// recordWriter writes records in arrival order: one at a time, or, when
// its store is a BatchStore, in batches of what is queued when it is
// ready to write (up to recordBatch): the first record after an idle
// spell is written at once, alone, and a batch forms from the records that
// arrived while the previous write was under way, never by waiting for
// more. When its store is an ActionCatalog it also looks up the records'
// actions, on the same goroutine, for the records whose action version
// its cache could not answer for when they were queued.
type recordWriter struct {
	store   ActivationStore // nil: records are dropped
	batches BatchStore      // nil: the store writes one record at a time
	actions *actionCache    // nil: the store looks up no actions
	log     *slog.Logger
	queue   chan queuedRecord
	dropped atomic.Uint64 // queue full or no store
	failed  atomic.Uint64 // records the store did not write
	written atomic.Uint64

	// Owned by run's goroutine, reused from batch to batch.
	batch []queuedRecord
	recs  []whisk.Activation
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
	if b, ok := store.(BatchStore); ok {
		w.batches = b
	}
	return w
}

// maxBatch returns how many records the writer writes at once.
func (w *recordWriter) maxBatch() int {
	if w.batches == nil {
		return 1
	}
	return recordBatch
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
// took. A write under way when ctx ends is not cut short: it ends within
// its own recordTimeout, then the queue is drained.
func (w *recordWriter) run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			w.drain(ctx, nil)
			return nil
		case q := <-w.queue:
			if ctx.Err() != nil {
				w.drain(ctx, &q)
				return nil
			}
			w.write(ctx, context.WithoutCancel(ctx), w.take(append(w.batch[:0], q)))
		}
	}
}

// drain writes first, when set, and the records queued, within
// recordTimeout of ctx's end.
func (w *recordWriter) drain(ctx context.Context, first *queuedRecord) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	batch := w.batch[:0]
	if first != nil {
		batch = append(batch, *first)
	}
	for batch = w.take(batch); len(batch) > 0; batch = w.take(w.batch[:0]) {
		w.write(dctx, dctx, batch)
	}
}

// take appends to batch the records already queued, up to maxBatch in
// all, without waiting for more, and returns it.
func (w *recordWriter) take(batch []queuedRecord) []queuedRecord {
	for n := w.maxBatch(); len(batch) < n; {
		select {
		case q := <-w.queue:
			batch = append(batch, q)
		default:
			return batch
		}
	}
	return batch
}

// write completes the records of batch with their actions' kind and
// limits when they lack them (looking each action version up within ctx,
// bounded by lookupTimeout, unless the cache knows it by now), publishes
// their pending user events, and writes them within recordTimeout of
// putCtx: in one call of a BatchStore, or one by one (a lone record
// too, with PutActivation, as before there were batches). It counts each
// record written or failed.
func (w *recordWriter) write(ctx, putCtx context.Context, batch []queuedRecord) {
	w.batch = batch
	defer clear(batch) // the writer keeps no record between batches
	recs := w.recs[:0]
	for i := range batch {
		q := &batch[i]
		if q.lookup != nil && w.actions != nil {
			info := w.actions.resolve(ctx, *q.lookup)
			withAction(&q.rec, info)
			if q.event != nil {
				withEventAction(q.event, info)
			}
		}
		q.publish()
		recs = append(recs, q.rec)
	}
	w.recs = recs
	defer clear(recs)
	if w.batches == nil || len(recs) == 1 {
		for i, a := range recs {
			cctx, cancel := context.WithTimeout(putCtx, recordTimeout)
			err := w.store.PutActivation(cctx, a)
			cancel()
			if err != nil {
				w.countFailed(recs, []int{i}, err)
				continue
			}
			w.written.Add(1)
		}
		return
	}
	cctx, cancel := context.WithTimeout(putCtx, recordTimeout)
	err := w.batches.PutActivations(cctx, recs)
	cancel()
	if err == nil {
		w.written.Add(uint64(len(recs)))
		return
	}
	var failed []int
	if pe := PartialWriteError(nil); errors.As(err, &pe) {
		failed = validIndexes(pe.FailedRecords(), len(recs))
	} else {
		failed = make([]int, len(recs))
		for i := range failed {
			failed[i] = i
		}
	}
	w.written.Add(uint64(len(recs) - len(failed)))
	w.countFailed(recs, failed, err)
}

// countFailed counts the records of recs at the indexes failed as failed
// ones, logging err when the count passes 1, 101, 201, ... with the
// first of them.
func (w *recordWriter) countFailed(recs []whisk.Activation, failed []int, err error) {
	if len(failed) == 0 {
		return
	}
	n := w.failed.Add(uint64(len(failed)))
	if before := n - uint64(len(failed)); (before+99)/100 < (n+99)/100 {
		a := recs[failed[0]]
		w.log.Warn("agent: writing activation records failed", "namespace", a.Namespace, "activation", a.ActivationID,
			"records", len(failed), "failed", n, "err", err)
	}
}

// validIndexes returns the distinct indexes of idx in [0, n), sorted.
func validIndexes(idx []int, n int) []int {
	out := make([]int, 0, len(idx))
	for _, i := range idx {
		if i >= 0 && i < n {
			out = append(out, i)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
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
	inst, user, ok := a.readyInstanceUser(id)
	if !ok {
		return
	}
	a.metrics.StepRan(workflowAction(inst.Namespace, m.Workflow), inst.Action, time.Duration(m.End-m.Start)*time.Millisecond, m.Attempts)
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
		event.UserID = user
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
// the path, timeout (whether the step was stopped at its run's
// deadline), causedBy "sequence" and waitTime 0 (a warm container, no
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
			{Key: whisk.AnnTimeout, Value: json.RawMessage(strconv.FormatBool(m.Timeout))},
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
// "path", as the sandbox's invoker orders them, and cuts its logs at the
// action's log limit (withinLogLimit). An unknown action leaves rec as it
// is.
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
	rec.Logs = withinLogLimit(rec.Logs, info.limits.Logs<<20, time.UnixMilli(rec.End))
}

// withinLogLimit returns logs cut at limit bytes of text, as OpenWhisk's
// invoker cuts an activation's logs at its action's log limit: the lines
// whose text fits, then OpenWhisk's truncation line, stamped as the first
// line left out (end, for a line without a time). logs is not changed.
func withinLogLimit(logs []string, limit int, end time.Time) []string {
	n := 0
	for i, l := range logs {
		at, _, text, ok := whisk.ParseLogLine(l)
		if !ok {
			at, text = end, l
		}
		if n += len(text); n > limit {
			return append(logs[:i:i], whisk.LogLine(at, "stderr", whisk.LogsTruncatedMessage(limit)))
		}
	}
	return logs
}

func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}
