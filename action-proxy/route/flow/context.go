package flow

import (
	"strconv"

	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/spec"
)

// Context is the routing context a value of a run travels in: what every
// frame of the run carries besides its step, branch and payload.
type Context struct {
	Run      string // the run's id
	ReplyTo  string // the run's entry, where results, failures and reports go
	Deadline int64  // the run's deadline, unix ns; 0 for none
	// Holder is the instance that holds the join of the region the value
	// is in; "" is the run's entry (or no region).
	Holder string
	// Outer are the levels around the region: the regions and loop
	// iterations it is nested in, outermost first (frame.Frame.Outer).
	Outer []frame.Level
}

// ContextOf is the routing context frame f carries.
func ContextOf(f *frame.Frame) Context {
	return Context{Run: f.RunID, ReplyTo: f.ReplyTo, Deadline: f.Deadline, Holder: f.Holder, Outer: f.Outer}
}

// Key names one step execution of a run: its step, its branch and the
// slots of the regions (and loop iterations) around it. A step frame sent
// twice has the same Key, and so has every report about it.
type Key struct {
	Run    string
	Step   string
	Branch uint32
	Outer  string // SlotsKey of the levels around it
}

// KeyOf is the Key of the step execution frame f is about.
func KeyOf(f *frame.Frame) Key {
	return Key{Run: f.RunID, Step: f.Step, Branch: f.Branch, Outer: SlotsKey(f.Outer)}
}

// JoinKey names one join of a run: the join step, on the outermost fork's
// branch, in the regions around it.
type JoinKey struct {
	Step   string
	Branch uint32
	Outer  string // SlotsKey of the levels around the join
}

// joinKeyOf is the key of the join that slot (a raw branch in the join's
// region) of join step belongs to.
func joinKeyOf(step string, branch uint32, outer []frame.Level) JoinKey {
	_, b := spec.SplitBranch(branch)
	return JoinKey{Step: step, Branch: b, Outer: SlotsKey(outer)}
}

// SlotsKey is the slots of levels, "3.0.12": the regions a frame is in.
func SlotsKey(levels []frame.Level) string {
	if len(levels) == 0 {
		return ""
	}
	b := make([]byte, 0, 4*len(levels))
	for i, l := range levels {
		if i > 0 {
			b = append(b, '.')
		}
		b = strconv.AppendUint(b, uint64(l.Slot), 10)
	}
	return string(b)
}

// push returns levels with one more, inside them; levels is not changed.
func push(levels []frame.Level, l frame.Level) []frame.Level {
	return append(levels[:len(levels):len(levels)], l)
}
