// Package jsfn runs the inline JavaScript functions of openwhisk-composer
// compositions (the "function" combinator) with JavaScript's semantics, in
// an embedded ECMAScript engine (goja), the way composer v0.12's conductor
// action runs them.
//
// A composer function is an expression that evaluates to a function, for
// example "({ n }) => n % 2 === 0". Composer's conductor evaluates it with
// the variables of the enclosing let combinators declared around it, calls
// it with the parameter object, keeps the assignments it made to those
// variables, and shapes what it returns:
//
//   - undefined: the (possibly mutated) parameter object is the result;
//   - a Promise: its settled value is used (a rejection is a throw);
//   - a function: an error;
//   - any other value goes through JSON.stringify/JSON.parse, and a value
//     that is not a JSON object becomes {"value": x}.
//
// A throw makes the step an error. Func.Call reports which of these
// happened (Result.Kind); Result.ErrorObject builds the error object
// composer puts in its place, given the step's AST path.
//
// # Usage
//
// Compile once per function (Compile), then call Func.Call per step with the
// parameter object and the variables in scope as JSON. Func is safe for
// concurrent use: it keeps a pool of engines, each with the program loaded.
// The caller's duties:
//
//   - pass the variables in composer's order (the collapsed let/mask view,
//     bottom-most first) and write back Result.Vars to the frames they came
//     from (composer writes each name to the top-most visible frame that
//     declares it); only the first len(Result.Vars) names are written back;
//   - treat KindInterrupted and KindInternal as the end of the run (in
//     composer they end the conductor activation), and KindThrew and
//     KindFunction as an error object that try/catch can handle;
//   - check the shaped result for an "error" field (composer's inspect).
//
// # Sandbox
//
// Only ECMAScript built-ins are reachable: no require (it is declared, as
// in composer, but undefined), no console, no timers, no file system, no
// network. Each call is bounded in time (Limits.Timeout, enforced with an
// interrupt), in call depth, in the size of its parameter object, scope and
// result, and in heap growth: a watchdog samples the process heap every
// Limits.CheckEvery and interrupts the call once it grew by more than
// Limits.MaxHeapGrowth. goja cannot interrupt inside a single native
// built-in (for example one huge String.prototype.repeat), so a single
// allocation is bounded only by what the engine does. Globals created by a
// call (sloppy-mode assignments to undeclared names) are deleted after it;
// changes to built-in prototypes persist in that engine, as they persist in
// a warm Node.js container.
package jsfn
