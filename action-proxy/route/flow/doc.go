// Package flow is the route plane's pure core: it decides what a run does
// next. Given a compiled spec, the state of a run as one proxy sees it and
// an event (a step's result, a frame that arrived, an instance that
// vanished, a timer that fired, a handover that was asked or answered), it
// returns the new state and the actions to take: forward a value to an
// instance of a step's action, deliver a join's slot to its holder, reply
// to the run's entry, ask a holder to hand its slots over, watch a
// fallback activation, arm a timer, end the run.
//
// flow does no I/O: no sockets, no goroutines, no clock reads and no
// randomness. Time comes in as values (a deadline, "now" for dedupe) and
// goes out as timers to arm; the route table comes in as a predicate. The
// shell (package route) owns the sockets, the agent session, the action's
// processes and the timers; it feeds events to the types here and carries
// out the actions they return, in order. Everything the plane decides about
// a workflow (routers, constants, loops, joins, maps, retries, dedupe,
// handover, failure) is decided here, and the scripted scenarios in
// testdata/ exercise it without a single socket.
//
// # Usage
//
//   - A proxy that ran a step (or routes a value on any other proxy's
//     behalf) builds a [Sender] from the frame's routing context and calls
//     [Sender.Finished]; for a run's first values the entry calls
//     [Run.Start].
//   - The shell carries out each returned [Action] in order. Sends that
//     come before a [ReportStep] may go concurrently; a ReportStep waits
//     for them, then sends the step's report (at most once per step).
//     Outcomes come back as events: [Undelivered] when no instance took a
//     [Forward], [Placed] when one did, [SlotRefused] when a [Slot]'s
//     holder would not take it.
//   - A proxy holding joins for runs started elsewhere keeps one [Joins]
//     per run; the run's entry keeps one [Run], which holds its own Joins.
//   - Step frames are checked with [CheckStep] and remembered in a [Seen]
//     set, so that a retried frame never runs a step twice.
//
// Adding a step kind: give it a spec.Kind (internal/spec/kind.go), route
// it in [Sender.Hop] (the one switch over kinds here), and add scenarios
// for it under testdata/.
package flow
