package sandbox_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// spans is the OTLP/HTTP collector the shared sandbox's agent exports
// its traces to (started in TestMain).
var spans *collector

// otlpSpan is what the tests read of an exported span.
type otlpSpan struct {
	TraceID      string `json:"traceId"`
	SpanID       string `json:"spanId"`
	ParentSpanID string `json:"parentSpanId"`
	Name         string `json:"name"`
	Start        string `json:"startTimeUnixNano"`
	End          string `json:"endTimeUnixNano"`
}

// collector is a minimal OpenTelemetry collector: it keeps the spans
// posted to /v1/traces in the OTLP JSON encoding.
type collector struct {
	srv *httptest.Server
	url string

	mu    sync.Mutex
	spans []otlpSpan
}

func startCollector() *collector {
	c := &collector{}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			ResourceSpans []struct {
				ScopeSpans []struct {
					Spans []otlpSpan `json:"spans"`
				} `json:"scopeSpans"`
			} `json:"resourceSpans"`
		}
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(body, &req) != nil {
			http.Error(w, "not an OTLP/HTTP JSON export", http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				c.spans = append(c.spans, ss.Spans...)
			}
		}
		c.mu.Unlock()
		w.Write([]byte(`{}`))
	}))
	c.url = c.srv.URL
	return c
}

func (c *collector) close() { c.srv.Close() }

// trace returns the spans of trace id, once there are at least n (or
// what there is after a wait).
func (c *collector) trace(id string, n int) []otlpSpan {
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got []otlpSpan
		c.mu.Lock()
		for _, s := range c.spans {
			if s.TraceID == id {
				got = append(got, s)
			}
		}
		c.mu.Unlock()
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRunTrace: a workflow run is one trace, whose id is the entry's
// activation id: a root span for the run and one span per direct step
// under it, and each step's action was given its span as traceparent.
func TestRunTrace(t *testing.T) {
	c := client(t, "")
	steps := []string{"tr-upper", "tr-words"}
	for _, s := range steps {
		createAct(t, c, s, nil, nil)
		if act, _ := invoke(t, c, s, map[string]any{"text": "warm"}); !act.Response.Success {
			t.Fatalf("warming %s: %+v", s, act.Response)
		}
	}
	deployFlow(t, c, "tr", steps...)
	// "trace": the test action logs the traceparent it was given.
	act, resp := invoke(t, c, "tr", map[string]any{"text": "one trace", "trace": true})
	if resp.StatusCode != http.StatusOK || !act.Response.Success {
		t.Fatalf("invoke of the entry: %s %+v (logs %q)", resp.Status, act.Response, act.Logs)
	}
	got := spans.trace(act.ActivationID, 3)
	if len(got) != 3 {
		t.Fatalf("trace %s has %d spans %+v, want the run's and its 2 steps'", act.ActivationID, len(got), got)
	}
	var root otlpSpan
	for _, s := range got {
		if s.ParentSpanID == "" {
			root = s
		}
	}
	if root.SpanID == "" || !strings.HasPrefix(root.Name, "workflow /guest/tr") {
		t.Fatalf("no root span for the run in %+v", got)
	}
	logs := strings.Join(act.Logs, "\n")
	for _, s := range got {
		if s == root {
			continue
		}
		if s.ParentSpanID != root.SpanID {
			t.Errorf("step span %+v is not under the run's %s", s, root.SpanID)
		}
		// The step's action logged the traceparent it was given.
		if tp := "traceparent 00-" + act.ActivationID + "-" + s.SpanID + "-01"; !strings.Contains(logs, tp) {
			t.Errorf("the entry's logs lack %q: the action was not given its span", tp)
		}
	}
}
