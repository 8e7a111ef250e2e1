package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/wsk-route/wsk-route/internal/agentproto"
	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/internal/runevent"
	"github.com/wsk-route/wsk-route/internal/userevents"
	"github.com/wsk-route/wsk-route/internal/whisk"
	"github.com/wsk-route/wsk-route/invoker-plugin/agent"
)

// records is an activation store that keeps what it is given.
type records struct {
	mu   sync.Mutex
	recs []whisk.Activation
}

func (r *records) PutActivation(_ context.Context, a whisk.Activation) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, a)
	return nil
}

func (r *records) all() []whisk.Activation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]whisk.Activation(nil), r.recs...)
}

// lookups is an ActionCatalog that counts the lookups it answers with
// lookup.
type lookups struct {
	mu     sync.Mutex
	asked  []string
	lookup agent.ActionCatalogFunc
}

func (l *lookups) LookupAction(ctx context.Context, namespace, action, version string) (string, whisk.Limits, error) {
	l.mu.Lock()
	l.asked = append(l.asked, namespace+" "+action+" "+version)
	l.mu.Unlock()
	return l.lookup(ctx, namespace, action, version)
}

func (l *lookups) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.asked...)
}

// TestStepKindAndLimits sends three step records of one action version to
// agents whose activation stores can or cannot look actions up, and reads
// the records they write and the user events they publish: with a catalog
// that knows the action, the records carry its kind and limits
// annotations and the events its kind and memory, for one lookup; with a
// catalog that fails, or a store that is none, they go without (events of
// kind "unknown", memory 0), and the failure is counted, once.
func TestStepKindAndLimits(t *testing.T) {
	limits := whisk.Limits{Timeout: 30000, Memory: 192, Logs: 5, Concurrency: 1}
	tests := []struct {
		name        string
		catalog     agent.ActionCatalogFunc // nil: the store is no catalog
		wantKind    string
		wantMemory  int
		wantLimits  string // the limits annotation; "": none
		wantLookups int
		wantMetric  string // a line /metrics must show; "": no lookup metric
	}{
		{
			name: "catalog knows the action",
			catalog: func(context.Context, string, string, string) (string, whisk.Limits, error) {
				return "python:3", limits, nil
			},
			wantKind: "python:3", wantMemory: 192, wantLimits: `{"timeout":30000,"memory":192,"logs":5,"concurrency":1}`,
			wantLookups: 1, wantMetric: "wsk_route_action_lookup_failures_total 0",
		},
		{
			name: "lookup fails",
			catalog: func(context.Context, string, string, string) (string, whisk.Limits, error) {
				return "", whisk.Limits{}, errors.New("the entity store is down")
			},
			wantKind: agent.UnknownKind, wantLookups: 1, wantMetric: "wsk_route_action_lookup_failures_total 1",
		},
		{
			name:     "store is no catalog",
			wantKind: agent.UnknownKind,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "events"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(cluster.Close)
			brokers := cluster.ListenAddrs()
			recs := &records{}
			var store agent.ActivationStore = recs
			cat := &lookups{lookup: tc.catalog}
			if tc.catalog != nil {
				store = struct {
					agent.ActivationStore
					agent.ActionCatalog
				}{recs, cat}
			}
			a := startAgent(t, "hostA", newStore(t), func(c *agent.Config) {
				c.MetricsListen = "127.0.0.1:0"
				c.UserEvents = &userevents.PublisherConfig{Kafka: userevents.Kafka{Brokers: brokers}}
				c.Activations = store
			})
			p := &fakeProxy{t: t, conn: dial(t, a), done: make(chan struct{}),
				table: map[string]routetable.Instance{}, specs: map[string]agentproto.SpecData{}}
			go p.read()
			t.Cleanup(p.close)
			p.send(&agentproto.Message{Type: agentproto.TypeRegister, Register: &agentproto.Register{
				Namespace: "guest", Action: "/guest/pkg/upper", Name: "upper", Version: "0.0.3", Telemetry: true}})
			p.waitFor("welcome", func() bool { return p.welcome != nil })
			ids := map[string]bool{}
			for b := uint32(0); b < 3; b++ {
				id := runevent.StepActivationID("run1", "up", b, "")
				ids[id] = true
				p.send(&agentproto.Message{Type: agentproto.TypeActivation, Activation: &agentproto.Activation{ActivationID: id,
					Cause: strings.Repeat("ab", 16), Start: 1700000000111, End: 1700000000123, Result: []byte(`{}`), Workflow: "flow", Step: "up", Branch: b}})
			}

			for _, raw := range readTopic(t, brokers, "events", 3) {
				e, err := userevents.Parse([]byte(raw))
				if err != nil {
					t.Fatalf("event %s: %v", raw, err)
				}
				if !ids[e.Activation.ActivationID] || e.Activation.Kind != tc.wantKind || e.Activation.Memory != tc.wantMemory {
					t.Errorf("event %s: want one of the steps with kind %q, memory %d", raw, tc.wantKind, tc.wantMemory)
				}
			}
			deadline := time.Now().Add(waitTimeout)
			for len(recs.all()) < 3 {
				if time.Now().After(deadline) {
					t.Fatalf("%d records written, want 3", len(recs.all()))
				}
				time.Sleep(10 * time.Millisecond)
			}
			for _, r := range recs.all() {
				var keys []string
				for _, kv := range r.Annotations {
					keys = append(keys, kv.Key)
				}
				wantKeys := "path timeout causedBy waitTime wsk-route"
				if tc.wantLimits != "" {
					wantKeys = "path kind limits timeout causedBy waitTime wsk-route"
				}
				if got := strings.Join(keys, " "); got != wantKeys {
					t.Errorf("record %s: annotations %s, want %s", r.ActivationID, got, wantKeys)
				}
				if tc.wantLimits == "" {
					continue
				}
				kind, _ := r.Annotations.Get(whisk.AnnKind)
				lim, _ := r.Annotations.Get(whisk.AnnLimits)
				if want, _ := json.Marshal(tc.wantKind); string(kind) != string(want) || string(lim) != tc.wantLimits {
					t.Errorf("record %s: kind %s, limits %s; want %s, %s", r.ActivationID, kind, lim, want, tc.wantLimits)
				}
			}
			if got := cat.all(); len(got) != tc.wantLookups || len(got) > 0 && got[0] != "guest /guest/pkg/upper 0.0.3" {
				t.Errorf("lookups %q, want %d of guest /guest/pkg/upper 0.0.3", got, tc.wantLookups)
			}
			body := scrape(t, "http://"+a.MetricsAddr()+"/metrics")
			if tc.wantMetric == "" {
				if strings.Contains(body, "wsk_route_action_lookup_failures_total") {
					t.Error("/metrics has wsk_route_action_lookup_failures_total for a store that looks up no actions")
				}
			} else if !strings.Contains(body, tc.wantMetric) {
				t.Errorf("/metrics lacks %q:\n%s", tc.wantMetric, grepMetric(body, "wsk_route_action_lookup"))
			}
		})
	}
}

// grepMetric returns the lines of a scrape that contain name.
func grepMetric(body, name string) string {
	var out []string
	for l := range strings.SplitSeq(body, "\n") {
		if strings.Contains(l, name) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
