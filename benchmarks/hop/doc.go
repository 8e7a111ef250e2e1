// Package hop holds the route-plane benchmarks: the latency of one direct
// hop (internal/transport) for payloads from 1 KiB to 256 MiB on three
// paths, beside raw-socket and memcpy baselines measured in the same run;
// the hops per second one host sustains; and how long a registration takes
// to reach another store's watch through a real Consul agent.
//
// The paths:
//   - same-host: transport.Client.Send to a transport.Server over a unix
//     socket, payloads above 64 KiB through a shm segment;
//   - cross-host: TCP from network namespace host 1 to host 2
//     (internal/testenv/netns; needs root);
//   - relayed: client → host 1 agent relay (unix) → host 2 agent relay
//     (TCP) → server (unix), the agents being invoker-plugin/relay.Relay
//     handlers as the host agent serves them.
//
// The receiving handler verifies the frame's tag as the proxy does, reads
// one byte per 4 KiB page of the payload and releases it.
//
// The full report (a markdown table) is a test gated by an environment
// variable, because it is a measurement that takes minutes:
//
//	WSK_ROUTE_BENCH=1 go test -run '^TestReport$' -v -timeout 30m ./benchmarks/hop/
//
// The same cases are ordinary benchmarks too:
//
//	go test -run '^$' -bench . -benchmem ./benchmarks/hop/
//
// The results are discussed in docs/benchmarks/route-plane.md.
package hop
