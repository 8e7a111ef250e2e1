package metrics

import (
	"fmt"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsk-route/wsk-route/internal/agentproto"
	"github.com/wsk-route/wsk-route/invoker-plugin/relay"
)

// MaxSeries bounds the distinct (from action, to action, transport)
// label triples of the hop metrics kept (hops of further triples count
// under "other" for both actions), and, apart, the distinct (workflow,
// action) pairs of the run metrics.
const MaxSeries = 4096

// maxActionLen bounds an action label; longer names count as "other".
const maxActionLen = 512

const (
	otherAction    = "other" // label for actions past MaxSeries or malformed
	otherTransport = "other" // label for transports not in the known set
)

// Reasons of wsk_route_register_refusals_total, passed to RegisterRefused.
const (
	RefusalNamespaceMismatch = "namespace_mismatch" // the container is bound to another namespace
	RefusalUnidentifiedPeer  = "unidentified_peer"  // the kernel could not identify the peer
	RefusalStateError        = "state_error"        // the agent could not save its state
	RefusalUntrustedImage    = "untrusted_image"    // the container's image is not one of -trusted-images
)

// Labels of the registry recovery counters (the agent's recovery.go):
// what wsk_route_registry_restores_total put back, what
// wsk_route_registry_conflicts_total found differing.
const (
	RestoredMarker = "marker" // the cluster marker
	RestoredKey    = "key"    // a namespace's frame key
	RestoredSpec   = "spec"   // a workflow spec
	ConflictMarker = "marker" // the registry's marker is not the one the agent remembers
	ConflictKey    = "key"    // the registry's key of a namespace is not the one the agent used
)

// transports are the hop transports proxies report; "none" labels the
// hops for which no instance accepted the frame (fallbacks), "fallback"
// the OpenWhisk API invokes that then carried them.
var transports = map[string]bool{"shm": true, "unix": true, "tcp": true, "relay": true, "none": true, "fallback": true}

// Labels of the per-edge hop metrics (wsk_route_edge_*).
const (
	LabelFrom      = "from_action" // the sending proxy's action, fully qualified
	LabelTo        = "to_action"   // the destination action, fully qualified
	LabelTransport = "transport"
	// LabelOutcome (runs.go) is the outcome of a send: HopOK, HopRefused,
	// HopFailed or HopFallback.
)

// Outcomes of a hop send (wsk_route_edge_hops_total's outcome label).
const (
	HopOK       = "ok"       // the receiver acknowledged it
	HopRefused  = "refused"  // the receiver refused it; the sender tried the next candidate
	HopFailed   = "failed"   // the send failed; the sender tried the next candidate
	HopFallback = "fallback" // no candidate was left; the step went to the OpenWhisk API
)

// Metrics is the agent's set of collectors. Its methods are safe for
// concurrent use.
type Metrics struct {
	hops, hopBytes, refusals, failures, fallbacks *prometheus.CounterVec
	relayFrames, registerRefusals                 *prometheus.CounterVec
	telemetryDropped                              *prometheus.CounterVec
	relayBytes, shmSwept, registryErrors          prometheus.Counter
	proxies, instances                            prometheus.Gauge
	latency                                       *latencyCollector
	edgeHops, edgeBytes                           *prometheus.CounterVec

	// runs, from the entries' end events; steps, from their records
	runs                   *prometheus.CounterVec
	runDuration, stepsTook *prometheus.HistogramVec
	stepRetries            *prometheus.CounterVec
	runSeries              *seriesGuard
	userEvents             *userEventsCollector
	records                *recordsCollector

	// registry recovery
	registryLosses                      prometheus.Counter
	registryRestores, registryConflicts *prometheus.CounterVec
}

