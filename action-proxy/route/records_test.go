package route

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/agentproto"
	"github.com/wsk-route/wsk-route/internal/frame"
)

func TestStepRecord(t *testing.T) {
	f := &frame.Frame{Kind: frame.KindStep, RunID: strings.Repeat("ab", 16), Workflow: "wf", Step: "s1", Branch: 2}
	start := time.UnixMilli(1_000_000)
	end := start.Add(7 * time.Millisecond)
	big := []byte(`{"x":"` + strings.Repeat("y", agentproto.MaxRecordResult) + `"}`)
	tests := []struct {
		name       string
		result     []byte
		err        error
		status     int
		wantResult string
	}{
		{"success", []byte(`{"ok":true}`), nil, 0, `{"ok":true}`},
		{"array", []byte(`[1,2]`), nil, 0, `[1,2]`},
		{"application error", []byte(`{"error":"sorry"}`), nil, 1, `{"error":"sorry"}`},
		{"developer error", nil, errors.New(`the action's process "exited"`), 2, `{"error":"the action's process \"exited\""}`},
		{"result over the record's limit", big, nil, 0, `{"wsk-route":"the result of ` + itoa(len(big)) + ` bytes is over the 1048576 a record keeps"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := &agentproto.Activation{}
			stepRecord(a, f, stepActivationID(f), start, end, tc.result, []byte("one\ntwo\n"), tc.err)
			if a.StatusCode != tc.status || string(a.Result) != tc.wantResult {
				t.Errorf("status %d result %s, want %d %s", a.StatusCode, a.Result, tc.status, tc.wantResult)
			}
			if a.Cause != f.RunID || a.Start != 1_000_000 || a.End != 1_000_007 || a.Workflow != "wf" || a.Step != "s1" || a.Branch != 2 {
				t.Errorf("record %+v", a)
			}
			stamp := end.UTC().Format(time.RFC3339Nano)
			if strings.Join(a.Logs, "|") != stamp+" stdout: one|"+stamp+" stdout: two" {
				t.Errorf("logs %q", a.Logs)
			}
			// What the agent will accept.
			if _, err := agentproto.Encode(&agentproto.Message{Type: agentproto.TypeActivation, Activation: a}); err != nil {
				t.Errorf("the agent would refuse the record: %v", err)
			}
			if !json.Valid(a.Result) {
				t.Errorf("result %s is not JSON", a.Result)
			}
		})
	}
	// A run id that is no activation id (a caller of RunWorkflow chose
	// it) is no cause.
	g := *f
	g.RunID = "my-run"
	a := &agentproto.Activation{}
	if stepRecord(a, &g, stepActivationID(&g), start, end, []byte(`{}`), nil, nil); a.Cause != "" {
		t.Errorf("cause %q for run id %q", a.Cause, g.RunID)
	}
}

func TestLogLines(t *testing.T) {
	lines := logLines([]byte(strings.Repeat("0123456789\n", 10)), "T", 60)
	// "T stdout: 0123456789" is 20 bytes: three fit in 60, then the cut.
	if len(lines) != 4 || !strings.Contains(lines[3], "Logs were truncated") || !strings.HasPrefix(lines[3], "T stderr: ") {
		t.Errorf("lines %q", lines)
	}
	if got := logLines(nil, "T", 60); len(got) != 0 {
		t.Errorf("no logs: %q", got)
	}
	if got := logLines([]byte("no newline"), "T", 60); len(got) != 1 || got[0] != "T stdout: no newline" {
		t.Errorf("a last line without newline: %q", got)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
