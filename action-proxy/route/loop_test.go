package route

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/agentproto"
)

// inc adds 1 to the number at key of the value.
func inc(key string) *funcExecutor {
	return &funcExecutor{fn: func(v []byte) []byte {
		var m map[string]any
		json.Unmarshal(v, &m)
		if m == nil {
			m = map[string]any{}
		}
		n, _ := m[key].(float64)
		m[key] = n + 1
		b, _ := json.Marshal(m)
		return b
	}}
}

// loopSpecs: "while" counts n up to 3 in its body (i); "dowhile" runs i
// once before it tests; "nested" runs, while o < 2, a body that counts k
// up to 2 (j) and then o (o), resetting k (r); "capped" is while's loop
// with at most 2 iterations.
var loopSpecs = []agentproto.SpecData{
	{Workflow: "while", Version: 1, Spec: json.RawMessage(`{"workflow":"while","namespace":"ns","start":["w"],"steps":{
	 "w":{"action":"","loop":{},"switch":[{"when":{"path":"n","op":"<","value":3},"next":["i"]}],"default":["d"]},
	 "i":{"action":"/ns/i","in_loop":"w","next":["w"]},
	 "d":{"action":"/ns/d"}}}`)},
	{Workflow: "dowhile", Version: 1, Spec: json.RawMessage(`{"workflow":"dowhile","namespace":"ns","start":["i"],"steps":{
	 "i":{"action":"/ns/i","in_loop":"w","next":["w"]},
	 "w":{"action":"","loop":{},"switch":[{"when":{"path":"n","op":"<","value":3},"next":["i"]}],"default":["d"]},
	 "d":{"action":"/ns/d"}}}`)},
	{Workflow: "nested", Version: 1, Spec: json.RawMessage(`{"workflow":"nested","namespace":"ns","start":["w"],"steps":{
	 "w":{"action":"","loop":{},"switch":[{"when":{"path":"o","op":"<","value":2},"next":["v"]}],"default":["d"]},
	 "v":{"action":"","in_loop":"w","loop":{},"switch":[{"when":{"path":"k","op":"<","value":2},"next":["j"]}],"default":["o"]},
	 "j":{"action":"/ns/j","in_loop":"v","next":["v"]},
	 "o":{"action":"/ns/o","in_loop":"w","next":["r"]},
	 "r":{"action":"/ns/r","in_loop":"w","next":["w"]},
	 "d":{"action":"/ns/d"}}}`)},
	{Workflow: "capped", Version: 1, Spec: json.RawMessage(`{"workflow":"capped","namespace":"ns","start":["w"],"steps":{
	 "w":{"action":"","loop":{"max":2},"switch":[{"when":{"path":"n","op":"<","value":3},"next":["i"]}],"default":["d"]},
	 "i":{"action":"/ns/i","in_loop":"w","next":["w"]},
	 "d":{"action":"/ns/d"}}}`)},
}

// TestLoops runs loops on planes of one host: each iteration's step is a
// step of its own (not refused as a duplicate of the first), the loops
// end when their condition no longer holds, and a loop that reaches its
// maximum fails the run, naming it.
func TestLoops(t *testing.T) {
	for _, tc := range []struct {
		workflow, input, want string
		runs                  map[string]int
		failure               string
	}{
		{workflow: "while", input: `{"n":0}`, want: `{"n":3}`, runs: map[string]int{"i": 3, "d": 1}},
		{workflow: "while", input: `{"n":7}`, want: `{"n":7}`, runs: map[string]int{"i": 0, "d": 1}},
		{workflow: "dowhile", input: `{"n":7}`, want: `{"n":8}`, runs: map[string]int{"i": 1, "d": 1}},
		{workflow: "dowhile", input: `{"n":1}`, want: `{"n":3}`, runs: map[string]int{"i": 2, "d": 1}},
		{workflow: "nested", input: `{"k":0,"o":0}`, want: `{"k":0,"o":2}`, runs: map[string]int{"j": 4, "o": 2, "r": 2, "d": 1}},
		{workflow: "capped", input: `{"n":0}`, failure: "loop w: its body ran 2 times, its maximum"},
	} {
		t.Run(tc.workflow+" "+tc.input, func(t *testing.T) {
			fs := newFlowSet(t, loopSpecs[0], map[string]*funcExecutor{
				"i": inc("n"), "j": inc("k"), "o": inc("o"),
				"r": {fn: func(v []byte) []byte {
					var m map[string]any
					json.Unmarshal(v, &m)
					m["k"] = 0
					b, _ := json.Marshal(m)
					return b
				}},
				"d": {fn: func(v []byte) []byte { return v }},
			})
			for _, p := range fs.planes {
				p.applySpecs(&agentproto.Specs{Full: true, Upsert: loopSpecs})
			}
			fs.tables()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res, err := fs.planes["entry"].StartRun(ctx, tc.workflow, []byte(tc.input), RunOptions{})
			if tc.failure != "" {
				var re *RunError
				if !errors.As(err, &re) || !strings.Contains(re.Reason, tc.failure) || re.Step != "w" {
					t.Fatalf("StartRun = %v; want a RunError at w saying %q", err, tc.failure)
				}
				return
			}
			if err != nil {
				t.Fatalf("StartRun: %v", err)
			}
			if string(res.Value) != tc.want {
				t.Errorf("result %s, want %s", res.Value, tc.want)
			}
			for name, n := range tc.runs {
				if got := fs.execs[name].count(); got != n {
					t.Errorf("%s ran %d times, want %d", name, got, n)
				}
			}
		})
	}
}
