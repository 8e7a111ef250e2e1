// Package relay is the host agent's frame relay: a transport.Handler that
// delivers a frame to the instance its Target names, either a proxy
// registered through this agent (over the proxy's unix socket) or, for an
// instance on another host, through that host's agent (over its TCP relay
// address, on persistent connections the transport.Client multiplexes).
//
// The relay returns the receiver's ack code and reason as its own. It never
// re-signs a frame (the sender's tag travels unchanged and the receiver
// checks it), forwards inline payloads only (a shm reference means nothing
// on another host, and turning it into inline bytes would break the tag),
// and refuses a frame whose namespace is not its target's.
//
// A Relay with Forward false delivers to local instances only: that is the
// handler of the TCP listener other agents reach, so a frame crosses at
// most one agent-to-agent hop and stale tables can never make two agents
// bounce a frame between them.
//
// Usage, caller's duties:
//   - Give it a Directory that answers from the agent's own registrations
//     and its latest table, and a Sender (a *transport.Client with ShmDir
//     empty, so payloads stay inline).
//   - Serve it with a transport.Server; HandleFrame blocks for the
//     forward, so give that Server a MaxInFlight that covers the expected
//     concurrency.
package relay
