// Package faults is wsk-route's fault suite: it drives real workflows (a
// chain, a fan-out with a join, a map) through real proxies, real host
// agents, a real Consul and the `wsk-route dev` sandbox while it injects
// faults, and counts for every scenario what became of each run:
// completed correctly, failed with a clear error (and how long after the
// fault), lost (no answer by the deadline, or an error only at the
// deadline), a wrong result, and steps executed more than once.
//
// It has no code outside its tests. The steps of every workflow are one
// recording action (testdata/rec), which appends a line to a file when it
// starts and when it ends a step, so that the executions of each step of
// each run are counted exactly, also when a process is killed mid-step.
//
// # Scenarios
//
// Each scenario is a set of workflow shapes, a fault with how long it
// lasts, and its environment, started fresh for it. Clients run the
// workflows back to back; each cycle has runs before the fault, during it,
// after the heal, and a recovery phase whose runs must all complete. The
// faults: kill -9 of a successor's container, of its action process, of
// the join holder; SIGSTOP of a successor and of the join holder for four
// ack timeouts; kill -9 and restart of the host agent; Consul paused,
// killed, restarted empty; a host cut off the network (network
// namespaces); the sandbox killed and restarted on its --data-dir.
// docs/faults.md describes each one and holds the measured results.
//
// # Running it
//
// The short form (one cycle per scenario, a few dozen runs each) is
// TestFaults, part of `make test`:
//
//	go test -count=1 -run 'TestFaults$' -v ./faults/
//
// The soak form (WSK_ROUTE_SOAK_CYCLES cycles per scenario, default 20:
// thousands of runs, with descriptor, goroutine, RSS, shm and socket checks)
// is TestFaultsSoak; WSK_ROUTE_FAULTS_REPORT writes its results as markdown:
//
//	WSK_ROUTE_SOAK=1 WSK_ROUTE_SOAK_CYCLES=10 WSK_ROUTE_FAULTS_REPORT=docs/faults-soak.md \
//	  go test -count=1 -run TestFaultsSoak -timeout 3h -v ./faults/
//
// A scenario fails if it lost a run, returned a wrong result, executed a
// step twice, reported a failure later than five ack timeouts after the
// fault, failed a run of its recovery phase, or (agent restart) failed any
// run. The suite needs a consul binary (scripts/install-consul.sh) and, for
// the partition, root and the ip command; without them those scenarios
// skip, and fail when CI=true.
package faults
