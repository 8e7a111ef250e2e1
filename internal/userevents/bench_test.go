package userevents_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/userevents"
)

// BenchmarkPublish measures what a caller of Publish pays per event: the
// Check and the non-blocking enqueue. The queue holds every event of the
// benchmark, so none takes the cheaper drop path.
func BenchmarkPublish(b *testing.B) {
	p, err := userevents.NewPublisher(userevents.PublisherConfig{Kafka: userevents.Kafka{Brokers: []string{"127.0.0.1:9"}}, Queue: b.N + 1})
	if err != nil {
		b.Fatal(err)
	}
	ev := stepEvent(1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.Publish(ev)
	}
	b.StopTimer()
	if c := p.Counts(); c.DroppedFull+c.DroppedInvalid != 0 {
		b.Fatalf("events dropped: %+v", c)
	}
}

// BenchmarkAppendJSON measures the encoding Run does per event.
func BenchmarkAppendJSON(b *testing.B) {
	ev := stepEvent(1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ev.AppendJSON(make([]byte, 0, 512)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPublishKafka measures the whole path per event, Publish to the
// broker's acknowledgement, against an in-process broker (kfake, which
// shares the CPU with the benchmark).
func BenchmarkPublishKafka(b *testing.B) {
	brokers := startBroker(b, []string{"events"})
	p, err := userevents.NewPublisher(userevents.PublisherConfig{Kafka: userevents.Kafka{Brokers: brokers}, Queue: 1 << 16, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	stop := runPublisher(b, p)
	defer stop()
	ev := stepEvent(1)
	b.ReportAllocs()
	b.ResetTimer()
	n := uint64(0)
	for b.Loop() {
		for !p.Publish(ev) { // the queue is full: let Run catch up
			time.Sleep(time.Millisecond)
		}
		n++
	}
	for p.Counts().Published+p.Counts().Failed < n {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	if c := p.Counts(); c.Failed != 0 {
		b.Fatalf("Counts = %+v", c)
	}
}
