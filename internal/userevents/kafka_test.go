package userevents_test

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/wsk-route/wsk-route/internal/runevent"
	"net"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/wsk-route/wsk-route/internal/userevents"
)

const waitTimeout = 20 * time.Second

// startBroker starts an in-process Kafka-protocol broker (kfake) with the
// given topics, two partitions each, and returns its addresses.
func startBroker(t testing.TB, topics []string, opts ...kfake.Opt) []string {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(2, topics...)}, opts...)...)
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// runPublisher starts p.Run and stops it when the test ends (or when the
// returned stop is called), failing the test if Run returns an error.
func runPublisher(t testing.TB, p *userevents.Publisher) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Publisher.Run = %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// stepEvent is the event of step i, as the agent builds them.
func stepEvent(i int) *userevents.EventMessage {
	return &userevents.EventMessage{Source: "wsk-route@hostA", Subject: "guest", Namespace: "guest", UserID: "",
		EventType: userevents.TypeActivation, Timestamp: int64(1700000000000 + i),
		Activation: &userevents.Activation{Name: "guest/step" + fmt.Sprint(i), ActivationID: runevent.StepActivationID("run", fmt.Sprint(i), 0, ""),
			Duration: userevents.Millis(i), Kind: "unknown", CausedBy: userevents.CausedBySequence}}
}

// consumeRaw reads n messages of topic from the oldest offset of every
// partition with a plain sarama consumer, and returns their values.
func consumeRaw(t *testing.T, brokers []string, topic string, n int, sc *sarama.Config) [][]byte {
	t.Helper()
	if sc == nil {
		sc = sarama.NewConfig()
	}
	cons, err := sarama.NewConsumer(brokers, sc)
	if err != nil {
		t.Fatalf("sarama consumer: %v", err)
	}
	defer cons.Close()
	parts, err := cons.Partitions(topic)
	if err != nil {
		t.Fatalf("partitions of %s: %v", topic, err)
	}
	msgs := make(chan []byte, n+len(parts))
	var pcs []sarama.PartitionConsumer
	for _, p := range parts {
		pc, err := cons.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatalf("consume %s/%d: %v", topic, p, err)
		}
		pcs = append(pcs, pc)
	}
	var wg sync.WaitGroup
	for _, pc := range pcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := range pc.Messages() {
				msgs <- m.Value
			}
		}()
	}
	defer func() {
		for _, pc := range pcs {
			pc.AsyncClose()
		}
		wg.Wait()
	}()
	var out [][]byte
	deadline := time.After(waitTimeout)
	for len(out) < n {
		select {
		case v := <-msgs:
			out = append(out, v)
		case <-deadline:
			t.Fatalf("read %d messages of %s, want %d", len(out), topic, n)
		}
	}
	return out
}

// newestOffsets returns the sum over topic's partitions of their newest
// offsets: how many messages were ever produced to it.
func newestOffsets(t *testing.T, brokers []string, topic string) int64 {
	t.Helper()
	cl, err := sarama.NewClient(brokers, sarama.NewConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	parts, err := cl.Partitions(topic)
	if err != nil {
		t.Fatalf("partitions of %s: %v", topic, err)
	}
	var n int64
	for _, p := range parts {
		off, err := cl.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			t.Fatal(err)
		}
		n += off
	}
	return n
}

