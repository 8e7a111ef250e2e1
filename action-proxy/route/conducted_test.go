package route

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/agentproto"
)

// An entry that conducts a composition runs each action as a run that
// starts at the action's step (RunOptions.Start): only that step runs, its
// result comes back, and an action's failure comes back as its result
// through the step's catch (the conducted spec's "caught" router), for the
// conductor to handle.
func TestRunStartsAtStep(t *testing.T) {
	execs := map[string]*funcExecutor{
		"double": {fn: func(v []byte) []byte {
			var in struct{ N int }
			json.Unmarshal(v, &in)
			b, _ := json.Marshal(map[string]int{"n": in.N * 2})
			return b
		}},
		"fail": {fn: func([]byte) []byte { return []byte(`{"error":"refused"}`) }},
	}
	sd := agentproto.SpecData{Workflow: "comp", Version: 1, Spec: json.RawMessage(`{"workflow":"comp","namespace":"ns","start":["start"],"steps":{
		"start":{"value":{"error":"needs an entry that conducts"}},
		"a0":{"action":"/ns/double","catch":["caught"]},
		"a1":{"action":"/ns/fail","catch":["caught"]},
		"caught":{}}}`)}
	fs := newFlowSet(t, sd, execs)
	fs.tables()
	entry := fs.planes["entry"]
	for _, tc := range []struct{ start, want string }{
		{"a0", `{"n":42}`},
		{"a1", `{"error":"refused"}`},
		{"a0", `{"n":42}`},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		res, err := entry.StartRun(ctx, "comp", []byte(`{"n":21}`), RunOptions{Start: tc.start})
		cancel()
		if err != nil {
			t.Fatalf("run from %s: %v", tc.start, err)
		}
		if string(res.Value) != tc.want {
			t.Errorf("run from %s answered %s, want %s", tc.start, res.Value, tc.want)
		}
	}
	if d, f := execs["double"].count(), execs["fail"].count(); d != 2 || f != 1 {
		t.Errorf("double ran %d times, fail %d; want 2 and 1: a run runs only the step it starts at", d, f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// An entry that does not conduct runs the spec from its start: the
	// conducted spec's start is a constant error saying why.
	if res, err := entry.StartRun(ctx, "comp", []byte(`{}`), RunOptions{}); err != nil {
		t.Errorf("a run from the spec's start: %v", err)
	} else if string(res.Value) != `{"error":"needs an entry that conducts"}` {
		t.Errorf("a run from the spec's start answered %s, want the start's constant error", res.Value)
	}
	if _, err := entry.StartRun(ctx, "comp", []byte(`{}`), RunOptions{Start: "nope"}); err == nil {
		t.Error("a run from a step the spec lacks did not fail")
	}
}
