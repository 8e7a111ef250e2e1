package sandbox_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"

	"github.com/wsk-route/wsk-route/action-proxy/server"
	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox"
	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox/invoker"
)

// TestDirectStepNotEvicted fills the invoker's memory while a warm
// container runs a long direct step, which the invoker does not see as an
// activation: the proxy tells its agent, the agent the invoker, and the
// invoker evicts another idle container for the activation that needs the
// memory, not the one under the step; the run succeeds.
func TestDirectStepNotEvicted(t *testing.T) {
	// Three containers of 256 MB: the entry, the step's, and one more.
	sb := startSandbox(t, sandbox.Config{UserMemoryMB: 768})
	c := clientOf(t, sb.Sandbox)
	createAct(t, c, "ev-step", nil, nil)
	createAct(t, c, "ev-other1", nil, nil)
	createAct(t, c, "ev-other2", nil, nil)
	if _, err := sb.Routes().PutSpec(context.Background(), chain("ev", "ev-step")); err != nil {
		t.Fatal(err)
	}
	code := server.EntryCode("ev")
	entry := &whisk.Action{Name: "ev", Namespace: "_", Exec: &whisk.Exec{Kind: "blackbox", Image: "openwhisk/actionloop-base", Code: &code}}
	if _, resp, err := c.Actions.Insert(entry, true); err != nil {
		t.Fatalf("creating the entry: %v %s", err, status(resp))
	}

	wantSuccess(t, c, "ev", map[string]any{"mode": "sleep", "ms": 10}) // cold: the step's container starts
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sb.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	stepContainer := func() (invoker.ContainerInfo, bool) {
		for _, ci := range sb.Containers() {
			if ci.Action == "/guest/ev-step" {
				return ci, true
			}
		}
		return invoker.ContainerInfo{}, false
	}
	step, ok := stepContainer()
	if !ok {
		t.Fatalf("no container of ev-step after the cold run: %+v", sb.Containers())
	}

	type answer struct {
		res  any
		resp *http.Response
		err  error
	}
	done := make(chan answer, 1)
	go func() {
		res, resp, err := c.Actions.Invoke("ev", map[string]any{"mode": "sleep", "ms": 2500}, true, false)
		done <- answer{res, resp, err}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if ci, _ := stepContainer(); ci.Direct {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the step's container was not reported running a direct step within 5 s: %+v", sb.Containers())
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The pool is full (entry, step, other1); other2 needs an eviction.
	wantSuccess(t, c, "ev-other1", map[string]any{})
	wantSuccess(t, c, "ev-other2", map[string]any{})
	a := <-done
	if a.resp == nil {
		t.Fatalf("the warm run: %v", a.err)
	}
	act := decodeActivation(t, a.res, a.resp, a.err)
	if a.resp.StatusCode == http.StatusAccepted {
		act = waitActivation(t, c, act.ActivationID, time.Minute)
	}
	if !act.Response.Success {
		t.Fatalf("the warm run under memory pressure failed: %+v (logs %q)", act.Response, act.Logs)
	}
	if !strings.Contains(strings.Join(act.Logs, "\n"), "step ev-step ran on sandbox/"+step.Name) {
		t.Errorf("the warm run's logs %q do not show its step direct on %s", act.Logs, step.Name)
	}
	if ci, ok := stepContainer(); !ok || ci.Name != step.Name {
		t.Errorf("containers %+v: want %s, which ran the direct step, still there", sb.Containers(), step.Name)
	}
	// Once no step has run for a moment, the container is idle again.
	deadline = time.Now().Add(5 * time.Second)
	for ci, _ := stepContainer(); ci.Direct; ci, _ = stepContainer() {
		if time.Now().After(deadline) {
			t.Fatalf("the step's container still reported running direct steps 5 s after its step: %+v", ci)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
