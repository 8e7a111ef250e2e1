package route

import (
	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/spec"
)

// mapRun is one map of a run in progress, held by the run's entry.
type mapRun struct {
	n    int           // elements, the slots its join waits for
	done chan struct{} // one token per element whose result reached the join
}

// mapInput starts map step id on branch with value (p.mu is held): the
// elements of the array it maps go to the map's region from here, at most
// the map's concurrency at a time, each as the slot of its index; the
// map's join (joinInput) collects them. An empty array joins at once. A
// map nested in another join's region (holder, in the regions outer)
// keeps its slot and holder there as a level around its own region.
func (p *Plane) mapInput(rs *runState, id string, branch uint32, holder string, outer []frame.Level, value []byte) (frame.Code, string) {
	js := &rs.js
	sp := js.r.sp
	st := sp.Steps[id]
	var levels []frame.Level
	fb := branch
	if sp.IsNested(id) {
		var slot uint32
		slot, fb = spec.SplitBranch(branch)
		levels = push(outer, frame.Level{Slot: slot, Holder: holder})
	}
	k := joinKey{st.Fork, fb, slotsKey(levels)}
	if _, dup := js.maps[k]; dup || js.joined[k] {
		return frame.CodeDuplicate, "map already started on this branch"
	}
	elems, err := sp.Elements(id, value)
	if err != nil {
		rs.failure = &RunError{RunID: js.r.runID, Step: id, Code: frame.CodeStepFailed, Reason: err.Error()}
		close(rs.done)
		return frame.CodeOK, ""
	}
	if len(elems) == 0 {
		js.joined[k] = true
		return p.completeJoin(js, st.Fork, fb, levels, []byte("[]"))
	}
	m := &mapRun{n: len(elems), done: make(chan struct{}, len(elems))}
	js.maps[k] = m
	limit := st.Map.Concurrency
	if limit <= 0 || limit > len(elems) {
		limit = len(elems)
	}
	// The elements' frames: in the map's region, whose join is here, and
	// in the regions around the map.
	r := *js.r
	r.holder, r.outer = "", levels
	ctx := js.ctx
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		inFlight := 0
		for i, e := range elems {
			if inFlight == limit {
				select {
				case <-m.done:
					inFlight--
				case <-ctx.Done():
					return
				}
			}
			inFlight++
			hops := sp.MapHops(id, i, branch)
			for _, h := range hops {
				r.hop(ctx, id, h, e)
			}
		}
	}()
	return frame.CodeOK, ""
}
