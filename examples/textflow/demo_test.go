package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/examples/exampletest"
)

// TestDemoOutput runs this command as `make demo` does, deploy and then
// compare, against a sandbox: results print as JSON (not Go maps), and
// the comparison gives the per-step figure and says why the benchmark
// page's differs.
func TestDemoOutput(t *testing.T) {
	env := exampletest.Start(t, 2*time.Minute)
	dir := t.TempDir()
	for name, pkg := range map[string]string{"textflow": ".", "upper": "./upper"} {
		b := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg)
		b.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := b.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	props := filepath.Join(dir, "wskprops")
	if err := os.WriteFile(props, []byte(fmt.Sprintf("APIHOST=%s\nAUTH=%s\n", env.Sandbox.URL, env.Sandbox.Auth)), 0o600); err != nil {
		t.Fatal(err)
	}
	demo := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(filepath.Join(dir, "textflow"), append([]string{"-wskprops", props}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("textflow %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}

	out := demo("-upper", filepath.Join(dir, "upper"), "-text", "json please")
	const result = `200 OK in `
	if n := strings.Count(out, result); n != 2 {
		t.Errorf("deploy: %d lines %q, want 2 (cold, warm):\n%s", n, result, out)
	}
	if !strings.Contains(out, `: {"message":"JSON PLEASE! (2 words)"}`) || strings.Contains(out, "map[") {
		t.Errorf("deploy: the sequence's result is not printed as JSON:\n%s", out)
	}

	env.Compose(t, "textflow.yaml")
	out = demo("-mode", "compare", "-n", "3")
	for _, want := range []string{"ratio of the whole calls: ", "textflow-upper alone (the fixed cost of a call", "Why docs/benchmarks/sandbox.md quotes 4.6-5.1x per step"} {
		if !strings.Contains(out, want) {
			t.Errorf("compare: no %q in:\n%s", want, out)
		}
	}
}
