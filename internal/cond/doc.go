// Package cond is the condition language of wsk-route workflows: the
// tests of If and Switch nodes. It holds the wire form (Cond, the JSON
// stored in compiled route specs), its rules (Parse, Cond.Validate,
// Cond.NodeErrors) and its evaluator (Cond.Eval). The composer's checks
// use it at compile time and the proxies' route plane at run time, so
// both see exactly the same semantics.
//
// The package is pure: no I/O, no global state, only the standard
// library. Eval never panics on bad input; it fails only on an invalid
// condition or a value that is not one JSON value.
//
// Caller's duties: a Cond is plain data, safe for concurrent Eval as long
// as nobody mutates it; validate once (Parse does) before storing a
// condition, and treat an Eval error as a failed route step, not a false
// condition.
package cond