// New creates the collectors and registers them with reg.
func New(reg prometheus.Registerer) (*Metrics, error) {
	if reg == nil {
		return nil, fmt.Errorf("metrics: nil Registerer")
	}
	hopLabels := []string{"action", "transport"}
	edgeLabels := []string{LabelFrom, LabelTo, LabelTransport}
	counterVec := func(name, help string, labels []string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	m := &Metrics{
		hops:        counterVec("wsk_route_hops_total", "Direct hops acknowledged OK, by destination action and transport.", hopLabels),
		hopBytes:    counterVec("wsk_route_hop_bytes_total", "Payload bytes of the hops acknowledged OK.", hopLabels),
		refusals:    counterVec("wsk_route_hop_refusals_total", "Hops refused by their receiver (busy, bad tag, ...).", hopLabels),
		failures:    counterVec("wsk_route_hop_failures_total", "Hop sends that failed (unreachable, timeout).", hopLabels),
		fallbacks:   counterVec("wsk_route_fallbacks_total", "Hops for which no candidate was left and the sender fell back to the OpenWhisk API.", hopLabels),
		relayFrames: counterVec("wsk_route_relay_frames_total", "Frames handled by this agent's relay, by result.", []string{"result"}),
		telemetryDropped: counterVec("wsk_route_proxy_telemetry_dropped_total",
			"Activation records and run ends a proxy dropped before they reached the agent (its queue was full, or it had no session).", []string{"action"}),
		registerRefusals: counterVec("wsk_route_register_refusals_total",
			"Proxy registrations refused for tenancy reasons (namespace_mismatch, unidentified_peer, state_error).", []string{"reason"}),
		relayBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wsk_route_relay_bytes_total", Help: "Payload bytes of the frames the relay delivered."}),
		shmSwept: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wsk_route_shm_swept_total", Help: "Expired shm segments removed by the agent's sweeper."}),
		registryErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wsk_route_registry_errors_total", Help: "Failed calls to the registry (Consul)."}),
		proxies: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "wsk_route_proxies", Help: "Proxies registered through this agent."}),
		instances: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "wsk_route_instances", Help: "Instances in the agent's route table (all hosts)."}),
		latency: newLatencyCollector(),
		edgeHops: counterVec("wsk_route_edge_hops_total",
			"Direct hop sends by edge (the sending proxy's action, the destination action), transport and outcome (ok, refused, failed, fallback).",
			append(edgeLabels, LabelOutcome)),
		edgeBytes: counterVec("wsk_route_edge_bytes_total", "Payload bytes of the hops acknowledged OK, by edge and transport.", edgeLabels),
		runs: counterVec("wsk_route_runs_total",
			"Workflow runs ended at an entry of this host, by workflow (the entry action) and outcome (ok, failed); runs followed with wsk-route invoke --watch only.",
			[]string{LabelWorkflow, LabelOutcome}),
		runDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "wsk_route_run_duration_seconds",
			Help:    "Duration of the workflow runs ended at an entry of this host, as their entries measured it.",
			Buckets: RunBuckets}, []string{LabelWorkflow, LabelOutcome}),
		stepsTook: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "wsk_route_step_duration_seconds",
			Help:    "Duration of the workflow steps reported to an entry of this host, by workflow (the entry action) and the step's action.",
			Buckets: RunBuckets}, []string{LabelWorkflow, LabelAction}),
		stepRetries: counterVec("wsk_route_step_retries_total",
			"Runs of a step's action again by its workflow's retry, by workflow (the entry action) and the step's action, counted by the host that ran the step.",
			[]string{LabelWorkflow, LabelAction}),
		runSeries:  newSeriesGuard(),
		userEvents: &userEventsCollector{},
		records:    &recordsCollector{},
		registryLosses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wsk_route_registry_losses_total", Help: "Times the agent found the registry without the cluster marker it remembers: the registry lost its data."}),
		registryRestores: counterVec("wsk_route_registry_restores_total",
			"Values the agent put back from its copy into a registry that had lost them, by what (marker, key, spec).", []string{"what"}),
		registryConflicts: counterVec("wsk_route_registry_conflicts_total",
			"Registry values that differ from the agent's copy, followed as the registry has them, by what (marker, key).", []string{"what"}),
	}
	for _, r := range []string{RefusalNamespaceMismatch, RefusalUnidentifiedPeer, RefusalStateError, RefusalUntrustedImage} {
		m.registerRefusals.WithLabelValues(r)
	}
	for _, w := range []string{RestoredMarker, RestoredKey, RestoredSpec} {
		m.registryRestores.WithLabelValues(w)
	}
	for _, w := range []string{ConflictMarker, ConflictKey} {
		m.registryConflicts.WithLabelValues(w)
	}
	for _, c := range []prometheus.Collector{m.registryLosses, m.registryRestores, m.registryConflicts} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: register: %w", err)
		}
	}
	for _, c := range []prometheus.Collector{m.hops, m.hopBytes, m.refusals, m.failures, m.fallbacks, m.telemetryDropped,
		m.relayFrames, m.registerRefusals, m.relayBytes, m.shmSwept, m.registryErrors, m.proxies, m.instances, m.latency,
		m.edgeHops, m.edgeBytes, m.runs, m.runDuration, m.stepsTook, m.stepRetries, m.userEvents, m.records} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: register: %w", err)
		}
	}
	return m, nil
}

