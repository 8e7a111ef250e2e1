package agent

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/agentproto"
	"github.com/wsk-route/wsk-route/internal/otlp"
	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/internal/runevent"
)

// TestRunSpans: a run's entry span and its steps' spans are one trace,
// the run id, with the steps children of the entry, and the step spans
// are those the actions were given as traceparent.
func TestRunSpans(t *testing.T) {
	run := "0123456789abcdef0123456789abcdef"
	inst := routetable.Instance{ID: "h/c1", Namespace: "guest", Action: "/guest/upper"}
	aid := runevent.StepActivationID(run, "s1", 0, "")
	m := &agentproto.Activation{ActivationID: aid, Cause: run, Start: 1700000000100, End: 1700000000104, StatusCode: 1,
		Result: json.RawMessage(`{"error":"x"}`), Workflow: "flow", Step: "s1"}
	rec := stepActivation(inst, m)
	step, ok := stepSpan(inst, &rec, m)
	if !ok || step.Check() != nil {
		t.Fatalf("stepSpan = %+v, %v (%v)", step, ok, step.Check())
	}
	entry, ok := entrySpan(routetable.Instance{ID: "h/c0", Namespace: "guest", Action: "/guest/flow"},
		&runevent.Event{Run: run, Seq: 3, Kind: runevent.KindEnd, DurationNS: int64(8 * time.Millisecond), TimeMS: 1700000000106})
	if !ok || entry.Check() != nil {
		t.Fatalf("entrySpan = %+v, %v (%v)", entry, ok, entry.Check())
	}
	if step.TraceID != run || entry.TraceID != run || entry.ParentSpanID != "" || step.ParentSpanID != entry.SpanID {
		t.Errorf("trace %s: entry %s (parent %q), step %s (parent %s); want one trace, the step under the entry",
			run, entry.SpanID, entry.ParentSpanID, step.SpanID, step.ParentSpanID)
	}
	if tp := runevent.TraceParent(run, step.SpanID); !strings.HasSuffix(tp, "-"+aid[:16]+"-01") {
		t.Errorf("traceparent %s does not name the step's span", tp)
	}
	if step.Status != otlp.StatusError || entry.Status != otlp.StatusOK {
		t.Errorf("statuses: step %d, entry %d; want error (application error), ok", step.Status, entry.Status)
	}
	if !entry.Start.Equal(time.UnixMilli(1700000000098)) || !step.Start.Equal(time.UnixMilli(1700000000100)) || !step.End.Equal(time.UnixMilli(1700000000104)) {
		t.Errorf("times: entry %v-%v, step %v-%v", entry.Start, entry.End, step.Start, step.End)
	}
	// A run id chosen by a caller is no trace id: no spans.
	m.Cause = ""
	if _, ok := stepSpan(inst, &rec, m); ok {
		t.Error("a step of a run without a trace id has a span")
	}
	if _, ok := entrySpan(inst, &runevent.Event{Run: "my-run", Seq: 1, Kind: runevent.KindEnd, TimeMS: 1}); ok {
		t.Error("a run without a trace id has a span")
	}
}
