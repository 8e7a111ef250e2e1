package cli_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"

	"github.com/wsk-route/wsk-route/cmd/wsk-route/cli"
	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox"
	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/internal/spec"
)

// sb is the in-process sandbox the workflow commands run against.
var sb *sandbox.Sandbox

// startSandbox starts sb; stop stops it and checks that no proxy process
// is left.
func startSandbox() (stop func() error, err error) {
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *sandbox.Sandbox, 1)
	done := make(chan error, 1)
	go func() {
		done <- sandbox.Run(ctx, sandbox.Config{
			Listen: "127.0.0.1:0", ProxyCommand: []string{bins.proxy},
			Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		}, func(s *sandbox.Sandbox) { ready <- s })
	}()
	select {
	case sb = <-ready:
	case err := <-done:
		cancel()
		return nil, fmt.Errorf("the sandbox did not start: %w", err)
	case <-time.After(60 * time.Second):
		cancel()
		return nil, fmt.Errorf("the sandbox did not start within 60 s")
	}
	return func() error {
		cancel()
		if err := <-done; err != nil {
			return fmt.Errorf("sandbox.Run: %w", err)
		}
		if out, _ := exec.Command("pgrep", "-f", bins.proxy).Output(); len(out) > 0 {
			return fmt.Errorf("proxy processes left after the sandbox stopped: %s", out)
		}
		return nil
	}, nil
}

// useSandbox points the CLI at sb through a temporary wskprops file in
// WSK_CONFIG_FILE, as `wsk-route dev --write-wskprops` writes it.
func useSandbox(t *testing.T) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "wskprops")
	props := fmt.Sprintf("APIHOST=%s\nAUTH=%s\nNAMESPACE=%s\n", sb.URL, sb.Auth, sb.Namespace)
	if err := os.WriteFile(path, []byte(props), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("WSK_CONFIG_FILE", path)
	t.Setenv("HOME", t.TempDir())
	t.Setenv("CONSUL_HTTP_ADDR", "")
}

