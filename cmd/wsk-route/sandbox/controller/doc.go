// Package controller is the `wsk-route dev` sandbox's OpenWhisk controller:
// the part of the invocation path between the REST API and the invoker.
//
// For each invocation it builds an ActivationMessage (OpenWhisk's shape, see
// internal/whisk), produces it to Kafka topic invoker<N> with sarama, and
// waits for the invoker's acknowledgement on completed<C>, exactly the
// round trip a real OpenWhisk controller makes. Sequences run here, step by
// step, each component a full round trip through Kafka and the invoker, as
// OpenWhisk's SequenceActions does: that is the baseline wsk-route's direct
// hops are measured against.
//
// What it leaves out of a real controller: entitlement and throttling,
// load balancing over several invokers (there is one), the activation
// database poll (the sandbox's invoker writes records to the same store the
// controller reads), conductor actions.
//
// Usage: New, then Run in a goroutine (it consumes completed<C> until its
// context ends), wait for Ready, then call Invoke from any goroutine.
// Background sequence runs started by non-blocking invokes are owned by Run
// and end with it.
package controller
