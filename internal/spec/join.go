package spec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
)

// Join is what a join step does with the results of its region.
type Join struct {
	// Merge is "array" (the results in slot order) or "object" (keyed by
	// Names).
	Merge string `json:"merge"`
	// Names are the object's keys, one per slot, for Merge "object".
	Names []string `json:"names,omitempty"`
}

// The merges a join knows.
const (
	MergeArray  = "array"
	MergeObject = "object"
)

// A join's region is the steps between its fork (a step with Fork, or the
// run's start with StartJoin) and the join: every path of the region ends
// in the join, in one of its slots, numbered like result paths (a fan-out
// gives successor i the slots after those of successors 0..i-1). A frame
// in a region carries two numbers in its branch: the slot in the high
// bits, and in the low slotShift bits the branch the outermost fork had,
// which is the branch the outermost join goes on with.
//
// Regions nest: a fork (or a map) in the region of join J1 opens the
// region of a join J2 that is itself in J1's region (J2.In = J1), and the
// steps between them are in J2's region. For J1, the whole of J2's region
// is one path, from the fork to J2. A frame in J2's region keeps the
// outermost branch in its low bits, its slot in J2 in its high bits, and
// carries its slot in J1 on the side (the frame's Outer levels); when J2
// has merged, its value goes on in J1's region with that slot again. At
// most MaxNesting regions nest.
const (
	slotShift = 20
	// MaxSlots bounds the paths into one join.
	MaxSlots = 1 << 11
	// MaxNesting bounds the regions around one step, itself included.
	MaxNesting = 8
)

// JoinBranch is the branch of a frame in a join's region: slot in the
// region, on the fork's branch.
func JoinBranch(slot, branch uint32) uint32 { return slot<<slotShift | branch }

// SplitBranch undoes JoinBranch.
func SplitBranch(b uint32) (slot, branch uint32) { return b >> slotShift, b & (1<<slotShift - 1) }

// IsJoin reports whether step id is a join (KindJoin).
func (s *Spec) IsJoin(id string) bool { return s.Kind(id) == KindJoin }

// JoinSlots returns the number of results join id waits for; -1 for the
// join of a map, which waits for one per element of the array it maps.
func (s *Spec) JoinSlots(id string) int {
	if n, ok := s.slots[id]; ok {
		return n
	}
	return s.joinSlots(id)
}

func (s *Spec) joinSlots(id string) int {
	if s.StartJoin == id {
		return s.slotsOf(s.Start, id)
	}
	for _, sid := range s.StepIDs() {
		if st := s.Steps[sid]; st.Fork == id {
			if s.Kind(sid) == KindMap {
				return -1
			}
			return s.slotsOf(st.Next, id)
		}
	}
	return 0
}

// JoinHops returns where the merged value of join id goes on branch: the
// fork's branch, or, for a join nested in the region of another
// (IsNested), the branch its path has in that region; none means the
// merge is one of the run's results.
func (s *Spec) JoinHops(id string, branch uint32) []Hop {
	st := s.Steps[id]
	return s.hopsFrom(st, branch, st.Next)
}

// IsNested reports whether step id opens a region (a fork or a map) inside
// another join's region, or is a join inside another's region: its region
// is nested.
func (s *Spec) IsNested(id string) bool {
	st := s.Steps[id]
	return st.In != "" && (st.Fork != "" || s.Kind(id) == KindJoin)
}

// slotsOf counts the slots of join j that the paths from next fill.
func (s *Spec) slotsOf(next []string, j string) int {
	n := 0
	for _, id := range next {
		n += s.slotsFrom(id, j, 0)
	}
	return n
}

func (s *Spec) slotsFrom(id, j string, depth int) int {
	if id == j {
		return 1
	}
	if depth > MaxSteps {
		return MaxSlots + 1
	}
	st := s.Steps[id]
	if st.Fork != "" && st.Fork != j {
		// A nested region: for j, its paths are one, from its join on.
		return s.slotsFrom(st.Fork, j, depth+1)
	}
	n := 0
	for _, next := range st.primary() {
		n += s.slotsFrom(next, j, depth+1)
		if n > MaxSlots {
			return MaxSlots + 1
		}
	}
	return n
}

// slotHops numbers the hops to next in join j's region from slot base,
// on the fork's branch.
func (s *Spec) slotHops(next []string, base, branch uint32, j string) []Hop {
	hops := make([]Hop, 0, len(next))
	off := base
	for _, id := range next {
		hops = append(hops, Hop{Step: id, Branch: JoinBranch(off, branch)})
		off += uint32(s.slotsFrom(id, j, 0))
	}
	return hops
}

