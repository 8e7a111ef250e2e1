package usermetrics_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsk-route/wsk-route/internal/promtest"
	"github.com/wsk-route/wsk-route/internal/userevents"
	"github.com/wsk-route/wsk-route/internal/usermetrics"
)

func intp(n int) *int { return &n }

// activation returns an Activation event of initiator for action name.
func activation(initiator, name string, edit func(*userevents.Activation)) *userevents.EventMessage {
	a := &userevents.Activation{Name: name, ActivationID: "0123456789abcdef0123456789abcdef", Kind: "nodejs:20", Memory: 256,
		Duration: 1500, WaitTime: 20}
	if edit != nil {
		edit(a)
	}
	return &userevents.EventMessage{Source: "invoker0", Subject: initiator + "-subject", Namespace: initiator,
		EventType: userevents.TypeActivation, Timestamp: 1, Activation: a}
}

func metric(ns, name string) *userevents.EventMessage {
	return &userevents.EventMessage{Source: "controller0", Subject: "guest", Namespace: ns, EventType: userevents.TypeMetric,
		Timestamp: 1, Metric: &userevents.Metric{MetricName: name, MetricValue: 1}}
}

func TestRecord(t *testing.T) {
	l := "{action=pkg/hello,initiator=guest,namespace=guest}"
	tests := []struct {
		name   string
		cfg    usermetrics.Config
		events []*userevents.EventMessage
		want   map[string]float64 // samples that must be there with these values
		absent []string           // sample keys that must not be there
	}{
		{
			name: "warm success",
			events: []*userevents.EventMessage{activation("guest", "guest/pkg/hello", func(a *userevents.Activation) {
				a.Size = intp(3 << 20)
			})},
			want: map[string]float64{
				"openwhisk_action_activations_total{action=pkg/hello,initiator=guest,kind=nodejs:20,memory=256,namespace=guest}": 1,
				"openwhisk_action_status{action=pkg/hello,initiator=guest,namespace=guest,status=success}":                       1,
				"openwhisk_action_status{action=pkg/hello,initiator=guest,namespace=guest,status=application error}":             0,
				"openwhisk_action_status{action=pkg/hello,initiator=guest,namespace=guest,status=action developer error}":        0,
				"openwhisk_action_status{action=pkg/hello,initiator=guest,namespace=guest,status=whisk internal error}":          0,
				"openwhisk_action_duration_seconds" + l + "_count":                                                               1,
				"openwhisk_action_duration_seconds" + l + "_sum":                                                                 1.5,
				"openwhisk_action_duration_seconds" + l + "_le_1":                                                                0,
				"openwhisk_action_duration_seconds" + l + "_le_2.5":                                                              1,
				"openwhisk_action_waitTime_seconds" + l + "_sum":                                                                 0.02,
				"openwhisk_action_response_size_bytes" + l + "_le_3.145728e+06":                                                  1,
				"openwhisk_action_response_size_bytes" + l + "_le_2.097152e+06":                                                  0,
				"openwhisk_action_memory" + l:                                                                                    256,
			},
			absent: []string{"openwhisk_action_coldStarts_total" + l, "openwhisk_action_initTime_seconds" + l + "_count"},
		},
		{
			name: "cold start with a developer status code, twice",
			events: []*userevents.EventMessage{
				activation("guest", "guest/pkg/hello", func(a *userevents.Activation) {
					a.InitTime, a.StatusCode, a.UserDefinedStatusCode = 300, userevents.StatusApplicationError, intp(404)
				}),
				activation("guest", "guest/pkg/hello", func(a *userevents.Activation) { a.UserDefinedStatusCode = intp(404) }),
			},
			want: map[string]float64{
				"openwhisk_action_coldStarts_total" + l:                                                              1,
				"openwhisk_action_initTime_seconds" + l + "_sum":                                                     0.3,
				"openwhisk_action_status{action=pkg/hello,initiator=guest,namespace=guest,status=application error}": 1,
				"openwhisk_action_status{action=pkg/hello,initiator=guest,namespace=guest,status=success}":           1,
				"openwhisk_action_status_code{action=pkg/hello,initiator=guest,namespace=guest,status_code=404}":     2,
				"openwhisk_action_duration_seconds" + l + "_count":                                                   2,
			},
		},
		{
			name: "action of another namespace, initiated by guest",
			events: []*userevents.EventMessage{
				activation("guest", "whisk.system/utils/echo", nil),
			},
			want: map[string]float64{
				"openwhisk_action_activations_total{action=utils/echo,initiator=guest,kind=nodejs:20,memory=256,namespace=whisk.system}": 1,
			},
		},
		{
			name: "rate limit metrics",
			events: []*userevents.EventMessage{
				metric("guest", userevents.MetricConcurrentRateLimit), metric("guest", userevents.MetricTimedRateLimit),
				metric("guest", userevents.MetricTimedRateLimit), metric("guest", userevents.MetricConcurrentInvocations),
			},
			want: map[string]float64{
				"openwhisk_action_limit_concurrent_total{namespace=guest}": 1,
				"openwhisk_action_limit_timed_total{namespace=guest}":      2,
			},
		},
		{
			name:   "ignored namespace",
			cfg:    usermetrics.Config{IgnoredNamespaces: []string{"canary"}},
			events: []*userevents.EventMessage{activation("canary", "canary/probe", nil), activation("guest", "guest/pkg/hello", nil)},
			want: map[string]float64{
				"openwhisk_action_activations_total{action=pkg/hello,initiator=guest,kind=nodejs:20,memory=256,namespace=guest}": 1,
			},
			absent: []string{"openwhisk_action_activations_total{action=probe,initiator=canary,kind=nodejs:20,memory=256,namespace=canary}"},
		},
		{
			name:   "renamed tags",
			cfg:    usermetrics.Config{RenameTags: map[string]string{"namespace": "ow_namespace", "status": "ow_status"}},
			events: []*userevents.EventMessage{activation("guest", "guest/pkg/hello", nil)},
			want: map[string]float64{
				"openwhisk_action_status{action=pkg/hello,initiator=guest,ow_namespace=guest,ow_status=success}": 1,
			},
		},
		{
			name:   "over MaxActions",
			cfg:    usermetrics.Config{MaxActions: 1},
			events: []*userevents.EventMessage{activation("guest", "guest/a", nil), activation("guest", "guest/b", nil), activation("guest", "guest/a", nil)},
			want: map[string]float64{
				"openwhisk_action_activations_total{action=a,initiator=guest,kind=nodejs:20,memory=256,namespace=guest}": 2,
			},
			absent: []string{"openwhisk_action_activations_total{action=b,initiator=guest,kind=nodejs:20,memory=256,namespace=guest}"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			r, err := usermetrics.New(reg, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range tc.events {
				if err := e.Check(); err != nil {
					t.Fatalf("test event: %v", err)
				}
				r.HandleEvent(e)
			}
			got := promtest.Samples(t, reg)
			for k, w := range tc.want {
				if g, ok := got[k]; !ok || g != w {
					t.Errorf("%s = %v (present %v), want %v", k, g, ok, w)
				}
			}
			for _, k := range tc.absent {
				if g, ok := got[k]; ok {
					t.Errorf("%s = %v, want no such series", k, g)
				}
			}
			if t.Failed() {
				t.Logf("samples: %v", got)
			}
		})
	}
}

func TestDropped(t *testing.T) {
	r, err := usermetrics.New(prometheus.NewRegistry(), usermetrics.Config{MaxActions: 1})
	if err != nil {
		t.Fatal(err)
	}
	r.HandleEvent(activation("guest", "guest/a", nil))
	r.HandleEvent(activation("guest", "guest/b", nil))
	r.HandleEvent(activation("other", "guest/a", nil)) // another initiator: another series
	if d := r.Dropped(); d != 2 {
		t.Errorf("Dropped = %d, want 2", d)
	}
}

func TestNewRefuses(t *testing.T) {
	if _, err := usermetrics.New(nil, usermetrics.Config{}); err == nil {
		t.Error("New(nil) = nil error, want one")
	}
	if _, err := usermetrics.New(prometheus.NewRegistry(), usermetrics.Config{RenameTags: map[string]string{"namespace": "action"}}); err == nil {
		t.Error("New with namespace renamed to action = nil error, want one")
	}
	reg := prometheus.NewRegistry()
	if _, err := usermetrics.New(reg, usermetrics.Config{}); err != nil {
		t.Fatal(err)
	}
	if _, err := usermetrics.New(reg, usermetrics.Config{}); err == nil {
		t.Error("a second Recorder in the same registry = nil error, want one")
	}
}
