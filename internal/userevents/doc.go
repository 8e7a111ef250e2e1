// Package userevents is wsk-route's edge to OpenWhisk's user events: the
// EventMessage JSON that OpenWhisk's invokers, controllers and schedulers
// publish on Kafka's "events" topic (with the user-event topic prefix),
// a Publisher that sends such events from the host agent, and a Consumer
// that reads them back (for internal/usermetrics, which turns them into
// Prometheus metrics as OpenWhisk's user-events service does).
//
// The shapes follow OpenWhisk's
// common/scala/src/main/scala/org/apache/openwhisk/core/connector/Message.scala
// (EventMessage, Activation, Metric): spray-json field names, durations in
// milliseconds, absent optional fields left out. Parse is as lenient as
// OpenWhisk's reader (unknown fields are ignored) and as strict where it
// is strict (a subject of at least 5 characters, every required field).
//
// This is the only package of the agent that imports the Kafka client
// (IBM/sarama).
//
// Usage, caller's duties:
//   - Publisher: create it with NewPublisher (Config.Brokers must not be
//     empty), call Run(ctx) from one goroutine the caller owns, and call
//     Publish from anywhere: it never blocks and never fails; an event that
//     finds the bounded queue full, or that Check refuses, is dropped and
//     counted in Counts. Run connects (retrying with a capped back-off while
//     the brokers are unreachable), batches the queued events to the
//     events topic and returns nil once ctx ends, after a bounded flush.
//   - Consumer: create it with NewConsumer, give it a Handler, and call
//     Run(ctx) from one goroutine; the Handler is called from Run's
//     goroutines, one message at a time per partition.
package userevents
