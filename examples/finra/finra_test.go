package finra_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"

	"github.com/wsk-route/wsk-route/cmd/wsk-route/cli"
	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox"
)

// startSandbox runs a sandbox whose containers run a freshly built proxy.
func startSandbox(t *testing.T) *sandbox.Sandbox {
	t.Helper()
	dir := t.TempDir()
	proxy := filepath.Join(dir, "proxy")
	build := exec.Command("go", "build", "-o", proxy, "../../cmd/proxy")
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
	select {
	case sb := <-ready:
		return sb
	case err := <-done:
		t.Fatalf("the sandbox did not start: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("the sandbox did not start within a minute")
	}
	return nil
}

// goKind is the Go kind of this toolchain, as the sandbox names it.
func goKind() string {
	v := strings.TrimPrefix(runtime.Version(), "go")
	parts := strings.SplitN(v, ".", 3)
	return "go:" + parts[0] + "." + parts[1]
}

func TestFINRA(t *testing.T) {
	sb := startSandbox(t)
	c, err := whisk.NewClient(&http.Client{Timeout: 2 * time.Minute}, &whisk.Config{Host: sb.URL, AuthToken: sb.Auth, Namespace: "_", Version: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []struct{ name, file, kind string }{
		{"finra-marketdata", "marketdata.py", "python:3"},
		{"finra-check-price", "check_price.go", goKind()},
		{"finra-check-size", "check_size.py", "python:3"},
		{"finra-check-restricted", "check_restricted.go", goKind()},
	} {
		src, err := os.ReadFile(filepath.Join("_actions", a.file))
		if err != nil {
			t.Fatal(err)
		}
		code := string(src)
		exec := &whisk.Exec{Kind: a.kind, Code: &code}
		if strings.HasPrefix(a.kind, "go:") {
			exec.Main = "Main"
		}
		if _, _, err := c.Actions.Insert(&whisk.Action{Name: a.name, Namespace: "_", Exec: exec}, true); err != nil {
			t.Fatalf("creating %s: %v", a.name, err)
		}
	}
	wskprops := filepath.Join(t.TempDir(), "wskprops")
	if err := os.WriteFile(wskprops, []byte("APIHOST="+sb.URL+"\nAUTH="+sb.Auth+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("WSK_CONFIG_FILE", wskprops)
	var out, errOut bytes.Buffer
	if code := cli.Run([]string{"compose", "finra.yaml"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("wsk-route compose finra.yaml: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	trade, err := os.ReadFile("trade.json")
	if err != nil {
		t.Fatal(err)
	}
	var input map[string]any
	if err := json.Unmarshal(trade, &input); err != nil {
		t.Fatal(err)
	}
	type verdict struct {
		Rule   string `json:"rule"`
		OK     bool   `json:"ok"`
		Detail string `json:"detail"`
	}
	run := func(what string, input map[string]any) []verdict {
		t.Helper()
		start := time.Now()
		res, resp, err := c.Actions.Invoke("finra", input, true, true)
		if err != nil {
			t.Fatalf("%s: invoke finra: %v (%v)", what, err, res)
		}
		b, _ := json.Marshal(res)
		var vs []verdict
		if err := json.Unmarshal(b, &vs); err != nil || len(vs) != 3 {
			t.Fatalf("%s: result %s (%v), want 3 verdicts", what, b, err)
		}
		t.Logf("%s run: %s in %v", what, resp.Status, time.Since(start).Round(time.Millisecond))
		return vs
	}
	for _, round := range []string{"cold", "warm"} {
		vs := run(round, input)
		for i, want := range []string{"price-band", "size", "restricted"} {
			if vs[i].Rule != want || !vs[i].OK {
				t.Errorf("%s: verdict %d = %+v, want %s ok (the trade is clean)", round, i, vs[i], want)
			}
		}
	}
	// A trade that breaks every rule: off-market, too big, restricted.
	bad := map[string]any{"trade": map[string]any{"id": "T-2", "symbol": "XYZ", "side": "sell", "qty": 9e6, "price": 1.0, "trader": "jdoe"}}
	for i, v := range run("bad trade", bad) {
		if v.OK {
			t.Errorf("bad trade: verdict %d = %+v, want a failed check", i, v)
		}
	}
	// The steps of the warm runs went direct: each step has the one
	// activation of its cold start (the fallback), no more.
	for _, s := range []string{"finra-marketdata", "finra-check-price", "finra-check-size", "finra-check-restricted"} {
		list, _, err := c.Activations.List(&whisk.ActivationListOptions{Name: s, Limit: 50})
		if err != nil || len(list) != 1 {
			t.Errorf("%s: %d activations (%v), want 1: warm runs must not go through the controller", s, len(list), err)
		}
	}
}
