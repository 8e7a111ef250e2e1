package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"

	"github.com/wsk-route/wsk-route/internal/conductor"
	"github.com/wsk-route/wsk-route/internal/jsfn"
	"github.com/wsk-route/wsk-route/internal/jsonscan"
	"github.com/wsk-route/wsk-route/internal/routetable"
)

// The end-to-end conformance suite of issue 13: openwhisk-composer's
// compositions, composed with `wsk-route compose` and run with
// `wsk-route invoke` on the shared sandbox, give composer v0.12's
// results, warm (every action a direct hop) and cold (no warm container:
// the actions run through the OpenWhisk API, the fallback).
//
// The cases are internal/conductor/testdata/conformance.json, the same
// the oracle's TestConformance runs (it skips none, so neither does this
// suite); composer's test actions are testdata/composer/*.py, Python
// ports of internal/conductor/testdata/actions.json (the sandbox has no
// nodejs kind), checked against the JavaScript by TestComposerTestActions.

const (
	conformanceFile = "../../../internal/conductor/testdata/conformance.json"
	jsActionsFile   = "../../../internal/conductor/testdata/actions.json"
	composerActsDir = "testdata/composer"
)

// composerActions are composer's test actions, which the compositions
// name /_/NAME: deployed as NAME in the sandbox's namespace.
var composerActions = []string{"echo", "DivideByTwo", "TripleAndIncrement", "isNotOne", "isEven", "fail", "countDown"}

// composerActionMemoryMB is the test actions' memory limit: the sandbox's
// pool (2048 MB) then holds the seven and a few entries, so that starting
// a case's entry does not evict a test action the case's warm run needs.
const composerActionMemoryMB = 128

// needPython skips t when the sandbox cannot run Python actions, except
// in CI, where it fails.
func needPython(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python3 not found (%v); CI=true requires it", err)
		}
		t.Skipf("python3 not found (%v): the sandbox has no Python kind for composer's test actions", err)
	}
}

// deployComposerActions creates composer's test actions in the sandbox,
// each as the Python code jsvalue.py followed by its own file.
func deployComposerActions(t *testing.T) {
	t.Helper()
	needPython(t)
	prelude, err := os.ReadFile(filepath.Join(composerActsDir, "jsvalue.py"))
	if err != nil {
		t.Fatal(err)
	}
	c := wskClient(t)
	mem := composerActionMemoryMB
	for _, n := range composerActions {
		own, err := os.ReadFile(filepath.Join(composerActsDir, n+".py"))
		if err != nil {
			t.Fatal(err)
		}
		code := string(prelude) + "\n" + string(own)
		a := &whisk.Action{Name: n, Namespace: "_", Exec: &whisk.Exec{Kind: "python:3", Code: &code}, Limits: &whisk.Limits{Memory: &mem}}
		if _, _, err := c.Actions.Insert(a, true); err != nil {
			t.Fatalf("creating composer's test action %s: %v", n, err)
		}
		t.Cleanup(func() { c.Actions.Delete(n) })
	}
}

// conformanceCase is one case of conformance.json (see the oracle's
// conformance_test.go): a composition as composer's compile() emits it,
// its input, and what composer's conductor gave.
type conformanceCase struct {
	Name        string          `json:"name"`
	Composition json.RawMessage `json:"composition"`
	Params      json.RawMessage `json:"params"`
	Result      json.RawMessage `json:"result"`
	Failed      bool            `json:"failed"`
	Async       []struct {
		Failed bool            `json:"failed"`
		Result json.RawMessage `json:"result"`
	} `json:"async"`
}

func loadConformanceCases(t *testing.T) []conformanceCase {
	t.Helper()
	data, err := os.ReadFile(conformanceFile)
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Composer string            `json:"composer"`
		Cases    []conformanceCase `json:"cases"`
	}
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatalf("%s: %v", conformanceFile, err)
	}
	if len(c.Cases) == 0 {
		t.Fatalf("no cases in %s", conformanceFile)
	}
	return c.Cases
}

