// Package composer is the workflow model of wsk-route: a workflow is a
// tree of nodes (Action, Sequence, Parallel, Map, If, Switch, While, Try,
// Retry, Value, Pass) whose value flows from one node to the next; joins
// are implicit at the end of Parallel and Map. Conditions (Cond) are pure
// tests on the JSON value, evaluated by Eval. A workflow may also declare
// the actions its steps run (Workflow.Actions, ActionDef): their code,
// kind, limits, parameters and annotations, which `wsk-route compose`
// deploys; the package only checks the declarations (it reads no code).
//
// The package does no I/O and imports only the standard library. Parsers
// (composer/parse) build a Workflow, recording each node's Position and
// path; compilers (composer/compile) turn it into a route spec.
//
// Caller's duties: call Validate before compiling a workflow built by
// hand, and pass Options.ActionExists when the set of deployed actions is
// known (at deploy time), so that unknown action names are reported (a
// deployer that creates the declared actions first reports them as
// known). A
// Workflow is not safe for concurrent mutation; treat it as read-only once
// validated.
package composer
