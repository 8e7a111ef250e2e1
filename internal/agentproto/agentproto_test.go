package agentproto_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/internal/agentproto"
	"github.com/wsk-route/wsk-route/internal/routetable"
)

func TestRoundTrip(t *testing.T) {
	msgs := []*agentproto.Message{
		{Type: agentproto.TypeRegister, Register: &agentproto.Register{Namespace: "guest", Action: "/guest/a", Name: "p", Concurrency: 2, User: "23bc46b1-71f6-4ed5-8c54-816aa4f8c502"}},
		{Type: agentproto.TypeUnregister, Unregister: &agentproto.Unregister{Reason: "child died"}},
		{Type: agentproto.TypeWelcome, Welcome: &agentproto.Welcome{InstanceID: "h/p", Host: "h", Relay: "unix:/run/wsk-route/agent-frames.sock", ShmDir: "/dev/shm/wsk-route/guest"}},
		{Type: agentproto.TypeKey, Key: &agentproto.Key{Namespace: "guest", Key: []byte("0123456789abcdef0123456789abcdef")}},
		{Type: agentproto.TypeTable, Table: &agentproto.Table{Full: true, Upsert: []routetable.Instance{{ID: "h/p", Namespace: "guest", Action: "/guest/a", Host: "h", Unix: "unix:/x"}}}},
		{Type: agentproto.TypeSpecs, Specs: &agentproto.Specs{Remove: []string{"w"}}},
		{Type: agentproto.TypeStats, Stats: &agentproto.Stats{Hops: []agentproto.HopStats{{Action: "/guest/a", Transport: "shm", Hops: 3, Buckets: make([]uint64, len(agentproto.LatencyBuckets)+1)}}}},
		{Type: agentproto.TypeRegister, Register: &agentproto.Register{Namespace: "guest", Action: "/guest/a", Name: "p", Direct: true}},
		{Type: agentproto.TypeWelcome, Welcome: &agentproto.Welcome{InstanceID: "h/p", Host: "h", Direct: true}},
		{Type: agentproto.TypeDirect, Direct: &agentproto.Direct{Running: true}},
		{Type: agentproto.TypeDirect, Direct: &agentproto.Direct{}},
	}
	for _, m := range msgs {
		b, err := agentproto.Encode(m)
		if err != nil {
			t.Fatalf("Encode %s: %v", m.Type, err)
		}
		got, err := agentproto.Decode(b)
		if err != nil {
			t.Fatalf("Decode %s: %v", b, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("round trip of %s: got %+v, want %+v", m.Type, got, m)
		}
	}
}

func TestUserOf(t *testing.T) {
	for _, tc := range []struct{ key, want string }{
		{"23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP", "23bc46b1-71f6-4ed5-8c54-816aa4f8c502"},
		{"", ""},
		{"no colon", ""},
		{":key", ""},
		{"uu id:key", ""},
		{strings.Repeat("a", agentproto.MaxUser+1) + ":key", ""},
	} {
		if got := agentproto.UserOf(tc.key); got != tc.want {
			t.Errorf("UserOf(%q) = %q, want %q", tc.key, got, tc.want)
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"not json", `{`, "agentproto:"},
		{"unknown type", `{"type":"hello","unregister":{"reason":""}}`, "unknown message type"},
		{"no body", `{"type":"register"}`, "exactly one body"},
		{"two bodies", `{"type":"key","key":{"namespace":"n","key":"MDEyMzQ1Njc4OWFiY2RlZg=="},"unregister":{"reason":""}}`, "exactly one body"},
		{"wrong body", `{"type":"register","unregister":{"reason":""}}`, "without its register body"},
		{"register without action", `{"type":"register","register":{"namespace":"n","name":"p"}}`, "needs namespace, action"},
		{"user that is no uuid", `{"type":"register","register":{"namespace":"n","action":"a","name":"p","user":"23bc46b1:secret"}}`, "is not a key's uuid"},
		{"short key", `{"type":"key","key":{"namespace":"n","key":"MDE="}}`, "shorter than 16"},
		{"unknown field", `{"type":"unregister","unregister":{"reason":"","extra":1}}`, "unknown field"},
		{"trailing data", `{"type":"unregister","unregister":{"reason":""}} {}`, "trailing data"},
		{"bad buckets", `{"type":"stats","stats":{"hops":[{"action":"a","transport":"shm","buckets":[1,2]}]}}`, "buckets"},
		{"stats type without stats", `{"type":"stats","unregister":{"reason":""}}`, "without its stats body"},
		{"direct without its body", `{"type":"direct","stats":{"hops":[]}}`, "without its direct body"},
		{"direct in a batch", `{"type":"batch","batch":[{"type":"direct","direct":{"running":true}}]}`, "cannot be batched"},
		{"direct with a bad field", `{"type":"direct","direct":{"running":1}}`, "agentproto:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := agentproto.Decode([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Decode(%s) error = %v, want one containing %q", tt.in, err, tt.want)
			}
		})
	}
	big := make([]byte, agentproto.MaxMessage+1)
	if _, err := agentproto.Decode(big); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("oversized message: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"type":"register","register":{"namespace":"n","action":"/n/a","name":"p"}}`))
	f.Add([]byte(`{"type":"table","table":{"upsert":[{"id":"h/p","namespace":"n","action":"/n/a","host":"h","unix":"unix:/x"}],"remove":["q"]}}`))
	f.Add([]byte(`{"type":"stats","stats":{"hops":[{"action":"a","transport":"tcp","buckets":[]}]}}`))
	f.Add([]byte(`{"type":"direct","direct":{"running":true}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := agentproto.Decode(data)
		if err != nil {
			return
		}
		b, err := agentproto.Encode(m)
		if err != nil {
			t.Fatalf("decoded message does not encode: %v", err)
		}
		if _, err := agentproto.Decode(b); err != nil {
			t.Fatalf("re-encoded message does not decode: %v", err)
		}
	})
}
