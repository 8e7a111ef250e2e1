// Package blob is what a large fallback payload needs to travel from the
// producing host's agent to the consuming one: the blob reference carried
// in a frame's Ref ("<host>/<segment>"), and the paths and answers of the
// two HTTP calls that move it.
//
// A proxy that falls back through the OpenWhisk API with a payload over
// the envelope's limit writes the payload into a shm segment of its
// namespace on its own host and sends a step frame with PayloadKind blob
// and Ref = FormatRef(host, segment). The consuming proxy maps the segment
// itself when the Ref names its own host; otherwise it POSTs the signed
// frame to FetchPath on its agent's FetchSocket. That agent checks the
// caller and the frame, POSTs the frame to ReadPath on the producing
// host's agent (found by host name in its route table, on that agent's
// relay port), writes the bytes it streams back into a shm segment of the
// namespace, and answers with the segment's name ([FetchAnswer]).
//
// The package only formats and parses; the handlers are in
// invoker-plugin/agent and the client in action-proxy/route.
package blob