// AddStats adds the deltas of one Stats message from a proxy of action
// from (fully qualified; the agent's record of the proxy's registration,
// not a value the proxy sends with its stats). Malformed entries (a
// bucket count that does not match agentproto.LatencyBuckets) count their
// hops but not their latency.
func (m *Metrics) AddStats(from string, st *agentproto.Stats) {
	if st == nil {
		return
	}
	if st.TelemetryDropped > 0 {
		m.telemetryDropped.WithLabelValues(actionLabel(from)).Add(float64(st.TelemetryDropped))
	}
	for i := range st.Hops {
		h := &st.Hops[i]
		s := m.latency.labels(from, h.Action, h.Transport)
		// The metrics by destination (wsk_route_hops_total, ...) and by
		// edge (wsk_route_edge_*) count the same hops.
		add := func(v *prometheus.CounterVec, outcome string, n uint64) {
			if n > 0 {
				v.WithLabelValues(s.to, s.transport).Add(float64(n))
				if outcome != "" {
					m.edgeHops.WithLabelValues(s.from, s.to, s.transport, outcome).Add(float64(n))
				}
			}
		}
		// An edge's ok, refused and failed series exist from its first
		// stats on, at 0 if need be: rate() and increase() miss the
		// first increment of a series that appears with it. (Transport
		// "none" only ever counts fallbacks.)
		if s.transport != "none" {
			for _, o := range []string{HopOK, HopRefused, HopFailed} {
				m.edgeHops.WithLabelValues(s.from, s.to, s.transport, o)
			}
		}
		add(m.hops, HopOK, h.Hops)
		add(m.hopBytes, "", h.Bytes)
		add(m.refusals, HopRefused, h.Refused)
		add(m.failures, HopFailed, h.Failed)
		add(m.fallbacks, HopFallback, h.Fallbacks)
		if h.Bytes > 0 {
			m.edgeBytes.WithLabelValues(s.from, s.to, s.transport).Add(float64(h.Bytes))
		}
		m.latency.add(s, h.Buckets, h.SumSeconds)
	}
}

// Relayed counts one frame the relay handled with result r and, for
// relay.ResultOK, its payload bytes. It has the type of relay.Relay's
// Observe.
func (m *Metrics) Relayed(r relay.Result, bytes int) {
	m.relayFrames.WithLabelValues(string(r)).Inc()
	if r == relay.ResultOK && bytes > 0 {
		m.relayBytes.Add(float64(bytes))
	}
}

// RegisterRefused counts one proxy registration refused for reason
// (RefusalNamespaceMismatch, ...).
func (m *Metrics) RegisterRefused(reason string) { m.registerRefusals.WithLabelValues(reason).Inc() }

// SetProxies sets the number of proxies registered through the agent.
func (m *Metrics) SetProxies(n int) { m.proxies.Set(float64(n)) }

// SetInstances sets the number of instances in the route table.
func (m *Metrics) SetInstances(n int) { m.instances.Set(float64(n)) }

// Swept counts n shm segments removed by a sweep.
func (m *Metrics) Swept(n int) {
	if n > 0 {
		m.shmSwept.Add(float64(n))
	}
}

// RegistryError counts one failed registry call.
func (m *Metrics) RegistryError() { m.registryErrors.Inc() }

// RegistryLost counts one registry found without the marker the agent
// remembers.
func (m *Metrics) RegistryLost() { m.registryLosses.Inc() }

// RegistryRestored counts n values of kind what (RestoredMarker, ...) put
// back into a registry that had lost them.
func (m *Metrics) RegistryRestored(what string, n int) {
	if n > 0 {
		m.registryRestores.WithLabelValues(what).Add(float64(n))
	}
}

