package cli_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/cmd/wsk-route/cli"
	"github.com/wsk-route/wsk-route/composer/parse"
	"github.com/wsk-route/wsk-route/internal/spec"
)

// offline points the CLI at no API host at all: no wskprops file.
func offline(t *testing.T) {
	t.Helper()
	t.Setenv("HOME", t.TempDir())
	t.Setenv("WSK_CONFIG_FILE", "")
	t.Setenv("CONSUL_HTTP_ADDR", "")
}

// TestMessages checks what the CLI says when something is wrong.
func TestMessages(t *testing.T) {
	t.Run("the sandbox is not running", func(t *testing.T) {
		props := filepath.Join(t.TempDir(), "wskprops")
		host := fmt.Sprintf("http://127.0.0.1:%d", freePort(t)) // nothing listens there
		os.WriteFile(props, []byte("APIHOST="+host+"\nAUTH=a:b\n"), 0o600)
		t.Setenv("WSK_CONFIG_FILE", props)
		t.Setenv("CONSUL_HTTP_ADDR", "")
		for _, args := range [][]string{{"list"}, {"invoke", "x"}, {"compose", writeFile(t, "f.yaml", "name: f\nsteps: [a]\n")}} {
			code, _, errs := run(t, args...)
			want := "wsk-route: finding the key's namespace: nothing answers at " + host + " (connection refused): start the sandbox with 'wsk-route dev --write-wskprops'"
			if code != 1 || !strings.HasPrefix(errs, want) || !strings.Contains(errs, "APIHOST in "+props) {
				t.Errorf("%v: exit %d, stderr %q; want 1 and %q, naming %s", args, code, errs, want, props)
			}
		}
		// A dry run goes on offline, and says why it could not check.
		_, errs := mustRun(t, "compose", writeFile(t, "f.yaml", "name: f\nsteps: [a]\n"), "--dry-run")
		if !strings.Contains(errs, "could not check 1 action (no API: finding the key's namespace: nothing answers at "+host+" (connection refused)") {
			t.Errorf("a dry run with the sandbox stopped:\n%s", errs)
		}
	})

	t.Run("WSK_CONFIG_FILE names a missing file", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "no-such-wskprops")
		t.Setenv("WSK_CONFIG_FILE", missing)
		t.Setenv("HOME", t.TempDir())
		code, _, errs := run(t, "list")
		want := "no API host: set --apihost or APIHOST in " + missing + " (named by WSK_CONFIG_FILE, which does not exist)"
		if code != 1 || !strings.Contains(errs, want) || strings.Contains(errs, ".wskprops") {
			t.Errorf("exit %d, stderr %q; want 1 and %q", code, errs, want)
		}
	})

	t.Run("a missing name is reported once", func(t *testing.T) {
		offline(t)
		code, _, errs := run(t, "compose", writeFile(t, "noname.yaml", "steps: [a]\n"), "--dry-run")
		if code != 1 || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, `noname.yaml:1:1: missing field "name"`) {
			t.Errorf("exit %d, stderr %q; want 1 and the missing name once", code, errs)
		}
	})

	t.Run("plurals", func(t *testing.T) {
		offline(t)
		for n, want := range map[int]string{1: "compiled one.yaml: 1 step\n", 2: "compiled one.yaml: 2 steps\n"} {
			steps := strings.Repeat("  - a\n", n)
			_, errs := mustRun(t, "compose", writeFile(t, "one.yaml", "name: one\nsteps:\n"+steps), "--dry-run")
			if !strings.Contains(errs, want) {
				t.Errorf("%d steps: stderr %q lacks %q", n, errs, want)
			}
		}
	})

	t.Run("conditions print as written", func(t *testing.T) {
		offline(t)
		flow := writeFile(t, "cond.yaml", "name: cond\nsteps:\n  - a\n  - if: {cond: {path: n, op: \">\", value: 3}, then: b, else: c}\n")
		out, _ := mustRun(t, "compose", flow, "--dry-run")
		if !strings.Contains(out, `when {"path":"n","op":">","value":3}: `) || strings.Contains(out, `\u00`) {
			t.Errorf("the plan escapes the condition:\n%s", out)
		}
		out, _ = mustRun(t, "compose", flow, "--dry-run", "-o", "json")
		if !strings.Contains(out, `"op": ">"`) || strings.Contains(out, `\u00`) {
			t.Errorf("-o json escapes the condition:\n%s", out)
		}
		if _, err := spec.Parse([]byte(out)); err != nil {
			t.Errorf("-o json is no spec: %v", err)
		}
	})

	t.Run("--version", func(t *testing.T) {
		code, out, errs := run(t, "--version")
		if code != 0 || out != "wsk-route "+cli.Version()+"\n" {
			t.Errorf("--version: exit %d, stdout %q, stderr %q; want %q", code, out, errs, "wsk-route "+cli.Version())
		}
		if !strings.HasSuffix(cli.Version(), "("+runtime.Version()+")") {
			t.Errorf("Version() = %q does not end with the Go version %s", cli.Version(), runtime.Version())
		}
	})
}

