// Package sandbox is `wsk-route dev`: a single-node, OpenWhisk-compatible
// sandbox in one process, for development, tests and benchmarks. It is not
// a production OpenWhisk and says so wherever it shows itself.
//
// It wires real parts together, each in its own package:
//
//   - api: the REST API subset that `wsk` and openwhisk-client-go use,
//     with basic auth (the usual guest key by default);
//   - controller: ActivationMessages to Kafka topic invoker0, acks from
//     completed0, blocking waits, sequences run step by step as OpenWhisk
//     runs them (the baseline wsk-route's direct hops are measured against);
//   - a Kafka-protocol broker: franz-go's kfake in process, or a real one
//     (Config.Kafka), spoken to with sarama;
//   - invoker: a container pool running every action behind the wsk-route
//     proxy, as local processes or docker containers;
//   - the wsk-route host agent (invoker-plugin/agent) with an embedded
//     route registry (registry), or a real Consul (Config.Consul), so that
//     direct hops between the sandbox's containers work as on a cluster;
//   - store: actions, packages and activation records in a bbolt file in
//     the data directory.
//
// Usage: Run(ctx, cfg, ready) starts everything, calls ready with where it
// listens, and serves until ctx ends; then it stops the parts in reverse
// order and removes its containers, sockets and shm segments. Only the data
// directory stays (when one was given).
package sandbox
