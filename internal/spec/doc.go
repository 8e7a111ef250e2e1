// Package spec defines the compiled workflow spec that proxies read to
// route a run: steps, the action each one runs, and their successors. The
// composer compiles workflows into it and the Consul store keeps it under a
// per-namespace prefix, versioned by Consul's modify index.
//
// Each step is of one Kind, which its fields make: an action step runs an
// OpenWhisk action; a router routes its input (by a switch, or to its
// successors, or into a join's region as a fork); a value step replaces
// the value with a constant; a join merges the results of its region; a
// map runs its region once per element of an array; a loop head runs its
// body while a condition holds. Validate refuses a step with fields its
// kind may not have and caches every step's kind; callers switch on
// Spec.Kind.
//
// A frame's branch number encodes where in the workflow it runs (its slot
// in a join's region, JoinBranch; or its result path); PlaceOf decodes it
// for people: a parallel's branch by name or place, a map's element by
// index.
package spec
