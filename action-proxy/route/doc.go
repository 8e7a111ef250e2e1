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
// call Identify when the action's name is known (from /init's env or the
// first /run), and run Plane.Run(ctx) in a goroutine the caller owns. A
// Plane without an agent socket is never built: without an agent, the
// proxy is the stock proxy.
//
// A Plane can also start runs (StartRun): it sends the input to the start
// steps and collects the results and step logs that come back to its own
// socket. This is what the entry action does; tests use it to drive
// workflows. Joins are held where they fork or at the entry (join.go),
// maps at the entry (mapstep.go), loops nowhere (loop.go); large fallback
// payloads travel as blobs (blob.go, fallback.go); run events go to the
// agent for `wsk-route invoke --watch` (events.go).
//
// Trust and faults: the proxy's frame socket is made by the agent and
// handed over as a descriptor (listener.go); a proxy that can write its
// run directory does not run the plane at all (CheckRunDir). Step frames
// carry an accept window, and a step runs only once its ack reached the
// sender in time (handle.go, transport.Delivery.OnAcked), so a frame whose
// sender gave up never runs. The entry knows where each of its steps is
// between being handed on and reporting, and fails the run as soon as one
// of those places is lost (whereabouts.go). The plane keeps what the agent
// told it while the agent restarts.
package route
