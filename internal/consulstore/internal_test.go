package consulstore

import (
	"errors"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/internal/spec"
)

func TestRetryWait(t *testing.T) {
	tests := []struct {
		n        int
		r        float64
		min, max time.Duration
	}{
		{0, 0, 25 * time.Millisecond, 25 * time.Millisecond},
		{1, 0, 25 * time.Millisecond, 25 * time.Millisecond},
		{1, 0.999, 25 * time.Millisecond, 50 * time.Millisecond},
		{2, 0.5, 50 * time.Millisecond, 100 * time.Millisecond},
		{7, 0, 1600 * time.Millisecond, 1600 * time.Millisecond},
		{8, 0.999, 2500 * time.Millisecond, retryMax},
		{100, 0, retryMax / 2, retryMax / 2},
		{1 << 30, 0.999, retryMax / 2, retryMax},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.n), func(t *testing.T) {
			got := retryWait(tt.n, tt.r)
			if got < tt.min || got > tt.max {
				t.Errorf("retryWait(%d, %v) = %v, want in [%v, %v]", tt.n, tt.r, got, tt.min, tt.max)
			}
		})
	}
}

func TestNextIndex(t *testing.T) {
	tests := []struct{ prev, last, want uint64 }{
		{0, 7, 7},
		{7, 7, 7},
		{7, 9, 9},
		{9, 7, 0}, // backwards: start over
		{0, 0, 1}, // zero: keep blocking
		{5, 0, 0}, // backwards wins over zero
	}
	for _, tt := range tests {
		if got := nextIndex(tt.prev, tt.last); got != tt.want {
			t.Errorf("nextIndex(%d, %d) = %d, want %d", tt.prev, tt.last, got, tt.want)
		}
	}
}

func TestCheckName(t *testing.T) {
	long := string(make([]byte, spec.MaxNameLen+1))
	for _, ok := range []string{"guest", "a.b", "user@example.com", "ns-1_x", "..."[:1] + "x"} {
		if err := checkName("name", ok); err != nil {
			t.Errorf("checkName(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "a/b", "/", "a..b", "../x", "a\nb", "a\x00", "a\x7f", long} {
		if err := checkName("name", bad); !errors.Is(err, ErrBadName) {
			t.Errorf("checkName(%q) = %v, want ErrBadName", bad, err)
		}
	}
}

func TestTCPAddress(t *testing.T) {
	tests := []struct {
		in   string
		host string
		port int
		ok   bool
	}{
		{"tcp:10.0.0.1:7000", "10.0.0.1", 7000, true},
		{"tcp:[fd00::1]:7000", "fd00::1", 7000, true},
		{"tcp:node-1:1", "node-1", 1, true},
		{"unix:/x.sock", "", 0, false},
		{"10.0.0.1:7000", "", 0, false},
		{"tcp:10.0.0.1", "", 0, false},
		{"tcp::7000", "", 0, false},
		{"tcp:h:0", "", 0, false},
		{"tcp:h:65536", "", 0, false},
		{"tcp:h:x", "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			host, port, err := tcpAddress(tt.in)
			if (err == nil) != tt.ok || host != tt.host || port != tt.port {
				t.Errorf("tcpAddress(%q) = %q, %d, %v; want %q, %d, ok=%v", tt.in, host, port, err, tt.host, tt.port, tt.ok)
			}
		})
	}
}

func fullInstance() routetable.Instance {
	return routetable.Instance{
		ID:          "host-1/0123abcd",
		Namespace:   "guest",
		Action:      "/guest/pkg/step",
		Version:     "0.0.3",
		Host:        "host-1",
		Unix:        "unix:/run/wsk-route/0123abcd.sock",
		TCP:         "tcp:10.1.2.3:7070",
		Relay:       "tcp:10.0.0.1:7071",
		Concurrency: 4,
	}
}

func TestMetaRoundTrip(t *testing.T) {
	minimal := routetable.Instance{ID: "h/c", Namespace: "ns", Action: "/ns/a", Host: "h"}
	for _, inst := range []routetable.Instance{fullInstance(), minimal} {
		meta, err := encodeMeta(inst)
		if err != nil {
			t.Fatalf("encodeMeta(%+v): %v", inst, err)
		}
		got, err := decodeInstance(inst.ID, meta)
		if err != nil || !reflect.DeepEqual(got, inst) {
			t.Errorf("decodeInstance(encodeMeta(%+v)) = %+v, %v", inst, got, err)
		}
	}
}

func TestEncodeMetaRejects(t *testing.T) {
	tests := []struct {
		name string
		edit func(*routetable.Instance)
	}{
		{"empty ID", func(i *routetable.Instance) { i.ID = "" }},
		{"ID with space", func(i *routetable.Instance) { i.ID = "a b" }},
		{"ID with query", func(i *routetable.Instance) { i.ID = "a?b" }},
		{"no namespace", func(i *routetable.Instance) { i.Namespace = "" }},
		{"no action", func(i *routetable.Instance) { i.Action = "" }},
		{"no host", func(i *routetable.Instance) { i.Host = "" }},
		{"negative concurrency", func(i *routetable.Instance) { i.Concurrency = -1 }},
		{"long unix", func(i *routetable.Instance) { i.Unix = "unix:/" + string(make([]byte, maxMetaValueLen)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inst := fullInstance()
			tt.edit(&inst)
			if _, err := encodeMeta(inst); !errors.Is(err, ErrBadInstance) {
				t.Errorf("encodeMeta = %v, want ErrBadInstance", err)
			}
		})
	}
}

func TestDecodeInstanceRejects(t *testing.T) {
	good := map[string]string{"ns": "n", "action": "/n/a", "host": "h"}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for k, v := range good {
			m[k] = v
		}
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name string
		id   string
		meta map[string]string
	}{
		{"nil meta", "h/c", nil},
		{"no ns", "h/c", with("ns", "")},
		{"no action", "h/c", with("action", "")},
		{"no host", "h/c", with("host", "")},
		{"bad concurrency", "h/c", with("concurrency", "x")},
		{"negative concurrency", "h/c", with("concurrency", "-2")},
		{"empty id", "", good},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if inst, err := decodeInstance(tt.id, tt.meta); !errors.Is(err, ErrBadInstance) {
				t.Errorf("decodeInstance = %+v, %v; want ErrBadInstance", inst, err)
			}
		})
	}
}

