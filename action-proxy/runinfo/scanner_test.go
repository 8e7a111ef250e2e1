package runinfo_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/runinfo"
)

var keys = []string{"deadline", "activation_id", "action_name", "namespace"}

func scanInPieces(body string, piece int) *runinfo.Scanner {
	s := runinfo.NewScanner(keys...)
	for len(body) > 0 {
		n := min(piece, len(body))
		s.Write([]byte(body[:n]))
		body = body[n:]
	}
	return s
}

func TestScanner(t *testing.T) {
	tests := []struct {
		name string
		body string
		want map[string]string // absent keys must not be found
	}{
		{
			name: "invoker body",
			body: `{"value":{"name":"Mike"},"namespace":"guest","action_name":"/guest/hello","action_version":"0.0.1","activation_id":"abc","transaction_id":"t","deadline":"1712345678901","api_key":"k"}`,
			want: map[string]string{"namespace": "guest", "action_name": "/guest/hello", "activation_id": "abc", "deadline": "1712345678901"},
		},
		{
			name: "same keys inside the value are ignored",
			body: `{"value":{"deadline":"1","nested":{"namespace":"evil"},"list":["deadline","x"]},"deadline":"2"}`,
			want: map[string]string{"deadline": "2"},
		},
		{
			name: "only inside the value",
			body: `{"value":{"deadline":"1"}}`,
			want: map[string]string{},
		},
		{
			name: "escaped quotes and backslashes",
			body: `{"value":{"s":"a\"deadline\":\"9\\"},"action_name":"a\\\"b\u00e9"}`,
			want: map[string]string{"action_name": `a\"bé`},
		},
		{
			name: "non-string values are not kept",
			body: `{"deadline":123,"namespace":null,"action_name":["x"]}`,
			want: map[string]string{},
		},
		{
			name: "whitespace everywhere",
			body: "{ \"value\" : [ 1 , 2 ] ,\n \"namespace\"\t:\r\n \"ns\" }",
			want: map[string]string{"namespace": "ns"},
		},
		{
			name: "over-long value dropped",
			body: `{"activation_id":"` + strings.Repeat("x", runinfo.MaxField+1) + `","namespace":"n"}`,
			want: map[string]string{"namespace": "n"},
		},
		{
			name: "not an object",
			body: `["deadline","1"]`,
			want: map[string]string{},
		},
		{
			name: "garbage",
			body: `XXX"deadline`,
			want: map[string]string{},
		},
	}
	for _, tt := range tests {
		for _, piece := range []int{1, 2, 3, 7, 1 << 20} {
			s := scanInPieces(tt.body, piece)
			for _, k := range keys {
				got, ok := s.Field(k)
				want, wantOK := tt.want[k]
				if ok != wantOK || got != want {
					t.Errorf("%s (pieces of %d): Field(%q) = %q, %v; want %q, %v", tt.name, piece, k, got, ok, want, wantOK)
				}
			}
		}
	}
}

func TestDeadline(t *testing.T) {
	s := scanInPieces(`{"deadline":"1712345678901"}`, 5)
	d, ok := s.Deadline()
	if !ok || !d.Equal(time.UnixMilli(1712345678901)) {
		t.Errorf("Deadline = %v, %v", d, ok)
	}
	for _, body := range []string{`{}`, `{"deadline":"soon"}`, `{"deadline":"-5"}`} {
		if _, ok := scanInPieces(body, 3).Deadline(); ok {
			t.Errorf("Deadline of %s: found one", body)
		}
	}
}

func TestScannerAllocs(t *testing.T) {
	body := []byte(`{"value":{"arg":"` + strings.Repeat("a", 4096) + `"},"namespace":"guest","deadline":"1712345678901"}`)
	s := runinfo.NewScanner("deadline")
	s.Write(body) // grow the buffers once
	allocs := testing.AllocsPerRun(100, func() { s.Write(body) })
	// One string for the kept field is allowed.
	if allocs > 1 {
		t.Errorf("Write allocates %.0f times per body, want at most 1", allocs)
	}
}

func BenchmarkScanner(b *testing.B) {
	body := []byte(`{"value":{"arg":"` + strings.Repeat("a", 1<<20) + `"},"namespace":"guest","deadline":"1712345678901"}`)
	s := runinfo.NewScanner(keys...)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		s.Write(body)
	}
}

// FuzzScanner checks the Scanner against encoding/json on valid objects,
// with the input cut in two at every possible point, and that it never
// panics on anything else.
func FuzzScanner(f *testing.F) {
	f.Add(`{"value":{"a":"\"deadline\""},"deadline":"17","namespace":"g\\"}`, 3)
	f.Add(`{"a":[{"deadline":"1"}],"activation_id":"\u00e9\ud83d\ude00"}`, 9)
	f.Add(`[`, 0)
	f.Fuzz(func(t *testing.T, body string, cut int) {
		if len(body) > 0 {
			cut = ((cut % len(body)) + len(body)) % len(body)
		} else {
			cut = 0
		}
		s := runinfo.NewScanner(keys...)
		s.Write([]byte(body[:cut]))
		s.Write([]byte(body[cut:]))
		var m map[string]json.RawMessage
		if json.Unmarshal([]byte(body), &m) != nil {
			return
		}
		// encoding/json keeps the last duplicate, as the Scanner does.
		for _, k := range keys {
			var want string
			wantOK := m[k] != nil && json.Unmarshal(m[k], &want) == nil && len(m[k]) <= runinfo.MaxField
			got, ok := s.Field(k)
			if wantOK && (!ok || got != want) {
				t.Fatalf("Field(%q) = %q, %v; encoding/json says %q", k, got, ok, want)
			}
		}
	})
}
