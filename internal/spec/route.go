package spec

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/wsk-route/wsk-route/internal/cond"
)

// Case is one alternative of a step's Switch.
type Case struct {
	// When is the condition (internal/cond's JSON form) tested on the
	// step's result.
	When json.RawMessage `json:"when"`
	// Next lists the successors of the result when When holds; empty
	// means the result is one of the run's results.
	Next []string `json:"next,omitempty"`

	cond *cond.Cond // parsed by Validate
}

// Retry says how often a step's action is run when it fails: Attempts in
// all (the first included), waiting Backoff before the second and twice
// as long before each next one, never past the run's deadline.
type Retry struct {
	Attempts  int `json:"attempts"`
	BackoffMS int `json:"backoff_ms,omitempty"`
}

// MaxAttempts bounds Retry.Attempts.
const MaxAttempts = 100

// Backoff returns the wait before attempt n (2 for the second attempt).
func (r *Retry) Backoff(n int) time.Duration {
	if r == nil || n < 2 {
		return 0
	}
	d := time.Duration(r.BackoffMS) * time.Millisecond
	for i := 2; i < n && d < time.Hour; i++ {
		d *= 2
	}
	return d
}

// successors returns every step a step's result or failure may go to.
func (st Step) successors() []string {
	out := append([]string(nil), st.Next...)
	for _, c := range st.Switch {
		out = append(out, c.Next...)
	}
	out = append(out, st.Default...)
	return append(out, st.Catch...)
}

// primary is the alternative that stands for the step's path count
// (every alternative has the same, see checkAlternatives).
func (st Step) primary() []string {
	if len(st.Switch) > 0 {
		return st.Default
	}
	return st.Next
}

// checkRoutes checks a step's switch, retry and catch.
func (s *Spec) checkRoutes(id string, st Step) error {
	if len(st.Switch) > 0 && len(st.Next) > 0 {
		return fmt.Errorf("step %q has both next and switch", id)
	}
	if len(st.Default) > 0 && len(st.Switch) == 0 {
		return fmt.Errorf("step %q has a default without a switch", id)
	}
	if len(st.Switch) > MaxNext {
		return fmt.Errorf("step %q: %d switch cases, more than %d", id, len(st.Switch), MaxNext)
	}
	for i := range st.Switch {
		c, err := cond.Parse(st.Switch[i].When)
		if err != nil {
			return fmt.Errorf("step %q: switch case %d: %v", id, i, err)
		}
		st.Switch[i].cond = c // the slice is the spec's
		if err := checkRefs(st.Switch[i].Next, s.Steps, fmt.Sprintf("step %s case %d next", id, i)); err != nil {
			return err
		}
	}
	if err := checkRefs(st.Default, s.Steps, "step "+id+" default"); err != nil {
		return err
	}
	if err := checkRefs(st.Catch, s.Steps, "step "+id+" catch"); err != nil {
		return err
	}
	if r := st.Retry; r != nil && (r.Attempts < 1 || r.Attempts > MaxAttempts || r.BackoffMS < 0) {
		return fmt.Errorf("step %q: retry needs 1 to %d attempts and a backoff of 0 ms or more, got %d and %d", id, MaxAttempts, r.Attempts, r.BackoffMS)
	}
	return nil
}

// checkAlternatives requires every alternative of a step (its switch's
// cases and default, its catch) to lead to as many result paths as its
// primary one: the entry waits for a number of results fixed before the
// run starts, whichever way each step goes.
func (s *Spec) checkAlternatives(memo map[string]int) error {
	for _, id := range s.StepIDs() {
		st := s.Steps[id]
		if s.Kind(id) == KindLoop {
			continue // its case is the loop's body, which leads back to it (loop.go)
		}
		count := func(next []string) int { return s.pathsOf(next, memo) }
		switch {
		case st.InLoop != "": // a body's paths lead back to the loop's head
			count = func(next []string) int { return s.slotsOf(next, st.InLoop) }
		case st.In != "":
			count = func(next []string) int { return s.slotsOf(next, st.In) }
		}
		want := count(st.primary())
		alts := map[string][]string{}
		for i, c := range st.Switch {
			alts[fmt.Sprintf("case %d", i)] = c.Next
		}
		if st.Catch != nil {
			alts["catch"] = st.Catch
		}
		for name, next := range alts {
			if n := count(next); n != want {
				return fmt.Errorf("step %q: its %s leads to %d result path(s), its other way to %d: every way out of a step must give the run the same number of results", id, name, n, want)
			}
		}
	}
	return nil
}

// Route returns where the result of step id, running as branch, goes:
// Next, or the successors of the first switch case whose condition holds
// for result (else Default). Branch numbers are those of NextHops. An
// empty answer means the result goes to the run's reply-to as branch.
func (s *Spec) Route(id string, branch uint32, result []byte) ([]Hop, error) {
	st := s.Steps[id]
	if len(st.Switch) == 0 {
		return s.hopsFrom(st, branch, st.Next), nil
	}
	for i, c := range st.Switch {
		cc := c.cond
		if cc == nil { // a spec that was never validated
			var err error
			if cc, err = cond.Parse(c.When); err != nil {
				return nil, fmt.Errorf("spec %q: step %q: switch case %d: %w", s.Workflow, id, i, err)
			}
		}
		ok, err := cc.Eval(result)
		if err != nil {
			return nil, fmt.Errorf("step %q: switch case %d on the result: %w", id, i, err)
		}
		if ok {
			return s.hopsFrom(st, branch, c.Next), nil
		}
	}
	return s.hopsFrom(st, branch, st.Default), nil
}

// CatchHops returns where the failure of step id, running as branch,
// goes, and false when the step has no catch.
func (s *Spec) CatchHops(id string, branch uint32) ([]Hop, bool) {
	st := s.Steps[id]
	if st.Catch == nil {
		return nil, false
	}
	return s.hopsFrom(st, branch, st.Catch), true
}

// IsValue reports whether step id is a constant (KindValue).
func (s *Spec) IsValue(id string) bool { return s.Kind(id) == KindValue }

// checkValue checks a constant step's value (kindOf has checked its
// fields): valid JSON.
func checkValue(id string, st Step) error {
	if !json.Valid(st.Value) {
		return fmt.Errorf("value step %q: its value is not valid JSON", id)
	}
	return nil
}

// IsRouter reports whether step id is a router: no action, no value, no
// join, no map; its input is its result. A loop head (KindLoop) is one
// too.
func (s *Spec) IsRouter(id string) bool { return s.Kind(id) == KindRouter || s.Kind(id) == KindLoop }
