// Package usermetrics turns OpenWhisk user events (internal/userevents)
// into Prometheus metrics the way OpenWhisk's user-events service does
// (core/monitoring/user-events, PrometheusRecorder.scala), so that the
// dashboards built for that service read the same series: the same
// metric names (openwhisk_action_activations_total,
// openwhisk_action_coldStarts_total, openwhisk_action_status,
// openwhisk_action_status_code, openwhisk_action_waitTime_seconds,
// openwhisk_action_initTime_seconds, openwhisk_action_duration_seconds,
// openwhisk_action_response_size_bytes, openwhisk_action_memory,
// openwhisk_action_limit_concurrent_total,
// openwhisk_action_limit_timed_total), the same labels (namespace,
// initiator, action, kind, memory, status, status_code, renamable as
// whisk.user-events.rename-tags renames them), the same buckets (the
// Prometheus Java client's defaults; 1 MB-wide linear buckets for the
// response size) and the same ignored namespaces.
//
// It differs in one way: the series are bounded (Config.MaxActions);
// OpenWhisk's service keeps one per action for as long as it runs.
//
// Usage, caller's duties:
//   - To run the whole service (as the sandbox can): create a Service with
//     NewService, serve its Handler at /metrics, and call Run(ctx) from one
//     goroutine the caller owns; Run returns nil once ctx has ended.
//   - Or create a Recorder with New, giving it a Registerer of the caller's
//     own (never the default registry), and serve that registry.
//   - Hand it events: it is a userevents.Handler, so pass it as a
//     userevents.ConsumerConfig's Handler; HandleEvent is safe for
//     concurrent use and never blocks on I/O.
package usermetrics
