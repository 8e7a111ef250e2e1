package metrics_test

import (
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsk-route/wsk-route/internal/agentproto"
	"github.com/wsk-route/wsk-route/internal/promtest"
	"github.com/wsk-route/wsk-route/invoker-plugin/metrics"
	"github.com/wsk-route/wsk-route/invoker-plugin/relay"
)

func TestAddStats(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	buckets := make([]uint64, len(agentproto.LatencyBuckets)+1)
	buckets[0], buckets[3], buckets[len(buckets)-1] = 2, 1, 1
	hop := agentproto.HopStats{Action: "/ns/a", Transport: "shm", Hops: 4, Bytes: 100, Refused: 1, Failed: 2, Fallbacks: 3, Buckets: buckets, SumSeconds: 0.5}
	for range 2 { // deltas add up
		m.AddStats("/ns/src", &agentproto.Stats{Hops: []agentproto.HopStats{hop}})
	}
	m.AddStats("/ns/src", &agentproto.Stats{Hops: []agentproto.HopStats{{Action: "bogus", Transport: "carrier-pigeon", Hops: 1}}})
	m.AddStats("/ns/other", &agentproto.Stats{Hops: []agentproto.HopStats{{Action: "/ns/a", Transport: "fallback", Hops: 1}}})
	// A second edge into /ns/a over shm: its latency adds to the histogram
	// by destination, not to the first edge's.
	third := make([]uint64, len(agentproto.LatencyBuckets)+1)
	third[0], third[2] = 1, 1
	m.AddStats("/ns/third", &agentproto.Stats{Hops: []agentproto.HopStats{{Action: "/ns/a", Transport: "shm", Buckets: third, SumSeconds: 0.5}}})
	m.AddStats("/ns/src", nil)
	m.AddStats("/ns/src", &agentproto.Stats{TelemetryDropped: 3})
	m.Relayed(relay.ResultOK, 10)
	m.Relayed(relay.ResultUnknown, 10)
	m.SetProxies(3)
	m.SetInstances(7)
	m.Swept(2)
	m.RegistryError()
	m.RegisterRefused(metrics.RefusalNamespaceMismatch)

	got := promtest.Samples(t, reg)
	l := "{action=/ns/a,transport=shm}"
	e := "{from_action=/ns/src,to_action=/ns/a,transport=shm}"
	eo := func(outcome string) string {
		return "{from_action=/ns/src,outcome=" + outcome + ",to_action=/ns/a,transport=shm}"
	}
	want := map[string]float64{
		"wsk_route_hops_total" + l:                                                                  8,
		"wsk_route_proxy_telemetry_dropped_total{action=/ns/src}":                                   3,
		"wsk_route_hop_bytes_total" + l:                                                             200,
		"wsk_route_hop_refusals_total" + l:                                                          2,
		"wsk_route_hop_failures_total" + l:                                                          4,
		"wsk_route_fallbacks_total" + l:                                                             6,
		"wsk_route_hops_total{action=other,transport=other}":                                        1,
		"wsk_route_hops_total{action=/ns/a,transport=fallback}":                                     1,
		"wsk_route_hop_latency_seconds" + l + "_count":                                              10,
		"wsk_route_hop_latency_seconds" + l + "_sum":                                                1.5,
		"wsk_route_hop_latency_seconds" + l + "_le_5e-06":                                           5,
		"wsk_route_hop_latency_seconds" + l + "_le_5e-05":                                           8,
		"wsk_route_hop_latency_seconds" + l + "_le_5":                                               8,
		"wsk_route_edge_hops_total" + eo("ok"):                                                      8,
		"wsk_route_edge_hops_total" + eo("refused"):                                                 2,
		"wsk_route_edge_hops_total" + eo("failed"):                                                  4,
		"wsk_route_edge_hops_total" + eo("fallback"):                                                6,
		"wsk_route_edge_hops_total{from_action=/ns/src,outcome=ok,to_action=other,transport=other}": 1,
		"wsk_route_edge_bytes_total" + e:                                                            200,
		"wsk_route_edge_latency_seconds" + e + "_count":                                             8,
		"wsk_route_edge_latency_seconds" + e + "_sum":                                               1,
		"wsk_route_edge_latency_seconds" + e + "_le_5e-06":                                          4,
		"wsk_route_edge_latency_seconds" + e + "_le_5e-05":                                          6,
		"wsk_route_edge_latency_seconds{from_action=/ns/third,to_action=/ns/a,transport=shm}_count": 2,
		"wsk_route_relay_frames_total{result=ok}":                                                   1,
		"wsk_route_relay_frames_total{result=unknown}":                                              1,
		"wsk_route_relay_bytes_total{}":                                                             10,
		"wsk_route_proxies{}":                                                                       3,
		"wsk_route_instances{}":                                                                     7,
		"wsk_route_shm_swept_total{}":                                                               2,
		"wsk_route_registry_errors_total{}":                                                         1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	// An edge that only had OK hops has its refused and failed series,
	// at 0, for rate() to see their first increment.
	for _, o := range []string{"refused", "failed"} {
		k := "wsk_route_edge_hops_total{from_action=/ns/third,outcome=" + o + ",to_action=/ns/a,transport=shm}"
		if v, ok := got[k]; !ok || v != 0 {
			t.Errorf("%s = %v (present %v), want a 0", k, v, ok)
		}
	}
	refusals := map[string]float64{ // all pre-seeded
		metrics.RefusalNamespaceMismatch: 1,
		metrics.RefusalUnidentifiedPeer:  0,
		metrics.RefusalStateError:        0,
		metrics.RefusalUntrustedImage:    0,
	}
	for r, want := range refusals {
		if v, ok := got["wsk_route_register_refusals_total{reason="+r+"}"]; !ok || v != want {
			t.Errorf("register refusals{reason=%s} = %v (present %v), want %v", r, v, ok, want)
		}
	}
}

func TestSeriesBound(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range metrics.MaxSeries + 10 {
		m.AddStats("/ns/src", &agentproto.Stats{Hops: []agentproto.HopStats{{Action: fmt.Sprintf("/ns/a%d", i), Transport: "tcp", Hops: 1}}})
	}
	got := promtest.Samples(t, reg)
	if n := got["wsk_route_hops_total{action=other,transport=tcp}"]; n != 10 {
		t.Errorf("hops past MaxSeries counted under other: %v, want 10", n)
	}
	if n := got["wsk_route_edge_hops_total{from_action=other,outcome=ok,to_action=other,transport=tcp}"]; n != 10 {
		t.Errorf("hops past MaxSeries counted under other: %v, want 10", n)
	}
}

func TestNewNilRegisterer(t *testing.T) {
	if _, err := metrics.New(nil); err == nil {
		t.Fatal("New(nil) succeeded")
	}
}

// BenchmarkAddStats measures the agent's work for one proxy's stats
// message of one edge (a proxy sends at most one message a second, with
// one entry per edge and transport it used).
func BenchmarkAddStats(b *testing.B) {
	m, err := metrics.New(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	buckets := make([]uint64, len(agentproto.LatencyBuckets)+1)
	buckets[3] = 10
	st := &agentproto.Stats{Hops: []agentproto.HopStats{{Action: "/guest/words", Transport: "shm", Hops: 10, Bytes: 1000, Refused: 1, Buckets: buckets, SumSeconds: 0.0004}}}
	b.ReportAllocs()
	for b.Loop() {
		m.AddStats("/guest/upper", st)
	}
}
