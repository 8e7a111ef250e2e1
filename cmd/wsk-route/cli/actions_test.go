package cli_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// actionsDir lays out a workflow whose actions section declares its two
// steps: da-upper, a native action from a folder holding the test action
// as exec (zipped on the way), and da-shout, Python source from a file.
// params is the YAML of da-shout's params.
func actionsDir(t *testing.T, name, params string) (dir, flow string) {
	t.Helper()
	dir = t.TempDir()
	act, err := os.ReadFile(bins.act)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "actions", "upper"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "actions", "upper", "exec"), act, 0o755); err != nil {
		t.Fatal(err)
	}
	py := "def main(args):\n    print('shout: ' + args.get('text', ''))\n    return {'text': args.get('text', '') + '!', 'suffix': args.get('suffix')}\n"
	if err := os.WriteFile(filepath.Join(dir, "actions", "shout.py"), []byte(py), 0o644); err != nil {
		t.Fatal(err)
	}
	flow = filepath.Join(dir, name+".yaml")
	y := fmt.Sprintf(`name: %s
steps:
  - da-upper
  - da-shout
actions:
  da-upper:
    code: actions/upper
    kind: blackbox
    image: openwhisk/actionloop-base
    limits: {timeout: 20s, memory: 128}
    annotations: {team: qa}
  da-shout:
    code: actions/shout.py
    params: %s
`, name, params)
	if err := os.WriteFile(flow, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, flow
}

