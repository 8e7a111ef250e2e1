package cli_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/apache/openwhisk-client-go/whisk"
)

// slowStart is the code of the slow actions: a Python module that sleeps
// 2.5 s when it is imported, in its container's /init (whose phase is
// "compiling": the sandbox's Python kind has a compiler), past the
// second after which invoke shows a cold start; warm calls are fast.
const slowStart = `import time
time.sleep(2.5)

def main(args):
    return {"greeting": "Hello, %s!" % args.get("name", "stranger")}
`

// createSlowStart creates each action with slowStart's code; it skips
// the test when the sandbox has no Python.
func createSlowStart(t *testing.T, names ...string) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("no python3 on PATH: the sandbox has no Python kind for the slow-starting action")
	}
	code := slowStart
	c := wskClient(t)
	for _, n := range names {
		a := &whisk.Action{Name: n, Namespace: "_", Exec: &whisk.Exec{Kind: "python:3", Code: &code}}
		if _, _, err := c.Actions.Insert(a, true); err != nil {
			t.Fatalf("creating %s: %v", n, err)
		}
		t.Cleanup(func() { c.Actions.Delete(n) })
	}
}

// TestInvokeColdStart: a blocking invoke whose action starts a container
// for more than a second says so on stderr, once, and a warm invoke of
// the same action says nothing of the kind.
func TestInvokeColdStart(t *testing.T) {
	useSandbox(t)
	createSlowStart(t, "cs-slow")
	out, errs := mustRun(t, "invoke", "cs-slow", "-p", "name", "cold", "-r")
	const want = "starting a container for cs-slow, compiling…\n"
	if n := strings.Count(errs, want); n != 1 {
		t.Errorf("cold invoke: stderr %q holds %q %d times, want once", errs, want, n)
	}
	if !strings.Contains(out, `"Hello, cold!"`) {
		t.Errorf("cold invoke: stdout %q lacks the result", out)
	}
	out, errs = mustRun(t, "invoke", "cs-slow", "-p", "name", "warm", "-r")
	if strings.Contains(errs, "starting a container") || !strings.Contains(out, `"Hello, warm!"`) {
		t.Errorf("warm invoke: stdout %q, stderr %q; want the result and no cold start", out, errs)
	}
}

// TestWatchColdStart: invoke --watch shows the cold starts of the run's
// step actions (here a step with no warm container, which runs through
// the OpenWhisk API): a line in text mode, a coldStart event with -o json.
func TestWatchColdStart(t *testing.T) {
	useSandbox(t)
	createActs(t, "csw-upper")
	createSlowStart(t, "csw-text", "csw-json")
	for _, slow := range []string{"csw-text", "csw-json"} {
		flow := writeFile(t, slow+".yaml", "name: "+slow+"-flow\nsteps:\n  - csw-upper\n  - "+slow+"\n")
		mustRun(t, "compose", flow)
		t.Cleanup(func() { run(t, "delete", slow+"-flow") })
	}

	_, errs := mustRun(t, "invoke", "csw-text-flow", "-p", "text", "abc", "--watch")
	const want = "starting a container for csw-text, compiling…\n"
	if n := strings.Count(errs, want); n != 1 {
		t.Errorf("--watch: stderr holds %q %d times, want once:\n%s", want, n, errs)
	}
	if strings.Contains(errs, "starting a container for csw-text-flow") || strings.Contains(errs, "csw-json") {
		t.Errorf("--watch shows a cold start it does not wait for:\n%s", errs)
	}

	out, errs := mustRun(t, "invoke", "csw-json-flow", "-p", "text", "abc", "--watch", "-o", "json", "-r")
	if strings.Contains(errs, "starting a container") {
		t.Errorf("--watch -o json printed the text line too: %q", errs)
	}
	var cold []map[string]any
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var v map[string]any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("stdout is not a stream of JSON objects: %v\n%s", err, out)
		}
		if v["event"] == "coldStart" {
			cold = append(cold, v)
		}
	}
	if len(cold) != 1 {
		t.Fatalf("-o json: %d coldStart events, want 1:\n%s", len(cold), out)
	}
	c := cold[0]
	if c["action"] != "/guest/csw-json" || c["kind"] != "coldStart" || c["phase"] != "compiling" {
		t.Errorf("coldStart event %v, want action /guest/csw-json, kind coldStart, phase compiling", c)
	}
	if ms, _ := c["elapsedMs"].(float64); ms < 1000 {
		t.Errorf("coldStart event %v: elapsedMs below 1000", c)
	}
}
