package usermetrics

import (
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsk-route/wsk-route/internal/userevents"
)

// Metric names, as OpenWhisk's PrometheusMetricNames.
const (
	ActivationsMetric    = "openwhisk_action_activations_total"
	ColdStartsMetric     = "openwhisk_action_coldStarts_total"
	StatusMetric         = "openwhisk_action_status"
	StatusCodeMetric     = "openwhisk_action_status_code"
	WaitTimeMetric       = "openwhisk_action_waitTime_seconds"
	InitTimeMetric       = "openwhisk_action_initTime_seconds"
	DurationMetric       = "openwhisk_action_duration_seconds"
	ResponseSizeMetric   = "openwhisk_action_response_size_bytes"
	MemoryMetric         = "openwhisk_action_memory"
	LimitConcurrentTotal = "openwhisk_action_limit_concurrent_total"
	LimitTimedTotal      = "openwhisk_action_limit_timed_total"
)

// Label names, as OpenWhisk's MetricNames; Config.RenameTags renames them.
const (
	LabelNamespace  = "namespace"
	LabelInitiator  = "initiator"
	LabelAction     = "action"
	LabelKind       = "kind"
	LabelMemory     = "memory"
	LabelStatus     = "status"
	LabelStatusCode = "status_code"
)

// DefaultMaxActions is Config.MaxActions's default.
const DefaultMaxActions = 10000

// durationBuckets are the Prometheus Java client's default buckets, which
// OpenWhisk's histograms use.
var durationBuckets = []float64{.005, .01, .025, .05, .075, .1, .25, .5, .75, 1, 2.5, 5, 7.5, 10}

// maxActivationBytes is OpenWhisk's whisk.activation.payload.max (1 MB),
// the width of the response size buckets.
const maxActivationBytes = 1 << 20

// Config configures a Recorder. The zero value records everything with
// OpenWhisk's label names.
type Config struct {
	// RenameTags renames labels, keyed by the Label* names, as OpenWhisk's
	// whisk.user-events.rename-tags does (e.g. "namespace" →
	// "ow_namespace").
	RenameTags map[string]string
	// IgnoredNamespaces are initiators (the event's namespace) whose
	// activations are not recorded: whisk.user-events.ignored-namespaces.
	IgnoredNamespaces []string
	// MaxActions bounds the distinct (initiator, action) pairs recorded;
	// the activations of further ones are counted in Dropped only. 0:
	// DefaultMaxActions.
	MaxActions int
}

// Recorder records user events as Prometheus metrics. Create it with New.
type Recorder struct {
	cfg Config

	activations, coldStarts, status, statusCode *prometheus.CounterVec
	waitTime, initTime, duration, responseSize  *prometheus.HistogramVec
	memory                                      *prometheus.GaugeVec
	limitConcurrent, limitTimed                 *prometheus.CounterVec

	mu      sync.Mutex // guards actions and dropped
	actions map[actionKey]bool
	dropped uint64 // activations not recorded: over MaxActions
}

// actionKey is one series of per-action metrics.
type actionKey struct{ initiator, name string }

var _ userevents.Handler = (*Recorder)(nil)

// New creates the metrics and registers them with reg.
func New(reg prometheus.Registerer, cfg Config) (*Recorder, error) {
	if reg == nil {
		return nil, fmt.Errorf("usermetrics: nil Registerer")
	}
	if cfg.MaxActions <= 0 {
		cfg.MaxActions = DefaultMaxActions
	}
	l := func(name string) string {
		if n, ok := cfg.RenameTags[name]; ok && n != "" {
			return n
		}
		return name
	}
	ns, ini, act := l(LabelNamespace), l(LabelInitiator), l(LabelAction)
	seen := map[string]bool{}
	for _, n := range []string{ns, ini, act, l(LabelKind), l(LabelMemory), l(LabelStatus), l(LabelStatusCode)} {
		if seen[n] {
			return nil, fmt.Errorf("usermetrics: rename-tags gives two labels the name %q", n)
		}
		seen[n] = true
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	histogram := func(name, help string, buckets []float64) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, []string{ns, ini, act})
	}
	r := &Recorder{
		cfg:             cfg,
		activations:     counter(ActivationsMetric, "Activation Count", ns, ini, act, l(LabelKind), l(LabelMemory)),
		coldStarts:      counter(ColdStartsMetric, "Cold start counts", ns, ini, act),
		status:          counter(StatusMetric, "Activation failure status type", ns, ini, act, l(LabelStatus)),
		statusCode:      counter(StatusCodeMetric, "status code returned in action result response set by developer", ns, ini, act, l(LabelStatusCode)),
		waitTime:        histogram(WaitTimeMetric, "Internal system hold time", durationBuckets),
		initTime:        histogram(InitTimeMetric, "Time it took to initialize an action, e.g. docker init", durationBuckets),
		duration:        histogram(DurationMetric, "Actual time the action code was running", durationBuckets),
		responseSize:    histogram(ResponseSizeMetric, "Activation Response size", prometheus.LinearBuckets(0, maxActivationBytes, 10)),
		memory:          prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: MemoryMetric, Help: "Memory consumption of the action containers"}, []string{ns, ini, act}),
		limitConcurrent: counter(LimitConcurrentTotal, "a user has exceeded its limit for concurrent invocations", ns),
		limitTimed:      counter(LimitTimedTotal, "the user has reached its per minute limit for the number of invocations", ns),
		actions:         make(map[actionKey]bool),
	}
	for _, c := range []prometheus.Collector{r.activations, r.coldStarts, r.status, r.statusCode, r.waitTime, r.initTime,
		r.duration, r.responseSize, r.memory, r.limitConcurrent, r.limitTimed} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("usermetrics: register: %w", err)
		}
	}
	return r, nil
}

