package agent_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/wsk-route/wsk-route/internal/agentproto"
	"github.com/wsk-route/wsk-route/internal/runevent"
	"github.com/wsk-route/wsk-route/internal/userevents"
	"github.com/wsk-route/wsk-route/invoker-plugin/agent"
)

// readTopic reads n messages of topic (every partition, from the oldest)
// with a plain sarama consumer.
func readTopic(t *testing.T, brokers []string, topic string, n int) []string {
	t.Helper()
	cons, err := sarama.NewConsumer(brokers, sarama.NewConfig())
	if err != nil {
		t.Fatalf("sarama consumer: %v", err)
	}
	defer cons.Close()
	parts, err := cons.Partitions(topic)
	if err != nil {
		t.Fatal(err)
	}
	msgs := make(chan string, 64)
	var wg sync.WaitGroup
	var pcs []sarama.PartitionConsumer
	for _, p := range parts {
		pc, err := cons.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		pcs = append(pcs, pc)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := range pc.Messages() {
				msgs <- string(m.Value)
			}
		}()
	}
	defer func() {
		for _, pc := range pcs {
			pc.AsyncClose()
		}
		wg.Wait()
	}()
	var out []string
	deadline := time.After(waitTimeout)
	for len(out) < n {
		select {
		case m := <-msgs:
			out = append(out, m)
		case <-deadline:
			t.Fatalf("read %d messages of %s, want %d", len(out), topic, n)
		}
	}
	return out
}

// TestUserEventsOfSteps sends a step's activation record and an entry's
// end event to an agent with user events on and reads the events topic
// (with OpenWhisk's prefix) of a real broker: one OpenWhisk Activation
// event for the step, named as its record, and the run, step and
// user-event metrics.
func TestUserEventsOfSteps(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "ow_events"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close) // after the agent's cleanup: registered first
	brokers := cluster.ListenAddrs()
	a := startAgent(t, "hostA", newStore(t), func(c *agent.Config) {
		c.MetricsListen = "127.0.0.1:0"
		c.UserEvents = &userevents.PublisherConfig{Kafka: userevents.Kafka{Brokers: brokers, TopicPrefix: "ow_"}}
	})
	entry := newProxy(t, a, "guest", "flow")
	// upper's proxy says the uuid of its action's key, as a proxy does
	// from __OW_API_KEY: the events name it as their userId.
	reg := register(a, "guest", "upper")
	reg.User = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502"
	upper := newProxyAs(t, a, reg)
	// The record of a step upper ran (the proxy that ran a step sends it);
	// a step that went through the OpenWhisk API has none.
	id := runevent.StepActivationID("run1", "up", 0, "")
	upper.send(&agentproto.Message{Type: agentproto.TypeActivation, Activation: &agentproto.Activation{ActivationID: id,
		Cause: strings.Repeat("ab", 16), Start: 1700000000111, End: 1700000000123, Result: []byte(`{}`), Workflow: "flow", Step: "up"}})
	// The entry's end event of a run nobody watches: run metrics only.
	entry.send(&agentproto.Message{Type: agentproto.TypeRunEvent, RunEvent: &runevent.Event{Run: "run1", Seq: 1, Kind: runevent.KindEnd,
		Unwatched: true, TimeMS: 1700000000126}})

	want := `{"source":"wsk-route-agent@hostA","body":{"name":"guest/upper","activationId":"` +
		id + `","statusCode":0,"duration":12,"waitTime":0,"initTime":0,` +
		`"kind":"unknown","conductor":false,"memory":0,"causedBy":"sequence"},"subject":"guest","namespace":"guest",` +
		`"userId":"23bc46b1-71f6-4ed5-8c54-816aa4f8c502","eventType":"Activation","timestamp":1700000000123}`
	got := readTopic(t, brokers, "ow_events", 1)
	if got[0] != want {
		t.Errorf("event on ow_events:\ngot  %s\nwant %s", got[0], want)
	}
	if _, err := userevents.Parse([]byte(got[0])); err != nil {
		t.Errorf("the agent's event does not parse as OpenWhisk's: %v", err)
	}
	wantMetrics := []string{
		`wsk_route_user_events_published_total 1`,
		`wsk_route_user_events_dropped_total{reason="queue_full"} 0`,
		`wsk_route_step_duration_seconds_count{action="/guest/upper",workflow="/guest/flow"} 1`,
		`wsk_route_runs_total{outcome="ok",workflow="/guest/flow"} 1`,
	}
	deadline := time.Now().Add(waitTimeout)
	for {
		body := scrape(t, "http://"+a.MetricsAddr()+"/metrics")
		missing := ""
		for _, w := range wantMetrics {
			if !strings.Contains(body, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics lacks %q", missing)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Nothing else reached the topic: its newest offset is 1.
	cl, err := sarama.NewClient(brokers, sarama.NewConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if off, err := cl.GetOffset("ow_events", 0, sarama.OffsetNewest); err != nil || off != 1 {
		t.Errorf("ow_events holds %d messages (%v), want 1", off, err)
	}
}

func TestUserEventsConfigRefused(t *testing.T) {
	store := newStore(t)
	base := shortTempDir(t)
	_, err := agent.New(agent.Config{Host: "h", Registry: store, RunDir: base + "/run", ShmRoot: base + "/shm", StateDir: base + "/state",
		UserEvents: &userevents.PublisherConfig{}})
	if err == nil {
		t.Fatal("New with user events and no brokers = nil error, want one")
	}
	if !strings.Contains(err.Error(), "user events") {
		t.Errorf("error %q does not say it is about the user events", err)
	}
}

// TestUserEventsUnreachableBroker checks that an agent whose broker is
// down runs, takes its proxies' step records without waiting (the user
// events beyond its queue are dropped and counted), and stops.
func TestUserEventsUnreachableBroker(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	brokers := cluster.ListenAddrs()
	cluster.Close() // nothing listens there now
	a := startAgent(t, "hostA", newStore(t), func(c *agent.Config) {
		c.MetricsListen = "127.0.0.1:0"
		c.UserEvents = &userevents.PublisherConfig{Kafka: userevents.Kafka{Brokers: brokers}, Queue: 2}
	})
	upper := newProxy(t, a, "guest", "upper")
	for b := uint32(1); b <= 5; b++ {
		upper.send(&agentproto.Message{Type: agentproto.TypeActivation, Activation: &agentproto.Activation{
			ActivationID: runevent.StepActivationID("run1", "s", b, ""), Start: 1, End: 2, Workflow: "flow", Step: "s", Branch: b}})
	}
	deadline := time.Now().Add(waitTimeout)
	for !strings.Contains(scrape(t, "http://"+a.MetricsAddr()+"/metrics"), `wsk_route_user_events_dropped_total{reason="queue_full"} 3`) {
		if time.Now().After(deadline) {
			t.Fatalf("the full queue's drops are not counted:\n%s", scrape(t, "http://"+a.MetricsAddr()+"/metrics"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- a.stop() }()
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the agent did not stop with its broker down")
	}
}
