package flow

import (
	"fmt"

	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/spec"
)

// Loops (internal/spec/loop.go): a loop head is a router, evaluated by
// the proxy that would send to it. The frames of a loop's body carry the
// iteration as a level of their Outer regions, with no holder; the level
// is pushed when the value enters the body and replaced, one higher, each
// time it comes back to the head; it is dropped when the value leaves the
// loop. So each iteration's steps have keys of their own (dedupe,
// activation ids), and the head counts its iterations without any state.

// enterLoops returns the sender of a hop from step from into step to, in
// a loop body: with an iteration 0 level for each loop whose body the
// value enters here other than through its head (a do-while body, or a
// loop at the run's start).
func (s Sender) enterLoops(from, to string) Sender {
	sp := s.Spec
	for l, depth := sp.Steps[to].InLoop, 0; l != "" && depth < spec.MaxNesting; l, depth = sp.Steps[l].InLoop, depth+1 {
		if from != l && (from == "" || !sp.InBody(from, l)) {
			s.Ctx.Outer = push(s.Ctx.Outer, frame.Level{})
		}
	}
	return s
}

// loopHead routes a value that reached loop head h.Step from step from:
// from before the loop (iteration 0) or back from its body (the next
// iteration). While the head's condition holds, the value goes into the
// body with the iteration as its level; then, without it, to what
// follows the loop.
func (s Sender) loopHead(from string, h spec.Hop, value []byte) []Action {
	head := h.Step
	outer := s.Ctx.Outer
	iter := 0
	if from != "" && s.Spec.InBody(from, head) {
		if len(outer) == 0 {
			return s.fail(head, h.Branch, frame.CodeMalformed, fmt.Sprintf("loop %s: a value came back from its body without its iteration", head))
		}
		iter = int(outer[len(outer)-1].Slot) + 1
		outer = outer[: len(outer)-1 : len(outer)-1]
	}
	hops, err := s.Spec.Route(head, h.Branch, value)
	if err != nil {
		return s.fail(head, h.Branch, frame.CodeStepFailed, fmt.Sprintf("testing the condition of loop %s: %v", head, err))
	}
	s.Ctx.Outer = outer
	if len(hops) > 0 && s.Spec.Steps[hops[0].Step].InLoop == head { // another iteration
		if max := s.Spec.LoopMax(head); iter >= max {
			return s.fail(head, h.Branch, frame.CodeStepFailed, fmt.Sprintf("loop %s: its body ran %d times, its maximum, and its condition still holds", head, max))
		}
		s.Ctx.Outer = push(outer, frame.Level{Slot: uint32(iter)})
	}
	return s.sendOn(head, h.Branch, hops, value)
}
