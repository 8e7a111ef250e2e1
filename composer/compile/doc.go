// Package compile turns a composer.Workflow into the route spec
// (internal/spec) that the proxies run: a DAG of steps, each naming one
// action and its successors.
//
// Today's spec expresses actions, sequences, and a parallel whose join is
// the end of the workflow with merge "array" (the entry collects one
// result per branch, in branch order). Every other construct (map, if,
// switch, try, retry, value, object merges, a parallel followed by more
// steps, a parallel inside a parallel branch) is refused with an error
// wrapping ErrNeedsRoutePlane that names it and its position; each one
// is compiled by its own function, so adding the route plane's support
// for it replaces one refusal.
//
// Output is deterministic: step ids are derived from the node's place in
// the workflow ("s1-split", "s2.upper-toupper", "s2.lower.2-tolower") and
// never from map order or counters shared across runs.
//
// Caller's duties: pass Options.Namespace (the deployer's namespace) so
// that "_" is resolved, and Options.ActionExists at deploy time; store the
// returned spec as is (it has passed spec.Validate).
package compile