// wskClient is an openwhisk-client-go client of sb.
func wskClient(t *testing.T) *whisk.Client {
	t.Helper()
	c, err := whisk.NewClient(&http.Client{Timeout: 60 * time.Second}, &whisk.Config{Host: sb.URL, AuthToken: sb.Auth, Namespace: "_", Version: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// createActs creates the test action under each name, as a native binary.
func createActs(t *testing.T, names ...string) {
	t.Helper()
	c := wskClient(t)
	b, err := os.ReadFile(bins.act)
	if err != nil {
		t.Fatal(err)
	}
	code, bin := base64.StdEncoding.EncodeToString(b), true
	for _, n := range names {
		a := &whisk.Action{Name: n, Namespace: "_", Exec: &whisk.Exec{Kind: "blackbox", Image: "openwhisk/actionloop-base", Code: &code, Binary: &bin}}
		if _, _, err := c.Actions.Insert(a, true); err != nil {
			t.Fatalf("creating %s: %v", n, err)
		}
		t.Cleanup(func() { c.Actions.Delete(n) })
	}
}

// activationsOf counts the activations of action name that went through
// the controller, waiting up to a few seconds for at least one: a
// fallback step's record is written after its result went on, so the run
// can end first. The records of direct steps (annotated "wsk-route") do
// not count.
func activationsOf(t *testing.T, name string) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		list, _, err := wskClient(t).Activations.List(&whisk.ActivationListOptions{Name: name, Limit: 200, Docs: true})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, a := range list {
			if a.Annotations.GetValue("wsk-route") == nil {
				n++
			}
		}
		if n > 0 || time.Now().After(deadline) {
			return n
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// writeFile writes a workflow file into a temporary directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// mustRun runs the CLI and fails the test unless it exits 0.
func mustRun(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	code, out, errs := run(t, args...)
	if code != 0 {
		t.Fatalf("wsk-route %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errs)
	}
	return out, errs
}

func TestConfigResolution(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfgFile := write("custom/props", "APIHOST=http://cfg.example:3233\nAUTH=cfg:key\nNAMESPACE=cfgns\nAPIVERSION=v2\n")
	write("home/.wskprops", "APIHOST=home.example\nAUTH = home:key\n")
	noHost := write("nohost", "AUTH=a:b\n")
	noAuth := write("noauth", "APIHOST=h.example\n")
	home := filepath.Join(dir, "home")

	type want struct{ host, auth, ns, version, consul, err string }
	tests := []struct {
		name                    string
		env                     map[string]string
		apiHost, auth, ns, cons string
		want                    want
	}{
		{"home wskprops, host without scheme is https", map[string]string{"HOME": home},
			"", "", "", "", want{host: "https://home.example", auth: "home:key", ns: "_", version: "v1"}},
		{"WSK_CONFIG_FILE wins over home", map[string]string{"HOME": home, "WSK_CONFIG_FILE": cfgFile},
			"", "", "", "", want{host: "http://cfg.example:3233", auth: "cfg:key", ns: "cfgns", version: "v2"}},
		{"flags win over the file", map[string]string{"HOME": home, "WSK_CONFIG_FILE": cfgFile},
			"https://flag.example/", "flag:key", "flagns", "", want{host: "https://flag.example", auth: "flag:key", ns: "flagns", version: "v2"}},
		{"flag host without scheme", map[string]string{"HOME": home},
			"127.0.0.1:3233", "", "", "", want{host: "https://127.0.0.1:3233", auth: "home:key", ns: "_", version: "v1"}},
		{"consul from the environment", map[string]string{"HOME": home, "CONSUL_HTTP_ADDR": "10.0.0.1:8500"},
			"", "", "", "", want{host: "https://home.example", auth: "home:key", ns: "_", version: "v1", consul: "10.0.0.1:8500"}},
		{"consul flag wins", map[string]string{"HOME": home, "CONSUL_HTTP_ADDR": "10.0.0.1:8500"},
			"", "", "", "c:8500", want{host: "https://home.example", auth: "home:key", ns: "_", version: "v1", consul: "c:8500"}},
		{"no file at all", map[string]string{"HOME": filepath.Join(dir, "nowhere")},
			"", "", "", "", want{ns: "_", version: "v1", err: "no API host: set --apihost or APIHOST in"}},
		{"missing WSK_CONFIG_FILE, flags only", map[string]string{"HOME": home, "WSK_CONFIG_FILE": filepath.Join(dir, "missing")},
			"h", "a:b", "", "", want{host: "https://h", auth: "a:b", ns: "_", version: "v1"}},
		{"file without APIHOST", map[string]string{"WSK_CONFIG_FILE": noHost},
			"", "", "", "", want{auth: "a:b", ns: "_", version: "v1", err: "no API host: set --apihost or APIHOST in " + noHost + " (wsk property set --apihost ...)"}},
		{"file without AUTH", map[string]string{"WSK_CONFIG_FILE": noAuth},
			"", "", "", "", want{host: "https://h.example", ns: "_", version: "v1", err: "no auth key: set --auth or AUTH in " + noAuth}},
		{"auth without colon", map[string]string{"WSK_CONFIG_FILE": noAuth},
			"", "nocolon", "", "", want{host: "https://h.example", auth: "nocolon", ns: "_", version: "v1", err: "is not uuid:key"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(k string) string { return tc.env[k] }
			c, err := cli.ResolveConfig(tc.apiHost, tc.auth, tc.ns, tc.cons, getenv)
			got := want{host: c.APIHost, auth: c.Auth, ns: c.Namespace, version: c.APIVersion, consul: c.Consul}
			if err != nil {
				got.err = err.Error()
			}
			if tc.want.err != "" && strings.Contains(got.err, tc.want.err) {
				got.err = tc.want.err
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}

	t.Run("a command without an API host", func(t *testing.T) {
		t.Setenv("WSK_CONFIG_FILE", noHost)
		code, _, errs := run(t, "list")
		if code != 1 || !strings.Contains(errs, "wsk-route: no API host: set --apihost or APIHOST") {
			t.Errorf("list without an API host: exit %d, stderr %q; want 1 and the missing host named", code, errs)
		}
		if n := strings.Count(errs, "no API host"); n != 1 {
			t.Errorf("the error is printed %d times, want once: %q", n, errs)
		}
	})
}

func TestComposeDryRun(t *testing.T) {
	useSandbox(t)
	createActs(t, "dr-upper", "dr-reverse")
	flow := writeFile(t, "flow.yaml", "name: drflow\nsteps:\n  - dr-upper\n  - dr-reverse\n")

	out, errs := mustRun(t, "compose", flow, "--dry-run")
	if !strings.Contains(errs, "compiled flow.yaml: 2 steps") {
		t.Errorf("stderr %q lacks the progress line", errs)
	}
	for _, w := range []string{"drflow", "STEP", "ACTION", "NEXT", "/guest/dr-upper", "/guest/dr-reverse", "(result)"} {
		if !strings.Contains(out, w) {
			t.Errorf("the plan lacks %q:\n%s", w, out)
		}
	}
	out, _ = mustRun(t, "compose", flow, "--dry-run", "-o", "json")
	sp, err := spec.Parse([]byte(out))
	if err != nil {
		t.Fatalf("-o json is not a spec: %v\n%s", err, out)
	}
	if sp.Workflow != "drflow" || sp.Namespace != "guest" || len(sp.Steps) != 2 || len(sp.Start) != 1 {
		t.Errorf("spec %+v, want drflow in guest with 2 steps", sp)
	}
	if next := sp.Steps[sp.Start[0]].Next; sp.Steps[sp.Start[0]].Action != "/guest/dr-upper" || len(next) != 1 || sp.Steps[next[0]].Action != "/guest/dr-reverse" {
		t.Errorf("spec steps %+v, want dr-upper then dr-reverse", sp.Steps)
	}
	// Nothing was stored or created.
	if code, _, _ := run(t, "get", "drflow"); code != 1 {
		t.Errorf("get after a dry run: exit %d, want 1 (nothing deployed)", code)
	}
	if a, _, _ := wskClient(t).Actions.Get("drflow", false); a != nil {
		t.Errorf("a dry run created the entry action: %+v", a)
	}

	t.Run("unknown action", func(t *testing.T) {
		bad := writeFile(t, "bad.yaml", "name: bad\nsteps:\n  - dr-upper\n  - no-such-action\n")
		code, _, errs := run(t, "compose", bad, "--dry-run")
		if code != 1 || !strings.Contains(errs, "bad.yaml:4:") || !strings.Contains(errs, "no-such-action") {
			t.Errorf("exit %d, stderr %q; want 1 with bad.yaml:4 and the action named", code, errs)
		}
	})
	t.Run("syntax error", func(t *testing.T) {
		bad := writeFile(t, "syntax.yaml", "name: bad\nsteps:\n  - dr-upper\n  - {bogus: 1}\n")
		code, _, errs := run(t, "compose", bad, "--dry-run")
		if code != 1 || !strings.Contains(errs, "syntax.yaml:4") {
			t.Errorf("exit %d, stderr %q; want 1 with syntax.yaml:4", code, errs)
		}
	})
}

// TestComposeInvoke deploys a two-step workflow with compose and runs it
// with invoke -r: cold (every step through the OpenWhisk API), then warm
// (direct hops: no new activation of the steps), then manages it with
// get, list, routes and delete.
func TestComposeInvoke(t *testing.T) {
	useSandbox(t)
	createActs(t, "cv-upper", "cv-reverse")
	flow := writeFile(t, "flow.yaml", "name: cvflow\nsteps:\n  - cv-upper\n  - cv-reverse\n")
	t.Cleanup(func() { run(t, "delete", "cvflow") })

	out, errs := mustRun(t, "compose", flow)
	for _, w := range []string{"compiled flow.yaml: 2 steps", "stored spec version ", "created entry action /guest/cvflow"} {
		if !strings.Contains(errs, w) {
			t.Errorf("compose's stderr %q lacks %q", errs, w)
		}
	}
	if !strings.Contains(out, "cvflow") {
		t.Errorf("compose's stdout %q does not name the workflow", out)
	}
	entry, _, err := wskClient(t).Actions.Get("cvflow", true)
	if err != nil {
		t.Fatalf("the entry action: %v", err)
	}
	if entry.Exec == nil || entry.Exec.Kind != "blackbox" || entry.Exec.Image != "openwhisk/actionloop-base" || entry.Exec.Code == nil || !strings.Contains(*entry.Exec.Code, `"workflow":"cvflow"`) {
		t.Errorf("entry exec %+v, want a blackbox whose code is the entry manifest", entry.Exec)
	}
	if m, _ := entry.Annotations.GetValue("wsk-route").(map[string]any); m["workflow"] != "cvflow" || fmt.Sprint(m["steps"]) != "2" || m["version"] == nil {
		t.Errorf("entry annotation wsk-route %v, want workflow, version and 2 steps", entry.Annotations.GetValue("wsk-route"))
	}

	check := func(what string) {
		t.Helper()
		out, errs := mustRun(t, "invoke", "cvflow", "-p", "text", "hello world", "-r")
		var r map[string]any
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%s: invoke -r printed %q (%v), stderr %q", what, out, err, errs)
		}
		if r["text"] != "DLROW OLLEH" {
			t.Errorf("%s: result %v, want text DLROW OLLEH", what, r)
		}
	}
	check("cold")
	for _, s := range []string{"cv-upper", "cv-reverse"} {
		if n := activationsOf(t, s); n != 1 {
			t.Errorf("cold: %s has %d activations, want 1 (its fallback)", s, n)
		}
	}
	idleCtx, idleCancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer idleCancel()
	if err := sb.WaitIdle(idleCtx); err != nil {
		t.Fatal(err)
	}
	check("warm")
	for _, s := range []string{"cv-upper", "cv-reverse"} {
		if n := activationsOf(t, s); n != 1 {
			t.Errorf("warm: %s has %d activations, want still 1: warm hops are direct", s, n)
		}
	}

	t.Run("invoke --watch and the activation", func(t *testing.T) {
		out, errs := mustRun(t, "invoke", "cvflow", "-p", "text", `"quoted"`, "--watch")
		if !strings.Contains(errs, "wsk-route: step ") || !strings.Contains(errs, "wsk-route: workflow cvflow: 2 step(s)") {
			t.Errorf("--watch stderr %q lacks the step lines", errs)
		}
		_, js, _ := strings.Cut(out, "\n")
		var act whisk.Activation
		if err := json.Unmarshal([]byte(js), &act); err != nil || act.ActivationID == "" || !act.Response.Success {
			t.Fatalf("invoke printed %q (%v), want ok: and the activation", out, err)
		}
		if m, _ := act.Response.Result.(map[string]any); m["text"] != "DETOUQ" {
			t.Errorf("result %v, want the JSON string \"quoted\" upper-cased and reversed", act.Response.Result)
		}
	})

	t.Run("invoke -P and -b=false", func(t *testing.T) {
		pf := writeFile(t, "params.json", `{"text": "from file", "extra": 1}`)
		out, _ := mustRun(t, "invoke", "cvflow", "-P", pf, "-p", "text", "override", "-r")
		var r map[string]any
		if err := json.Unmarshal([]byte(out), &r); err != nil || r["text"] != "EDIRREVO" || fmt.Sprint(r["extra"]) != "1" {
			t.Errorf("result %q (%v), want -p to override -P and the other fields kept", out, err)
		}
		out, _ = mustRun(t, "invoke", "cvflow", "-p", "text", "x", "-b=false", "-o", "json")
		var id struct {
			ActivationID string `json:"activationId"`
		}
		if err := json.Unmarshal([]byte(out), &id); err != nil || id.ActivationID == "" {
			t.Errorf("a non-blocking invoke printed %q, want the activation id", out)
		}
	})

	t.Run("get", func(t *testing.T) {
		out, _ := mustRun(t, "get", "cvflow")
		for _, w := range []string{"workflow:   cvflow", "/guest/cvflow", "/guest/cv-upper", "/guest/cv-reverse", "version:"} {
			if !strings.Contains(out, w) {
				t.Errorf("get lacks %q:\n%s", w, out)
			}
		}
		out, _ = mustRun(t, "get", "cvflow", "-o", "json")
		var g struct {
			Workflow string          `json:"workflow"`
			Version  uint64          `json:"version"`
			Spec     json.RawMessage `json:"spec"`
			Entry    struct {
				Name    string `json:"name"`
				IsEntry bool   `json:"is_entry"`
			} `json:"entry"`
		}
		if err := json.Unmarshal([]byte(out), &g); err != nil || g.Workflow != "cvflow" || g.Version == 0 || !g.Entry.IsEntry || g.Entry.Name != "/guest/cvflow" {
			t.Errorf("get -o json: %q (%v)", out, err)
		}
	})

	t.Run("list", func(t *testing.T) {
		out, _ := mustRun(t, "list", "-o", "json")
		var rows []struct {
			Workflow string `json:"workflow"`
			Steps    int    `json:"steps"`
			Entry    bool   `json:"entry"`
		}
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			t.Fatalf("list -o json: %q (%v)", out, err)
		}
		found := false
		for _, r := range rows {
			if r.Workflow == "cvflow" {
				found = r.Steps == 2 && r.Entry
			}
		}
		if !found {
			t.Errorf("list %+v lacks cvflow with 2 steps and its entry", rows)
		}
		if out, _ := mustRun(t, "list"); !strings.Contains(out, "cvflow") || !strings.Contains(out, "yes") {
			t.Errorf("list:\n%s", out)
		}
	})

	t.Run("routes", func(t *testing.T) {
		out, _ := mustRun(t, "routes", "-o", "json")
		var ins []routetable.Instance
		if err := json.Unmarshal([]byte(out), &ins); err != nil {
			t.Fatalf("routes -o json: %q (%v)", out, err)
		}
		actions := map[string]bool{}
		for _, in := range ins {
			actions[in.Action] = true
			if in.ID == "" || in.Host == "" || (in.Unix == "" && in.TCP == "" && in.Relay == "") {
				t.Errorf("instance %+v lacks its id, host or endpoints", in)
			}
		}
		if !actions["/guest/cv-upper"] || !actions["/guest/cv-reverse"] {
			t.Errorf("routes %v lack the warm steps", actions)
		}
		out, _ = mustRun(t, "routes", "cv-upper")
		if !strings.Contains(out, "/guest/cv-upper") || strings.Contains(out, "/guest/cv-reverse") || !strings.Contains(out, "INSTANCE") {
			t.Errorf("routes cv-upper:\n%s", out)
		}
	})

	t.Run("compose again updates", func(t *testing.T) {
		_, errs := mustRun(t, "compose", flow)
		if !strings.Contains(errs, "updated entry action /guest/cvflow") {
			t.Errorf("second compose: %q", errs)
		}
	})

	t.Run("delete", func(t *testing.T) {
		_, errs := mustRun(t, "delete", "cvflow")
		if !strings.Contains(errs, "deleted entry action /guest/cvflow") || !strings.Contains(errs, "deleted the spec of cvflow") {
			t.Errorf("delete: %q", errs)
		}
		if a, _, _ := wskClient(t).Actions.Get("cvflow", false); a != nil {
			t.Errorf("the entry action is still there")
		}
		code, _, errs := run(t, "delete", "cvflow")
		if code != 1 || !strings.Contains(errs, "no workflow cvflow") {
			t.Errorf("deleting twice: exit %d, stderr %q; want 1 naming the workflow", code, errs)
		}
	})
}

func TestInvokeFailingWorkflow(t *testing.T) {
	useSandbox(t)
	createActs(t, "ff-check", "ff-upper")
	flow := writeFile(t, "fail.yaml", "name: ffflow\nsteps:\n  - ff-check\n  - ff-upper\n")
	t.Cleanup(func() { run(t, "delete", "ffflow") })
	mustRun(t, "compose", flow)

	code, out, errs := run(t, "invoke", "ffflow", "-p", "mode", "fail", "-r")
	if code != 1 {
		t.Fatalf("a failing workflow: exit %d, want 1 (stdout %q, stderr %q)", code, out, errs)
	}
	if !strings.Contains(errs, "wsk-route: ") || !strings.Contains(errs, "ff-check") || !strings.Contains(errs, "failed on purpose") {
		t.Errorf("stderr %q does not name the failed step and its error", errs)
	}
	if strings.Count(errs, "failed on purpose") != 1 {
		t.Errorf("the error is printed more than once: %q", errs)
	}
	if !strings.Contains(out, "error") {
		t.Errorf("stdout %q lacks the error result", out)
	}
	// Without -r: the activation, headed "failed:", never "ok:".
	code, out, errs = run(t, "invoke", "ffflow", "-p", "mode", "fail")
	if code != 1 || !strings.HasPrefix(out, "failed: invoked /guest/ffflow with id ") || strings.Contains(out, "ok:") || !strings.Contains(errs, "failed on purpose") {
		t.Errorf("a failing workflow without -r: exit %d, stdout %q, stderr %q; want 1, \"failed: invoked\" and the error", code, out, errs)
	}
	// The same input without mode=fail succeeds.
	if out, _ := mustRun(t, "invoke", "ffflow", "-p", "text", "ok", "-r"); !strings.Contains(out, `"OK"`) {
		t.Errorf("the workflow without the failure: %q", out)
	}
}

// TestComposeLoop deploys a while loop and runs it cold and warm through
// the sandbox: the body runs until the condition no longer holds, each
// iteration a step of its own, and the warm run goes direct.
func TestComposeLoop(t *testing.T) {
	useSandbox(t)
	createActs(t, "lp-count", "lp-upper")
	flow := writeFile(t, "loop.yaml", "name: lpflow\nsteps:\n  - while:\n      cond: {path: n, op: lt, value: 3}\n      do: lp-count\n  - lp-upper\n")
	t.Cleanup(func() { run(t, "delete", "lpflow") })
	mustRun(t, "compose", flow)
	activations := map[string]int{}
	for _, round := range []string{"cold", "warm"} {
		out, errs := mustRun(t, "invoke", "lpflow", "-p", "n", "0", "-p", "text", "loop", "-r")
		var r map[string]any
		if err := json.Unmarshal([]byte(out), &r); err != nil || r["n"] != float64(3) || r["text"] != "LOOP" {
			t.Fatalf("%s: invoke -r printed %q (%v), stderr %q; want n 3 and text LOOP", round, out, err, errs)
		}
		idleCtx, idleCancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := sb.WaitIdle(idleCtx)
		idleCancel()
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"lp-count", "lp-upper"} {
			n := activationsOf(t, s)
			if round == "warm" && n != activations[s] {
				t.Errorf("warm: %s has %d activations, %d after the cold run: warm iterations are direct", s, n, activations[s])
			}
			activations[s] = n
		}
	}
	// The body's iterations are steps of their own: three count steps.
	_, errs := mustRun(t, "invoke", "lpflow", "-p", "n", "0", "--watch")
	if got := strings.Count(errs, "wsk-route: step s1.do-lp-count"); got != 3 {
		t.Errorf("--watch shows %d lp-count steps, want 3:\n%s", got, errs)
	}
}

// storelessAPI serves an API host that answers 404 on the wsk-route
// routes (and on every action), as a stock OpenWhisk does, but knows the
// key's namespace, guest.
func storelessAPI(t *testing.T) string {
	t.Helper()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/namespaces" {
			w.Write([]byte(`["guest"]`))
			return
		}
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"error":"The requested resource does not exist.","code":"x"}`))
	})}
	ln := listen(t)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

func TestNoWorkflowStore(t *testing.T) {
	host := storelessAPI(t)
	t.Setenv("HOME", t.TempDir())
	t.Setenv("WSK_CONFIG_FILE", "")
	t.Setenv("CONSUL_HTTP_ADDR", "")
	for _, args := range [][]string{{"list"}, {"routes"}, {"get", "x"}, {"delete", "x"}} {
		code, _, errs := run(t, append(args, "--apihost", host, "-u", "a:b")...)
		if code != 1 || !strings.Contains(errs, "this OpenWhisk has no wsk-route workflow store: pass --consul ADDR") {
			t.Errorf("%v: exit %d, stderr %q", args, code, errs)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	useSandbox(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"invoke without a name", []string{"invoke"}, "accepts 1 arg"},
		{"compose two files", []string{"compose", "a", "b"}, "accepts 1 arg"},
		{"list with an argument", []string{"list", "x"}, "unknown command"},
		{"unknown flag", []string{"list", "--bogus"}, "bogus"},
		{"bad output", []string{"list", "-o", "yaml"}, "--output"},
		{"param without a value", []string{"invoke", "x", "-p", "key"}, "KEY and a VALUE"},
		{"unknown command", []string{"frobnicate"}, "frobnicate"},
		{"dev unknown flag", []string{"dev", "--no-such-flag"}, "no-such-flag"},
		{"dev argument", []string{"dev", "extra"}, "extra"},
		{"routes two actions", []string{"routes", "a", "b"}, "accepts at most 1 arg"},
		{"bad blocking value", []string{"invoke", "x", "-b=maybe"}, "maybe"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := run(t, tc.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2 (stderr %q)", code, errs)
			}
			if !strings.Contains(errs, tc.want) || !strings.HasPrefix(errs, "wsk-route: ") {
				t.Errorf("stderr %q: want \"wsk-route: \" and %q", errs, tc.want)
			}
		})
	}
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}
