// Package hop holds the route-plane benchmarks: the latency of one direct
// hop (internal/transport) beside raw-socket baselines measured in the same
// run; the copy and shm costs of large payloads; the hops per second one
// host sustains; and how long a registration takes to reach another
// store's watch through a real Consul agent.
//
// # Between processes: what production does
//
// A hop goes from one proxy process to another, so the hop benchmarks run
// the sender (the test process) and the receiver in separate processes: the
// receiver is ./peer, built from the module by the first test that needs
// it. Each path is measured beside a raw baseline of the same shape between
// the same two kinds of process (an 8-byte length and the payload one way,
// a 1-byte ack back), the two alternating in rounds:
//   - same-host: transport.Client.Send to a transport.Server over a unix
//     socket, payloads above transport.DefaultShmThreshold through a shm
//     segment (1 KiB, 64 KiB, 1 MiB); baseline raw unix;
//   - loopback TCP: the same over TCP on 127.0.0.1 (1 KiB, 64 KiB); baseline
//     raw TCP;
//   - cross-host: TCP from network namespace host 1 to a receiver process in
//     host 2 (internal/testenv/netns; needs root); baseline raw TCP;
//   - relayed: sender → host 1 agent relay (unix) → host 2 agent relay (TCP)
//     → receiver (unix), each agent a process serving an
//     invoker-plugin/relay.Relay as the host agent does (needs root).
//
// Each reports p50 and p99 of the per-hop times (and their distribution),
// the ratio to its baseline, the CPU time and context switches the hop
// costs sender and receiver together, and the load average. The report:
//
//	WSK_ROUTE_BENCH=1 go test -count=1 -run '^TestProcessReport$' -v ./benchmarks/hop/
//
// (results in docs/benchmarks/hop-processes.md), and the same paths as
// benchmarks:
//
//	go test -run '^$' -bench '^BenchmarkProc' ./benchmarks/hop/
//
// WSK_ROUTE_PEER_CPUPROFILE=dir makes every receiver process write a CPU
// profile of its life into dir.
//
// # Diagnostics: everything in one process
//
// With client and server in one process a hop skips the wake-ups between
// processes that dominate it on small machines, so those variants are
// diagnostics only: BenchmarkDiagInProcess* and TestReport, which also
// measures payloads up to 256 MiB, the shm threshold, memcpy and shm costs,
// throughput and route propagation:
//
//	WSK_ROUTE_BENCH=1 go test -run '^TestReport$' -v -timeout 30m ./benchmarks/hop/
//
// (results in docs/benchmarks/route-plane.md).
//
// Every receiver, in process or not, is Receiver: it verifies the frame's
// tag as the proxy does, reads one byte per 4 KiB page of the payload and
// releases it. Ordinary `go test` runs only small smoke versions of the
// reports (TestProcessSmall, TestMeasureSmall).
package hop