// canonicalJSON re-encodes JSON text as JSON.stringify writes the value
// JSON.parse reads from it: the key order kept, whitespace dropped,
// numbers written as JavaScript writes them. Both sides of every
// comparison go through it, so a result compares byte for byte, key
// order included.
func canonicalJSON(raw []byte) (string, error) {
	v, err := conductor.DecodeValue(raw)
	if err != nil {
		return "", fmt.Errorf("not JSON: %w: %s", err, raw)
	}
	return string(conductor.Marshal(v)), nil
}

// jsActions runs composer's test actions in their original JavaScript
// (actions.json) in goja, an ECMAScript engine: the reference the Python
// ports are checked against, and the oracle's actions.
type jsActions map[string]*jsfn.Func

func loadJSActions(t *testing.T) jsActions {
	t.Helper()
	data, err := os.ReadFile(jsActionsFile)
	if err != nil {
		t.Fatal(err)
	}
	var src map[string]string
	if err := json.Unmarshal(data, &src); err != nil {
		t.Fatal(err)
	}
	a := jsActions{}
	for name, code := range src {
		f, err := jsfn.Compile("(params => { "+code+"\n; return main(params) })", jsfn.Limits{})
		if err == nil {
			err = f.Check()
		}
		if err != nil {
			t.Fatalf("%s: action %s: %v", jsActionsFile, name, err)
		}
		a[name] = f
	}
	if len(a) != len(composerActions) {
		t.Fatalf("%s has %d actions, want composer's %d", jsActionsFile, len(a), len(composerActions))
	}
	return a
}

// call runs the action (by its short name) on params.
func (a jsActions) call(name string, params []byte) ([]byte, error) {
	f := a[name]
	if f == nil {
		return []byte(`{"error":"no such action"}`), nil
	}
	r, err := f.Call(params, nil)
	if err != nil {
		return nil, err
	}
	if r.Kind != jsfn.KindOK {
		return nil, fmt.Errorf("action %s: %s: %s", name, r.Kind, r.Message)
	}
	return r.Value, nil
}

