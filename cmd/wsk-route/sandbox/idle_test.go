package sandbox_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"

	"github.com/wsk-route/wsk-route/action-proxy/server"
	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox"
)

// TestDirectStepsKeepContainers: a container that takes only direct steps
// is in use for the invoker too (the agent's records mark it,
// Invoker.Touch). With an idle timeout of 1 s, a workflow run over and
// over for 3 s keeps its step containers and runs direct all along;
// before, the invoker removed them under the runs.
func TestDirectStepsKeepContainers(t *testing.T) {
	sb := startSandbox(t, sandbox.Config{IdleTimeout: time.Second})
	c := clientOf(t, sb.Sandbox)
	steps := []string{"kc-upper", "kc-words"}
	for _, s := range steps {
		createAct(t, c, s, nil, nil)
	}
	if _, err := sb.Routes().PutSpec(context.Background(), chain("kc", steps...)); err != nil {
		t.Fatal(err)
	}
	code := server.EntryCode("kc")
	entry := &whisk.Action{Name: "kc", Namespace: "_", Exec: &whisk.Exec{Kind: "blackbox", Image: "openwhisk/actionloop-base", Code: &code}}
	if _, resp, err := c.Actions.Insert(entry, true); err != nil {
		t.Fatalf("creating the entry action: %v %s", err, status(resp))
	}
	for _, s := range steps {
		wantSuccess(t, c, s, map[string]any{"text": "warm"})
	}
	containersOf := func() []string {
		var names []string
		for _, ci := range sb.Containers() {
			if strings.HasPrefix(ci.Action, "/guest/kc-") {
				names = append(names, ci.Name)
			}
		}
		slices.Sort(names)
		return names
	}
	before := containersOf()
	if len(before) != len(steps) {
		t.Fatalf("step containers after warming: %v, want one per step", before)
	}
	start := time.Now()
	for time.Since(start) < 3*time.Second {
		act, resp := invoke(t, c, "kc", map[string]any{"text": "keep me"})
		if resp.StatusCode != http.StatusOK || !act.Response.Success {
			t.Fatalf("kc: %s %+v (logs %q)", resp.Status, act.Response, act.Logs)
		}
		if logs := strings.Join(act.Logs, "\n"); strings.Contains(logs, "through OpenWhisk") {
			t.Fatalf("a step went through OpenWhisk %v into the runs: its container was taken for idle:\n%s", time.Since(start).Round(time.Millisecond), logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if after := containersOf(); !slices.Equal(after, before) {
		t.Errorf("step containers %v after the runs, want the warm ones %v", after, before)
	}
}
