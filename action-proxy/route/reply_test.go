package route

import (
	"context"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/agentproto"
	"github.com/wsk-route/wsk-route/internal/routetable"
)

// A step's result is the only copy: when the entry cannot be reached for a
// while (here: it is missing from the step's route table, as while the
// agents re-register after a restart), the step tries again until the
// run's deadline, and the run completes instead of waiting for its
// deadline. Before, each reply was given up after replyTimeout: the
// step's report (sent first) at 5 s, its result at 10 s, so an entry
// missing for longer never got the result.
func TestReplyTriesAgain(t *testing.T) {
	for _, tc := range []struct {
		name   string
		absent time.Duration
	}{
		{"a moment", specGrace + 300*time.Millisecond}, // past the first try's wait
		{"longer than a report's and a result's replyTimeout", 2*replyTimeout + time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
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
				time.Sleep(tc.absent)
				fs.table("a0", false)
			}()
			ctx, cancel := context.WithTimeout(context.Background(), tc.absent+10*time.Second)
			defer cancel()
			start := time.Now()
			res, err := fs.planes["entry"].StartRun(ctx, "chain1", []byte(`{"x":1}`), RunOptions{})
			if err != nil {
				t.Fatalf("run: %v (after %v)", err, time.Since(start))
			}
			if string(res.Value) != `{"x":1}` {
				t.Fatalf("run answered %s, want its input", res.Value)
			}
			if took := time.Since(start); took < tc.absent {
				t.Errorf("the run took %v: the entry was not missing from a0's table", took)
			}
		})
	}
}