// hopsFrom numbers the hops from step st (running as branch) to next.
func (s *Spec) hopsFrom(st Step, branch uint32, next []string) []Hop {
	if len(next) == 0 {
		return nil
	}
	switch {
	case st.Fork != "":
		if st.In != "" {
			// A nested fork: its slot in the outer region goes on the
			// side (Outer); the new region keeps the outermost branch.
			_, branch = SplitBranch(branch)
		}
		return s.slotHops(next, 0, branch, st.Fork)
	case st.In != "":
		slot, fb := SplitBranch(branch)
		return s.slotHops(next, slot, fb, st.In)
	}
	return s.fanOut(next, branch)
}

// checkJoins checks joins, forks and regions.
func (s *Spec) checkJoins() error {
	forks := map[string]string{} // join -> its fork
	if s.StartJoin != "" {
		forks[s.StartJoin] = "the start"
	}
	for _, id := range s.StepIDs() {
		st := s.Steps[id]
		if st.Fork != "" {
			if prev, ok := forks[st.Fork]; ok {
				return fmt.Errorf("join %q has two forks, %s and %q", st.Fork, prev, id)
			}
			forks[st.Fork] = fmt.Sprintf("%q", id)
		}
	}
	region := func(what string, next []string, j string) error {
		for _, n := range next {
			if n != j && s.Steps[n].In != j {
				return fmt.Errorf("%s leads to step %q, which is neither join %q nor in its region", what, n, j)
			}
		}
		return nil
	}
	if j := s.StartJoin; j != "" {
		if s.Kind(j) != KindJoin {
			return fmt.Errorf("start_join %q is not a join step", j)
		}
		if err := region("the start", s.Start, j); err != nil {
			return err
		}
	}
	for _, id := range s.StepIDs() { // before any join counts its slots
		if st := s.Steps[id]; s.Kind(id) == KindJoin && st.In != "" && len(st.Next) == 0 {
			return fmt.Errorf("join %q is in the region of join %q but its merge ends the run: every path of a region must reach its join", id, st.In)
		}
	}
	for _, id := range s.StepIDs() {
		st := s.Steps[id]
		switch k := s.Kind(id); {
		case k == KindJoin:
			switch {
			case st.Join.Merge != MergeArray && st.Join.Merge != MergeObject:
				return fmt.Errorf("join %q: merge %q, want %q or %q", id, st.Join.Merge, MergeArray, MergeObject)
			case forks[id] == "":
				return fmt.Errorf("join %q has no fork", id)
			case st.In != "" && s.StartJoin == id:
				return fmt.Errorf("join %q is forked at the start, so it cannot be in the region of join %q", id, st.In)
			}
			if st.In != "" { // nested: its merge goes on in the outer region
				if s.Kind(st.In) != KindJoin {
					return fmt.Errorf("join %q is in the region of %q, which is not a join", id, st.In)
				}
				if err := region("join "+id, st.Next, st.In); err != nil {
					return err
				}
			}
			if f := s.forkOf(id); f != "" && s.Steps[f].In != st.In {
				return fmt.Errorf("join %q and its fork %q are not in the same region (%s and %s): a region must lie inside the region around it", id, f, regionName(st.In), regionName(s.Steps[f].In))
			}
			n := s.JoinSlots(id)
			if n == -1 { // a map's join: checked with the map
				if st.Join.Merge != MergeArray || len(st.Join.Names) != 0 {
					return fmt.Errorf("join %q of a map merges into an array, one result per element", id)
				}
				continue
			}
			switch {
			case n < 1 || n > MaxSlots:
				return fmt.Errorf("join %q waits for %d results, want 1 to %d", id, n, MaxSlots)
			case st.Join.Merge == MergeObject && len(st.Join.Names) != n:
				return fmt.Errorf("join %q merges %d results into an object but has %d names", id, n, len(st.Join.Names))
			case st.Join.Merge == MergeArray && len(st.Join.Names) != 0:
				return fmt.Errorf("join %q: names are for merge %q", id, MergeObject)
			}
		case k == KindMap:
			if err := s.checkMap(id, st); err != nil {
				return err
			}
		case st.Fork != "":
			if s.Kind(st.Fork) != KindJoin {
				return fmt.Errorf("step %q forks to %q, which is not a join", id, st.Fork)
			}
			if len(st.Switch) > 0 || st.Catch != nil {
				return fmt.Errorf("step %q opens a join region, so it takes next, not a switch or a catch", id)
			}
			if st.In != "" && s.Kind(st.In) != KindJoin {
				return fmt.Errorf("step %q is in the region of %q, which is not a join", id, st.In)
			}
			if err := region("step "+id, st.Next, st.Fork); err != nil {
				return err
			}
		case st.In != "":
			if s.Kind(st.In) != KindJoin {
				return fmt.Errorf("step %q is in the region of %q, which is not a join", id, st.In)
			}
			if len(st.primary()) == 0 || (len(st.Switch) > 0 && anyEmpty(st.Switch)) || (st.Catch != nil && len(st.Catch) == 0) {
				return fmt.Errorf("step %q is in the region of join %q but a way out of it ends the run: every path of a region must reach its join", id, st.In)
			}
			if err := region("step "+id, st.successors(), st.In); err != nil {
				return err
			}
		default:
			for _, n := range st.successors() {
				j := s.Steps[n].In
				if s.Kind(n) == KindJoin {
					j = n
				}
				if j != "" {
					return fmt.Errorf("step %q leads into the region of join %q without being its fork", id, j)
				}
			}
		}
	}
	return s.checkNesting()
}

