package otlp_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/otlp"
)

const (
	trace = "0123456789abcdef0123456789abcdef"
	span1 = "0123456789abcdef"
	span2 = "fedcba9876543210"
)

func validSpan() otlp.Span {
	start := time.Unix(1700000000, 5)
	return otlp.Span{TraceID: trace, SpanID: span2, ParentSpanID: span1, Name: "step s1 /ns/a", Kind: otlp.KindServer,
		Start: start, End: start.Add(3 * time.Millisecond), Attributes: []otlp.Attribute{{Key: "k", Value: "v"}}, Status: otlp.StatusOK}
}

func TestSpanCheck(t *testing.T) {
	tests := []struct {
		name string
		edit func(*otlp.Span)
		err  string
	}{
		{"valid", func(*otlp.Span) {}, ""},
		{"root", func(s *otlp.Span) { s.ParentSpanID = "" }, ""},
		{"short trace", func(s *otlp.Span) { s.TraceID = "abc" }, "trace id"},
		{"zero trace", func(s *otlp.Span) { s.TraceID = strings.Repeat("0", 32) }, "trace id"},
		{"upper-case span", func(s *otlp.Span) { s.SpanID = strings.ToUpper("abcdef0123456789") }, "span id"},
		{"bad parent", func(s *otlp.Span) { s.ParentSpanID = "xyz" }, "parent span id"},
		{"no name", func(s *otlp.Span) { s.Name = "" }, "name"},
		{"ends before it starts", func(s *otlp.Span) { s.End = s.Start.Add(-1) }, "ends before"},
	}
	for _, tc := range tests {
		s := validSpan()
		tc.edit(&s)
		err := s.Check()
		if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: Check = %v, want %q", tc.name, err, tc.err)
		}
	}
}

// TestEncode checks the JSON against the OTLP/HTTP JSON encoding:
// resourceSpans, hex ids, times as decimal strings of nanoseconds.
func TestEncode(t *testing.T) {
	b := otlp.Encode("svc", []otlp.Attribute{{Key: "host.name", Value: "h1"}}, []otlp.Span{validSpan()})
	want := `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}},` +
		`{"key":"host.name","value":{"stringValue":"h1"}}]},"scopeSpans":[{"scope":{"name":"wsk-route"},"spans":[` +
		`{"traceId":"` + trace + `","spanId":"` + span2 + `","parentSpanId":"` + span1 + `","name":"step s1 /ns/a","kind":2,` +
		`"startTimeUnixNano":"1700000000000000005","endTimeUnixNano":"1700000000003000005",` +
		`"attributes":[{"key":"k","value":{"stringValue":"v"}}],"status":{"code":1}}]}]}]}`
	if string(b) != want {
		t.Errorf("Encode =\n%s\nwant\n%s", b, want)
	}
}

// collector is an OTLP/HTTP receiver that keeps the spans posted to it.
type collector struct {
	mu     sync.Mutex
	spans  []map[string]any
	status int
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Authorization") != "Bearer t" {
		http.Error(w, "bad request "+r.Method+" "+r.URL.Path, http.StatusBadRequest)
		return
	}
	var req struct {
		ResourceSpans []struct {
			ScopeSpans []struct {
				Spans []map[string]any `json:"spans"`
			} `json:"scopeSpans"`
		} `json:"resourceSpans"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.status != 0 {
		http.Error(w, "refused", c.status)
		return
	}
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			c.spans = append(c.spans, ss.Spans...)
		}
	}
	w.Write([]byte(`{}`))
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.spans)
}

// TestExporter: spans are posted in batches, the rest when Run's ctx
// ends; invalid spans and a full queue are counted, never waited for; a
// refusing collector counts as failed.
func TestExporter(t *testing.T) {
	col := &collector{}
	srv := httptest.NewServer(col)
	defer srv.Close()
	e, err := otlp.New(otlp.Config{Endpoint: srv.URL, Headers: map[string]string{"Authorization": "Bearer t"}, Batch: 2, Interval: time.Hour, Queue: 8})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		e.Export(validSpan())
	}
	bad := validSpan()
	bad.TraceID = "x"
	e.Export(bad)
	for range 10 {
		e.Export(validSpan()) // 3 more fit in the queue of 8
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for col.count() < 8 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := col.count(); n != 8 {
		t.Errorf("the collector got %d spans, want the 8 the queue held", n)
	}
	if c := e.Counts(); c.Exported != 8 || c.Dropped != 8 || c.Failed != 0 {
		t.Errorf("counts %+v, want 8 exported, 8 dropped (7 queue full, 1 invalid)", c)
	}

	col.status = http.StatusServiceUnavailable
	e2, _ := otlp.New(otlp.Config{Endpoint: srv.URL + "/", Headers: map[string]string{"Authorization": "Bearer t"}})
	e2.Export(validSpan())
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	e2.Run(ctx2) // flushes the one span on the way out
	if c := e2.Counts(); c.Failed != 1 || c.Exported != 0 {
		t.Errorf("counts %+v against a refusing collector, want 1 failed", c)
	}
}

func TestNewRefusesBadEndpoints(t *testing.T) {
	for _, ep := range []string{"", "collector:4318", "ftp://c", "http://"} {
		if _, err := otlp.New(otlp.Config{Endpoint: ep}); err == nil {
			t.Errorf("New(%q) = nil error", ep)
		}
	}
}
