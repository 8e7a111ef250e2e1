package otlp

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Span kinds (OTLP's SpanKind).
const (
	KindInternal = 1
	KindServer   = 2
	KindClient   = 3
)

// Status codes (OTLP's Status.StatusCode).
const (
	StatusUnset = 0
	StatusOK    = 1
	StatusError = 2
)

// Span is one ended span.
type Span struct {
	// TraceID is 32 lower-case hex digits, SpanID and ParentSpanID 16
	// ("" for a root span).
	TraceID, SpanID, ParentSpanID string
	Name                          string
	Kind                          int
	Start, End                    time.Time
	// Attributes are string attributes, in order.
	Attributes []Attribute
	// Status is StatusUnset, StatusOK or StatusError, with Message for
	// an error.
	Status  int
	Message string
}

// Attribute is a string attribute of a span.
type Attribute struct{ Key, Value string }

// Check reports what makes s a span an OTLP collector would refuse.
func (s *Span) Check() error {
	switch {
	case !isHex(s.TraceID, 32) || s.TraceID == strings.Repeat("0", 32):
		return fmt.Errorf("otlp: span %q: trace id %q is not 32 lower-case hex digits, not all zero", s.Name, s.TraceID)
	case !isHex(s.SpanID, 16) || s.SpanID == strings.Repeat("0", 16):
		return fmt.Errorf("otlp: span %q: span id %q is not 16 lower-case hex digits, not all zero", s.Name, s.SpanID)
	case s.ParentSpanID != "" && !isHex(s.ParentSpanID, 16):
		return fmt.Errorf("otlp: span %q: parent span id %q is not 16 lower-case hex digits", s.Name, s.ParentSpanID)
	case s.Name == "":
		return errors.New("otlp: a span needs a name")
	case s.End.Before(s.Start):
		return fmt.Errorf("otlp: span %q ends before it starts", s.Name)
	}
	return nil
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}

// Config configures an Exporter.
type Config struct {
	// Endpoint is the collector's OTLP/HTTP base URL
	// (http://collector:4318); spans go to Endpoint + "/v1/traces".
	Endpoint string
	// ServiceName is the resource's service.name; "" means
	// "wsk-route-agent".
	ServiceName string
	// Resource are more resource attributes (host.name, ...).
	Resource []Attribute
	// Headers are added to every request (e.g. an authorization).
	Headers map[string]string
	// Queue bounds the spans waiting to be sent; 0 means 4096. A span
	// that finds it full is dropped and counted.
	Queue int
	// Batch is the most spans per request; 0 means 256.
	Batch int
	// Interval is how long a span may wait for its batch to fill; 0
	// means one second.
	Interval time.Duration
	// Client sends the requests; nil means one with a 10 s timeout.
	Client *http.Client
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// Counts are an Exporter's counters.
type Counts struct {
	// Exported spans the collector took; Failed spans of requests it
	// refused or that failed; Dropped spans that found the queue full or
	// were not valid.
	Exported, Failed, Dropped uint64
}

// Exporter batches spans and posts them to a collector.
type Exporter struct {
	cfg   Config
	url   string
	queue chan Span
	log   *slog.Logger

	exported, failed, dropped atomic.Uint64
	failedRequests            atomic.Uint64 // for logging the first failure and every 100th
}

// New returns an Exporter for cfg; it sends nothing until Run.
func New(cfg Config) (*Exporter, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("otlp: endpoint %q is not an http(s) URL of a collector (e.g. http://collector:4318)", cfg.Endpoint)
	}
	if cfg.ServiceName == "" {
		cfg.ServiceName = "wsk-route-agent"
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 4096
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 256
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Exporter{cfg: cfg, url: strings.TrimSuffix(cfg.Endpoint, "/") + "/v1/traces", queue: make(chan Span, cfg.Queue), log: cfg.Logger}, nil
}

// Export queues s without blocking; a span that is not valid, or finds
// the queue full, is dropped and counted.
func (e *Exporter) Export(s Span) {
	if err := s.Check(); err != nil {
		if e.dropped.Add(1)%100 == 1 {
			e.log.Warn("otlp: dropping a span", "err", err)
		}
		return
	}
	select {
	case e.queue <- s:
	default:
		e.dropped.Add(1)
	}
}

// Counts returns the counters.
func (e *Exporter) Counts() Counts {
	return Counts{Exported: e.exported.Load(), Failed: e.failed.Load(), Dropped: e.dropped.Load()}
}

// flushTimeout bounds the last flush when Run's ctx ends.
const flushTimeout = 5 * time.Second

// Run sends the queued spans in batches until ctx ends, then sends what
// is left within flushTimeout and returns nil.
func (e *Exporter) Run(ctx context.Context) error {
	batch := make([]Span, 0, e.cfg.Batch)
	// flush sends the batch when it is full, or, with all, when it has
	// any span.
	flush := func(ctx context.Context, all bool) {
		if len(batch) == e.cfg.Batch || (all && len(batch) > 0) {
			e.send(ctx, batch)
			batch = batch[:0]
		}
	}
	tick := time.NewTicker(e.cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case s := <-e.queue:
			batch = append(batch, s)
			flush(ctx, false)
		case <-tick.C:
			flush(ctx, true)
		case <-ctx.Done():
			last, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
			defer cancel()
			for {
				select {
				case s := <-e.queue:
					batch = append(batch, s)
					flush(last, false)
				default:
					flush(last, true)
					return nil
				}
			}
		}
	}
}

// send posts one batch.
func (e *Exporter) send(ctx context.Context, spans []Span) {
	body := Encode(e.cfg.ServiceName, e.cfg.Resource, spans)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		e.failed.Add(uint64(len(spans)))
		return
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range e.cfg.Headers {
		req.Header.Set(k, v)
	}
	resp, err := e.cfg.Client.Do(req)
	if err != nil {
		e.fail(len(spans), err)
		return
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		e.fail(len(spans), fmt.Errorf("the collector answered %s: %s", resp.Status, bytes.TrimSpace(msg)))
		return
	}
	e.exported.Add(uint64(len(spans)))
}

// fail counts the n spans of a failed request, and logs the first
// failure and every 100th.
func (e *Exporter) fail(n int, err error) {
	failed := e.failed.Add(uint64(n))
	if e.failedRequests.Add(1)%100 == 1 {
		e.log.Warn("otlp: sending spans failed", "url", e.url, "spans", n, "failed", failed, "err", err)
	}
}

// Encode returns the OTLP JSON of an ExportTraceServiceRequest holding
// spans, of one resource (service.name and resource) and one scope.
func Encode(service string, resource []Attribute, spans []Span) []byte {
	type anyValue struct {
		StringValue string `json:"stringValue"`
	}
	type keyValue struct {
		Key   string   `json:"key"`
		Value anyValue `json:"value"`
	}
	type status struct {
		Code    int    `json:"code,omitempty"`
		Message string `json:"message,omitempty"`
	}
	type span struct {
		TraceID           string     `json:"traceId"`
		SpanID            string     `json:"spanId"`
		ParentSpanID      string     `json:"parentSpanId,omitempty"`
		Name              string     `json:"name"`
		Kind              int        `json:"kind"`
		StartTimeUnixNano string     `json:"startTimeUnixNano"`
		EndTimeUnixNano   string     `json:"endTimeUnixNano"`
		Attributes        []keyValue `json:"attributes,omitempty"`
		Status            status     `json:"status"`
	}
	attrs := func(as []Attribute) []keyValue {
		out := make([]keyValue, 0, len(as))
		for _, a := range as {
			out = append(out, keyValue{a.Key, anyValue{a.Value}})
		}
		return out
	}
	out := make([]span, 0, len(spans))
	for _, s := range spans {
		out = append(out, span{TraceID: s.TraceID, SpanID: s.SpanID, ParentSpanID: s.ParentSpanID, Name: s.Name, Kind: s.Kind,
			StartTimeUnixNano: strconv.FormatInt(s.Start.UnixNano(), 10), EndTimeUnixNano: strconv.FormatInt(s.End.UnixNano(), 10),
			Attributes: attrs(s.Attributes), Status: status{Code: s.Status, Message: s.Message}})
	}
	req := map[string]any{"resourceSpans": []any{map[string]any{
		"resource":   map[string]any{"attributes": attrs(append([]Attribute{{"service.name", service}}, resource...))},
		"scopeSpans": []any{map[string]any{"scope": map[string]string{"name": "wsk-route"}, "spans": out}},
	}}}
	b, _ := json.Marshal(req) // strings and numbers only: cannot fail
	return b
}
