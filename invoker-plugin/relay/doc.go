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
//   - Serve it with a transport.Server with Keys (the agent gives the
//     keys of the namespaces of its local instances), so that a frame's
//     tag is checked before its payload is read and a peer without the key
//     costs the agent at most a header per connection; and with a MaxConns
//     that covers one connection per local proxy (frame socket) or per
//     other agent (relay port). HandleFrame blocks for the forward, so give
//     that Server a MaxInFlight that covers the expected concurrency.
//
// A frame with AcceptBy keeps its window through the relay (the tag covers
// it): the relay's Sender waits for the receiver's ack until AcceptBy
// (plus its ClockSkew towards another agent) and then gives up, answering
// CodeUnavailable; the sender, which waits ClockSkew longer, then sees the
// refusal or gives up itself. Across a relay, sender and receiver agree on
// whether a frame was accepted when the hosts' clocks are within ClockSkew
// and acks come back within it (see transport.Client.Send).
package relay
