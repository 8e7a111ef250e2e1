// Package proxyconn is the host agent's side of the websocket that every
// local action proxy keeps open on the agent's unix socket (see
// internal/agentproto): it accepts the sessions, admits each proxy's
// Register through a Registrar, keeps each proxy's copy of the route table
// and of its namespace's specs current, and tracks liveness with pings.
//
// # Pushing state
//
// The agent hands the Server the whole picture (SetInstances, SetSpecs)
// whenever its Consul watches report one. The Server never blocks on a
// proxy: it only wakes each session's writer (a buffer-1 trigger), and the
// writer, when it gets to run, computes the delta between what it last sent
// and the current picture of its namespace and sends it (a full snapshot
// the first time). A slow proxy therefore gets fewer, larger deltas, never a
// growing queue. Welcome and Key go through a small bounded outbox; a
// session whose outbox overflows is closed.
//
// # Peers
//
// Before upgrading a connection to a websocket, the Server identifies its
// peer with Config.PeerOf (by default LookupPeer: the pid from
// SO_PEERCRED, the cgroup from /proc/<pid>/cgroup, see ParseCgroup) and
// passes that Peer, or the reason it could not be identified in Peer.Err,
// to every Register of the session. The Registrar decides what an
// identity may register; a *Refusal's Reason is sent in the close frame.
//
// # Liveness
//
// The writer pings every PingInterval; a session from which nothing (no
// pong, no message) arrives for PongWait is closed, as is one whose writes
// stall for PongWait. A paused container stops answering pongs, so its
// instance is withdrawn within PongWait.
//
// Usage, caller's duties:
//   - Create the Server with NewServer and run Serve(ctx, ln) on a listener
//     of the agent's socket; Serve returns after ctx ends, once every
//     session has ended and been deregistered.
//   - Serve a *net.UnixListener: LookupPeer identifies unix peers only.
//   - Implement Registrar: Register is called once per session and may do
//     I/O (the session's reader waits for it); Deregister is called exactly
//     once for each id Register admitted, when its session ends.
//   - Call SetInstances and SetSpecs with full pictures; the Server keeps
//     its own copies (callers may reuse their slices).
package proxyconn
