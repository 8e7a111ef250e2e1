// Package store keeps the `wsk-route dev` sandbox's entities in one bbolt
// file: subjects (the API keys), actions, packages and activation records,
// so that a sandbox keeps its state across restarts.
//
// # Layout
//
//	subjects      uuid                         → whisk.Identity
//	actions       path "\x00" name             → action and its revision
//	packages      namespace "\x00" name        → package and its revision
//	activations   namespace "\x00" id          → whisk.Activation (storage form)
//	actindex      namespace "\x00" start id    → nothing (start: 8 bytes big-endian ms)
//	actcount      namespace                    → number of activations kept (8 bytes big-endian)
//
// Values are JSON. The index orders a namespace's activations by start time
// so that listings come newest first without reading every record. At most
// Options.MaxActivations activations are kept per namespace; PutActivation
// drops the oldest beyond that, so a long-running sandbox does not grow
// without bound.
//
// # Caller's duties
//
// Open the file once per process and Close it on shutdown: bbolt holds an
// exclusive lock on the file, and a second Open (another `wsk-route dev`
// on the same data directory) fails after about a second. A Store is safe
// for concurrent use. The store checks what it must keep consistent (an
// action's package exists, a package is empty when deleted, overwrite
// rules); validating names, limits and kinds is the API's job.
package store
