package metrics

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Run metric labels.
const (
	LabelWorkflow = "workflow" // the workflow's entry action, fully qualified
	LabelAction   = "action"   // a step's action, fully qualified
	LabelOutcome  = "outcome"  // of a run: OutcomeOK or OutcomeFailed; of a hop send: HopOK, ...
)

// Outcomes of a run.
const (
	OutcomeOK     = "ok"
	OutcomeFailed = "failed"
)

// RunBuckets are the upper bounds, in seconds, of the run and step
// duration histograms: from a tenth of a millisecond (a warm step of a
// small function) to OpenWhisk's largest default action timeout.
var RunBuckets = []float64{1e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}

// seriesGuard admits at most MaxSeries distinct label pairs.
type seriesGuard struct {
	mu    sync.Mutex // guards known
	known map[[2]string]bool
}

func newSeriesGuard() *seriesGuard { return &seriesGuard{known: make(map[[2]string]bool)} }

// labels returns a and b if the pair is known or there is room for it,
// else "other" for both.
func (g *seriesGuard) labels(a, b string) (string, string) {
	k := [2]string{a, b}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.known[k] {
		return a, b
	}
	if len(g.known) >= MaxSeries {
		return otherAction, otherAction
	}
	g.known[k] = true
	return a, b
}

// StepRan observes one step of a run of workflow (the entry's action) that
// ran action for took, in attempts runs of the action (0 or 1: once; more
// are counted as retries). action "" (the agent could not tell the
// step's action) counts as "other".
func (m *Metrics) StepRan(workflow, action string, took time.Duration, attempts int) {
	w, a := m.runSeries.labels(actionLabel(workflow), actionLabel(action))
	m.stepsTook.WithLabelValues(w, a).Observe(max(took, 0).Seconds())
	if attempts > 1 {
		m.stepRetries.WithLabelValues(w, a).Add(float64(attempts - 1))
	}
}

// RunEnded counts one run of workflow that ended, failed or not, and
// observes its duration unless took is 0 (not reported).
func (m *Metrics) RunEnded(workflow string, failed bool, took time.Duration) {
	outcome := OutcomeOK
	if failed {
		outcome = OutcomeFailed
	}
	w, _ := m.runSeries.labels(actionLabel(workflow), "")
	// Both outcomes' series exist from a workflow's first run, at 0 if need
	// be: rate() and increase() miss the first increment of a series that
	// appears with it, so a first failure would not show.
	m.runs.WithLabelValues(w, OutcomeOK)
	m.runs.WithLabelValues(w, OutcomeFailed)
	m.runs.WithLabelValues(w, outcome).Inc()
	if took > 0 {
		m.runDuration.WithLabelValues(w, outcome).Observe(took.Seconds())
	}
}

// UserEventCounts are the counters of the agent's user events
// (internal/userevents.Publisher's Counts, plus the events the agent
// could not build).
type UserEventCounts struct {
	Published, Failed uint64
	// Dropped before the producer, by reason: the queue was full, the
	// event was not one OpenWhisk takes, or the publisher had stopped.
	DroppedFull, DroppedInvalid, DroppedStopped uint64
	ConnectFailures                             uint64
}

// Reasons of wsk_route_user_events_dropped_total.
const (
	DropQueueFull = "queue_full"
	DropInvalid   = "invalid"
	DropStopped   = "stopped"
)

// SetUserEvents makes the wsk_route_user_events_* counters read counts at
// each scrape. Without it (user events off) they are not exported.
func (m *Metrics) SetUserEvents(counts func() UserEventCounts) { m.userEvents.counts.Store(&counts) }

// userEventsCollector exports the user-event counters from a function
// read at scrape time.
type userEventsCollector struct {
	counts atomic.Pointer[func() UserEventCounts]
}

var (
	userEventsPublished = prometheus.NewDesc("wsk_route_user_events_published_total",
		"OpenWhisk user events of direct steps acknowledged by the Kafka broker.", nil, nil)
	userEventsFailed = prometheus.NewDesc("wsk_route_user_events_failed_total",
		"OpenWhisk user events the Kafka producer gave up on after its retries.", nil, nil)
	userEventsDropped = prometheus.NewDesc("wsk_route_user_events_dropped_total",
		"OpenWhisk user events dropped before the producer, by reason (queue_full, invalid, stopped).", []string{"reason"}, nil)
	userEventsConnectFailures = prometheus.NewDesc("wsk_route_user_events_connect_failures_total",
		"Failed attempts to reach the Kafka brokers of the user events.", nil, nil)
)

// Describe implements prometheus.Collector.
func (c *userEventsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{userEventsPublished, userEventsFailed, userEventsDropped, userEventsConnectFailures} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *userEventsCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.counts.Load()
	if f == nil {
		return
	}
	n := (*f)()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(userEventsPublished, n.Published)
	counter(userEventsFailed, n.Failed)
	counter(userEventsDropped, n.DroppedFull, DropQueueFull)
	counter(userEventsDropped, n.DroppedInvalid, DropInvalid)
	counter(userEventsDropped, n.DroppedStopped, DropStopped)
	counter(userEventsConnectFailures, n.ConnectFailures)
}

// RecordCounts are the agent's counters of the direct steps' activation
// records: written to the activation store, refused by it, or dropped
// before it (the agent's queue was full); and, when LooksUpActions (the
// store can tell the actions' kind and limits), the lookups of the
// records' actions that failed.
type RecordCounts struct {
	Written, Failed, Dropped uint64
	LooksUpActions           bool
	LookupFailures           uint64
}

// SetActivationRecords makes wsk_route_activation_records_total read
// counts at each scrape. Without it (no activation store) it is not
// exported.
func (m *Metrics) SetActivationRecords(counts func() RecordCounts) { m.records.counts.Store(&counts) }

// recordsCollector exports the record counters from a function read at
// scrape time.
type recordsCollector struct {
	counts atomic.Pointer[func() RecordCounts]
}

var (
	activationRecords = prometheus.NewDesc("wsk_route_activation_records_total",
		"Activation records of direct steps, by result: written to OpenWhisk's activation store, failed (the store refused them), dropped (the agent's queue was full).",
		[]string{"result"}, nil)
	actionLookupFailures = prometheus.NewDesc("wsk_route_action_lookup_failures_total",
		"Lookups of a direct step's action (its kind and limits, in OpenWhisk's entity store) that failed: the records and user events of its steps go without them until a retry succeeds.",
		nil, nil)
)

// Describe implements prometheus.Collector.
func (c *recordsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- activationRecords
	ch <- actionLookupFailures
}

// Collect implements prometheus.Collector.
func (c *recordsCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.counts.Load()
	if f == nil {
		return
	}
	n := (*f)()
	for _, r := range []struct {
		result string
		v      uint64
	}{{"written", n.Written}, {"failed", n.Failed}, {"dropped", n.Dropped}} {
		ch <- prometheus.MustNewConstMetric(activationRecords, prometheus.CounterValue, float64(r.v), r.result)
	}
	if n.LooksUpActions {
		ch <- prometheus.MustNewConstMetric(actionLookupFailures, prometheus.CounterValue, float64(n.LookupFailures))
	}
}
