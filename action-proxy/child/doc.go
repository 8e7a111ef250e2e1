// Package child owns the user's ActionLoop executable: it starts the
// process with exactly the environment it is given, waits for its ack,
// feeds it one activation at a time on stdin and reads one result line back
// from file descriptor 3.
//
// It fixes what the upstream executor gets wrong while keeping the wire
// behaviour: a child that dies is noticed by every later caller (exit is a
// closed channel, not a one-shot message), the ack wait is bounded, a result
// written just before the child exits is still delivered, stray fd-3 lines
// are never paired with a later activation, and activation bodies are
// streamed into the child with their newlines removed instead of being
// buffered and copied.
//
// # Usage
//
// Start a Process (or let a Pool start them), call Call once per activation,
// and Close it when done. A Process runs one activation at a time; a Pool
// hands out idle processes and starts more, up to a bound, when concurrent
// activations are allowed. Callers write the log sentinels themselves: this
// package never writes to the child's stdout or stderr.
package child
