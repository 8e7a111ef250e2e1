package route

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/agentproto"
	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/whisk"
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
		timeout    bool
	}{
		{"success", []byte(`{"ok":true}`), nil, 0, `{"ok":true}`, false},
		{"array", []byte(`[1,2]`), nil, 0, `[1,2]`, false},
		{"application error", []byte(`{"error":"sorry"}`), nil, 1, `{"error":"sorry"}`, false},
		{"developer error", nil, errors.New(`the action's process "exited"`), 2, `{"error":"the action's process \"exited\""}`, false},
		{"stopped at the run's deadline", nil, fmt.Errorf("stopped: %w", context.DeadlineExceeded), 2, `{"error":"stopped: context deadline exceeded"}`, true},
		{"stopped with its plane", nil, fmt.Errorf("stopped: %w", context.Canceled), 2, `{"error":"stopped: context canceled"}`, false},
		{"result over the record's limit", big, nil, 0, `{"wsk-route":"the result of ` + itoa(len(big)) + ` bytes is over the 1048576 a record keeps"}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := &agentproto.Activation{}
			stepRecord(a, f, stepActivationID(f), start, end, tc.result, []byte("one\ntwo\n"), tc.err)
			if a.StatusCode != tc.status || string(a.Result) != tc.wantResult || a.Timeout != tc.timeout {
				t.Errorf("status %d result %s timeout %v, want %d %s %v", a.StatusCode, a.Result, a.Timeout, tc.status, tc.wantResult, tc.timeout)
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
	stamp := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	const at = "2026-12-07T12:00:00Z"
	for _, tc := range []struct {
		name  string
		logs  string
		limit int
		want  []string
	}{
		{"none", "", 100, nil},
		{"lines the executor stamped keep their time and stream", "2026-12-07T11:59:59.5Z stderr: oops\n2026-12-07T11:59:59.6Z stdout: fine\n", 1000,
			[]string{"2026-12-07T11:59:59.5Z stderr: oops", "2026-12-07T11:59:59.6Z stdout: fine"}},
		{"other lines are stdout, stamped with the step's end", "plain\nno newline", 1000,
			[]string{at + " stdout: plain", at + " stdout: no newline"}},
		// Each line is 38 bytes: two fit in 100, then the cut.
		{"cut at the limit", strings.Repeat("0123456789\n", 10), 100,
			[]string{at + " stdout: 0123456789", at + " stdout: 0123456789", at + " stderr: " + whisk.LogsTruncatedMessage(100)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := logLines([]byte(tc.logs), stamp, tc.limit); !slices.Equal(got, tc.want) {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
