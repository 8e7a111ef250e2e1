package agent

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsk-route/wsk-route/internal/agentproto"
	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/internal/userevents"
	"github.com/wsk-route/wsk-route/internal/whisk"
	"github.com/wsk-route/wsk-route/invoker-plugin/metrics"
)

func TestStepEvent(t *testing.T) {
	id := strings.Repeat("1a", 16)
	py := actionInfo{known: true, kind: "python:3", limits: whisk.Limits{Timeout: 60000, Memory: 192, Logs: 10, Concurrency: 1}}
	tests := []struct {
		name   string
		inst   routetable.Instance
		m      agentproto.Activation
		info   actionInfo
		want   userevents.Activation
		wantTS int64
	}{
		{
			name:   "step of a package action",
			inst:   routetable.Instance{Namespace: "guest", Action: "/guest/pkg/upper"},
			m:      agentproto.Activation{ActivationID: id, Start: 1700000000120, End: 1700000000123, Workflow: "wf", Step: "up", Branch: 2},
			info:   py,
			want:   userevents.Activation{Name: "guest/pkg/upper", ActivationID: id, Duration: 3, Kind: "python:3", Memory: 192, CausedBy: userevents.CausedBySequence},
			wantTS: 1700000000123,
		},
		{
			name: "application error",
			inst: routetable.Instance{Namespace: "guest", Action: "/guest/upper"},
			m: agentproto.Activation{ActivationID: id, Start: 1700000000123, End: 1700000000123, StatusCode: 1,
				Result: json.RawMessage(`{"error":"no"}`), Workflow: "wf", Step: "up"},
			info:   py,
			want:   userevents.Activation{Name: "guest/upper", ActivationID: id, StatusCode: 1, Kind: "python:3", Memory: 192, CausedBy: userevents.CausedBySequence},
			wantTS: 1700000000123,
		},
		{
			name:   "action not looked up",
			inst:   routetable.Instance{Namespace: "guest", Action: "/guest/upper"},
			m:      agentproto.Activation{ActivationID: id, Start: 1700000000120, End: 1700000000123, Workflow: "wf", Step: "up"},
			info:   actionInfo{},
			want:   userevents.Activation{Name: "guest/upper", ActivationID: id, Duration: 3, Kind: UnknownKind, Memory: 0, CausedBy: userevents.CausedBySequence},
			wantTS: 1700000000123,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := stepActivation(tc.inst, &tc.m)
			e := stepEvent("src", tc.inst.Action, &rec, tc.info)
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

// BenchmarkStepRecord measures what the agent does on a step proxy's
// session reader for one activation record with user events on and no
// activation store: the instance lookup, the record built, the step
// metric, the user event built and queued for the publisher. The
// publisher's queue holds every event of the run, so no event takes the
// cheaper drop path; the Kafka side is userevents' BenchmarkPublishKafka.
func BenchmarkStepRecord(b *testing.B) {
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
		records:    newRecordWriter(nil, log),
		userEvents: pub,
		local: map[string]*localInstance{
			"hostA/upper": {inst: routetable.Instance{ID: "hostA/upper", Namespace: "guest", Action: "/guest/upper"}, ready: true},
		},
		table: map[string]routetable.Instance{},
	}
	r := (*registrar)(a)
	rec := agentproto.Activation{ActivationID: strings.Repeat("1a", 16), Cause: strings.Repeat("2b", 16), Start: 1700000000000, End: 1700000000002,
		Result: json.RawMessage(`{"text":"HELLO"}`), Logs: []string{"2026-12-07T08:00:00Z stdout: a line of the step's logs"}, Workflow: "flow", Step: "upper"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.Activation("hostA/upper", &rec)
	}
	b.StopTimer()
	if c := pub.Counts(); c.DroppedFull+c.DroppedInvalid != 0 {
		b.Fatalf("events dropped: %+v", c)
	}
}
