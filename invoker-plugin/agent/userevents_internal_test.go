package agent

import (
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/internal/runevent"
	"github.com/wsk-route/wsk-route/internal/userevents"
	"github.com/wsk-route/wsk-route/invoker-plugin/metrics"
)

func TestStepEvent(t *testing.T) {
	now := func() time.Time { return time.UnixMilli(1700000000999) }
	tests := []struct {
		name   string
		action string
		ev     runevent.Event
		want   userevents.Activation
		wantTS int64
	}{
		{
			name:   "step of a package action",
			action: "/guest/pkg/upper",
			ev:     runevent.Event{Run: "r1", Step: "up", Branch: 2, DurationNS: int64(3999 * time.Microsecond), TimeMS: 1700000000123},
			want: userevents.Activation{Name: "guest/pkg/upper", ActivationID: runevent.StepActivationID("r1", "up", 2, ""),
				Duration: 3, Kind: StepKind, CausedBy: userevents.CausedBySequence},
			wantTS: 1700000000123,
		},
		{
			name:   "step in a map element: the id its entry reported",
			action: "/guest/upper",
			ev:     runevent.Event{Run: "r1", Step: "up", Activation: runevent.StepActivationID("r1", "up", 0, "3"), TimeMS: 1700000000123},
			want: userevents.Activation{Name: "guest/upper", ActivationID: runevent.StepActivationID("r1", "up", 0, "3"),
				Kind: StepKind, CausedBy: userevents.CausedBySequence},
			wantTS: 1700000000123,
		},
		{
			name:   "sub-millisecond step without a time",
			action: "/guest/upper",
			ev:     runevent.Event{Run: "r1", Step: "up", DurationNS: 800_000},
			want: userevents.Activation{Name: "guest/upper", ActivationID: runevent.StepActivationID("r1", "up", 0, ""),
				Duration: 0, Kind: StepKind, CausedBy: userevents.CausedBySequence},
			wantTS: 1700000000999,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := stepEvent("src", "guest", tc.action, &tc.ev, now)
			if err := e.Check(); err != nil {
				t.Fatalf("Check = %v", err)
			}
			if *e.Activation != tc.want || e.Timestamp != tc.wantTS || e.Namespace != "guest" || e.Subject != "guest" ||
				e.Source != "src" || e.EventType != userevents.TypeActivation {
				t.Errorf("stepEvent = %+v with %+v, want %+v at %d", e, e.Activation, tc.want, tc.wantTS)
			}
		})
	}
}

// BenchmarkRunEventStep measures what the agent does on an entry's
// session reader for one step event with user events on: the instance
// lookups, the run event's queueing for the registry (here without one:
// counted as dropped), the step metric, building the user event and
// queueing it for the publisher. The publisher's queue holds every event
// of the run, so no event takes the cheaper drop path; the Kafka side is
// userevents' BenchmarkPublishKafka.
func BenchmarkRunEventStep(b *testing.B) {
	m, err := metrics.New(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	pub, err := userevents.NewPublisher(userevents.PublisherConfig{Kafka: userevents.Kafka{Brokers: []string{"127.0.0.1:9"}}, Queue: b.N + 1})
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	a := &Agent{
		cfg:        Config{Host: "hostA", UserEventsSource: "wsk-route-agent@hostA"},
		log:        log,
		metrics:    m,
		events:     newEventWriter(nil, log),
		userEvents: pub,
		local: map[string]*localInstance{
			"hostA/flow":  {inst: routetable.Instance{ID: "hostA/flow", Namespace: "guest", Action: "/guest/flow"}, ready: true},
			"hostA/upper": {inst: routetable.Instance{ID: "hostA/upper", Namespace: "guest", Action: "/guest/upper"}, ready: true},
		},
		table: map[string]routetable.Instance{},
	}
	r := (*registrar)(a)
	ev := runevent.Event{Run: "0123456789abcdef0123456789abcdef", Seq: 1, Kind: runevent.KindStep, Step: "upper",
		Instance: "hostA/upper", DurationNS: 1_500_000, TimeMS: 1700000000000, Logs: "a line of the step's logs\n"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.RunEvent("hostA/flow", &ev)
	}
	b.StopTimer()
	if c := pub.Counts(); c.DroppedFull+c.DroppedInvalid != 0 {
		b.Fatalf("events dropped: %+v", c)
	}
}
