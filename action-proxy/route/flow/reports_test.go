package flow_test

import (
	"testing"

	"github.com/wsk-route/wsk-route/action-proxy/route/flow"
	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/runevent"
	"github.com/wsk-route/wsk-route/internal/spec"
)

// TestReportActivations: a step's report names its activation, the one
// its action saw and its record has; a step that went through the
// OpenWhisk API names that activation, and is marked so.
func TestReportActivations(t *testing.T) {
	sp, err := spec.Parse([]byte(`{"workflow":"ab","namespace":"ns","start":["a"],"steps":{
 "a":{"action":"/ns/a","next":["b"]},
 "b":{"action":"/ns/b"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	run := "0123456789abcdef0123456789abcdef"
	r := flow.NewRun(flow.Sender{Spec: sp, Ctx: flow.Context{Run: run, ReplyTo: "e"}, Self: "e"}, flow.RunConfig{AckTimeout: 1})
	r.Start([]byte(`{}`))
	inTable := func(string) bool { return true }
	log := func(step string, rep frame.Report) {
		t.Helper()
		f := &frame.Frame{Kind: frame.KindLog, RunID: run, Workflow: "ab", Step: step, Report: rep}
		if code, why, _ := r.Frame(f, nil, inTable); code != frame.CodeOK {
			t.Fatalf("report of %s: %v %s", step, code, why)
		}
	}
	fallback := "fedcba9876543210fedcba9876543210"
	log("a", frame.Report{Kind: frame.ReportDone, Instance: "h/p1"})
	log("b", frame.Report{Kind: frame.ReportFallback, Activation: fallback})
	log("b", frame.Report{Kind: frame.ReportDone, Instance: "h/p2"})
	reps := r.Reports()
	if len(reps) != 2 {
		t.Fatalf("reports %+v, want a's and b's", reps)
	}
	if a := reps[0]; a.Activation != runevent.StepActivationID(run, "a", 0, "") || a.Fallback {
		t.Errorf("a's report names %q (fallback %v), want its own activation", a.Activation, a.Fallback)
	}
	if b := reps[1]; b.Activation != fallback || !b.Fallback {
		t.Errorf("b's report names %q (fallback %v), want the fallback's activation %s", b.Activation, b.Fallback, fallback)
	}
}
