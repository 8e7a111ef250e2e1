// Package route is the proxy's route plane: it connects to the host agent,
// registers the proxy's action once known, keeps the local copy of the
// route table and of the namespace's specs the agent pushes, accepts step
// frames from other proxies, runs them on the action (never interleaved
// with an invoker /run, which has priority), and sends each result on to
// the successors the spec names — choosing the instance locally: same host
// first (unix socket, shm for large payloads), then least loaded and
// lowest observed delay over TCP or the agents' relay.
//
// Usage: build a Plane with New, give it an Executor (the proxy's action),
// call Identify (or Claim) when the action's name is known (from /init's
// env or the first /run), and run Plane.Run(ctx) in a goroutine the caller
// owns; Run returns once the plane's goroutines and steps have stopped. A
// Plane without an agent socket is never built: without an agent, the
// proxy is the stock proxy, and an entry runs on an APIRouter. A Plane can also start runs (StartRun): this
// is what the entry action does; tests use it to drive workflows.
//
// # Core and shell
//
// This package is the shell: it owns the sockets, the agent session, the
// action's processes, goroutines and timers, and makes no decision about a
// workflow. Package flow (action-proxy/route/flow) is the core: given the
// spec, a run's state and an event, it returns the actions to take. The
// shell feeds it events and carries out its actions:
//
//   - handle.go: a frame arrives. A step frame is checked (flow.Admit,
//     flow.CheckStep, flow.Seen) and run; its outcome goes to
//     flow.Sender.Finished. Replies go to the run started here (entry.go),
//     slots and handovers to the joins held here (holder.go).
//   - entry.go: a run started here: a flow.Run, and the goroutine of
//     StartRun that owns it (its deadline, timers, and route table changes).
//   - holder.go: the joins this proxy holds for runs started elsewhere, one
//     flow.Joins per run until its deadline.
//   - actions.go: carries out actions (doer): picks instances, sends frames,
//     falls back to the OpenWhisk API (fallback.go), reports steps, and asks
//     the core what follows each outcome.
//   - fallback.go, fallbackwatch.go, blob.go: the fallback through the
//     OpenWhisk API, the activations the entry watches, large payloads.
//   - plane.go, session.go, listener.go, config.go, stats.go, events.go:
//     the agent session, the frame socket the agent hands over, the
//     configuration, hop counters and run events for `invoke --watch`.
//   - apirun.go, invoke.go: the other shell, for an entry whose container
//     has no agent (APIRouter): every step a blocking invoke through the
//     OpenWhisk API, chained by the entry itself; and the API client both
//     shells use.
//
// docs/route-plane.md draws the split and lists what to touch to add a
// step kind.
//
// Trust and faults: the proxy's frame socket is made by the agent and
// handed over as a descriptor (listener.go); a proxy that can write its
// run directory does not run the plane at all (CheckRunDir). Step frames
// carry an accept window, and a step runs only once its ack reached the
// sender in time (handle.go, transport.Delivery.OnAcked), so a frame whose
// sender gave up never runs. The entry knows where each of its steps is
// between being handed on and reporting, and fails the run as soon as one
// of those places is lost (flow/whereabouts.go). The plane keeps what the
// agent told it while the agent restarts.
package route
