package agentproto_test

import (
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/internal/agentproto"
)

func TestActivationRecord(t *testing.T) {
	id := strings.Repeat("a1", 16)
	valid := func() agentproto.Activation {
		return agentproto.Activation{ActivationID: id, Cause: strings.Repeat("0f", 16), Start: 1000, End: 1005,
			Result: []byte(`{"x":1}`), Logs: []string{"2026-12-07T08:00:00Z stdout: hi"}, Workflow: "wf", Step: "s1"}
	}
	tests := []struct {
		name string
		edit func(*agentproto.Activation)
		err  string // "" valid
	}{
		{"valid", func(*agentproto.Activation) {}, ""},
		{"array result", func(a *agentproto.Activation) { a.Result = []byte(`[1]`) }, ""},
		{"no result, no cause", func(a *agentproto.Activation) { a.Result, a.Cause = nil, "" }, ""},
		{"short id", func(a *agentproto.Activation) { a.ActivationID = "abc" }, "is not 32 lower-case hex digits"},
		{"upper-case id", func(a *agentproto.Activation) { a.ActivationID = strings.ToUpper(id) }, "is not 32 lower-case hex digits"},
		{"bad cause", func(a *agentproto.Activation) { a.Cause = "run-1" }, "cause"},
		{"end before start", func(a *agentproto.Activation) { a.End = 999 }, "not a time span"},
		{"no start", func(a *agentproto.Activation) { a.Start, a.End = 0, 0 }, "not a time span"},
		{"status 4", func(a *agentproto.Activation) { a.StatusCode = 4 }, "status code 4"},
		{"scalar result", func(a *agentproto.Activation) { a.Result = []byte(`"x"`) }, "not a JSON object or array"},
		{"result too large", func(a *agentproto.Activation) {
			a.Result = []byte(`{"x":"` + strings.Repeat("y", agentproto.MaxRecordResult) + `"}`)
		}, "more than"},
		{"logs too large", func(a *agentproto.Activation) {
			a.Logs = []string{strings.Repeat("l", agentproto.MaxRecordLogs/2+1), strings.Repeat("l", agentproto.MaxRecordLogs/2)}
		}, "bytes of logs"},
		{"no step", func(a *agentproto.Activation) { a.Step = "" }, "workflow and step"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := valid()
			tc.edit(&a)
			b, err := agentproto.Encode(&agentproto.Message{Type: agentproto.TypeActivation, Activation: &a})
			if tc.err == "" {
				if err != nil {
					t.Fatalf("Encode: %v", err)
				}
				m, err := agentproto.Decode(b)
				if err != nil || m.Activation == nil || m.Activation.ActivationID != a.ActivationID || string(m.Activation.Result) != string(a.Result) {
					t.Fatalf("Decode(%s) = %+v, %v", b, m, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Encode: %v, want an error containing %q", err, tc.err)
			}
		})
	}
}

func TestBatch(t *testing.T) {
	rec := func() agentproto.Message {
		return agentproto.Message{Type: agentproto.TypeActivation, Activation: &agentproto.Activation{ActivationID: strings.Repeat("a1", 16),
			Start: 1, End: 2, Workflow: "wf", Step: "s"}}
	}
	tests := []struct {
		name  string
		batch []agentproto.Message
		err   string
	}{
		{"records", []agentproto.Message{rec(), rec()}, ""},
		{"a register cannot be batched", []agentproto.Message{rec(), {Type: agentproto.TypeRegister, Register: &agentproto.Register{Namespace: "n", Action: "/n/a", Name: "x"}}}, "cannot be batched"},
		{"a bad record", []agentproto.Message{{Type: agentproto.TypeActivation, Activation: &agentproto.Activation{ActivationID: "x"}}}, "batch message 0"},
		{"too many", make([]agentproto.Message, agentproto.MaxBatch+1), "more than"},
	}
	for _, tc := range tests {
		b, err := agentproto.Encode(&agentproto.Message{Type: agentproto.TypeBatch, Batch: tc.batch})
		if tc.err == "" {
			if err != nil {
				t.Errorf("%s: Encode: %v", tc.name, err)
				continue
			}
			if m, err := agentproto.Decode(b); err != nil || len(m.Batch) != len(tc.batch) {
				t.Errorf("%s: Decode = %+v, %v", tc.name, m, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: Encode = %v, want an error containing %q", tc.name, err, tc.err)
		}
	}
}
