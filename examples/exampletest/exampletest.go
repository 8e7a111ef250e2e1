package exampletest

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"

	"github.com/wsk-route/wsk-route/cmd/wsk-route/cli"
	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox"
)

// proxyPackage is the proxy the sandbox's containers run, built afresh by
// Start.
const proxyPackage = "github.com/wsk-route/wsk-route/cmd/proxy"

// Env is a running sandbox and a client of its controller.
type Env struct {
	// Sandbox is the running sandbox: its URL and auth key.
	Sandbox *sandbox.Sandbox
	// Client talks to the sandbox's controller in namespace "_".
	Client *whisk.Client
}

// Start builds the proxy, runs a sandbox whose containers run it and
// returns it with a client whose HTTP requests time out after
// clientTimeout (a blocking invoke waits for the whole run). The sandbox
// stops when t ends; an error it stops with fails t.
func Start(t *testing.T, clientTimeout time.Duration) *Env {
	t.Helper()
	proxy := filepath.Join(t.TempDir(), "proxy")
	build := exec.Command("go", "build", "-o", proxy, proxyPackage)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the proxy: %v\n%s", err, out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *sandbox.Sandbox, 1)
	done := make(chan error, 1)
	go func() {
		done <- sandbox.Run(ctx, sandbox.Config{Listen: "127.0.0.1:0", ProxyCommand: []string{proxy},
			Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))},
			func(sb *sandbox.Sandbox) { ready <- sb })
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("sandbox: %v", err)
		}
	})
	var sb *sandbox.Sandbox
	select {
	case sb = <-ready:
	case err := <-done:
		t.Fatalf("the sandbox did not start: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("the sandbox did not start within a minute")
	}
	c, err := whisk.NewClient(&http.Client{Timeout: clientTimeout},
		&whisk.Config{Host: sb.URL, AuthToken: sb.Auth, Namespace: "_", Version: "v1"})
	if err != nil {
		t.Fatalf("a client of the sandbox at %s: %v", sb.URL, err)
	}
	return &Env{Sandbox: sb, Client: c}
}

// Compose runs `wsk-route compose file` against the sandbox, with a
// wskprops file naming it in WSK_CONFIG_FILE (set for the rest of t):
// the actions of the file's actions section first, then the workflow. A
// non-zero exit fails t with the command's output.
func (e *Env) Compose(t *testing.T, file string) {
	t.Helper()
	wskprops := filepath.Join(t.TempDir(), "wskprops")
	if err := os.WriteFile(wskprops, []byte("APIHOST="+e.Sandbox.URL+"\nAUTH="+e.Sandbox.Auth+"\n"), 0o600); err != nil {
		t.Fatalf("writing the wskprops file: %v", err)
	}
	t.Setenv("WSK_CONFIG_FILE", wskprops)
	var out, errOut bytes.Buffer
	if code := cli.Run([]string{"compose", file}, nil, &out, &errOut); code != 0 {
		t.Fatalf("wsk-route compose %s: exit %d\n%s%s", file, code, out.String(), errOut.String())
	}
}

// Invoke invokes name blocking and returns its full activation record,
// also when the run failed (the client then returns the record as well).
// No record in the answer fails t at once.
func (e *Env) Invoke(t *testing.T, name string, input any) *whisk.Activation {
	t.Helper()
	res, resp, err := e.Client.Actions.Invoke(name, input, true, false)
	if res == nil {
		t.Fatalf("invoke %s: no activation in the answer (%v, %v)", name, resp, err)
	}
	b, _ := json.Marshal(res)
	var a whisk.Activation
	if err := json.Unmarshal(b, &a); err != nil || a.ActivationID == "" {
		t.Fatalf("invoke %s: the answer %s is not an activation (%v)", name, b, err)
	}
	return &a
}

// Activations returns how many activations of name went through the
// controller, once it has at least atLeast (waiting up to 5 s: a fallback
// step's record is written after its result went on, so the run can end
// first), or what it has after the wait. The records of direct steps
// (annotated "wsk-route") do not count. A failed listing fails t at once.
func (e *Env) Activations(t *testing.T, name string, atLeast int) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		list, _, err := e.Client.Activations.List(&whisk.ActivationListOptions{Name: name, Limit: 200, Docs: true})
		if err != nil {
			t.Fatalf("listing the activations of %s: %v", name, err)
		}
		n := 0
		for _, a := range list {
			if a.Annotations.GetValue("wsk-route") == nil {
				n++
			}
		}
		if n >= atLeast || time.Now().After(deadline) {
			return n
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ReadJSON decodes the JSON file into v; a failure fails t at once.
func ReadJSON(t *testing.T, file string, v any) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("reading %s: %v", file, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decoding %s: %v", file, err)
	}
}

// WaitIdle waits (up to 10 s) until no container of the sandbox is busy
// (see sandbox.Sandbox.WaitIdle): call it between a cold run and a warm
// one whose activations the test counts.
func (e *Env) WaitIdle(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.Sandbox.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
}