// TestComposeActions deploys a workflow with its actions through the
// sandbox's REST API: created, then left alone when unchanged, updated
// when changed; the workflow runs; delete keeps the actions unless
// --actions, which keeps those another workflow deployed too.
func TestComposeActions(t *testing.T) {
	useSandbox(t)
	c := wskClient(t)
	t.Cleanup(func() {
		for _, n := range []string{"daflow", "daflow2"} {
			run(t, "delete", n)
		}
		c.Actions.Delete("da-upper")
		c.Actions.Delete("da-shout")
	})
	_, flow := actionsDir(t, "daflow", "{suffix: one, n: 3}")

	_, errs := mustRun(t, "compose", flow, "--dry-run")
	if !strings.Contains(errs, "would create action /guest/da-upper (blackbox, folder actions/upper") || !strings.Contains(errs, "would create action /guest/da-shout") || strings.Contains(errs, "could not check") {
		t.Errorf("a dry run before the first compose:\n%s", errs)
	}
	if a, _, _ := c.Actions.Get("da-upper", false); a != nil {
		t.Fatal("a dry run created da-upper")
	}

	_, errs = mustRun(t, "compose", flow)
	for _, w := range []string{
		"created action /guest/da-upper (blackbox, folder actions/upper (zipped, ",
		"created action /guest/da-shout (python:default, file actions/shout.py (",
		"created entry action /guest/daflow",
	} {
		if !strings.Contains(errs, w) {
			t.Errorf("compose's stderr lacks %q:\n%s", w, errs)
		}
	}
	up, _, err := c.Actions.Get("da-upper", true)
	if err != nil {
		t.Fatalf("da-upper: %v", err)
	}
	if up.Exec == nil || up.Exec.Kind != "blackbox" || up.Exec.Image != "openwhisk/actionloop-base" || up.Exec.Binary == nil || !*up.Exec.Binary {
		t.Errorf("da-upper exec %+v, want a binary blackbox action of openwhisk/actionloop-base", up.Exec)
	}
	if up.Limits == nil || *up.Limits.Timeout != 20000 || *up.Limits.Memory != 128 || *up.Limits.Logsize != 10 {
		t.Errorf("da-upper limits %+v, want timeout 20000, memory 128 and the default logs", up.Limits)
	}
	if up.Annotations.GetValue("team") != "qa" || up.Annotations.GetValue("wsk-route-deployed-by") != "daflow" {
		t.Errorf("da-upper annotations %v, want team qa and wsk-route-deployed-by daflow", up.Annotations)
	}
	sh, _, err := c.Actions.Get("da-shout", true)
	if err != nil {
		t.Fatalf("da-shout: %v", err)
	}
	// The API may store the default kind it resolves python:default to.
	if sh.Exec == nil || !strings.HasPrefix(sh.Exec.Kind, "python:") || sh.Exec.Code == nil || !strings.Contains(*sh.Exec.Code, "def main") {
		t.Errorf("da-shout exec %+v, want the Python source", sh.Exec)
	}
	if sh.Parameters.GetValue("suffix") != "one" || fmt.Sprint(sh.Parameters.GetValue("n")) != "3" {
		t.Errorf("da-shout parameters %v, want suffix one and n 3", sh.Parameters)
	}
	entry, _, err := c.Actions.Get("daflow", false)
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := entry.Annotations.GetValue("wsk-route").(map[string]any); fmt.Sprint(m["actions"]) != "[/guest/da-upper /guest/da-shout]" {
		t.Errorf("the entry's annotation %v does not list the deployed actions", entry.Annotations.GetValue("wsk-route"))
	}

	out, errs := mustRun(t, "invoke", "daflow", "-p", "text", "hi", "-r")
	var r map[string]any
	if err := json.Unmarshal([]byte(out), &r); err != nil || r["text"] != "HI!" {
		t.Fatalf("invoke: %q (%v), stderr %q; want text HI!", out, err, errs)
	}

	t.Run("again: unchanged", func(t *testing.T) {
		_, errs := mustRun(t, "compose", flow)
		for _, w := range []string{"unchanged action /guest/da-upper", "unchanged action /guest/da-shout", "updated entry action /guest/daflow"} {
			if !strings.Contains(errs, w) {
				t.Errorf("second compose's stderr lacks %q:\n%s", w, errs)
			}
		}
		again, _, err := c.Actions.Get("da-upper", false)
		if err != nil || again.Version != up.Version {
			t.Errorf("da-upper version %v (%v) after an unchanged compose, want still %s", again, err, up.Version)
		}
	})

	t.Run("dry run after: unchanged", func(t *testing.T) {
		_, errs := mustRun(t, "compose", flow, "--dry-run")
		if !strings.Contains(errs, "unchanged: action /guest/da-upper") || !strings.Contains(errs, "unchanged: action /guest/da-shout") {
			t.Errorf("a dry run of the deployed workflow:\n%s", errs)
		}
	})

	t.Run("changed params: updated", func(t *testing.T) {
		_, flow := actionsDir(t, "daflow", "{suffix: two}")
		_, errs := mustRun(t, "compose", flow)
		if !strings.Contains(errs, "unchanged action /guest/da-upper") || !strings.Contains(errs, "updated action /guest/da-shout") {
			t.Errorf("compose with a changed parameter:\n%s", errs)
		}
		sh, _, err := c.Actions.Get("da-shout", false)
		if err != nil || sh.Parameters.GetValue("suffix") != "two" || sh.Parameters.GetValue("n") != nil {
			t.Errorf("da-shout parameters %v (%v), want only suffix two", sh.Parameters, err)
		}
	})

	t.Run("delete keeps the actions, and --actions deletes them", func(t *testing.T) {
		_, errs := mustRun(t, "delete", "daflow")
		if !strings.Contains(errs, "left 2 actions that compose deployed for daflow (delete them with --actions)") {
			t.Errorf("delete without --actions:\n%s", errs)
		}
		if a, _, _ := c.Actions.Get("da-shout", false); a == nil {
			t.Fatal("delete without --actions deleted da-shout")
		}
		// Two workflows deploy da-upper and da-shout: deleting one with
		// --actions keeps them; deleting the other deletes them.
		_, flow1 := actionsDir(t, "daflow", "{suffix: two}")
		_, flow2 := actionsDir(t, "daflow2", "{suffix: two}")
		mustRun(t, "compose", flow1)
		mustRun(t, "compose", flow2)
		out, errs := mustRun(t, "delete", "daflow", "--actions", "-o", "json")
		if !strings.Contains(errs, "kept action /guest/da-upper: workflow daflow2 deployed it too") {
			t.Errorf("delete --actions of a workflow sharing its actions:\n%s", errs)
		}
		if !strings.Contains(out, `"actions_deleted": []`) {
			t.Errorf("delete -o json: %s, want no action deleted", out)
		}
		_, errs = mustRun(t, "delete", "daflow2", "--actions")
		for _, w := range []string{"deleted action /guest/da-upper", "deleted action /guest/da-shout"} {
			if !strings.Contains(errs, w) {
				t.Errorf("delete --actions:\n%s\nlacks %q", errs, w)
			}
		}
		for _, n := range []string{"da-upper", "da-shout"} {
			if a, _, _ := c.Actions.Get(n, false); a != nil {
				t.Errorf("%s is still there after delete --actions", n)
			}
		}
	})
}

