package route

import (
	"context"
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

// enterLoops returns the context of a hop from step from into step to, in
// a loop body: with an iteration 0 level for each loop whose body the
// value enters here other than through its head (a do-while body, or a
// loop at the run's start).
func (r *run) enterLoops(from, to string) *run {
	var enter int
	for l, depth := r.sp.Steps[to].InLoop, 0; l != "" && depth < spec.MaxNesting; l, depth = r.sp.Steps[l].InLoop, depth+1 {
		if from != l && (from == "" || !r.sp.InBody(from, l)) {
			enter++
		}
	}
	if enter == 0 {
		return r
	}
	rr := *r
	for range enter {
		rr.outer = push(rr.outer, frame.Level{})
	}
	return &rr
}

// loopHead routes a value that reached loop head h.Step from step from:
// from before the loop (iteration 0) or back from its body (the next
// iteration). While the head's condition holds, the value goes into the
// body with the iteration as its level; then, without it, to what
// follows the loop.
func (r *run) loopHead(ctx context.Context, from string, h spec.Hop, result []byte) {
	head := h.Step
	outer := r.outer
	iter := 0
	if from != "" && r.sp.InBody(from, head) {
		if len(outer) == 0 {
			r.fail(ctx, head, h.Branch, frame.CodeMalformed, fmt.Sprintf("loop %s: a value came back from its body without its iteration", head))
			return
		}
		iter = int(outer[len(outer)-1].Slot) + 1
		outer = outer[: len(outer)-1 : len(outer)-1]
	}
	hops, err := r.sp.Route(head, h.Branch, result)
	if err != nil {
		r.fail(ctx, head, h.Branch, frame.CodeStepFailed, fmt.Sprintf("testing the condition of loop %s: %v", head, err))
		return
	}
	rr := *r
	rr.outer = outer
	if len(hops) > 0 && r.sp.Steps[hops[0].Step].InLoop == head { // another iteration
		if max := r.sp.LoopMax(head); iter >= max {
			r.fail(ctx, head, h.Branch, frame.CodeStepFailed, fmt.Sprintf("loop %s: its body ran %d times, its maximum, and its condition still holds", head, max))
			return
		}
		rr.outer = push(outer, frame.Level{Slot: uint32(iter)})
	}
	rr.sendOn(ctx, head, h.Branch, hops, result)
}
