package metrics_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsk-route/wsk-route/internal/agentproto"
	"github.com/wsk-route/wsk-route/internal/userevents"
	"github.com/wsk-route/wsk-route/internal/usermetrics"
	"github.com/wsk-route/wsk-route/invoker-plugin/metrics"
)

// TestDashboardMetricsExist checks that every metric the Grafana dashboard
// in docs/observability queries is one the agent (invoker-plugin/metrics)
// or the user-events recorder (internal/usermetrics) exports.
func TestDashboardMetricsExist(t *testing.T) {
	b, err := os.ReadFile("../../docs/observability/wsk-route-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.SetUserEvents(func() metrics.UserEventCounts { return metrics.UserEventCounts{} })
	// Make every labelled series exist once.
	m.AddStats("/ns/a", &agentproto.Stats{Hops: []agentproto.HopStats{{Action: "/ns/b", Transport: "shm", Hops: 1, Bytes: 1, Refused: 1, Failed: 1, Fallbacks: 1,
		Buckets: make([]uint64, len(agentproto.LatencyBuckets)+1)}}})
	m.StepRan("/ns/w", "/ns/a", time.Millisecond, 2)
	m.RunEnded("/ns/w", false, time.Millisecond)
	m.Relayed("ok", 1)
	rec, err := usermetrics.New(reg, usermetrics.Config{})
	if err != nil {
		t.Fatal(err)
	}
	rec.HandleEvent(&userevents.EventMessage{Subject: "guest", Namespace: "guest", EventType: userevents.TypeActivation,
		Activation: &userevents.Activation{Name: "guest/a", ActivationID: "x", InitTime: 1, Size: new(int)}})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, mf := range mfs {
		exported[mf.GetName()] = true
	}
	names := regexp.MustCompile(`\b(wsk_route|openwhisk_action)_[A-Za-z_]+`).FindAllString(string(b), -1)
	if len(names) < 10 {
		t.Fatalf("found only %d metric names in the dashboard: %v", len(names), names)
	}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_count"), "_sum")
		if !exported[base] {
			t.Errorf("the dashboard queries %s, which nothing exports", n)
		}
	}
}