// FuzzDecodeInstance: catalog Meta is written by any agent; decoding must
// not panic, and whatever decodes must encode back to the same instance.
func FuzzDecodeInstance(f *testing.F) {
	full, _ := encodeMeta(fullInstance())
	f.Add(fullInstance().ID, full["ns"], full["action"], full["version"], full["host"], full["unix"], full["tcp"], full["relay"], full["concurrency"])
	f.Add("h/c", "n", "/n/a", "", "h", "", "", "", "")
	f.Add("", "", "", "", "", "", "", "", "-1")
	f.Add("x", "n", "a", "v", "h", "u", "t", "r", "99999999999999999999")
	f.Fuzz(func(t *testing.T, id, ns, action, version, host, unix, tcp, relay, conc string) {
		meta := map[string]string{}
		for k, v := range map[string]string{"ns": ns, "action": action, "version": version, "host": host,
			"unix": unix, "tcp": tcp, "relay": relay, "concurrency": conc} {
			if v != "" {
				meta[k] = v
			}
		}
		inst, err := decodeInstance(id, meta)
		if err != nil {
			return
		}
		m2, err := encodeMeta(inst)
		if err != nil {
			return // e.g. a value over Consul's length limit
		}
		back, err := decodeInstance(id, m2)
		if err != nil || !reflect.DeepEqual(back, inst) {
			t.Fatalf("round trip of %+v: %+v, %v", inst, back, err)
		}
	})
}

// FuzzDecodeSpec: KV entries under the prefix can be written by anyone with
// KV access; a bad one must be an error, never a panic or a spec filed
// under another key.
func FuzzDecodeSpec(f *testing.F) {
	s := &Store{prefix: "p"}
	f.Add("p/specs/guest/flow", []byte(`{"workflow":"flow","namespace":"guest","start":["a"],"steps":{"a":{"action":"/guest/x"}}}`))
	f.Add("p/specs/guest/other", []byte(`{"workflow":"flow","namespace":"guest","start":["a"],"steps":{"a":{"action":"/guest/x"}}}`))
	f.Add("p/specs/guest", []byte(`{}`))
	f.Add("p/specs/a/b/c", []byte(`null`))
	f.Add("q/specs/a/b", []byte(`{"workflow":"b"`))
	f.Fuzz(func(t *testing.T, key string, value []byte) {
		sp, err := s.decodeSpec(&api.KVPair{Key: key, Value: value, ModifyIndex: 42})
		if err != nil {
			return
		}
		if want := "p/specs/" + sp.Namespace + "/" + sp.Workflow; key != want || sp.Version != 42 {
			t.Fatalf("decoded %s (version %d) from key %s", sp.Key(), sp.Version, key)
		}
	})
}
