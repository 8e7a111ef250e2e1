// Package compile turns a composer.Workflow into the route spec
// (internal/spec) that the proxies run: steps, each naming one action (or
// a join, a map, a constant, a router or a loop head) and its successors.
//
// Loops (While) compile to a loop head: a router with spec.Loop, one
// switch case on the loop's condition whose successors are the body's
// first steps, and a default that is what follows the loop. Every step of
// the body names the head in InLoop, and the body's last steps go back to
// the head. A do-while's input goes to the body's first steps instead of
// the head.
//
// A parallel's result is one value, whatever it holds: a final array
// parallel's branches are collected by the entry, and a parallel nested
// in one of them (or in an if's or a switch's alternative) is joined, so
// that each branch and each alternative gives the run one result. A
// constant that is not a JSON object or array is shaped {"value": x}
// (composer.Value.Result).
//
// Constructs the route plane cannot run yet (a parallel or a map in a
// loop body or in a try's body, a loop body without actions, a try around
// a loop, more than spec.MaxNesting nested loops and join regions, ...)
// are refused with an error wrapping ErrNeedsRoutePlane that names the
// construct and its position; each construct is compiled by its own
// function, so adding the route plane's support for one replaces one
// refusal. A loop body that opens with a do-while gets a router in front
// of it, so that the head's case leads into its own body.
//
// A workflow read from openwhisk-composer's JSON (Workflow.Composition,
// no Root) compiles to the conducted spec instead: one action step per
// distinct action the composition names, "a0-name", "a1-name", ... in order of
// appearance (ConductedSteps), each caught by CaughtStep, which ends the
// run; its entry conducts the composition with composer's semantics and
// starts a run at an action's step for each action it invokes.
//
// Output is deterministic: step ids are derived from the node's place in
// the workflow ("s1-split", "s2.upper-toupper", "s2.lower.2-tolower") and
// never from map order or counters shared across runs.
//
// Caller's duties: pass Options.Namespace (the deployer's namespace) so
// that "_" is resolved, and Options.ActionExists at deploy time; store the
// returned spec as is (it has passed spec.Validate).
package compile
