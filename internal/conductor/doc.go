// Package conductor runs openwhisk-composer compositions exactly as
// composer v0.12's conductor action runs them: a pure Go interpreter used
// as the reference (the oracle) that wsk-route's route plane must agree
// with, byte for byte for JSON results (JavaScript's key order included).
//
// The name is composer's: its conductor action compiles a composition into
// a finite state machine and steps through it, keeping a stack of try,
// let, mask and branch-marker frames in the $composer state that travels
// with every action invocation. This package does the same, with the same
// states, frames, value shaping (a non-object becomes {"value": x}, an
// object with an "error" field is an error object and unwinds the stack to
// the nearest catch) and error messages ("Function combinator threw an
// exception at AST node root[1] (see log for details)").
//
// # Usage
//
// Decode reads composer JSON: the output of composer's compile()
// ({"composition", "ast", "version", "actions"}; the lowered "composition"
// is what runs, as in composer) or a bare composition node, which is
// labelled and lowered as compile() would (derived combinators such as if,
// while, retain, retry, merge, literal are rewritten into the primitive
// ones with the same inline functions). New compiles it and the inline
// functions (package internal/jsfn runs them); Machine.Run runs it once.
//
// Machine.Run is a loop over the step API, which is how a distributed
// executor (wsk-route's route plane) can run the same machine across
// hops: Start, Resume, Enter and Join run every state the machine can run
// by itself (inline functions, let, mask, try, choice) and return a Step
// at the first thing the outside world must do: invoke an action, run the
// branches of a parallel or map and join them, start an async body. The
// Step carries the State to resume from: composer's $composer state (the
// state index and the stack of catch, let, mask and marker frames), which
// marshals to the same JSON composer's conductor carries, so it can travel
// in a frame. Run passes it through that JSON at every step.
//
// The functions composer's lowering adds (saving and restoring an if's or
// a loop's input, retain, retry and merge wrappers, literals, repeat's
// count) are computed in Go when their inputs have the shapes lowering
// gives them (see native.go); every other function runs in JavaScript.
//
// The caller's duties:
//
//   - provide an Invoker that runs an action by fully qualified name and
//     returns its result object as OpenWhisk gives it to a conductor (a
//     failed action's result is its {"error": ...} object); an Invoker error
//     ends the run (it stands for the controller failing, not the action);
//   - bound the run with the context (composer's bound is the conductor
//     action's time limit); Config.MaxActions bounds action invocations.
//
// # What differs from composer
//
// parallel and map branches, and async bodies, run one after the other,
// in the calling goroutine (composer runs them as concurrent conductor
// activations joined through redis; results are positional, so only
// side effects can tell). Parallel needs no redis configuration here.
// An async body's result is kept in Result.Async. The inline functions run
// in goja, not Node.js: ECMAScript semantics are the same, messages of
// internal errors may differ, and no Node.js API (require, process,
// Buffer, timers) is reachable.
package conductor
