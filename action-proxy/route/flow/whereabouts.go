package flow

import (
	"fmt"

	"github.com/wsk-route/wsk-route/internal/frame"
)

// The entry knows where each step of its runs is, from the moment it was
// handed on until it reported, and fails the run as soon as one of those
// places is lost, instead of waiting for the run's deadline:
//
//   - The proxy that handed a step to an instance says so to the entry
//     once the instance acknowledged it (Placed): the sender, which
//     outlives the hop, so that a receiver killed right after its ack is
//     still known. When that instance leaves the route table before the
//     step reported (its container was killed, or paused and dropped by
//     its agent, or its host cut off), the run fails, naming the step and
//     the instance (InstancesGone). A step reports once it has handed its
//     result on, so this also covers an instance lost between finishing
//     the step and handing its result on. The step is not run again
//     elsewhere: it may have had effects already.
//   - A step sent through the fallback: the sender tells the entry the
//     activation id (WentToFallback); the step's proxy says Placed when
//     it takes the step from the envelope. An activation that ended,
//     failed, while its step has not started ended before any proxy took
//     the step (a container that could not start, an /init that failed,
//     a proxy that refused the envelope): the run fails with that
//     activation's error (FallbackEnded).

// whereabouts holds where a run's steps are between being handed on and
// reporting.
type whereabouts struct {
	// running has the instance id, by step execution that started and has
	// not reported; "" for one expected (see expect), not placed yet.
	running  map[Key]string
	pending  map[Key]string // activation id, by step execution sent through the fallback, not started
	finished map[Key]bool   // step executions that reported (a late Started is ignored)
	// fallbacks has the activation id, by step execution sent through the
	// fallback, for its report.
	fallbacks map[Key]string
	watching  bool // the shell watches the pending activations
}

// started records that step execution k runs on instance, and reports
// whether it was recorded (not when k reported already).
func (w *whereabouts) started(k Key, instance string) bool {
	delete(w.pending, k)
	if w.finished[k] {
		return false
	}
	if w.running == nil {
		w.running = map[Key]string{}
	}
	w.running[k] = instance
	return true
}

// expect records that step execution k will report, before anything says
// where it runs: the entry is about to send it itself (a step served at
// once can finish and report before the entry's send returns), or k's
// result came before the note of where it ran. The run must not end
// without its report.
func (w *whereabouts) expect(k Key) {
	if w.finished[k] || w.running[k] != "" {
		return
	}
	if w.running == nil {
		w.running = map[Key]string{}
	}
	w.running[k] = ""
}

// wentToFallback records that step execution k was sent through the
// fallback, as activation.
func (w *whereabouts) wentToFallback(k Key, activation string) {
	if w.fallbacks == nil {
		w.fallbacks = map[Key]string{}
	}
	w.fallbacks[k] = activation
}

// reported records that step execution k reported.
func (w *whereabouts) reported(k Key) {
	delete(w.pending, k)
	delete(w.running, k)
	if w.finished == nil {
		w.finished = map[Key]bool{}
	}
	w.finished[k] = true
}

// InstancesGone fails the run if a step of it is running on an instance
// the route table no longer has (inTable says).
func (r *Run) InstancesGone(inTable func(id string) bool) []Action {
	if r.done {
		return nil
	}
	for _, k := range sortedKeys(r.where.running) {
		inst := r.where.running[k]
		if inst == "" || inTable(inst) {
			continue // not placed yet, or still there
		}
		return r.fail(&Failure{Step: k.Step, Code: frame.CodeUnavailable,
			Reason: fmt.Sprintf("instance %s was lost while it ran the step or handed its result on (its container was killed, paused and dropped by its agent, or cut off); the step is not run again, it may have had effects", inst)})
	}
	return nil
}

// watch records that step execution k went to activation, and asks the
// shell to watch the run's activations if nobody does.
func (r *Run) watch(k Key, activation string) []Action {
	w := &r.where
	if !r.cfg.WatchFallbacks || w.finished[k] || w.running[k] != "" {
		return nil
	}
	if w.pending == nil {
		w.pending = map[Key]string{}
	}
	w.pending[k] = activation
	if w.watching {
		return nil
	}
	w.watching = true
	return []Action{WatchFallback{}}
}

// Pending returns the run's fallback activations whose step has not
// started, by step execution; the shell stops watching when it is empty
// or the run ended.
func (r *Run) Pending() map[Key]string {
	out := make(map[Key]string, len(r.where.pending))
	for k, id := range r.where.pending {
		out[k] = id
	}
	if len(out) == 0 {
		r.where.watching = false
	}
	return out
}

// FallbackEnded takes the record of activation, which ran step execution
// k through the fallback: failed, with status and errText, or not. An
// activation that failed before its step started fails the run.
func (r *Run) FallbackEnded(k Key, activation string, failed bool, status, errText string) []Action {
	if id, ok := r.where.pending[k]; !ok || id != activation {
		return nil // its step started, or reported
	}
	delete(r.where.pending, k)
	if !failed {
		return nil
	}
	return r.fail(&Failure{Step: k.Step, Code: frame.CodeUnavailable,
		Reason: fmt.Sprintf("its fallback activation %s ended (%s) before its proxy took the step: %s", activation, status, errText)})
}