// HandleEvent records e, as OpenWhisk's EventConsumer and
// PrometheusRecorder do: an Activation event adds to the per-action
// metrics (unless its namespace is ignored), a Metric event counts a
// rate limit hit of its namespace. It implements userevents.Handler.
func (r *Recorder) HandleEvent(e *userevents.EventMessage) {
	switch {
	case e.Activation != nil:
		if !slices.Contains(r.cfg.IgnoredNamespaces, e.Namespace) {
			r.activation(e.Activation, e.Namespace)
		}
	case e.Metric != nil:
		switch e.Metric.MetricName {
		case userevents.MetricConcurrentRateLimit:
			r.limitConcurrent.WithLabelValues(e.Namespace).Inc()
		case userevents.MetricTimedRateLimit:
			r.limitTimed.WithLabelValues(e.Namespace).Inc()
		}
		// ConcurrentInvocations and unknown names: OpenWhisk records nothing.
	}
}

// Dropped returns how many activations were not recorded because
// MaxActions pairs were recorded already.
func (r *Recorder) Dropped() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped
}

// admit reports whether the series of k may be recorded, and whether k
// is new.
func (r *Recorder) admit(k actionKey) (ok, added bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.actions[k] {
		return true, false
	}
	if len(r.actions) >= r.cfg.MaxActions {
		r.dropped++
		return false, false
	}
	r.actions[k] = true
	return true, true
}

func (r *Recorder) activation(a *userevents.Activation, initiator string) {
	ok, added := r.admit(actionKey{initiator, a.Name})
	if !ok {
		return
	}
	ns, act := a.Namespace(), a.Action()
	if added { // OpenWhisk creates the four status series of an action at once
		for c := userevents.StatusSuccess; c <= userevents.StatusWhiskError; c++ {
			r.status.WithLabelValues(ns, initiator, act, userevents.StatusName(c))
		}
	}
	r.memory.WithLabelValues(ns, initiator, act).Set(float64(a.Memory))
	r.activations.WithLabelValues(ns, initiator, act, a.Kind, strconv.Itoa(a.Memory)).Inc()
	if a.InitTime != 0 {
		r.coldStarts.WithLabelValues(ns, initiator, act).Inc()
		r.initTime.WithLabelValues(ns, initiator, act).Observe(seconds(a.InitTime))
	}
	r.waitTime.WithLabelValues(ns, initiator, act).Observe(seconds(a.WaitTime))
	r.duration.WithLabelValues(ns, initiator, act).Observe(seconds(a.Duration))
	status := userevents.StatusName(a.StatusCode)
	if status == "" {
		status = strconv.Itoa(a.StatusCode)
	}
	r.status.WithLabelValues(ns, initiator, act, status).Inc()
	if a.Size != nil {
		r.responseSize.WithLabelValues(ns, initiator, act).Observe(float64(*a.Size))
	}
	if a.UserDefinedStatusCode != nil {
		r.statusCode.WithLabelValues(ns, initiator, act, strconv.Itoa(*a.UserDefinedStatusCode)).Inc()
	}
}

// seconds converts milliseconds to seconds.
func seconds(ms userevents.Millis) float64 { return float64(ms) / 1000 }