// TestComposeActionProblems: a declared action whose code is missing, or
// whose name is taken by an entry, is refused naming the file, the
// action and the field, and nothing is deployed.
func TestComposeActionProblems(t *testing.T) {
	useSandbox(t)
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"missing code file", "name: dp1\nsteps: [dp-a]\nactions:\n  dp-a:\n    code: nowhere.py\n",
			[]string{"bad.yaml:5:11: .actions.dp-a.code: action dp-a: code nowhere.py:", "no such file"}},
		{"no kind for a folder", "name: dp2\nsteps: [dp-a]\nactions:\n  dp-a: {code: .}\n",
			[]string{"bad.yaml:4:16: .actions.dp-a.kind: action dp-a: cannot tell the kind of \".\""}},
		{"unknown field", "name: dp3\nsteps: [dp-a]\nactions:\n  dp-a: {code: a.py, memory: 3}\n",
			[]string{"bad.yaml:4:22: .actions.dp-a.memory: unknown field \"memory\" in action dp-a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			flow := writeFile(t, "bad.yaml", tc.yaml)
			for _, args := range [][]string{{"compose", flow}, {"compose", flow, "--dry-run"}} {
				code, _, errs := run(t, args...)
				if code != 1 {
					t.Errorf("%v: exit %d, want 1 (stderr %q)", args, code, errs)
				}
				for _, w := range tc.want {
					if !strings.Contains(errs, w) {
						t.Errorf("%v: stderr %q lacks %q", args, errs, w)
					}
				}
			}
			if a, _, _ := wskClient(t).Actions.Get("dp-a", false); a != nil {
				t.Errorf("a refused workflow deployed dp-a")
			}
		})
	}
	t.Run("an entry as a step", func(t *testing.T) {
		createActs(t, "dp-step")
		mustRun(t, "compose", writeFile(t, "dpe.yaml", "name: dpentry\nsteps: [dp-step]\n"))
		t.Cleanup(func() { run(t, "delete", "dpentry") })
		flow := writeFile(t, "dpx.yaml", "name: dpx\nsteps: [dpentry]\nactions:\n  dpentry: {code: x.py}\n")
		os.WriteFile(filepath.Join(filepath.Dir(flow), "x.py"), []byte("def main(a):\n    return a\n"), 0o644)
		code, _, errs := run(t, "compose", flow)
		if code != 1 || !strings.Contains(errs, "action /guest/dpentry is a wsk-route entry") {
			t.Errorf("exit %d, stderr %q; want the entry refused", code, errs)
		}
		if a, _, _ := wskClient(t).Actions.Get("dpentry", false); a == nil || a.Annotations.GetValue("wsk-route") == nil {
			t.Errorf("the entry dpentry was overwritten: %+v", a)
		}
	})
}

// TestComposeComposerActions deploys openwhisk-composer's JSON with its
// embedded action definitions: the inline code is created, then the
// workflow runs it.
func TestComposeComposerActions(t *testing.T) {
	useSandbox(t)
	c := wskClient(t)
	t.Cleanup(func() {
		run(t, "delete", "cjflow", "--actions")
		c.Actions.Delete("cj-shout")
	})
	createActs(t, "cj-upper")
	flow := writeFile(t, "cjflow.json", `{
  "ast": {"type": "sequence", "components": [{"type": "action", "name": "/_/cj-upper"}, {"type": "action", "name": "/_/cj-shout"}]},
  "version": "0.12.0",
  "actions": [{"name": "/_/cj-shout", "action": {"exec": {"kind": "python:3", "code": "def main(args):\n    return {'text': args.get('text', '') + '!!'}\n"},
    "annotations": [{"key": "origin", "value": "composer"}]}}]
}`)
	_, errs := mustRun(t, "compose", flow)
	if !strings.Contains(errs, "created action /guest/cj-shout (python:3, inline code (") {
		t.Errorf("compose's stderr:\n%s", errs)
	}
	out, _ := mustRun(t, "invoke", "cjflow", "-p", "text", "hey", "-r")
	var r map[string]any
	if err := json.Unmarshal([]byte(out), &r); err != nil || r["text"] != "HEY!!" {
		t.Errorf("invoke: %q (%v), want text HEY!!", out, err)
	}
	if a, _, err := c.Actions.Get("cj-shout", false); err != nil || a.Annotations.GetValue("origin") != "composer" {
		t.Errorf("cj-shout: %+v (%v), want the annotation origin composer", a, err)
	}
	_, errs = mustRun(t, "compose", flow)
	if !strings.Contains(errs, "unchanged action /guest/cj-shout") {
		t.Errorf("composing again:\n%s", errs)
	}
	out, _ = mustRun(t, "compose", flow, "--dry-run")
	for _, want := range []string{"its entry conducts it with composer's semantics", "a0-cj-upper", "/guest/cj-upper", "a1-cj-shout", "caught"} {
		if !strings.Contains(out, want) {
			t.Errorf("compose --dry-run of composer JSON lacks %q:\n%s", want, out)
		}
	}
}