// oracleCalls runs the case on the oracle (internal/conductor, composer's
// conductor in Go) with the JavaScript actions, and returns how many times
// it invokes each test action, async bodies and branches included: the
// actions a cold run must start through the fallback.
func oracleCalls(t *testing.T, tc conformanceCase, acts jsActions) map[string]int {
	t.Helper()
	comp, err := conductor.Decode(tc.Composition, conductor.Limits{})
	if err != nil {
		t.Fatalf("the oracle cannot decode the case: %v", err)
	}
	calls := map[string]int{}
	inv := conductor.InvokerFunc(func(_ context.Context, name string, params []byte) ([]byte, error) {
		short := path.Base(name) // /_/echo and the dynamic combinator's echo
		calls[short]++
		return acts.call(short, params)
	})
	m, err := conductor.New(comp, conductor.Config{Invoker: inv, Functions: jsfn.Limits{Timeout: 2 * time.Second}})
	if err != nil {
		t.Fatalf("the oracle: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := m.Run(ctx, tc.Params); err != nil {
		t.Fatalf("the oracle's run: %v", err)
	}
	return calls
}

// dynamicOnly returns the invocations of calls whose action the
// composition names nowhere (only a dynamic combinator does, at run
// time).
func dynamicOnly(t *testing.T, tc conformanceCase, calls map[string]int) map[string]int {
	t.Helper()
	comp, err := conductor.Decode(tc.Composition, conductor.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	named := map[string]bool{}
	for _, n := range comp.ActionNames() {
		named[path.Base(n)] = true
	}
	out := map[string]int{}
	for a, n := range calls {
		if !named[a] {
			out[a] = n
		}
	}
	return out
}

// apiDo calls the sandbox's REST API under /api/v1 with its key and
// returns the status and the body, as it came.
func apiDo(t *testing.T, method, p string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, sb.URL+"/api/v1"+p, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	user, pass, _ := strings.Cut(sb.Auth, ":")
	req.SetBasicAuth(user, pass)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// apiActivation is an activation record as the API serves it, its result
// as the bytes the API returned (the key order the runtime wrote).
type apiActivation struct {
	ActivationID string   `json:"activationId"`
	Logs         []string `json:"logs"`
	Response     struct {
		Status  string          `json:"status"`
		Success bool            `json:"success"`
		Result  json.RawMessage `json:"result"`
	} `json:"response"`
}

// activationRecord reads the record of activation id, waiting up to
// within for it to be stored; ok is false when it never was.
func activationRecord(t *testing.T, id string, within time.Duration) (rec apiActivation, ok bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		status, b := apiDo(t, http.MethodGet, "/namespaces/_/activations/"+url.PathEscape(id), nil)
		if status == http.StatusOK {
			if err := json.Unmarshal(b, &rec); err != nil {
				t.Fatalf("activation %s: %v: %s", id, err, b)
			}
			return rec, true
		}
		if status != http.StatusNotFound || time.Now().After(deadline) {
			return rec, false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// invocation is one `wsk-route invoke NAME -P FILE -o json`: its exit
// code and stderr, the activation it printed, and the API's record of it.
type invocation struct {
	code    int
	stderr  string
	printed struct {
		ActivationID string `json:"activationId"`
		Response     struct {
			Result any `json:"result"`
		} `json:"response"`
	}
	rec apiActivation
}

// invokeCase invokes the entry name with the JSON object in the file
// params, as a user does. The result is compared from the API's record of
// the activation, not from what invoke prints: invoke decodes the
// activation into Go maps, so it prints the result's keys sorted (the
// values are the same, and checked). The input's keys reach the entry
// sorted too (invoke reads -P into a map, as wsk does); no case's result
// depends on its input's key order.
func invokeCase(t *testing.T, name, params string) *invocation {
	t.Helper()
	inv := &invocation{}
	var out string
	inv.code, out, inv.stderr = run(t, "invoke", name, "-P", params, "-o", "json")
	if inv.code != 0 && inv.code != 1 {
		t.Fatalf("wsk-route invoke %s: exit %d\nstdout: %s\nstderr: %s", name, inv.code, out, inv.stderr)
	}
	if err := json.Unmarshal([]byte(out), &inv.printed); err != nil || inv.printed.ActivationID == "" {
		t.Fatalf("wsk-route invoke %s -o json printed %q (%v), want the activation; stderr %q", name, out, err, inv.stderr)
	}
	rec, ok := activationRecord(t, inv.printed.ActivationID, 10*time.Second)
	if !ok {
		t.Fatalf("no record of the entry's activation %s", inv.printed.ActivationID)
	}
	inv.rec = rec
	var stored any
	if err := json.Unmarshal(rec.Response.Result, &stored); err != nil || !reflect.DeepEqual(stored, inv.printed.Response.Result) {
		t.Errorf("invoke printed the result %v, the activation record holds %s (%v)", inv.printed.Response.Result, rec.Response.Result, err)
	}
	return inv
}

// The ids composer's conductor reported for an async body in the
// generator's run (conformance.json): the body's activation id and the
// session, the first conductor activation.
const (
	asyncPlaceholderID      = "async-1"
	asyncPlaceholderSession = "session"
)

// checkResult compares a run with composer's: the result byte for byte
// (after canonicalJSON), key order included, and the failed flag, which
// is an application error of the entry's activation (and exit 1 of
// invoke). For the async cases composer reports run-time ids; they must
// be the body's activation (whose result must be the body's, as composer
// recorded it) and the session, the entry's activation, and are replaced
// by the generator's placeholders before the comparison.
func checkResult(t *testing.T, tc conformanceCase, inv *invocation) {
	t.Helper()
	want, err := canonicalJSON(tc.Result)
	if err != nil {
		t.Fatalf("composer's result: %v", err)
	}
	got, err := canonicalJSON(inv.rec.Response.Result)
	if err != nil {
		t.Fatalf("case %q: the entry's result: %v (stderr %q)", tc.Name, err, inv.stderr)
	}
	if len(tc.Async) > 0 {
		got = checkAsync(t, tc, inv, got)
	}
	failed := !inv.rec.Response.Success
	wantFailed := tc.Failed
	if v, ok := jsonscan.TopLevel([]byte(want), "error"); ok && len(v) > 0 {
		// OpenWhisk makes any action result with an "error" field an
		// application error, a falsy one too ({"error": 0}), which a
		// composition can end with and still succeed in composer's
		// conductor (docs/workflows.md, differences from composer).
		wantFailed = true
	}
	if got != want || failed != wantFailed {
		t.Errorf("case %q:\n got %s (failed %v, status %q)\nwant %s (failed %v)\nlogs: %q\nstderr: %s",
			tc.Name, got, failed, inv.rec.Response.Status, want, wantFailed, inv.rec.Logs, inv.stderr)
	}
	if failed && inv.rec.Response.Status != "application error" {
		t.Errorf("case %q: a failed composition's activation has status %q, want \"application error\"", tc.Name, inv.rec.Response.Status)
	}
	if wantCode := map[bool]int{false: 0, true: 1}[wantFailed]; inv.code != wantCode {
		t.Errorf("case %q: invoke exited %d, want %d (failed %v)", tc.Name, inv.code, wantCode, wantFailed)
	}
}

// checkAsync checks the async case's ids and its body's activation, and
// returns got with the ids replaced by the generator's placeholders.
func checkAsync(t *testing.T, tc conformanceCase, inv *invocation, got string) string {
	t.Helper()
	if len(tc.Async) != 1 {
		t.Fatalf("case %q: %d async bodies; the suite knows cases with one", tc.Name, len(tc.Async))
	}
	v, _ := conductor.DecodeValue([]byte(got))
	o, _ := v.(*conductor.Object)
	if o == nil || !slices.Equal(o.Keys(), []string{"method", "activationId", "sessionId"}) {
		t.Errorf("case %q: result %s, want composer's {method, activationId, sessionId}", tc.Name, got)
		return got
	}
	id, _ := o.Get("activationId")
	session, _ := o.Get("sessionId")
	method, _ := o.Get("method")
	bodyID, _ := id.(string)
	if session != inv.rec.ActivationID {
		t.Errorf("case %q: sessionId %v, want the entry's activation %s (composer's session is its first conductor activation)", tc.Name, session, inv.rec.ActivationID)
	}
	if bodyID == "" || bodyID == inv.rec.ActivationID {
		t.Errorf("case %q: activationId %v, want the async body's own activation", tc.Name, id)
	} else if rec, ok := activationRecord(t, bodyID, 10*time.Second); !ok {
		t.Errorf("case %q: no activation %s of the async body", tc.Name, bodyID)
	} else {
		want, _ := canonicalJSON(tc.Async[0].Result)
		body, err := canonicalJSON(rec.Response.Result)
		if err != nil || body != want || !rec.Response.Success != tc.Async[0].Failed {
			t.Errorf("case %q: the async body's activation %s:\n got %s (failed %v, %v)\nwant %s (failed %v)",
				tc.Name, bodyID, rec.Response.Result, !rec.Response.Success, err, want, tc.Async[0].Failed)
		}
	}
	return string(conductor.Marshal(conductor.NewObject("method", method, "activationId", asyncPlaceholderID, "sessionId", asyncPlaceholderSession)))
}

// activationCounts returns how many activations of each test action
// started in [since, upto] (upto 0: no bound): through the controller,
// and as direct steps (the records the route plane writes for them,
// annotated "wsk-route").
func activationCounts(t *testing.T, since, upto int64) (controller, direct map[string]int) {
	t.Helper()
	controller, direct = map[string]int{}, map[string]int{}
	for skip := 0; ; skip += 200 {
		list, _, err := wskClient(t).Activations.List(&whisk.ActivationListOptions{Since: since, Upto: upto, Limit: 200, Skip: skip, Docs: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range list {
			switch {
			case !slices.Contains(composerActions, a.Name):
			case a.Annotations.GetValue("wsk-route") == nil:
				controller[a.Name]++
			default:
				direct[a.Name]++
			}
		}
		if len(list) < 200 {
			return controller, direct
		}
	}
}

// waitSandboxIdle waits until no container of the sandbox is busy.
func waitSandboxIdle(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := sb.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
}

// evict takes every container of the actions (short names) out of the
// sandbox, as OpenWhisk's invoker removes a container: the proxy's
// process group is killed (the sandbox's process mode puts each in a
// group of its own), the invoker drops it from its pool as it exits, and
// the host agent deregisters it from the route registry. It returns once
// neither the pool nor the registry holds one, so the next run finds no
// warm instance of them.
func evict(t *testing.T, actions ...string) {
	t.Helper()
	waitSandboxIdle(t)
	fqns := map[string]bool{}
	for _, a := range actions {
		fqns["/"+sb.Namespace+"/"+a] = true
	}
	for _, c := range sb.Containers() {
		if !fqns[c.Action] {
			continue
		}
		if c.PID <= 0 {
			t.Fatalf("container %s of %s has no process id: the cold half needs the sandbox's process mode", c.Name, c.Action)
		}
		if err := syscall.Kill(-int(c.PID), syscall.SIGKILL); err != nil && err != syscall.ESRCH {
			t.Fatalf("stopping container %s (process group %d): %v", c.Name, c.PID, err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var left []string
		for _, c := range sb.Containers() {
			if fqns[c.Action] {
				left = append(left, "container "+c.Name)
			}
		}
		_, out, _ := run(t, "routes", "-o", "json")
		var ins []routetable.Instance
		if err := json.Unmarshal([]byte(out), &ins); err != nil {
			t.Fatalf("routes -o json printed %q: %v", out, err)
		}
		for _, in := range ins {
			if fqns[in.Action] {
				left = append(left, "route instance "+in.ID)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("10 s after they were stopped, the sandbox still has %v", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestComposerConformance runs every case of conformance.json end to end:
// `wsk-route compose` of the case's composition (compile()'s output, as
// composer wrote it) under a name of its own, then `wsk-route invoke`
// with its input, twice:
//
//   - cold: with no container of the test actions or of the entry (evict);
//     each action the case invokes (the oracle says which) must have gone
//     through the controller, the fallback, at least once;
//   - warm: the cold run warmed the containers; the measured run makes no
//     activation of a test action through the controller, and one direct
//     step record per invocation the oracle makes.
//
// Each run must give composer's result byte for byte (key order included)
// and its failed flag (see checkResult). A last subtest lists the
// controller's activations in the warm runs' time windows again, once
// every record has long been written.
//
// Every case runs both halves: measured on the shared 2-core machine
// (load 4 to 10), the cold halves of the 103 cases take about 21 s, the
// warm ones 5 s, the whole test 30 s; an async body whose activation
// cannot be found adds the 10 s its record is waited for.
func TestComposerConformance(t *testing.T) {
	useSandbox(t)
	deployComposerActions(t)
	cases := loadConformanceCases(t)
	acts := loadJSActions(t)
	type window struct {
		name        string
		since, upto int64
		viaAPI      map[string]int // the dynamic combinator's, through the controller
	}
	var warmWindows []window
	start := time.Now()
	for i, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			name := fmt.Sprintf("composer-case-%03d", i)
			file := writeFile(t, name+".json", string(tc.Composition))
			params := writeFile(t, "params.json", string(tc.Params))
			calls := oracleCalls(t, tc, acts)
			// An action that only a dynamic combinator names has no step
			// in the conducted spec: the entry invokes it through the
			// OpenWhisk API, warm or not (docs/workflows.md).
			viaAPI := dynamicOnly(t, tc, calls)
			t.Cleanup(func() { run(t, "delete", name) })
			if code, out, errs := run(t, "compose", file, "--name", name); code != 0 {
				t.Fatalf("case %q: wsk-route compose: exit %d\nstdout: %s\nstderr: %s\ncomposition: %s", tc.Name, code, out, errs, tc.Composition)
			}
			// The cold run warms the containers for the warm one, unless
			// it failed.
			warmedUp := t.Run("cold", func(t *testing.T) {
				evict(t, append([]string{name}, composerActions...)...)
				since := time.Now().UnixMilli()
				inv := invokeCase(t, name, params)
				checkResult(t, tc, inv)
				// Each invoked action started through the fallback; its
				// record is written after its result went on, so wait a
				// little for it.
				deadline := time.Now().Add(5 * time.Second)
				for {
					controller, _ := activationCounts(t, since, 0)
					var missing []string
					for a := range calls {
						if controller[a] == 0 {
							missing = append(missing, a)
						}
					}
					if len(missing) == 0 {
						break
					}
					if time.Now().After(deadline) {
						sort.Strings(missing)
						t.Errorf("case %q, cold: test actions ran through the controller %v times; each of %v must have (no warm container: the fallback)", tc.Name, controller, missing)
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
			})
			t.Run("warm", func(t *testing.T) {
				if !warmedUp {
					invokeCase(t, name, params) // warm the containers
				}
				waitSandboxIdle(t)
				since := time.Now().UnixMilli()
				inv := invokeCase(t, name, params)
				checkResult(t, tc, inv)
				waitSandboxIdle(t)
				deadline := time.Now().Add(5 * time.Second)
				for {
					upto := time.Now().UnixMilli()
					controller, direct := activationCounts(t, since, upto)
					if direct == nil {
						direct = map[string]int{}
					}
					for a, n := range viaAPI {
						if controller[a] == n {
							delete(controller, a)
							direct[a] = n // counted with the direct ones below
						}
					}
					if len(controller) > 0 {
						t.Errorf("case %q, warm: test actions ran through the controller %v times: every step of a warm run must be a direct hop", tc.Name, controller)
						break
					}
					// Direct steps' records may be written after the run.
					if maps.Equal(direct, calls) || time.Now().After(deadline) {
						if !maps.Equal(direct, calls) {
							t.Errorf("case %q, warm: direct steps %v, want one per invocation composer makes: %v", tc.Name, direct, calls)
						}
						warmWindows = append(warmWindows, window{tc.Name, since, upto, viaAPI})
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
			})
		})
	}
	t.Logf("%d cases in %v", len(cases), time.Since(start).Round(time.Millisecond))
	t.Run("warm runs made no late controller activations", func(t *testing.T) {
		for _, w := range warmWindows {
			controller, _ := activationCounts(t, w.since, w.upto)
			for a, n := range w.viaAPI {
				if controller[a] == n {
					delete(controller, a)
				}
			}
			if len(controller) > 0 {
				t.Errorf("case %q, warm: test actions ran through the controller %v times", w.name, controller)
			}
		}
	})
}

// TestComposerTestActions checks the Python ports of composer's test
// actions against their JavaScript (actions.json, run in goja): each
// action, invoked through the sandbox's controller, returns on each input
// what JSON.stringify writes of the JavaScript action's result, byte for
// byte. The inputs cover JavaScript's conversions (ToNumber of strings,
// booleans, null, arrays and objects; loose equality; truthiness), number
// printing (integral halves, 1e21, doubles past 2**53) and key order
// (array-index keys first).
//
// Every input is written with its keys sorted, at every level, because
// the sandbox's controller hands an action its input with sorted keys (as
// Go's maps marshal), and the JavaScript side must see what the action
// saw.
func TestComposerTestActions(t *testing.T) {
	useSandbox(t)
	deployComposerActions(t)
	acts := loadJSActions(t)
	inputs := []string{
		`{"n":5}`, `{"n":4}`, `{"n":0}`, `{"n":-4}`, `{"n":-3}`, `{"n":1}`, `{"n":-0.0}`, `{"n":1.5}`, `{"n":0.1}`,
		`{"n":3.0000000000000004}`, `{"n":1e21}`, `{"n":123456789012345680000}`, `{"n":12345678901234567890}`,
		`{"n":9007199254740993}`, `{"n":1e308}`, `{"n":1e400}`,
		`{"n":"1"}`, `{"n":"4"}`, `{"n":" 0x1F "}`, `{"n":"0b101"}`, `{"n":"0o17"}`, `{"n":"-0x10"}`, `{"n":"1e3"}`,
		`{"n":"+5"}`, `{"n":"5."}`, `{"n":".5"}`, `{"n":"."}`, `{"n":"1_000"}`, `{"n":"abc"}`, `{"n":""}`,
		`{"n":"Infinity"}`, `{"n":"-Infinity"}`, `{"n":"\u00a012\u3000"}`, `{"n":"١٢"}`,
		`{"n":true}`, `{"n":false}`, `{"n":null}`, `{}`,
		`{"n":[]}`, `{"n":[5]}`, `{"n":[[7]]}`, `{"n":[1,2]}`, `{"n":[null]}`, `{"n":[" 5 "]}`, `{"n":[true]}`, `{"n":{}}`,
		`{"message":"hi"}`, `{"message":""}`, `{"message":0}`, `{"message":[]}`, `{"message":{}}`, `{"message":null}`,
		`{"message":false}`, `{"message":1.0}`, `{"message":{"10":1,"9":2,"a":3}}`,
		`{"a":{"01":4,"10":2,"4294967294":6,"4294967295":5,"9":3,"z":1},"c":[1.0,2.50,{"x":2,"y":1}],"d":"é\n\u0001\""}`,
		`{"n":4,"value":[1e21,1e20,123e-20]}`,
	}
	// These compare after canonicalJSON, as composer's conductor and
	// wsk-route's read and rewrite results, because their text differs
	// while the value is the same. Python's json writes a non-integral
	// number below 1e-4 in its own exponent form (5e-08 where JavaScript
	// writes 5e-8). The sandbox serves results through encoding/json,
	// which escapes <, >, & and U+2028 as \u003c ... \u2028 (JSON.stringify
	// writes them as they are).
	sameValue := []string{`{"n":1e-7}`, `{"n":0.00001}`, `{"message":2.5e-8}`, `{"message":"<a&b>\u2028"}`}
	for _, in := range append(inputs, sameValue...) {
		if !json.Valid([]byte(in)) {
			t.Fatalf("input %s is not JSON", in)
		}
		exact := !slices.Contains(sameValue, in)
		for _, name := range composerActions {
			t.Run(name+"/"+in, func(t *testing.T) {
				want, err := acts.call(name, []byte(in))
				if err != nil {
					t.Fatal(err)
				}
				// A blocking invoke answers 200, or 502 for an
				// application error, with the activation.
				status, b := apiDo(t, http.MethodPost, "/namespaces/_/actions/"+name+"?blocking=true", []byte(in))
				var act apiActivation
				if err := json.Unmarshal(b, &act); err != nil || act.ActivationID == "" || (status != http.StatusOK && status != http.StatusBadGateway) {
					t.Fatalf("invoking %s: %d %s is not an activation (%v)", name, status, b, err)
				}
				rec, ok := activationRecord(t, act.ActivationID, 10*time.Second)
				if !ok {
					t.Fatalf("no record of activation %s", act.ActivationID)
				}
				got := string(rec.Response.Result)
				if !exact {
					if got, err = canonicalJSON(rec.Response.Result); err != nil {
						t.Fatal(err)
					}
				}
				// The JavaScript actions never fail; fail's result is an
				// application error by its error field.
				wantFailed := strings.HasPrefix(string(want), `{"error":`)
				if got != string(want) || rec.Response.Success == wantFailed {
					t.Errorf("%s(%s):\n got %s (success %v)\nwant %s (JavaScript's, failed %v)", name, in, got, rec.Response.Success, want, wantFailed)
				}
			})
		}
	}
}