// RegistryConflict counts one registry value of kind what (ConflictMarker,
// ConflictKey) that differs from the agent's copy.
func (m *Metrics) RegistryConflict(what string) { m.registryConflicts.WithLabelValues(what).Inc() }

// series is one (from action, to action, transport) triple.
type series struct{ from, to, transport string }

// hist is the accumulated latency histogram of one series.
type hist struct {
	buckets []uint64 // non-cumulative, len(LatencyBuckets)+1 (the last is +Inf)
	sum     float64
}

// latencyCollector emits wsk_route_edge_latency_seconds (by edge) and
// wsk_route_hop_latency_seconds (the same, summed by destination) as
// const histograms from the counts the proxies sent.
type latencyCollector struct {
	desc, edgeDesc *prometheus.Desc

	mu    sync.Mutex // guards known and hists
	known map[series]bool
	hists map[series]*hist
}

func newLatencyCollector() *latencyCollector {
	return &latencyCollector{
		desc: prometheus.NewDesc("wsk_route_hop_latency_seconds",
			"Latency of the direct hops acknowledged OK, as measured by their senders.",
			[]string{"action", "transport"}, nil),
		edgeDesc: prometheus.NewDesc("wsk_route_edge_latency_seconds",
			"Latency of the direct hops acknowledged OK, as measured by their senders, by edge and transport.",
			[]string{LabelFrom, LabelTo, LabelTransport}, nil),
		known: make(map[series]bool),
		hists: make(map[series]*hist),
	}
}

// labels maps untrusted label values to the ones kept, admitting at most
// MaxSeries distinct triples; past that, both actions become "other".
func (c *latencyCollector) labels(from, to, transport string) series {
	if !transports[transport] {
		transport = otherTransport
	}
	from, to = actionLabel(from), actionLabel(to)
	s := series{from, to, transport}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.known[s] {
		return s
	}
	if len(c.known) >= MaxSeries {
		return series{otherAction, otherAction, transport}
	}
	c.known[s] = true
	return s
}

// actionLabel returns action if it looks like a fully qualified action
// name of bounded length, else "other".
func actionLabel(action string) string {
	if action == "" || len(action) > maxActionLen || !strings.HasPrefix(action, "/") {
		return otherAction
	}
	return action
}

func (c *latencyCollector) add(s series, buckets []uint64, sum float64) {
	if len(buckets) != len(agentproto.LatencyBuckets)+1 {
		return
	}
	if sum < 0 || sum != sum { // negative or NaN
		sum = 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.hists[s]
	if h == nil {
		h = &hist{buckets: make([]uint64, len(buckets))}
		c.hists[s] = h
	}
	for i, n := range buckets {
		h.buckets[i] += n
	}
	h.sum += sum
}

// Describe implements prometheus.Collector.
func (c *latencyCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.desc
	ch <- c.edgeDesc
}

// point is one histogram to emit: cumulative bucket counts.
type point struct {
	count   uint64
	sum     float64
	buckets map[float64]uint64
}

// add adds the non-cumulative counts of h to p.
func (p *point) add(h *hist) {
	if p.buckets == nil {
		p.buckets = make(map[float64]uint64, len(agentproto.LatencyBuckets))
	}
	var cum uint64
	for i, bound := range agentproto.LatencyBuckets {
		cum += h.buckets[i]
		p.buckets[bound] += cum
	}
	p.count += cum + h.buckets[len(h.buckets)-1]
	p.sum += h.sum
}

// Collect implements prometheus.Collector.
func (c *latencyCollector) Collect(ch chan<- prometheus.Metric) {
	type dest struct{ to, transport string }
	c.mu.Lock()
	edges := make(map[series]*point, len(c.hists))
	dests := make(map[dest]*point)
	for s, h := range c.hists {
		e := &point{}
		e.add(h)
		edges[s] = e
		d := dests[dest{s.to, s.transport}]
		if d == nil {
			d = &point{}
			dests[dest{s.to, s.transport}] = d
		}
		d.add(h)
	}
	c.mu.Unlock()
	for s, p := range edges {
		ch <- prometheus.MustNewConstHistogram(c.edgeDesc, p.count, p.sum, p.buckets, s.from, s.to, s.transport)
	}
	for d, p := range dests {
		ch <- prometheus.MustNewConstHistogram(c.desc, p.count, p.sum, p.buckets, d.to, d.transport)
	}
}