// TestComposeDryRunOffline: without any API host, a dry run checks the
// workflow, prints its plan and says which actions it could not check;
// the declared ones it reads from disk.
func TestComposeDryRunOffline(t *testing.T) {
	offline(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "b.py"), []byte("def main(a):\n    return a\n"), 0o644)
	flow := filepath.Join(dir, "off.yaml")
	os.WriteFile(flow, []byte("name: off\nsteps: [a, b, pkg/c, a]\nactions:\n  b: b.py\n"), 0o644)
	out, errs := mustRun(t, "compose", flow, "--dry-run")
	for _, w := range []string{
		"would deploy action /_/b (python:default, file b.py (",
		"could not check 2 actions (no API: no API host: set --apihost or APIHOST in ",
		"): /_/a, /_/pkg/c\n",
	} {
		if !strings.Contains(errs, w) {
			t.Errorf("stderr lacks %q:\n%s", w, errs)
		}
	}
	for _, w := range []string{"workflow off in your namespace (_) (dry run: nothing deployed)", "/_/a", "/_/b", "/_/pkg/c"} {
		if !strings.Contains(out, w) {
			t.Errorf("the plan lacks %q:\n%s", w, out)
		}
	}
	t.Run("with --namespace", func(t *testing.T) {
		out, _ := mustRun(t, "compose", flow, "--dry-run", "--namespace", "team")
		if !strings.Contains(out, "workflow off in namespace team") || !strings.Contains(out, "/team/a") {
			t.Errorf("the plan:\n%s", out)
		}
	})
	t.Run("a problem is still one", func(t *testing.T) {
		code, _, errs := run(t, "compose", writeFile(t, "bad.yaml", "name: bad\nsteps: [a, {retry: {do: b, max: 0}}]\n"), "--dry-run")
		if code != 1 || !strings.Contains(errs, "retry max 0 is below 1") {
			t.Errorf("exit %d, stderr %q", code, errs)
		}
	})
}

// TestDocWorkflowsDryRun previews every workflow of docs/workflows.md
// offline, as written: each compiles or is refused only for what the
// route plane cannot run yet.
func TestDocWorkflowsDryRun(t *testing.T) {
	offline(t)
	doc, err := os.ReadFile("../../../docs/workflows.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(doc, -1)
	if len(blocks) < 3 {
		t.Fatalf("%d yaml blocks in docs/workflows.md, want at least 3", len(blocks))
	}
	dir := t.TempDir()
	for i, b := range blocks {
		t.Run(fmt.Sprint("example ", i+1), func(t *testing.T) {
			flow := filepath.Join(dir, fmt.Sprintf("example%d.yaml", i+1))
			if err := os.WriteFile(flow, b[1], 0o644); err != nil {
				t.Fatal(err)
			}
			// Declared code is not in the doc: give each a file.
			w, err := parse.YAML(flow, b[1])
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range w.Actions {
				p := filepath.Join(dir, a.Code)
				os.MkdirAll(filepath.Dir(p), 0o755)
				os.WriteFile(p, []byte("def main(a):\n    return a\n"), 0o644)
			}
			out, errs := mustRun(t, "compose", flow, "--dry-run", "-o", "json")
			if _, err := spec.Parse([]byte(out)); err != nil {
				t.Errorf("not a spec: %v\n%s", err, out)
			}
			if !strings.Contains(errs, "could not check") && !strings.Contains(errs, "would deploy") {
				t.Errorf("stderr %q says nothing about the actions", errs)
			}
		})
	}
}
