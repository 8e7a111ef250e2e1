// Package logmux carries an action's stdout or stderr through a pipe and
// lets the proxy switch, at an exact point of the stream, where that output
// goes: to the proxy's own stream (which the invoker reads up to the log
// sentinels) during an invoker /run, or to a per-run buffer during a
// direct run, so that a direct run's logs never leak into the next invoker
// activation's logs.
//
// The switch is exact. When nothing the action wrote is still on its way
// (the pipe is empty and the copier holds no bytes, the rule before a
// direct run), the sink changes at once, with no write and no wake-up of
// the copier; at the end of a run, what waits in the pipe goes to the
// run's Buffer the same way, read by the switch itself (exactly the bytes
// the pipe held when it was called). Otherwise the proxy writes a
// random marker into the same pipe: every byte the action wrote before
// Switch was called precedes the marker, and goes to the old sink.
//
// A direct run's sink is a Buffer, which keeps the run's output as
// OpenWhisk's log lines: each line stamped and named after the stream it
// came on, as the invoker records an activation's logs.
package logmux
