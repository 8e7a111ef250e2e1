package route

import (
	"context"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/agentproto"
	"github.com/wsk-route/wsk-route/internal/routetable"
)

// A step's result is the only copy: when the entry cannot be reached for a
// moment (here: it is missing from the step's route table, as while the
// agents re-register after a restart), the step tries again, and the run
// completes instead of waiting for its deadline.
func TestReplyTriesAgain(t *testing.T) {
	fs := chainFlow(t, 1)
	fs.tables()
	// a0's table lacks the entry.
	var insts []routetable.Instance
	for name, q := range fs.planes {
		if name == "entry" {
			continue
		}
		insts = append(insts, routetable.Instance{ID: "host1/" + name, Namespace: "ns", Action: "/ns/" + name, Host: "host1", Unix: q.Endpoint(), Concurrency: 1})
	}
	fs.planes["a0"].applyTable(&agentproto.Table{Full: true, Upsert: insts})
	go func() {
		time.Sleep(specGrace + 300*time.Millisecond) // past the first try's wait
		fs.table("a0", false)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	res, err := fs.planes["entry"].StartRun(ctx, "chain1", []byte(`{"x":1}`), RunOptions{})
	if err != nil {
		t.Fatalf("run: %v (after %v)", err, time.Since(start))
	}
	if string(res.Value) != `{"x":1}` {
		t.Fatalf("run answered %s, want its input", res.Value)
	}
	if took := time.Since(start); took < specGrace {
		t.Errorf("the run took %v: the entry was not missing from a0's table", took)
	}
}
