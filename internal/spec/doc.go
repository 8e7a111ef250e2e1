// Package spec defines the compiled workflow spec that proxies read to
// route a run: steps, the action each one runs, and their successors. The
// composer compiles workflows into it and the Consul store keeps it under a
// per-namespace prefix, versioned by Consul's modify index.
package spec