// waitFor polls cond until it holds or waitTimeout passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// keysOf returns the sorted keys of a JSON object.
func keysOf(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s is not an object: %v", raw, err)
	}
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// TestPublishToKafka publishes step events through a real broker and
// reads them back with sarama, with and without a topic prefix, checking
// that each message is OpenWhisk's EventMessage JSON.
func TestPublishToKafka(t *testing.T) {
	for _, prefix := range []string{"", "ow1_"} {
		t.Run("prefix="+prefix, func(t *testing.T) {
			brokers := startBroker(t, []string{"events", "ow1_events"})
			p, err := userevents.NewPublisher(userevents.PublisherConfig{Kafka: userevents.Kafka{Brokers: brokers, TopicPrefix: prefix}})
			if err != nil {
				t.Fatal(err)
			}
			if p.Topic() != prefix+"events" {
				t.Errorf("Topic() = %q, want %q", p.Topic(), prefix+"events")
			}
			stop := runPublisher(t, p)
			const n = 5
			want := map[string]string{}
			for i := range n {
				ev := stepEvent(i)
				if !p.Publish(ev) {
					t.Fatalf("Publish(%d) = false", i)
				}
				b, _ := json.Marshal(ev)
				want[ev.Activation.ActivationID] = string(b)
			}
			got := consumeRaw(t, brokers, prefix+"events", n, nil)
			for _, raw := range got {
				wantKeys := []string{"body", "eventType", "namespace", "source", "subject", "timestamp", "userId"}
				if ks := keysOf(t, raw); !reflect.DeepEqual(ks, wantKeys) {
					t.Errorf("event keys %v, want OpenWhisk's %v", ks, wantKeys)
				}
				var w struct {
					Body json.RawMessage `json:"body"`
				}
				_ = json.Unmarshal(raw, &w)
				wantBody := []string{"activationId", "causedBy", "conductor", "duration", "initTime", "kind", "memory", "name", "statusCode", "waitTime"}
				if ks := keysOf(t, w.Body); !reflect.DeepEqual(ks, wantBody) {
					t.Errorf("body keys %v, want %v", ks, wantBody)
				}
				e, err := userevents.Parse(raw)
				if err != nil {
					t.Fatalf("Parse(%s) = %v", raw, err)
				}
				if w := want[e.Activation.ActivationID]; w != string(raw) {
					t.Errorf("message %s, want %s", raw, w)
				}
				delete(want, e.Activation.ActivationID)
			}
			if len(want) != 0 {
				t.Errorf("events never read: %v", want)
			}
			other := "ow1_events"
			if prefix != "" {
				other = "events"
			}
			if n := newestOffsets(t, brokers, other); n != 0 {
				t.Errorf("%d messages on %s, want none (the prefix is %q)", n, other, prefix)
			}
			stop()
			if c := p.Counts(); c.Published != n || c.Failed != 0 || c.DroppedFull+c.DroppedInvalid+c.DroppedStopped != 0 {
				t.Errorf("Counts = %+v, want %d published, none failed or dropped", c, n)
			}
		})
	}
}

// TestConsumerReadsPublished runs the whole chain: Publisher -> broker ->
// Consumer (a consumer group) -> Handler.
func TestConsumerReadsPublished(t *testing.T) {
	brokers := startBroker(t, []string{"events"})
	p, err := userevents.NewPublisher(userevents.PublisherConfig{Kafka: userevents.Kafka{Brokers: brokers}})
	if err != nil {
		t.Fatal(err)
	}
	runPublisher(t, p)
	var (
		mu  sync.Mutex
		got = map[string]*userevents.EventMessage{}
	)
	c, err := userevents.NewConsumer(userevents.ConsumerConfig{Kafka: userevents.Kafka{Brokers: brokers},
		Handler: userevents.HandlerFunc(func(e *userevents.EventMessage) {
			mu.Lock()
			defer mu.Unlock()
			got[e.Activation.ActivationID] = e
		})})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Consumer.Run = %v", err)
		}
	}()
	const n = 4
	want := map[string]*userevents.EventMessage{}
	for i := range n {
		ev := stepEvent(i)
		want[ev.Activation.ActivationID] = ev
		p.Publish(ev)
	}
	// A message that is not a user event is skipped and counted.
	prod, err := sarama.NewSyncProducer(brokers, func() *sarama.Config {
		sc := sarama.NewConfig()
		sc.Producer.Return.Successes = true
		return sc
	}())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: "events", Value: sarama.StringEncoder(`{"not":"an event"}`)}); err != nil {
		t.Fatal(err)
	}
	prod.Close()
	waitFor(t, "the consumer to read every event and the bad message", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == n && c.Counts().Invalid == 1
	})
	mu.Lock()
	defer mu.Unlock()
	for id, w := range want {
		if !reflect.DeepEqual(got[id], w) {
			t.Errorf("consumed %+v, want %+v", got[id], w)
		}
	}
	if cc := c.Counts(); cc.Consumed != n {
		t.Errorf("Counts = %+v, want %d consumed", cc, n)
	}
}

