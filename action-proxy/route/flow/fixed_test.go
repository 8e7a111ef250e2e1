package flow_test

import (
	"testing"

	"github.com/wsk-route/wsk-route/action-proxy/route/flow"
	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/spec"
)

// Tests of bugs found in the core, kept once fixed.

// Sender.Finished returns one ReportStep, after every send that hands the
// step's value on and before the replies that give the entry a result or
// the failure, also when the value becomes several of the run's results
// through steps that run on no instance (testdata/sequence.txt): a report
// sent before a forward would let an instance lost before that forward go
// unnoticed (whereabouts.go).
func TestFinishedReportsOnce(t *testing.T) {
	sp, err := spec.Parse([]byte(`{"workflow":"consts","namespace":"ns","start":["s1","s4"],"steps":{
	 "s1":{"action":"/ns/a","next":["v1","v2"]},
	 "s4":{"action":"/ns/a","next":["v1","a"]},
	 "v1":{"value":1},
	 "v2":{"value":2},
	 "a":{"action":"/ns/a"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []string{"s1", "s4"} {
		s := flow.Sender{Spec: sp, Ctx: flow.Context{Run: "r1", ReplyTo: "e"}, Self: "p1", CanHold: true}
		acts := s.Finished(step, 0, []byte(`{}`), nil, "/ns/a")
		reports, sendsAfter := 0, 0
		for _, a := range acts {
			switch a.(type) {
			case flow.ReportStep:
				reports++
			case flow.Forward, flow.Slot:
				if reports > 0 {
					sendsAfter++
				}
			}
		}
		if reports != 1 {
			t.Errorf("%s: Finished returned %d ReportSteps, want 1: %v", step, reports, acts)
		}
		if sendsAfter > 0 {
			t.Errorf("%s: %d sends to other steps come after its ReportStep, want it after them: %v", step, sendsAfter, acts)
		}
	}
}

// Joins.Takes says what Slot would answer, also for a join without
// successors, which a holder refuses up front (testdata/takes.txt): Slot
// refusing it only after it took the join's slots would lose them.
func TestTakesAnswersWhatSlotWould(t *testing.T) {
	for _, tc := range []struct {
		name, spec string
	}{
		{"join with successors", fjSpec},
		{"join without successors", `{"workflow":"fj-end","namespace":"ns","start":["f"],"steps":{
		 "f":{"action":"/ns/f","fork":"j","next":["a","b"]},
		 "a":{"action":"/ns/a","in":"j","next":["j"]},
		 "b":{"action":"/ns/b","in":"j","next":["j"]},
		 "j":{"join":{"merge":"array"}}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp, err := spec.Parse([]byte(tc.spec))
			if err != nil {
				t.Fatal(err)
			}
			js := flow.NewJoins(flow.Sender{Spec: sp, Ctx: flow.Context{Run: "r1", ReplyTo: "e"}, Self: "p1", CanHold: true})
			for _, b := range []uint32{spec.JoinBranch(0, 0), spec.JoinBranch(1, 0), spec.JoinBranch(1, 0)} {
				takes, why := js.Takes("j", b, nil)
				slot, reason, _ := js.Slot("j", b, nil, []byte(`1`))
				if takes != slot {
					t.Errorf("slot %s: Takes says %s (%s), Slot answers %s (%s)", branchString(b), takes, why, slot, reason)
				}
			}
			if code, reason, _ := js.HandOver("j", 0, nil); code == frame.CodeDuplicate && sp.JoinHops("j", 0) == nil {
				t.Errorf("the holder says %s: %s, of a join whose merge it could not send on", code, reason)
			}
		})
	}
}
