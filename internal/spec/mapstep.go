package spec

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/wsk-route/wsk-route/internal/cond"
)

// Map is what a map step does: it takes the array at Over in the value
// ("" is the value itself) and runs its region once per element, at most
// Concurrency at a time (0: no bound); its join collects the results in
// element order. Maps are held by the run's entry (joins may be held
// where they fork): the step before a map sends its result there, and the
// entry sends the elements.
type Map struct {
	Over        string `json:"over,omitempty"`
	Concurrency int    `json:"concurrency,omitempty"`
}

// MaxElements bounds the array a map takes.
const MaxElements = MaxSlots

// IsMap reports whether step id is a map (KindMap).
func (s *Spec) IsMap(id string) bool { return s.Kind(id) == KindMap }

// MapHops returns the hops of element i of a map (on the branch the map
// step was reached with). For a map nested in another join's region, the
// map's slot in that region goes on the side, as for any nested fork.
func (s *Spec) MapHops(id string, i int, branch uint32) []Hop {
	st := s.Steps[id]
	if st.In != "" {
		_, branch = SplitBranch(branch)
	}
	return s.slotHops(st.Next, uint32(i), branch, st.Fork)
}

// Elements returns the elements of the array map id takes from value.
func (s *Spec) Elements(id string, value []byte) ([]json.RawMessage, error) {
	st := s.Steps[id]
	path, err := cond.ParsePath(st.Map.Over)
	if err != nil {
		return nil, fmt.Errorf("map %s: %w", id, err)
	}
	var arr []json.RawMessage
	if len(path) == 0 {
		if err := json.Unmarshal(value, &arr); err != nil {
			return nil, fmt.Errorf("map %s: the value is not an array", id)
		}
	} else {
		var v any
		dec := json.NewDecoder(bytes.NewReader(value))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("map %s: the value is not JSON: %w", id, err)
		}
		at, ok := cond.Lookup(v, path)
		list, isArr := at.([]any)
		if !ok || !isArr {
			return nil, fmt.Errorf("map %s: no array at %q in the value", id, st.Map.Over)
		}
		arr = make([]json.RawMessage, len(list))
		for i, e := range list {
			if arr[i], err = json.Marshal(e); err != nil {
				return nil, fmt.Errorf("map %s: element %d: %w", id, i, err)
			}
		}
	}
	if len(arr) > MaxElements {
		return nil, fmt.Errorf("map %s: %d elements, more than %d", id, len(arr), MaxElements)
	}
	return arr, nil
}

// checkMap checks a map step (kindOf has checked its fields): a join of
// its own as Fork, a region that gives each element exactly one result.
func (s *Spec) checkMap(id string, st Step) error {
	switch {
	case st.In != "" && s.Kind(st.In) != KindJoin:
		return fmt.Errorf("map %q is in the region of %q, which is not a join", id, st.In)
	case st.Map.Concurrency < 0:
		return fmt.Errorf("map %q: concurrency %d below 0", id, st.Map.Concurrency)
	case s.Kind(st.Fork) != KindJoin:
		return fmt.Errorf("map %q: fork %q is not a join", id, st.Fork)
	case len(st.Next) == 0:
		return fmt.Errorf("map %q has no steps to run per element", id)
	}
	if _, err := cond.ParsePath(st.Map.Over); err != nil {
		return fmt.Errorf("map %q: over: %w", id, err)
	}
	for _, n := range st.Next {
		if s.Steps[n].In != st.Fork {
			return fmt.Errorf("map %q leads to step %q, which is not in the region of its join %q", id, n, st.Fork)
		}
	}
	if n := s.slotsOf(st.Next, st.Fork); n != 1 {
		return fmt.Errorf("map %q: its region gives %d results per element, want 1", id, n)
	}
	return nil
}
