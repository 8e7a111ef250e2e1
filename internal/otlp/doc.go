// Package otlp exports trace spans to an OpenTelemetry collector with
// OTLP over HTTP, in its JSON encoding (POST <endpoint>/v1/traces,
// Content-Type application/json, as the OpenTelemetry protocol
// specifies), batched from a bounded queue that never blocks the caller.
//
// It is what the host agent needs to make each workflow run one trace:
// a span for the run's entry and one per direct step, with W3C trace
// context ids (a 16-byte trace id, 8-byte span ids, in lower-case hex),
// so that any OTLP backend (the OpenTelemetry Collector, Jaeger, Tempo)
// shows a run as one tree. It holds no OpenTelemetry SDK: spans are
// plain values, built by the caller when they have ended.
//
// Usage: create an Exporter with New, call Run(ctx) from one goroutine
// the caller owns (it returns once ctx has ended, after a bounded flush
// of what is queued), and hand it ended spans with Export.
package otlp
