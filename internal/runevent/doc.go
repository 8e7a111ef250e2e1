// Package runevent defines the step events of a workflow run as they
// travel from the run's entry proxy to its host agent (internal/agentproto),
// are kept by the route registry (internal/consulstore, the sandbox's
// embedded registry) and are read by `wsk-route invoke --watch`.
//
// A run's entry publishes, when its input asks for it (WatchKey), one
// "step" event per step report that reaches it and one "end" event when
// the run ends; a run that does not ask sends only its end event, marked
// Unwatched, which the agent counts and does not store. The package also
// derives the ids every component names a step and a run by: the step's
// activation id (StepActivationID) and the run's trace and span ids.
// Seq numbers a run's events
// from 1 in the order the entry published them; an event the entry had to
// drop (its queue was full) leaves a gap, and the end event says how many
// were dropped. Readers ask for the events after the last Seq they saw.
package runevent
