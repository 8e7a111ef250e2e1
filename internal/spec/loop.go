package spec

import (
	"fmt"
	"slices"
)

// Loop is what a loop head does: it is a router whose one switch case is
// the loop's body and whose default is what follows the loop. Each time
// the value reaches the head (from before the loop, or back from the
// body), the case's condition is tested on it: while it holds, the body
// runs on the value and its result comes back to the head; when it no
// longer holds, the value goes to the default. The body's steps name the
// head in InLoop; its last steps have the head in Next (the back edge).
// A body may also be entered from before the loop (a do-while: the body
// runs once before the first test).
//
// The route plane numbers the iterations itself: a frame in a body
// carries its iteration as a level of its Outer regions (internal/frame),
// so that each iteration's steps are told apart, and a head that has
// seen Max iterations fails the run.
type Loop struct {
	// Max bounds the body's iterations in one run of the loop; 0 means
	// DefaultLoopMax.
	Max int `json:"max,omitempty"`
}

// Bounds on loops.
const (
	DefaultLoopMax = 1000
	MaxLoopMax     = 100000
)

// IsLoop reports whether step id is a loop head (KindLoop).
func (s *Spec) IsLoop(id string) bool { return s.Kind(id) == KindLoop }

// LoopMax returns the iteration bound of loop head id.
func (s *Spec) LoopMax(id string) int {
	if m := s.Steps[id].Loop.Max; m > 0 {
		return m
	}
	return DefaultLoopMax
}

// InBody reports whether step id is in the body of loop head loop, or in
// the body of a loop nested in it.
func (s *Spec) InBody(id, loop string) bool {
	for l, depth := s.Steps[id].InLoop, 0; l != "" && depth <= len(s.Steps); l, depth = s.Steps[l].InLoop, depth+1 {
		if l == loop {
			return true
		}
	}
	return false
}

// Loops returns the loop heads whose bodies step id is in, outermost
// first.
func (s *Spec) Loops(id string) []string {
	var out []string
	for l, depth := s.Steps[id].InLoop, 0; l != "" && depth <= len(s.Steps); l, depth = s.Steps[l].InLoop, depth+1 {
		out = append(out, l)
	}
	slices.Reverse(out)
	return out
}

// checkLoops checks loop heads and bodies.
func (s *Spec) checkLoops() error {
	for _, id := range s.StepIDs() {
		st, k := s.Steps[id], s.Kind(id)
		if l := st.InLoop; l != "" {
			if s.Kind(l) != KindLoop {
				return fmt.Errorf("step %q is in the body of %q, which is not a loop head", id, l)
			}
			switch {
			case st.Fork != "" || k == KindJoin || k == KindMap:
				return fmt.Errorf("step %q is in the body of loop %q but forks, joins or maps: a loop body holds no parallel or map yet", id, l)
			case len(st.primary()) == 0 || (len(st.Switch) > 0 && anyEmpty(st.Switch)) || (st.Catch != nil && len(st.Catch) == 0):
				return fmt.Errorf("step %q is in the body of loop %q but a way out of it ends the run: every path of a body leads back to its head", id, l)
			}
			for _, n := range st.successors() {
				if n != l && !s.InBody(n, l) {
					return fmt.Errorf("step %q is in the body of loop %q but leads to %q, which is neither the head nor in the body: a body is left through its head", id, l, n)
				}
			}
		}
		if k != KindLoop {
			continue
		}
		body := func() []string {
			if len(st.Switch) == 1 {
				return st.Switch[0].Next
			}
			return nil
		}()
		switch { // kindOf has checked its fields
		case len(st.Switch) != 1 || len(body) == 0:
			return fmt.Errorf("loop %q needs exactly one switch case, its body, with steps", id)
		case st.Loop.Max < 0 || st.Loop.Max > MaxLoopMax:
			return fmt.Errorf("loop %q: max %d iterations, want 0 (the default, %d) to %d", id, st.Loop.Max, DefaultLoopMax, MaxLoopMax)
		}
		for _, n := range body {
			if s.Steps[n].InLoop != id {
				return fmt.Errorf("loop %q: its body starts at %q, which is not in its body (in_loop)", id, n)
			}
		}
		for _, n := range st.Default {
			if s.Steps[n].InLoop == id {
				return fmt.Errorf("loop %q: its default %q is in its body: the default is what follows the loop", id, n)
			}
		}
		if n := s.slotsOf(body, id); n != 1 {
			return fmt.Errorf("loop %q: its body gives %d values back to it per iteration, want 1 (a fan-out in a body needs a join, which bodies cannot hold yet)", id, n)
		}
	}
	// Entering a body other than through its head (a do-while) must give
	// the head one value, too.
	for _, id := range s.StepIDs() {
		st := s.Steps[id]
		for _, n := range st.successors() {
			for _, l := range s.Loops(n) {
				if id != l && !s.InBody(id, l) && s.slotsFrom(n, l, 0) != 1 {
					return fmt.Errorf("step %q enters the body of loop %q at %q, whose paths give the head %d values, want 1", id, l, n, s.slotsFrom(n, l, 0))
				}
			}
		}
	}
	return s.checkLoopDepth()
}

// checkLoopDepth bounds the levels (loops and join regions) around any
// step: each is one level of a frame's Outer.
func (s *Spec) checkLoopDepth() error {
	for _, id := range s.StepIDs() {
		depth := len(s.Loops(id))
		for j := s.Steps[id].In; j != "" && depth <= MaxNesting; j = s.Steps[j].In {
			depth++
		}
		if depth > MaxNesting {
			return fmt.Errorf("step %q is inside %d or more loops and join regions, more than %d", id, depth, MaxNesting)
		}
	}
	return nil
}
