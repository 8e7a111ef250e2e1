package sandbox_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"

	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox"
	"github.com/wsk-route/wsk-route/internal/testenv"
)

// The sandbox all tests share (started once in TestMain: it runs a broker,
// an agent and an invoker), the proxy binary its containers run, and the
// test action's code as OpenWhisk's wsk sends a native binary (base64).
var (
	shared  *sandbox.Sandbox
	bins    struct{ proxy, act string }
	actCode string
)

// blockingWait is the shared sandbox's wait before a blocking invoke
// answers 202: short, so that the test of that answer is quick.
const blockingWait = 3 * time.Second

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	dir, cleanup, err := testenv.BuildStatic(map[string]string{"proxy": "../../proxy", "act": "./testdata/act"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cleanup()
	bins.proxy, bins.act = filepath.Join(dir, "proxy"), filepath.Join(dir, "act")
	code, err := os.ReadFile(bins.act)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	actCode = base64.StdEncoding.EncodeToString(code)

	spans = startCollector()
	defer spans.close()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *sandbox.Sandbox, 1)
	done := make(chan error, 1)
	go func() {
		done <- sandbox.Run(ctx, sandbox.Config{
			Listen: "127.0.0.1:0", ProxyCommand: []string{bins.proxy}, BlockingWait: blockingWait, OTLPEndpoint: spans.url,
			AgentMetricsListen: "127.0.0.1:0", // TestEntryAction, TestSwitchCatchRetry
			MaxConcurrency:     500,           // TestConcurrentInvokes
			Logger:             slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		}, func(sb *sandbox.Sandbox) { ready <- sb })
	}()
	select {
	case shared = <-ready:
	case err := <-done:
		fmt.Fprintln(os.Stderr, "the sandbox did not start:", err)
		cancel()
		return 1
	case <-time.After(60 * time.Second):
		fmt.Fprintln(os.Stderr, "the sandbox did not start within 60 s")
		cancel()
		return 1
	}
	code2 := m.Run()
	cancel()
	if err := <-done; err != nil {
		fmt.Fprintln(os.Stderr, "sandbox.Run:", err)
		code2 = 1
	}
	// Run removed every container: no proxy process may be left.
	if out, _ := exec.Command("pgrep", "-f", bins.proxy).Output(); len(out) > 0 {
		fmt.Fprintf(os.Stderr, "proxy processes left after the sandbox stopped: %s", out)
		code2 = 1
	}
	return code2
}