// TestPublishSASL publishes through a broker that requires SASL/PLAIN,
// with the right password and with a wrong one.
func TestPublishSASL(t *testing.T) {
	brokers := startBroker(t, []string{"events"}, kfake.EnableSASL(), kfake.Superuser("PLAIN", "whisk", "s3cret"))
	tests := []struct {
		name     string
		password string
		ok       bool
	}{
		{"right password", "s3cret", true},
		{"wrong password", "guess", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := userevents.NewPublisher(userevents.PublisherConfig{Kafka: userevents.Kafka{Brokers: brokers,
				Protocol: userevents.ProtocolSASLPlaintext, SASLUser: "whisk", SASLPassword: tc.password}})
			if err != nil {
				t.Fatal(err)
			}
			stop := runPublisher(t, p)
			p.Publish(stepEvent(1))
			if tc.ok {
				waitFor(t, "the event to be acknowledged", func() bool { return p.Counts().Published == 1 })
				return
			}
			waitFor(t, "a failed connection", func() bool { return p.Counts().ConnectFailures >= 1 })
			stop()
			if c := p.Counts(); c.Published != 0 || c.DroppedStopped != 1 {
				t.Errorf("Counts = %+v, want nothing published and the queued event dropped at stop", c)
			}
		})
	}
}

// TestPublishNeverBlocks checks the bounded queue: with no broker
// reachable, Publish returns at once, drops what does not fit and counts
// it, and Run still stops when asked.
func TestPublishNeverBlocks(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	p, err := userevents.NewPublisher(userevents.PublisherConfig{Kafka: userevents.Kafka{Brokers: []string{addr}}, Queue: 2})
	if err != nil {
		t.Fatal(err)
	}
	stop := runPublisher(t, p)
	bad := stepEvent(9)
	bad.Subject = "abc" // OpenWhisk refuses subjects shorter than 5
	results := []bool{p.Publish(stepEvent(1)), p.Publish(stepEvent(2)), p.Publish(stepEvent(3)), p.Publish(bad)}
	if want := []bool{true, true, false, false}; !reflect.DeepEqual(results, want) {
		t.Errorf("Publish results %v, want %v", results, want)
	}
	waitFor(t, "a failed connection", func() bool { return p.Counts().ConnectFailures >= 1 })
	stop()
	if p.Publish(stepEvent(4)) {
		t.Errorf("Publish after Run returned = true, want false")
	}
	want := userevents.Counts{DroppedFull: 1, DroppedInvalid: 1, DroppedStopped: 3}
	got := p.Counts()
	got.ConnectFailures = 0
	if got != want {
		t.Errorf("Counts = %+v, want %+v", got, want)
	}
}

func TestConfigRefused(t *testing.T) {
	tests := []struct {
		name string
		k    userevents.Kafka
	}{
		{"no brokers", userevents.Kafka{}},
		{"comma in a broker", userevents.Kafka{Brokers: []string{"a:9092,b:9092"}}},
		{"slash in the prefix", userevents.Kafka{Brokers: []string{"a:9092"}, TopicPrefix: "a/b"}},
		{"unknown protocol", userevents.Kafka{Brokers: []string{"a:9092"}, Protocol: "TLS"}},
		{"SASL without a user", userevents.Kafka{Brokers: []string{"a:9092"}, Protocol: userevents.ProtocolSASLSSL}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := userevents.NewPublisher(userevents.PublisherConfig{Kafka: tc.k}); err == nil {
				t.Errorf("NewPublisher(%+v) = nil error, want one", tc.k)
			}
			if _, err := userevents.NewConsumer(userevents.ConsumerConfig{Kafka: tc.k, Handler: userevents.HandlerFunc(func(*userevents.EventMessage) {})}); err == nil {
				t.Errorf("NewConsumer(%+v) = nil error, want one", tc.k)
			}
		})
	}
	if _, err := userevents.NewConsumer(userevents.ConsumerConfig{Kafka: userevents.Kafka{Brokers: []string{"a:9092"}}}); err == nil {
		t.Errorf("NewConsumer without a Handler = nil error, want one")
	}
}