// regionName names the region of join j for an error.
func regionName(j string) string {
	if j == "" {
		return "none"
	}
	return fmt.Sprintf("that of join %q", j)
}

// forkOf returns the step that forks join j ("" for the start, or none).
func (s *Spec) forkOf(j string) string {
	for _, id := range s.StepIDs() {
		if s.Steps[id].Fork == j {
			return id
		}
	}
	return ""
}

// checkNesting bounds how deep regions nest: a join's depth is 1, plus
// the depth of the join whose region it is in.
func (s *Spec) checkNesting() error {
	for _, id := range s.StepIDs() {
		if s.Kind(id) != KindJoin {
			continue
		}
		depth := 0
		for j := id; j != ""; j = s.Steps[j].In {
			if depth++; depth > MaxNesting {
				return fmt.Errorf("join %q is the innermost of %d or more nested join regions, more than %d", id, depth, MaxNesting)
			}
		}
	}
	return nil
}

// MergeJoin merges a join's results (slot order) as its Merge says.
func MergeJoin(j *Join, results map[uint32][]byte) json.RawMessage {
	slots := make([]uint32, 0, len(results))
	for k := range results {
		slots = append(slots, k)
	}
	sort.Slice(slots, func(a, b int) bool { return slots[a] < slots[b] })
	var buf bytes.Buffer
	if j.Merge == MergeObject {
		buf.WriteByte('{')
		for i, k := range slots {
			if i > 0 {
				buf.WriteByte(',')
			}
			name, _ := json.Marshal(j.Names[k])
			buf.Write(name)
			buf.WriteByte(':')
			buf.Write(results[k])
		}
		buf.WriteByte('}')
		return buf.Bytes()
	}
	buf.WriteByte('[')
	for i, k := range slots {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(results[k])
	}
	buf.WriteByte(']')
	return buf.Bytes()
}

func anyEmpty(cases []Case) bool {
	for _, c := range cases {
		if len(c.Next) == 0 {
			return true
		}
	}
	return false
}

// Place is where a frame runs in its workflow, decoded from its branch
// number for people (`wsk-route invoke --watch`): the element of a map,
// the branch of a parallel, or the result path of a run that ends in
// several.
type Place struct {
	// Join is the join whose region the step is in; "" when it is in
	// none (Index is then the run's result path).
	Join string
	// Map reports whether Join is a map's join: Index is then the index
	// of the element in the mapped array, from 0.
	Map bool
	// Index is the element's index, the branch's place among the join's
	// results, or the result path, from 0.
	Index int
	// Of is how many results the join merges, or how many result paths
	// the run has; 0 for a map (the array decides).
	Of int
	// Name is the branch's name when the join merges into an object.
	Name string
}

// PlaceOf decodes the branch number a frame of step id carries (see
// JoinBranch). Only the innermost region shows: a frame keeps its places
// in outer regions on the side (its Outer levels), not in its branch.
func (s *Spec) PlaceOf(id string, branch uint32) Place {
	st, ok := s.Steps[id]
	if !ok || st.In == "" {
		n := s.Paths()
		if ok && n > 1 && s.pathsInto(id, s.memo()) > 1 {
			n = 1 // before the run's paths part: the one they share
		}
		return Place{Index: int(branch), Of: n}
	}
	slot, _ := SplitBranch(branch)
	p := Place{Join: st.In, Index: int(slot)}
	n := s.JoinSlots(st.In)
	if n == -1 {
		p.Map = true
		return p
	}
	p.Of = n
	if j := s.Steps[st.In].Join; j != nil && j.Merge == MergeObject && int(slot) < len(j.Names) {
		p.Name = j.Names[slot]
	}
	return p
}

// String describes p: "element 3" (of a map, from 0), "branch upper" (of
// an object merge), "branch 2 of 3" (from 1), or "" for the one path of a
// run that has only one.
func (p Place) String() string {
	switch {
	case p.Map:
		return fmt.Sprintf("element %d", p.Index)
	case p.Name != "":
		return "branch " + p.Name
	case p.Join == "" && p.Of <= 1 && p.Index == 0:
		return ""
	case p.Of > 0:
		return fmt.Sprintf("branch %d of %d", p.Index+1, p.Of)
	}
	return fmt.Sprintf("branch %d", p.Index+1)
}
