package route

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/invoker-plugin/agent"
	"github.com/wsk-route/wsk-route/invoker-plugin/proxyconn"
)

// TestDirectRunsReported runs a chain of direct steps through one
// proxy, on a real agent whose DirectRuns hook records what it is told:
// "running" once, at the first step, and "not running" once, directHold
// after the last: two reports for the chain, not two per step.
func TestDirectRunsReported(t *testing.T) {
	reg := registryWith(t, `{"workflow":"ch","namespace":"ns1","start":["a"],"steps":{"a":{"action":"/ns1/a"}}}`)
	var mu sync.Mutex
	var told []bool
	_, run := testAgent(t, reg, "hostA", "127.0.0.1", func(c *agent.Config) {
		c.DirectRuns = func(_ proxyconn.Peer, running bool) {
			mu.Lock()
			told = append(told, running)
			mu.Unlock()
		}
	})
	entry := blobPlane(t, run, "entry", Identity{Namespace: "ns1", Action: "/ns1/entry", APIKey: "u:p"}, nil, "")
	worker := blobPlane(t, run, "pa", Identity{Namespace: "ns1", Action: "/ns1/a", APIKey: "u:p"}, &fakeExecutor{free: true, result: []byte(`{"ok":1}`)}, "")

	rctx, rcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer rcancel()
	if err := entry.WaitReady(rctx, "ch"); err != nil {
		t.Fatal(err)
	}
	waitInstances(t, rctx, entry, "/ns1/a", 1)
	reports := func() string {
		mu.Lock()
		defer mu.Unlock()
		return fmt.Sprint(told)
	}
	for i := range 20 {
		if _, err := entry.StartRun(rctx, "ch", []byte(`{}`), RunOptions{}); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
	}
	if got := reports(); got != "[true]" {
		t.Errorf("after 20 steps in a row: the agent was told %s, want [true] (running, once)", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for reports() != "[true false]" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := reports(); got != "[true false]" {
		t.Errorf("%v after the last step: the agent was told %s, want [true false]", 5*time.Second, got)
	}
	if n := worker.direct.n.Load(); n != 0 {
		t.Errorf("%d direct steps counted running after the runs ended", n)
	}
}
