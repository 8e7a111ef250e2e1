package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox"
	"github.com/wsk-route/wsk-route/internal/consulstore"
	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/internal/testenv"
)

// TestConsul deploys and runs a workflow with --consul against a sandbox
// whose registry is the same real Consul: the spec is in Consul's KV, the
// routes are its catalog's passing instances.
func TestConsul(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts Consul and a second sandbox")
	}
	addr := startConsulSandbox(t)

	createActs(t, "cs-upper", "cs-words")
	flow := writeFile(t, "consul.yaml", "name: csflow\nsteps:\n  - cs-upper\n  - cs-words\n")
	_, errs := mustRun(t, "compose", flow, "--consul", addr)
	if !strings.Contains(errs, "stored spec version") {
		t.Errorf("compose: %q", errs)
	}
	store, err := consulstore.New(consulstore.Options{Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	sp, err := store.GetSpec(context.Background(), "guest", "csflow")
	if err != nil || sp == nil || len(sp.Steps) != 2 {
		t.Fatalf("the spec in Consul: %+v, %v", sp, err)
	}
	for i := 0; i < 2; i++ {
		out, _ := mustRun(t, "invoke", "csflow", "-p", "text", "three small words", "-r")
		var r map[string]any
		if err := json.Unmarshal([]byte(out), &r); err != nil || r["text"] != "THREE SMALL WORDS" || fmt.Sprint(r["words"]) != "3" {
			t.Errorf("run %d: result %q (%v)", i, out, err)
		}
	}
	// The env var works as the flag does.
	t.Setenv("CONSUL_HTTP_ADDR", addr)
	out, _ := mustRun(t, "routes", "cs-upper", "-o", "json")
	var ins []routetable.Instance
	if err := json.Unmarshal([]byte(out), &ins); err != nil || len(ins) == 0 || ins[0].Action != "/guest/cs-upper" {
		t.Errorf("routes cs-upper from Consul: %q (%v)", out, err)
	}
	if out, _ := mustRun(t, "list"); !strings.Contains(out, "csflow") {
		t.Errorf("list from Consul:\n%s", out)
	}
	// Against an API host without a workflow store, --consul still finds
	// the spec and the routes: they come from Consul.
	bare := storelessAPI(t)
	if out, _ := mustRun(t, "list", "--apihost", bare, "-u", "a:b", "-o", "json"); !strings.Contains(out, `"csflow"`) {
		t.Errorf("list --consul with a storeless API host: %q", out)
	}
	if out, _ := mustRun(t, "routes", "--apihost", bare, "-u", "a:b"); !strings.Contains(out, "/guest/cs-words") {
		t.Errorf("routes --consul with a storeless API host:\n%s", out)
	}
	mustRun(t, "delete", "csflow")
	if sp, err := store.GetSpec(context.Background(), "guest", "csflow"); err != nil || sp != nil {
		t.Errorf("after delete, Consul still has %+v (%v)", sp, err)
	}
}

// startConsulSandbox starts a second sandbox whose registry is a real
// Consul, points the CLI and the helpers at it until the test ends, and
// returns Consul's address.
func startConsulSandbox(t *testing.T) string {
	t.Helper()
	c := testenv.StartConsul(t, testenv.ConsulOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *sandbox.Sandbox, 1)
	done := make(chan error, 1)
	go func() {
		done <- sandbox.Run(ctx, sandbox.Config{
			Listen: "127.0.0.1:0", ProxyCommand: []string{bins.proxy}, Consul: c.Addr,
			Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		}, func(s *sandbox.Sandbox) { ready <- s })
	}()
	var csb *sandbox.Sandbox
	select {
	case csb = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("the sandbox did not start: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("the sandbox did not start within 60 s")
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("sandbox.Run: %v", err)
		}
	})
	saved := sb
	sb = csb
	t.Cleanup(func() { sb = saved })
	useSandbox(t)
	return c.Addr
}
