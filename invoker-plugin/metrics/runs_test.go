package metrics_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsk-route/wsk-route/internal/promtest"
	"github.com/wsk-route/wsk-route/invoker-plugin/metrics"
)

func TestRunsAndSteps(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.StepRan("/ns/flow", "/ns/upper", 2*time.Millisecond, 0)
	m.StepRan("/ns/flow", "/ns/upper", 4*time.Millisecond, 3)
	m.StepRan("/ns/flow", "", time.Millisecond, 1) // step action unknown
	m.RunEnded("/ns/flow", false, 0)               // duration not reported
	m.RunEnded("/ns/flow", false, 20*time.Millisecond)
	m.RunEnded("/ns/flow", true, 0)
	m.RunEnded("/ns/fine", false, 0)
	got := promtest.Samples(t, reg)
	// A workflow's failed series is there, at 0, before its first failure.
	if n, ok := got["wsk_route_runs_total{outcome=failed,workflow=/ns/fine}"]; !ok || n != 0 {
		t.Errorf("failed runs of a workflow that never failed: %v (present %v), want a 0", n, ok)
	}
	step := "wsk_route_step_duration_seconds{action=/ns/upper,workflow=/ns/flow}"
	want := map[string]float64{
		step + "_count":    2,
		step + "_sum":      0.006,
		step + "_le_0.001": 0,
		step + "_le_0.005": 2,
		"wsk_route_step_duration_seconds{action=other,workflow=/ns/flow}_count": 1,
		"wsk_route_step_retries_total{action=/ns/upper,workflow=/ns/flow}":      2,
		"wsk_route_runs_total{outcome=ok,workflow=/ns/flow}":                    2,
		"wsk_route_runs_total{outcome=failed,workflow=/ns/flow}":                1,
		"wsk_route_run_duration_seconds{outcome=ok,workflow=/ns/flow}_count":    1,
		"wsk_route_run_duration_seconds{outcome=ok,workflow=/ns/flow}_le_0.025": 1,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if _, ok := got["wsk_route_step_retries_total{action=other,workflow=/ns/flow}"]; ok {
		t.Errorf("a step run once counted a retry")
	}
	if _, ok := got["wsk_route_run_duration_seconds{outcome=failed,workflow=/ns/flow}_count"]; ok {
		t.Errorf("a failed run without a duration observed a duration")
	}
	for i := range metrics.MaxSeries + 3 {
		m.StepRan("/ns/flow", fmt.Sprintf("/ns/s%d", i), time.Millisecond, 0)
	}
	// Four pairs are known already (upper, other, and the runs' pairs of
	// flow and fine), so 7 of the MaxSeries+3 new ones find no room.
	if n := promtest.Samples(t, reg)["wsk_route_step_duration_seconds{action=other,workflow=other}_count"]; n != 7 {
		t.Errorf("steps past MaxSeries under other/other: %v, want 7", n)
	}
}

func TestUserEventCounters(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	for k := range promtest.Samples(t, reg) {
		if len(k) > len("wsk_route_user_events") && k[:len("wsk_route_user_events")] == "wsk_route_user_events" {
			t.Errorf("%s exported before SetUserEvents, want no user-event series while they are off", k)
		}
	}
	n := metrics.UserEventCounts{Published: 5, Failed: 1, DroppedFull: 2, DroppedInvalid: 3, DroppedStopped: 4, ConnectFailures: 7}
	m.SetUserEvents(func() metrics.UserEventCounts { return n })
	got := promtest.Samples(t, reg)
	want := map[string]float64{
		"wsk_route_user_events_published_total{}":                5,
		"wsk_route_user_events_failed_total{}":                   1,
		"wsk_route_user_events_dropped_total{reason=queue_full}": 2,
		"wsk_route_user_events_dropped_total{reason=invalid}":    3,
		"wsk_route_user_events_dropped_total{reason=stopped}":    4,
		"wsk_route_user_events_connect_failures_total{}":         7,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
}

func TestActivationRecordCounts(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := promtest.Samples(t, reg)["wsk_route_activation_records_total{result=written}"]; ok {
		t.Error("record counters exported without an activation store")
	}
	counts := metrics.RecordCounts{Written: 7, Failed: 2, Dropped: 1}
	m.SetActivationRecords(func() metrics.RecordCounts { return counts })
	got := promtest.Samples(t, reg)
	for k, v := range map[string]float64{
		"wsk_route_activation_records_total{result=written}": 7,
		"wsk_route_activation_records_total{result=failed}":  2,
		"wsk_route_activation_records_total{result=dropped}": 1,
	} {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if v, ok := got["wsk_route_action_lookup_failures_total{}"]; ok {
		t.Errorf("wsk_route_action_lookup_failures_total = %v exported for a store that looks up no actions", v)
	}
	counts.LooksUpActions, counts.LookupFailures = true, 3
	if v, ok := promtest.Samples(t, reg)["wsk_route_action_lookup_failures_total{}"]; !ok || v != 3 {
		t.Errorf("wsk_route_action_lookup_failures_total = %v (present %v), want 3", v, ok)
	}
}