// client returns an openwhisk-client-go client of the shared sandbox.
func client(t *testing.T, auth string) *whisk.Client {
	t.Helper()
	if auth == "" {
		auth = shared.Auth
	}
	c, err := whisk.NewClient(&http.Client{Timeout: 30 * time.Second}, &whisk.Config{
		Host: shared.URL, AuthToken: auth, Namespace: "_", Version: "v1",
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// createAct creates (or replaces) the test action as a native binary,
// the way `wsk action create NAME exec --native` does.
func createAct(t *testing.T, c *whisk.Client, name string, params map[string]any, limits *whisk.Limits) *whisk.Action {
	t.Helper()
	bin := true
	a := &whisk.Action{Name: name, Namespace: "_",
		Exec:   &whisk.Exec{Kind: "blackbox", Image: "openwhisk/actionloop-base", Code: &actCode, Binary: &bin},
		Limits: limits}
	for k, v := range params {
		a.Parameters = append(a.Parameters, whisk.KeyValue{Key: k, Value: v})
	}
	got, resp, err := c.Actions.Insert(a, true)
	if err != nil {
		t.Fatalf("creating action %s: %v (%s)", name, err, status(resp))
	}
	t.Cleanup(func() { c.Actions.Delete(name) })
	return got
}

func status(resp *http.Response) string {
	if resp == nil {
		return "no response"
	}
	return resp.Status
}

// invoke invokes name blocking and returns the full activation record.
// A blocking call that outlives the sandbox's short blocking wait (a cold
// workflow on a loaded machine) answers 202; invoke then waits for the
// record and answers as the blocking call would have.
func invoke(t *testing.T, c *whisk.Client, name string, params any) (*whisk.Activation, *http.Response) {
	t.Helper()
	res, resp, err := c.Actions.Invoke(name, params, true, false)
	if resp == nil {
		t.Fatalf("invoking %s: %v", name, err)
	}
	if resp.StatusCode == http.StatusAccepted {
		id, _ := res.(map[string]any)["activationId"].(string)
		act := waitActivation(t, c, id, 2*time.Minute)
		code := http.StatusOK
		if !act.Response.Success {
			code = http.StatusBadGateway
		}
		return act, &http.Response{StatusCode: code, Status: http.StatusText(code) + " (after a 202)"}
	}
	return decodeActivation(t, res, resp, err), resp
}

// decodeActivation turns the client's answer (a map, also for errors,
// which the client parses into the error) into an Activation.
func decodeActivation(t *testing.T, res any, resp *http.Response, err error) *whisk.Activation {
	t.Helper()
	if res == nil {
		t.Fatalf("no activation in the answer %s: %v", status(resp), err)
	}
	b, _ := json.Marshal(res)
	var a whisk.Activation
	if err := json.Unmarshal(b, &a); err != nil || a.ActivationID == "" {
		t.Fatalf("the answer %s is not an activation: %s (%v)", status(resp), b, err)
	}
	return &a
}

func annotation(a *whisk.Activation, key string) (any, bool) {
	for _, kv := range a.Annotations {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return nil, false
}

func TestActionCRUD(t *testing.T) {
	c := client(t, "")
	bin := true
	a := &whisk.Action{Name: "crud", Namespace: "_",
		Exec: &whisk.Exec{Kind: "blackbox", Image: "openwhisk/actionloop-base", Code: &actCode, Binary: &bin}}
	got, resp, err := c.Actions.Insert(a, false)
	if err != nil {
		t.Fatalf("create: %v (%s)", err, status(resp))
	}
	t.Cleanup(func() { c.Actions.Delete("crud") })
	if got.Version != "0.0.1" || got.Namespace != "guest" || got.Limits == nil || *got.Limits.Timeout != 60000 {
		t.Errorf("created %+v, want version 0.0.1 in namespace guest with the default limits", got)
	}
	if _, resp, err := c.Actions.Insert(a, false); err == nil || resp == nil || resp.StatusCode != http.StatusConflict {
		t.Errorf("create again without overwrite: %v %s, want 409", err, status(resp))
	}
	timeout := 5000
	a.Limits = &whisk.Limits{Timeout: &timeout}
	got, _, err = c.Actions.Insert(a, true)
	if err != nil || got.Version != "0.0.2" || *got.Limits.Timeout != 5000 {
		t.Fatalf("update: %+v %v, want version 0.0.2 with timeout 5000", got, err)
	}
	withCode, _, err := c.Actions.Get("crud", true)
	if err != nil || withCode.Exec == nil || withCode.Exec.Code == nil || *withCode.Exec.Code != actCode {
		t.Errorf("get with code: %v, the code did not come back", err)
	}
	noCode, _, err := c.Actions.Get("crud", false)
	if err != nil || noCode.Exec == nil || noCode.Exec.Code != nil {
		t.Errorf("get without code: %v, want exec without code", err)
	}
	for _, n := range []string{"crud-b", "crud-c"} {
		createAct(t, c, n, nil, nil)
	}
	list, _, err := c.Actions.List("", &whisk.ActionListOptions{Limit: 2})
	if err != nil || len(list) != 2 {
		t.Fatalf("list limit 2: %d actions, %v", len(list), err)
	}
	all, _, err := c.Actions.List("", &whisk.ActionListOptions{Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	skipped, _, err := c.Actions.List("", &whisk.ActionListOptions{Limit: 200, Skip: 1})
	if err != nil || len(skipped) != len(all)-1 || skipped[0].Name != all[1].Name {
		t.Errorf("list skip 1: %d of %d, %v", len(skipped), len(all), err)
	}
	if resp, err := c.Actions.Delete("crud"); err != nil {
		t.Fatalf("delete: %v %s", err, status(resp))
	}
	if _, resp, err := c.Actions.Get("crud", false); err == nil || resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("get after delete: %v %s, want 404", err, status(resp))
	}
	if _, resp, _ := c.Actions.Invoke("crud", nil, true, true); resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("invoke after delete: %s, want 404", status(resp))
	}
}

func TestInvokeBlocking(t *testing.T) {
	c := client(t, "")
	createAct(t, c, "hello", map[string]any{"name": "default"}, nil)
	first, resp := invoke(t, c, "hello", map[string]any{"name": "sandbox"})
	if resp.StatusCode != http.StatusOK || !first.Response.Success || first.Response.Status != "success" {
		t.Fatalf("blocking invoke: %s %+v", resp.Status, first.Response)
	}
	if g := first.Response.Result.(map[string]any)["greeting"]; g != "Hello, sandbox!" {
		t.Errorf("result %v, want the greeting of the request's name (parameters merged under the body)", first.Response.Result)
	}
	logs := strings.Join(first.Logs, "\n")
	if !strings.Contains(logs, "stdout: hello from stdout, sandbox") || !strings.Contains(logs, "stderr: hello from stderr, sandbox") {
		t.Errorf("logs %q lack the action's two lines", first.Logs)
	}
	if strings.Contains(logs, "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX") {
		t.Errorf("logs hold the sentinel: %q", first.Logs)
	}
	for _, k := range []string{"path", "kind", "limits", "waitTime", "initTime"} {
		if _, ok := annotation(first, k); !ok {
			t.Errorf("the first (cold) activation lacks the annotation %q: %v", k, first.Annotations)
		}
	}
	if p, _ := annotation(first, "path"); p != "guest/hello" {
		t.Errorf("path annotation %v, want guest/hello", p)
	}
	second, _ := invoke(t, c, "hello", nil)
	if _, ok := annotation(second, "initTime"); ok {
		t.Errorf("the second activation has an initTime: it should reuse the warm container")
	}
	if g := second.Response.Result.(map[string]any)["greeting"]; g != "Hello, default!" {
		t.Errorf("second result %v, want the default parameter's greeting", second.Response.Result)
	}
	if n := strings.Count(strings.Join(second.Logs, "\n"), "hello from stdout"); n != 1 {
		t.Errorf("second activation's logs %q: want exactly its own stdout line", second.Logs)
	}
	stored, _, err := c.Activations.Get(first.ActivationID)
	if err != nil || stored.ActivationID != first.ActivationID || stored.End < stored.Start {
		t.Errorf("activation get: %+v %v", stored, err)
	}
	result, _, err := c.Activations.Result(first.ActivationID)
	if err != nil || !result.Success {
		t.Errorf("activation result: %+v %v", result, err)
	}
	withLogs, _, err := c.Activations.Logs(first.ActivationID)
	if err != nil || len(withLogs.Logs) != len(first.Logs) {
		t.Errorf("activation logs: %v %v, want %d lines", withLogs, err, len(first.Logs))
	}
	list, _, err := c.Activations.List(&whisk.ActivationListOptions{Name: "hello", Limit: 10})
	if err != nil || len(list) < 2 || list[0].ActivationID != second.ActivationID {
		t.Errorf("activation list by name: %d entries, %v; want the newest first", len(list), err)
	}
}

func TestInvokeResultOnly(t *testing.T) {
	c := client(t, "")
	createAct(t, c, "result-only", nil, nil)
	res, resp, err := c.Actions.Invoke("result-only", map[string]any{"name": "r"}, true, true)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("invoke -r: %v %s", err, status(resp))
	}
	m, ok := res.(map[string]any)
	if !ok || m["greeting"] != "Hello, r!" || m["activationId"] != nil {
		t.Errorf("result-only answer %v, want just the result", res)
	}
}

func TestInvokeNonBlocking(t *testing.T) {
	c := client(t, "")
	createAct(t, c, "async", nil, nil)
	res, resp, err := c.Actions.Invoke("async", map[string]any{"name": "later"}, false, false)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("non-blocking invoke: %v %s, want 202", err, status(resp))
	}
	id, _ := res.(map[string]any)["activationId"].(string)
	if len(id) != 32 {
		t.Fatalf("answer %v, want an activationId of 32 hex digits", res)
	}
	act := waitActivation(t, c, id, 30*time.Second)
	if !act.Response.Success {
		t.Errorf("the non-blocking activation failed: %+v", act.Response)
	}
}

func waitActivation(t *testing.T, c *whisk.Client, id string, bound time.Duration) *whisk.Activation {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		act, resp, err := c.Activations.Get(id)
		if err == nil {
			return act
		}
		if resp == nil || resp.StatusCode != http.StatusNotFound || time.Now().After(deadline) {
			t.Fatalf("activation %s: %v %s", id, err, status(resp))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestInvokeOutlivesBlockingWait(t *testing.T) {
	c := client(t, "")
	createAct(t, c, "slow", nil, nil)
	ms := (blockingWait + time.Second).Milliseconds()
	res, resp, err := c.Actions.Invoke("slow", map[string]any{"mode": "sleep", "ms": ms}, true, false)
	var werr *whisk.WskError
	if resp == nil || resp.StatusCode != http.StatusAccepted || !errors.As(err, &werr) || werr.ExitCode != 202 {
		t.Fatalf("blocking invoke past the wait: %v %s, want 202 and a WskError with exit code 202", err, status(resp))
	}
	id, _ := res.(map[string]any)["activationId"].(string)
	act := waitActivation(t, c, id, 30*time.Second)
	if !act.Response.Success {
		t.Errorf("the slow activation failed: %+v", act.Response)
	}
}

func TestSequence(t *testing.T) {
	c := client(t, "")
	for _, s := range []string{"upper", "reverse", "words"} {
		createAct(t, c, "seq-"+s, map[string]any{"step": s}, nil)
	}
	seq := &whisk.Action{Name: "seq", Namespace: "_", Exec: &whisk.Exec{Kind: "sequence",
		Components: []string{"/guest/seq-upper", "/_/seq-reverse", "/guest/seq-words"}}}
	if _, resp, err := c.Actions.Insert(seq, true); err != nil {
		t.Fatalf("creating the sequence: %v %s", err, status(resp))
	}
	t.Cleanup(func() { c.Actions.Delete("seq") })
	act, resp := invoke(t, c, "seq", map[string]any{"text": "hello sequence world"})
	if resp.StatusCode != http.StatusOK || !act.Response.Success {
		t.Fatalf("sequence: %s %+v", resp.Status, act.Response)
	}
	r := act.Response.Result.(map[string]any)
	if r["text"] != "DLROW ECNEUQES OLLEH" || r["words"] != float64(3) {
		t.Errorf("sequence result %v, want the text upper-cased and reversed, and 3 words", r)
	}
	if k, _ := annotation(act, "kind"); k != "sequence" {
		t.Errorf("kind %v, want sequence", k)
	}
	if top, _ := annotation(act, "topmost"); top != true {
		t.Errorf("topmost %v, want true", top)
	}
	if len(act.Logs) != 3 {
		t.Fatalf("the sequence's logs %v, want its 3 component activation ids", act.Logs)
	}
	for i, id := range act.Logs {
		comp, _, err := c.Activations.Get(id)
		if err != nil {
			t.Fatalf("component %d (%s): %v", i, id, err)
		}
		if by, _ := annotation(comp, "causedBy"); by != "sequence" || comp.Cause != act.ActivationID {
			t.Errorf("component %d: causedBy %v cause %q, want sequence and %s", i, by, comp.Cause, act.ActivationID)
		}
	}
}

func TestSequenceStopsAtAFailure(t *testing.T) {
	c := client(t, "")
	createAct(t, c, "sf-upper", map[string]any{"step": "upper"}, nil)
	createAct(t, c, "sf-fail", map[string]any{"mode": "fail"}, nil)
	seq := &whisk.Action{Name: "seq-fail", Namespace: "_", Exec: &whisk.Exec{Kind: "sequence",
		Components: []string{"/guest/sf-upper", "/guest/sf-fail", "/guest/sf-upper"}}}
	if _, _, err := c.Actions.Insert(seq, true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Actions.Delete("seq-fail") })
	act, resp := invoke(t, c, "seq-fail", map[string]any{"text": "x"})
	if resp.StatusCode != http.StatusBadGateway || act.Response.Status != "application error" || len(act.Logs) != 2 {
		t.Errorf("sequence with a failing component: %s %+v logs %v; want 502, application error, 2 components run", resp.Status, act.Response, act.Logs)
	}
	missing := &whisk.Action{Name: "seq-missing", Namespace: "_", Exec: &whisk.Exec{Kind: "sequence", Components: []string{"/guest/no-such-action"}}}
	if _, resp, err := c.Actions.Insert(missing, true); err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a sequence of a missing action: %v %s, want 400", err, status(resp))
	}
}

func TestFailures(t *testing.T) {
	c := client(t, "")
	timeout := 1000
	createAct(t, c, "bad", nil, &whisk.Limits{Timeout: &timeout})
	for _, tc := range []struct {
		name, mode string
		code       int
		status     string
		error      string
	}{
		{"application error", "fail", http.StatusBadGateway, "application error", "failed on purpose"},
		// What OpenWhisk shows for an ActionLoop runtime: the proxy's own
		// answer (502 or 400 with {"error"}) becomes a developer error.
		{"garbage", "garbage", http.StatusBadGateway, "action developer error", "The action did not return a dictionary or array."},
		{"timeout", "sleep", http.StatusBadGateway, "action developer error", "The action exceeded its time limits of 1000 milliseconds."},
		{"crash", "crash", http.StatusBadGateway, "action developer error", "command exited"},
		{"recovers", "", http.StatusOK, "success", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			act, resp := invoke(t, c, "bad", map[string]any{"mode": tc.mode, "ms": 3000})
			if resp.StatusCode != tc.code || act.Response.Status != tc.status {
				t.Fatalf("%s: %s %+v, want %d %q", tc.mode, resp.Status, act.Response, tc.code, tc.status)
			}
			if tc.error != "" {
				msg, _ := act.Response.Result.(map[string]any)["error"].(string)
				if !strings.Contains(msg, tc.error) {
					t.Errorf("error %q, want it to contain %q", msg, tc.error)
				}
			}
			if tc.mode == "sleep" {
				if v, _ := annotation(act, "timeout"); v != true {
					t.Errorf("timed-out activation without the timeout annotation: %v", act.Annotations)
				}
			}
		})
	}
}

func TestAuthentication(t *testing.T) {
	for _, tc := range []struct{ name, auth string }{
		{"wrong key", sandbox.GuestUUID + ":wrong"},
		{"unknown uuid", "00000000-0000-0000-0000-000000000000:" + sandbox.GuestKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, resp, err := client(t, tc.auth).Actions.List("", nil)
			if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("list with %s: %v %s, want 401", tc.name, err, status(resp))
			}
		})
	}
	req, _ := http.NewRequest("GET", shared.URL+"/api/v1/namespaces/_/actions", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var e struct{ Error, Code string }
	if resp.StatusCode != http.StatusUnauthorized || json.Unmarshal(body, &e) != nil || e.Error == "" || e.Code == "" {
		t.Errorf("no credentials: %s %s, want 401 with OpenWhisk's {error, code}", resp.Status, body)
	}
}

// TestPackagedAction invokes pkg/action through the controller and the
// invoker: the activation message's path is "guest/pkg", and the record's
// path annotation names the package.
func TestPackagedAction(t *testing.T) {
	c := client(t, "")
	pkg := &whisk.Package{Name: "tools", Namespace: "_"}
	if _, resp, err := c.Packages.Insert(pkg, true); err != nil {
		t.Fatalf("creating the package: %v %s", err, status(resp))
	}
	t.Cleanup(func() { c.Packages.Delete("tools") })
	createAct(t, c, "tools/greet", nil, nil)
	act, resp := invoke(t, c, "tools/greet", map[string]any{"name": "pkg"})
	if resp.StatusCode != http.StatusOK || act.Response.Result.(map[string]any)["greeting"] != "Hello, pkg!" {
		t.Fatalf("packaged action: %s %+v", resp.Status, act.Response)
	}
	if p, _ := annotation(act, "path"); p != "guest/tools/greet" {
		t.Errorf("path annotation %v, want guest/tools/greet", p)
	}
	if _, resp, err := c.Packages.Get("tools"); err != nil {
		t.Errorf("package get: %v %s", err, status(resp))
	}
}
