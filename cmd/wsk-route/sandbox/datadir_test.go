package sandbox_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/openwhisk-client-go/whisk"

	"github.com/wsk-route/wsk-route/action-proxy/server"
	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox"
	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox/registry"
)

// TestDataDirKeepsWorkflows composes a workflow in a sandbox with a data
// directory, stops it and starts another on the same directory: the
// workflow's entry action runs it again (its spec and its namespace key
// were kept, not only the entry action), and a workflow deleted before
// the restart stays deleted.
func TestDataDirKeepsWorkflows(t *testing.T) {
	dir := t.TempDir()
	first := startSandbox(t, sandbox.Config{DataDir: dir})
	c := clientOf(t, first.Sandbox)
	ctx := context.Background()
	steps := []string{"dk-upper", "dk-words"}
	for _, s := range steps {
		createAct(t, c, s, nil, nil)
	}
	for _, wf := range []string{"dk", "dk-gone"} {
		if _, err := first.Routes().PutSpec(ctx, chain(wf, steps...)); err != nil {
			t.Fatal(err)
		}
		code := server.EntryCode(wf)
		entry := &whisk.Action{Name: wf, Namespace: "_", Exec: &whisk.Exec{Kind: "blackbox", Image: "openwhisk/actionloop-base", Code: &code}}
		if _, resp, err := c.Actions.Insert(entry, true); err != nil {
			t.Fatalf("creating the entry action %s: %v %s", wf, err, status(resp))
		}
	}
	runFlow := func(c *whisk.Client, when string) {
		t.Helper()
		act, resp := invoke(t, c, "dk", map[string]any{"text": "kept across restarts"})
		if resp.StatusCode != http.StatusOK || !act.Response.Success {
			t.Fatalf("%s: invoking the entry: %s %+v (logs %q)", when, resp.Status, act.Response, act.Logs)
		}
		r := act.Response.Result.(map[string]any)
		if r["text"] != "KEPT ACROSS RESTARTS" || fmt.Sprint(r["words"]) != "3" {
			t.Errorf("%s: result %v, want the upper-cased text and 3 words", when, r)
		}
	}
	runFlow(c, "before the restart")
	if err := first.Routes().DeleteSpec(ctx, "guest", "dk-gone"); err != nil {
		t.Fatal(err)
	}
	key, err := first.Routes().NamespaceKey(ctx, "guest")
	if err != nil || key == nil {
		t.Fatalf("the key of guest: %x, %v", key, err)
	}
	first.stop()

	second := startSandbox(t, sandbox.Config{DataDir: dir})
	c = clientOf(t, second.Sandbox)
	runFlow(c, "after the restart")
	if k, err := second.Routes().NamespaceKey(ctx, "guest"); err != nil || string(k) != string(key) {
		t.Errorf("the key of guest after the restart: %x, %v; want %x", k, err, key)
	}
	if sp, err := second.Routes().GetSpec(ctx, "guest", "dk-gone"); sp != nil || err != nil {
		t.Errorf("the deleted workflow after the restart: %v, %v; want it gone", sp, err)
	}
	// What keeps them: the registry's state file, and the agent's copy.
	for _, f := range []string{registry.StateFile, "agent-state/registry-copy.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("data dir: %v", err)
		}
	}
}
