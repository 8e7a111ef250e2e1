package usermetrics_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/promtest"
	"github.com/wsk-route/wsk-route/internal/runevent"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/wsk-route/wsk-route/internal/userevents"
	"github.com/wsk-route/wsk-route/internal/usermetrics"
)

// TestChain runs the whole user-events chain against a real broker
// (kfake): Publisher → "<prefix>events" → Consumer → Recorder → the
// openwhisk_action_* series.
func TestChain(t *testing.T) {
	const prefix = "ow_"
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, prefix+"events"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	k := userevents.Kafka{Brokers: cluster.ListenAddrs(), TopicPrefix: prefix}
	svc, err := usermetrics.NewService(usermetrics.ServiceConfig{Consumer: userevents.ConsumerConfig{Kafka: k}})
	if err != nil {
		t.Fatal(err)
	}
	reg := svc.Registry()
	pub, err := userevents.NewPublisher(userevents.PublisherConfig{Kafka: k})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 2)
	go func() { errs <- pub.Run(ctx) }()
	go func() { errs <- svc.Run(ctx) }()
	defer func() {
		cancel()
		for range 2 {
			if err := <-errs; err != nil {
				t.Errorf("Run = %v", err)
			}
		}
	}()
	for i := range 3 {
		pub.Publish(activation("guest", "guest/wf/upper", func(a *userevents.Activation) {
			a.ActivationID = runevent.StepActivationID("run", "upper", uint32(i), "")
			a.CausedBy = userevents.CausedBySequence
		}))
	}
	key := "openwhisk_action_activations_total{action=wf/upper,initiator=guest,kind=nodejs:20,memory=256,namespace=guest}"
	deadline := time.Now().Add(20 * time.Second)
	for promtest.Samples(t, reg)[key] != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v after 20 s, want 3 (publisher %+v)", key, promtest.Samples(t, reg)[key], pub.Counts())
		}
		time.Sleep(20 * time.Millisecond)
	}
	got := promtest.Samples(t, reg)
	if d := got["openwhisk_action_duration_seconds{action=wf/upper,initiator=guest,namespace=guest}_sum"]; d != 4.5 {
		t.Errorf("duration sum %v, want 4.5", d)
	}
	if n := got["wsk_route_user_events_consumed_total{}"]; n != 3 {
		t.Errorf("consumed %v, want 3", n)
	}
	// The handler serves the same series in Prometheus' text format.
	srv := httptest.NewServer(svc.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if w := `openwhisk_action_activations_total{action="wf/upper",initiator="guest",kind="nodejs:20",memory="256",namespace="guest"} 3`; !strings.Contains(string(body), w) {
		t.Errorf("/metrics lacks %s:\n%s", w, body)
	}
}

func TestNewServiceRefuses(t *testing.T) {
	k := userevents.Kafka{Brokers: []string{"127.0.0.1:9"}}
	tests := []struct {
		name string
		cfg  usermetrics.ServiceConfig
	}{
		{"a handler of the caller's", usermetrics.ServiceConfig{Consumer: userevents.ConsumerConfig{Kafka: k, Handler: userevents.HandlerFunc(func(*userevents.EventMessage) {})}}},
		{"no brokers", usermetrics.ServiceConfig{}},
		{"clashing label names", usermetrics.ServiceConfig{Consumer: userevents.ConsumerConfig{Kafka: k}, Recorder: usermetrics.Config{RenameTags: map[string]string{"kind": "memory"}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := usermetrics.NewService(tc.cfg); err == nil {
				t.Error("NewService = nil error, want one")
			}
		})
	}
}
