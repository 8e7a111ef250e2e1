package agent

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/wsk-route/wsk-route/internal/agentproto"
	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/internal/whisk"
)

func TestStepActivation(t *testing.T) {
	id, cause := strings.Repeat("1a", 16), strings.Repeat("2b", 16)
	inst := routetable.Instance{ID: "h/c1", Namespace: "guest", Action: "/guest/tools/upper", Version: "0.0.3"}
	m := &agentproto.Activation{ActivationID: id, Cause: cause, Start: 1000, End: 1012, StatusCode: 1,
		Result: json.RawMessage(`{"error":"no"}`), Logs: []string{"T stdout: hi"}, Workflow: "wf", Step: "s1", Branch: 3}
	a := stepActivation(inst, m)
	if a.Namespace != "guest" || a.Name != "upper" || a.Subject != "guest" || a.ActivationID != id || a.Cause != cause ||
		a.Start != 1000 || a.End != 1012 || a.Duration != 12 || a.Version != "0.0.3" || a.Response.StatusCode != 1 ||
		string(a.Response.Result) != `{"error":"no"}` || len(a.Logs) != 1 {
		t.Errorf("record %+v", a)
	}
	want := map[string]string{"path": `"guest/tools/upper"`, "causedBy": `"sequence"`, "waitTime": `0`, "wsk-route": `{"branch":3,"step":"s1","workflow":"wf"}`}
	for k, v := range want {
		if got, ok := a.Annotations.Get(k); !ok || string(got) != v {
			t.Errorf("annotation %s = %s, want %s", k, got, v)
		}
	}
	// No result: {} as the invoker records an empty one; no version: OpenWhisk's default.
	m.Result = nil
	inst.Version = ""
	if a := stepActivation(inst, m); string(a.Response.Result) != `{}` || a.Version != "0.0.1" {
		t.Errorf("result %s version %s", a.Response.Result, a.Version)
	}
}

type fakeActivations struct {
	mu   sync.Mutex
	got  []string
	fail bool
}

func (f *fakeActivations) PutActivation(ctx context.Context, a whisk.Activation) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return errors.New("refused")
	}
	f.got = append(f.got, a.ActivationID)
	return nil
}

// TestRecordWriterDrains: the records queued when the agent stops are
// still written; without a store they are dropped and counted.
func TestRecordWriterDrains(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st := &fakeActivations{}
	w := newRecordWriter(st, log)
	for i := 0; i < 5; i++ {
		w.add(whisk.Activation{ActivationID: string(rune('a' + i))})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.run(ctx); err != nil {
		t.Fatal(err)
	}
	if strings.Join(st.got, "") != "abcde" || w.written.Load() != 5 {
		t.Errorf("written %q (%d), want all five in order", st.got, w.written.Load())
	}
	none := newRecordWriter(nil, log)
	none.add(whisk.Activation{ActivationID: "x"})
	if none.dropped.Load() != 1 {
		t.Errorf("dropped %d without a store, want 1", none.dropped.Load())
	}
	failing := newRecordWriter(&fakeActivations{fail: true}, log)
	failing.add(whisk.Activation{ActivationID: "y"})
	failing.run(ctx)
	if failing.failed.Load() != 1 {
		t.Errorf("failed %d, want 1", failing.failed.Load())
	}
}
