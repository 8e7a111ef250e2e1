package sandbox_test

// The wsk CLI against the sandbox: every request here is one that
// OpenWhisk's wsk (apache/openwhisk-cli, commands/*.go) sends for the
// command line in its comment, built as wsk builds it (its parseAction,
// getExec, getLimits, webAction, invoke and activation commands) and sent
// through openwhisk-client-go with wsk's configuration: Basic auth with
// the key, wsk's User-Agent, Content-Type application/json on requests
// with a body, the namespace "_". A recording transport checks the wire:
// method, path and query, headers, and the body's JSON.

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"
)

// cliUserAgent is the User-Agent of wsk 1.2.0 on linux/amd64
// (commands.go: "OpenWhisk-CLI/1.0 (<CLI version>) <GOOS> <GOARCH>").
const cliUserAgent = "OpenWhisk-CLI/1.0 (2021-04-01T23:49:54.523+0000) linux amd64"

// wireRequest is one request as it went on the wire.
type wireRequest struct {
	Method, URI string
	Header      http.Header
	Body        []byte
}

// wire records every request of a wsk client and checks the headers wsk
// always sends.
type wire struct {
	t    *testing.T
	mu   sync.Mutex
	reqs []wireRequest
}

func (w *wire) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		r.Body.Close()
		body = b
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	w.mu.Lock()
	w.reqs = append(w.reqs, wireRequest{Method: r.Method, URI: r.URL.RequestURI(), Header: r.Header.Clone(), Body: body})
	w.mu.Unlock()
	if r.URL.Path == "/api/v1" {
		// wsk's `property get --apibuild` (client-go's Info.Get) sends a
		// bare GET, without auth or User-Agent; the route needs none.
		return http.DefaultTransport.RoundTrip(r)
	}
	if got, want := r.Header.Get("Authorization"), "Basic "+base64.StdEncoding.EncodeToString([]byte(shared.Auth)); got != want {
		w.t.Errorf("%s %s: Authorization %q, want %q", r.Method, r.URL, got, want)
	}
	if got := r.Header.Get("User-Agent"); got != cliUserAgent {
		w.t.Errorf("%s %s: User-Agent %q, want wsk's", r.Method, r.URL, got)
	}
	if ct := r.Header.Get("Content-Type"); body != nil && ct != "application/json" {
		w.t.Errorf("%s %s: Content-Type %q with a body", r.Method, r.URL, ct)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// last returns the last request whose "METHOD URI" starts with prefix.
func (w *wire) last(prefix string) (wireRequest, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := len(w.reqs) - 1; i >= 0; i-- {
		if strings.HasPrefix(w.reqs[i].Method+" "+w.reqs[i].URI, prefix) {
			return w.reqs[i], true
		}
	}
	return wireRequest{}, false
}

// wsk returns a client configured as the wsk CLI configures
// openwhisk-client-go (commands.go), and its wire.
func wsk(t *testing.T) (*whisk.Client, *wire) {
	t.Helper()
	w := &wire{t: t}
	c, err := whisk.NewClient(&http.Client{Transport: w, Timeout: 2 * time.Minute}, &whisk.Config{
		Host: shared.URL, AuthToken: shared.Auth, Namespace: "_", Version: "v1", UserAgent: cliUserAgent,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, w
}

// actionZip returns the base64 of a zip holding the test action (an
// ActionLoop executable) as exec, mode 0755: what wsk sends for
// action.zip (getExec base64-encodes files ending in .zip).
func actionZip(t *testing.T) string {
	t.Helper()
	bin, err := os.ReadFile(bins.act)
	if err != nil {
		t.Fatal(err)
	}
	return zipExec(t, bin)
}

// skeletonZip is a zip for openwhisk/dockerskeleton (wsk --native): its
// exec, a script run once per activation, answers as testdata/act does,
// from its input in argv[1], after a line of log.
func skeletonZip(t *testing.T) string {
	t.Helper()
	return zipExec(t, []byte("#!/bin/sh\necho \"a log line from $0\"\necho \"$1\" | sed 's/^{/{\"greeting\":\"Hello, stranger!\",/'\n"))
}

// zipExec zips exec as the zip's executable "exec", base64-encoded as wsk
// sends it.
func zipExec(t *testing.T, exec []byte) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: "exec", Method: zip.Deflate}
	h.SetMode(0o755)
	f, err := zw.CreateHeader(h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(exec); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

// wskCreate is `wsk action create NAME ...`: a PUT with overwrite=false
// of the action as parseAction builds it (Namespace "_" from the default
// qualified name). It returns the error the client reports.
func wskCreate(t *testing.T, c *whisk.Client, a *whisk.Action) error {
	t.Helper()
	a.Namespace = "_"
	_, _, err := c.Actions.Insert(a, false)
	if err == nil {
		t.Cleanup(func() { c.Actions.Delete(a.Name) })
	}
	return err
}

// wskInvokeResult is `wsk action invoke NAME -r [-p K V]...`: a POST with
// blocking=true&result=true and the parameters as a JSON object (no body
// without parameters). It returns the result and the HTTP status. An
// activation that outlives the blocking wait (202: a cold start that
// compiles, on a machine whose build cache is cold) is waited for as a
// wsk user would, with `wsk activation result ID`, and its status is
// then that of a blocking answer (200, or 502 for a failed action).
func wskInvokeResult(t *testing.T, c *whisk.Client, name string, params map[string]any) (map[string]any, int) {
	t.Helper()
	var payload any
	if params != nil {
		payload = params
	}
	res, resp, err := c.Actions.Invoke(name, payload, true, true)
	if resp == nil {
		t.Fatalf("wsk action invoke %s -r: %v", name, err)
	}
	if resp.StatusCode == http.StatusAccepted {
		id, _ := res.(map[string]any)["activationId"].(string)
		t.Logf("wsk action invoke %s -r: 202 (the blocking wait ran out); waiting for activation %s", name, id)
		deadline := time.Now().Add(3 * time.Minute)
		for {
			act, aresp, err := c.Activations.Get(id)
			switch {
			case err == nil:
				m, _ := act.Response.Result.(map[string]any)
				if act.Response.Success {
					return m, http.StatusOK
				}
				return m, http.StatusBadGateway
			case aresp == nil || aresp.StatusCode != http.StatusNotFound || time.Now().After(deadline):
				t.Fatalf("wsk activation get %s (of %s): %v", id, name, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	m, _ := res.(map[string]any)
	if m == nil {
		// The client parses an error answer into err, as wsk prints it.
		var we *whisk.WskError
		if errors.As(err, &we) {
			return map[string]any{"error": we.Error()}, resp.StatusCode
		}
	}
	return m, resp.StatusCode
}

// errStatus is the HTTP status behind a client error (0 if none).
func errStatus(err error) int {
	var we *whisk.WskError
	if errors.As(err, &we) {
		return we.ExitCode + 256
	}
	return 0
}

func wantJSON(t *testing.T, what string, got any, want string) {
	t.Helper()
	b, _ := json.Marshal(got)
	var g, w any
	_ = json.Unmarshal(b, &g)
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want %s: %v", want, err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if !bytes.Equal(gb, wb) {
		t.Errorf("%s = %s, want %s", what, gb, wb)
	}
}

// TestWskActionCreateAndInvoke: each way wsk creates an action, then
// `wsk action invoke NAME -r -p n 1`. The first case is the issue's: a zip
// with an ActionLoop exec created with --docker openwhisk/actionloop-base
// used to fail with "cannot start action: command exited", because wsk
// sends no "binary" and the sandbox passed binary:false to /init, so the
// proxy wrote the base64 text as the executable. OpenWhisk computes
// binary from the code (Exec.isBinaryCode); so does the sandbox now.
func TestWskActionCreateAndInvoke(t *testing.T) {
	zipCode, skeletonCode := actionZip(t), skeletonZip(t)
	yes, no := true, false
	ok := `{"greeting":"Hello, stranger!","n":1}`
	for _, tc := range []struct {
		name string
		// cmd is the wsk command line the request is sent for.
		cmd  string
		exec whisk.Exec
		// wantCreate is the status of a refused create (0: created).
		wantCreate int
		createMsg  string
		// wantStatus and want: the invoke's status and result (JSON), or
		// wantErr: a substring of its error.
		wantStatus int
		want       string
		wantErr    string
	}{
		{name: "docker actionloop-base zip", cmd: "wsk action create echo action.zip --docker openwhisk/actionloop-base",
			exec: whisk.Exec{Kind: "blackbox", Image: "openwhisk/actionloop-base", Code: &zipCode}, wantStatus: 200, want: ok},
		{name: "native zip", cmd: "wsk action create echo skeleton.zip --native",
			exec: whisk.Exec{Kind: "blackbox", Image: "openwhisk/dockerskeleton", Code: &skeletonCode}, wantStatus: 200, want: ok},
		{name: "native zip holding an ActionLoop exec fails as on OpenWhisk", cmd: "wsk action create echo action.zip --native",
			exec: whisk.Exec{Kind: "blackbox", Image: "openwhisk/dockerskeleton", Code: &zipCode}, wantStatus: 502, wantErr: "The action did not return a dictionary or array."},
		{name: "binary true as other clients send it", cmd: "(openwhisk-client-go with Binary: true)",
			exec: whisk.Exec{Kind: "blackbox", Image: "openwhisk/actionloop-base", Code: &zipCode, Binary: &yes}, wantStatus: 200, want: ok},
		{name: "binary false is ignored as OpenWhisk ignores it", cmd: "(a client sending binary: false)",
			exec: whisk.Exec{Kind: "blackbox", Image: "openwhisk/actionloop-base", Code: &zipCode, Binary: &no}, wantStatus: 200, want: ok},
		{name: "docker actionloop-base without code", cmd: "wsk action create echo --docker openwhisk/actionloop-base",
			exec: whisk.Exec{Kind: "blackbox", Image: "openwhisk/actionloop-base"}, wantStatus: 502, wantErr: "Missing main/no code to execute."},
		{name: "docker image the sandbox cannot have", cmd: "wsk action create echo --docker openwhisk/example",
			exec: whisk.Exec{Kind: "blackbox", Image: "openwhisk/example"}, wantStatus: 502,
			wantErr: "Failed to pull container image 'openwhisk/example'. The wsk-route dev sandbox runs actions as local processes and cannot run a docker image: start it with --docker"},
		{name: "native dockerskeleton script", cmd: "wsk action create echo hello.sh --native",
			exec: whisk.Exec{Kind: "blackbox", Image: "openwhisk/dockerskeleton", Code: strp("#!/bin/sh\necho hello from the log\necho '{\"msg\":\"hello\"}'\n")}, wantStatus: 200, want: `{"msg":"hello"}`},
		{name: "docker dockerskeleton with a script", cmd: "wsk action create echo hello.sh --docker openwhisk/dockerskeleton",
			exec: whisk.Exec{Kind: "blackbox", Image: "openwhisk/dockerskeleton", Code: strp("#!/bin/sh\necho \"$1\"\n")}, wantStatus: 200, want: `{"n":1}`},
		{name: "kind blackbox without image", cmd: "wsk action create echo action.zip --kind blackbox",
			exec: whisk.Exec{Kind: "blackbox", Code: &zipCode}, wantCreate: 400, createMsg: "'image' must be a string defined in 'exec' for 'blackbox' actions"},
		{name: "kind the sandbox does not have", cmd: "wsk action create echo hello.js --kind nodejs:20",
			exec: whisk.Exec{Kind: "nodejs:20", Code: strp("function main() { return {} }")}, wantCreate: 400,
			createMsg: "The request content was malformed:\nThe specified runtime 'nodejs:20' is not supported by this platform. Valid values are: '"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, w := wsk(t)
			ex := tc.exec
			err := wskCreate(t, c, &whisk.Action{Name: "echo", Exec: &ex})
			req, sent := w.last("PUT /api/v1/namespaces/_/actions/echo?overwrite=false")
			if !sent {
				t.Fatalf("%s sent no PUT .../actions/echo?overwrite=false", tc.cmd)
			}
			var body struct {
				Exec map[string]any `json:"exec"`
			}
			if err := json.Unmarshal(req.Body, &body); err != nil {
				t.Fatalf("PUT body %s: %v", req.Body, err)
			}
			if _, has := body.Exec["binary"]; has != (tc.exec.Binary != nil) {
				t.Errorf("PUT body %s: binary sent %v, want %v", req.Body, has, tc.exec.Binary != nil)
			}
			if tc.wantCreate != 0 {
				if errStatus(err) != tc.wantCreate || err == nil || !strings.Contains(err.Error(), tc.createMsg) {
					t.Fatalf("%s: %v (status %d), want %d with %q", tc.cmd, err, errStatus(err), tc.wantCreate, tc.createMsg)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s: %v", tc.cmd, err)
			}
			// wsk action get echo: the stored exec says binary from the code.
			a, _, err := c.Actions.Get("echo", false)
			if err != nil {
				t.Fatal(err)
			}
			wantBinary := tc.exec.Code != nil && (*tc.exec.Code == zipCode || *tc.exec.Code == skeletonCode)
			if a.Exec.Binary == nil || *a.Exec.Binary != wantBinary {
				t.Errorf("stored exec.binary %v, want %v", a.Exec.Binary, wantBinary)
			}
			res, status := wskInvokeResult(t, c, "echo", map[string]any{"n": 1})
			if _, sent := w.last("POST /api/v1/namespaces/_/actions/echo?blocking=true&result=true"); !sent {
				t.Error("wsk action invoke -r sent no POST ...?blocking=true&result=true")
			}
			if status != tc.wantStatus {
				t.Errorf("invoke: status %d %v, want %d", status, res, tc.wantStatus)
			}
			if tc.want != "" {
				wantJSON(t, "result", res, tc.want)
			}
			if msg, _ := res["error"].(string); tc.wantErr != "" && !strings.Contains(msg, tc.wantErr) {
				t.Errorf("invoke error %q, want it to contain %q", msg, tc.wantErr)
			}
		})
	}
}

func strp(s string) *string { return &s }

// TestWskActivations: `wsk action invoke` without -r, --blocking, then
// `wsk activation list/get/logs/result/poll`, with their --last forms,
// for a success, an application error and a sequence of the zip action.
func TestWskActivations(t *testing.T) {
	c, w := wsk(t)
	code := actionZip(t)
	if err := wskCreate(t, c, &whisk.Action{Name: "echo", Exec: &whisk.Exec{Kind: "blackbox", Image: "openwhisk/actionloop-base", Code: &code}}); err != nil {
		t.Fatal(err)
	}
	// wsk action create twice --sequence echo,echo
	if err := wskCreate(t, c, &whisk.Action{Name: "twice", Exec: &whisk.Exec{Kind: "sequence", Components: []string{"/_/echo", "/_/echo"}}}); err != nil {
		t.Fatal(err)
	}
	since := time.Now().UnixMilli() - 1

	// wsk action invoke echo -p name Ann: non-blocking, 202 and an id.
	res, resp, err := c.Actions.Invoke("echo", map[string]any{"name": "Ann"}, false, false)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("non-blocking invoke: %v %v", status(resp), err)
	}
	id, _ := res.(map[string]any)["activationId"].(string)
	if id == "" {
		t.Fatalf("non-blocking invoke answered %v", res)
	}
	// wsk activation result ID (polled until the record is there, as a
	// user does).
	var result *whisk.Response
	deadline := time.Now().Add(time.Minute)
	for {
		result, _, err = c.Activations.Result(id)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("wsk activation result %s: %v", id, err)
	}
	if _, sent := w.last("GET /api/v1/namespaces/_/activations/" + id + "/result"); !sent {
		t.Error("wsk activation result sent no GET .../activations/ID/result")
	}
	wantJSON(t, "activation result", result.Result, `{"greeting":"Hello, Ann!","name":"Ann"}`)
	if !result.Success || result.Status != "success" {
		t.Errorf("activation result success %v status %q", result.Success, result.Status)
	}
	// wsk activation get ID
	act, _, err := c.Activations.Get(id)
	if err != nil || act.ActivationID != id || act.Name != "echo" || act.Namespace != "guest" {
		t.Fatalf("wsk activation get: %+v %v", act, err)
	}
	// wsk activation logs ID: the action's lines on both streams.
	logs, _, err := c.Activations.Logs(id)
	if err != nil {
		t.Fatalf("wsk activation logs: %v", err)
	}
	joined := strings.Join(logs.Logs, "\n")
	if !strings.Contains(joined, " stdout: ") || !strings.Contains(joined, " stderr: ") {
		t.Errorf("wsk activation logs %s: %q, want lines of both streams", id, logs.Logs)
	}

	// wsk action invoke echo --blocking -p mode fail: the whole record,
	// an application error, 502.
	res, resp, err = c.Actions.Invoke("echo", map[string]any{"mode": "fail"}, true, false)
	if resp == nil || resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("blocking invoke of a failing action: %s %v", status(resp), err)
	}
	failed := decodeActivation(t, res, resp, err)
	if failed.Response.Status != "application error" || failed.Response.Success {
		t.Errorf("failed activation response %+v, want an application error", failed.Response)
	}
	// wsk activation logs --last: list limit=1 skip=0, then logs of that id.
	last, _, err := c.Activations.List(&whisk.ActivationListOptions{Limit: 1, Skip: 0})
	if err != nil || len(last) != 1 {
		t.Fatalf("wsk activation list --limit 1: %v %v", last, err)
	}
	if _, sent := w.last("GET /api/v1/namespaces/_/activations?limit=1&skip=0"); !sent {
		t.Error("--last sent no GET .../activations?limit=1&skip=0")
	}
	if last[0].ActivationID != failed.ActivationID {
		t.Errorf("--last is %s, want the failed activation %s", last[0].ActivationID, failed.ActivationID)
	}
	if l, _, err := c.Activations.Logs(last[0].ActivationID); err != nil || len(l.Logs) == 0 {
		t.Errorf("wsk activation logs --last of an application error: %v %v", l, err)
	}

	// wsk action invoke twice -r -p name Bo: a sequence of the zip action.
	r, st := wskInvokeResult(t, c, "twice", map[string]any{"name": "Bo"})
	if st != 200 || r["greeting"] != "Hello, Bo!" {
		t.Errorf("sequence result %d %v", st, r)
	}

	// wsk activation list echo --full: name=echo, docs=true.
	list, _, err := c.Activations.List(&whisk.ActivationListOptions{Name: "echo", Docs: true, Limit: 30})
	if err != nil {
		t.Fatal(err)
	}
	if _, sent := w.last("GET /api/v1/namespaces/_/activations?docs=true&limit=30&name=echo&skip=0"); !sent {
		t.Error("wsk activation list echo --full sent no GET ...?docs=true&limit=30&name=echo&skip=0")
	}
	if len(list) < 4 {
		t.Errorf("wsk activation list echo: %d activations, want the 2 invokes and the sequence's 2", len(list))
	}
	for _, a := range list {
		if a.Name != "echo" || a.Response.Result == nil {
			t.Errorf("listed %s %s without its record (--full)", a.Name, a.ActivationID)
		}
	}
	// wsk activation poll: list since=<start+1> docs=true limit=0 skip=0
	// finds what ran since.
	polled, _, err := c.Activations.List(&whisk.ActivationListOptions{Since: since, Docs: true, Limit: 0, Skip: 0})
	if err != nil {
		t.Fatal(err)
	}
	if _, sent := w.last(fmt.Sprintf("GET /api/v1/namespaces/_/activations?docs=true&limit=0&since=%d&skip=0", since)); !sent {
		t.Error("poll's request was not sent as wsk sends it")
	}
	names := map[string]int{}
	for _, a := range polled {
		names[a.Name]++
	}
	if names["echo"] < 4 || names["twice"] != 1 {
		t.Errorf("wsk activation poll found %v, want echo 4 times and twice once", names)
	}
}

// TestWskLimits: --timeout, --memory, --logsize and --concurrency as
// getLimits sends them, refused outside OpenWhisk's default ranges with
// its messages, stored and enforced inside them.
func TestWskLimits(t *testing.T) {
	code := actionZip(t)
	n := func(v int) *int { return &v }
	for _, tc := range []struct {
		cmd    string
		limits whisk.Limits
		msg    string // "" : accepted
	}{
		{"--timeout 50", whisk.Limits{Timeout: n(50)}, "requirement failed: duration 50 milliseconds below allowed threshold of 100 milliseconds"},
		{"--timeout 300001", whisk.Limits{Timeout: n(300001)}, "requirement failed: duration 300001 milliseconds exceeds allowed threshold of 300000 milliseconds"},
		{"--memory 64", whisk.Limits{Memory: n(64)}, "requirement failed: memory size 64 MB below allowed threshold of 128 MB"},
		{"--memory 1024", whisk.Limits{Memory: n(1024)}, "requirement failed: memory size 1024 MB exceeds allowed threshold of 512 MB"},
		{"--logsize 11", whisk.Limits{Logsize: n(11)}, "requirement failed: log size 11 MB exceeds allowed threshold of 10 MB"},
		{"--concurrency 501", whisk.Limits{Concurrency: n(501)}, "requirement failed: concurrency 501 exceeds allowed threshold of 500"}, // the shared sandbox allows 500
		{"--concurrency 0", whisk.Limits{Concurrency: n(0)}, "requirement failed: concurrency 0 below allowed threshold of 1"},
		{"--timeout 500 --memory 128 --logsize 0 --concurrency 1", whisk.Limits{Timeout: n(500), Memory: n(128), Logsize: n(0), Concurrency: n(1)}, ""},
	} {
		t.Run(tc.cmd, func(t *testing.T) {
			c, w := wsk(t)
			lim := tc.limits
			err := wskCreate(t, c, &whisk.Action{Name: "lim", Exec: &whisk.Exec{Kind: "blackbox", Image: "openwhisk/actionloop-base", Code: &code}, Limits: &lim})
			if req, sent := w.last("PUT /api/v1/namespaces/_/actions/lim?overwrite=false"); !sent || !bytes.Contains(req.Body, []byte(`"limits":{`)) {
				t.Errorf("the create sent no limits: %s", req.Body)
			}
			if tc.msg != "" {
				if errStatus(err) != 400 || err == nil || !strings.Contains(err.Error(), tc.msg) {
					t.Errorf("wsk action create lim action.zip --docker openwhisk/actionloop-base %s: %v, want 400 %q", tc.cmd, err, tc.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			a, _, err := c.Actions.Get("lim", false)
			if err != nil {
				t.Fatal(err)
			}
			wantJSON(t, "stored limits", a.Limits, `{"timeout":500,"memory":128,"logs":0,"concurrency":1}`)
			// --logsize 0 keeps no logs: the activation says they were cut.
			res, resp, err := c.Actions.Invoke("lim", map[string]any{}, true, false)
			act := decodeActivation(t, res, resp, err)
			if len(act.Logs) != 1 || !strings.Contains(act.Logs[0], "Logs were truncated because the total bytes size exceeds the limit of 0 bytes.") {
				t.Errorf("logs with --logsize 0: %q", act.Logs)
			}
			// --timeout 500: an activation of 1.5 s runs out of time.
			res, resp, err = c.Actions.Invoke("lim", map[string]any{"mode": "sleep", "ms": 1500}, true, false)
			act = decodeActivation(t, res, resp, err)
			if act.Response.Status != "action developer error" || !strings.Contains(fmt.Sprint(act.Response.Result), "The action exceeded its time limits of 500 milliseconds.") {
				t.Errorf("a 1.5 s activation with --timeout 500: %+v", act.Response)
			}
		})
	}
}

// TestWskWebParamsAnnotations: `wsk action create/update` with --web
// (webAction's annotations), -p, -a and -P, as wsk sends them; a final
// parameter cannot be overridden at invoke.
func TestWskWebParamsAnnotations(t *testing.T) {
	c, _ := wsk(t)
	code := actionZip(t)
	exec := &whisk.Exec{Kind: "blackbox", Image: "openwhisk/actionloop-base", Code: &code}
	// wsk action create web action.zip --docker openwhisk/actionloop-base --web true -p who web -a description "a web action"
	// (-P params.json with {"where": "file"} adds its keys the same way.)
	a := &whisk.Action{Name: "web", Exec: exec,
		Parameters: whisk.KeyValueArr{{Key: "who", Value: "web"}, {Key: "where", Value: "file"}},
		Annotations: whisk.KeyValueArr{{Key: "description", Value: "a web action"},
			{Key: "web-export", Value: true}, {Key: "raw-http", Value: false}, {Key: "final", Value: true}}}
	if err := wskCreate(t, c, a); err != nil {
		t.Fatal(err)
	}
	got, _, err := c.Actions.Get("web", false)
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range []struct {
		key  string
		want any
	}{{"web-export", true}, {"raw-http", false}, {"final", true}, {"description", "a web action"}, {"exec", "blackbox"}} {
		if v := got.Annotations.GetValue(kv.key); v != kv.want {
			t.Errorf("annotation %s = %v, want %v", kv.key, v, kv.want)
		}
	}
	if got.Parameters.GetValue("who") != "web" || got.Parameters.GetValue("where") != "file" {
		t.Errorf("parameters %v", got.Parameters)
	}
	// Parameters reach the action; a final one cannot be overridden.
	if r, st := wskInvokeResult(t, c, "web", nil); st != 200 || r["who"] != "web" || r["where"] != "file" {
		t.Errorf("invoke with the action's parameters: %d %v", st, r)
	}
	if r, st := wskInvokeResult(t, c, "web", map[string]any{"who": "me"}); st != 400 || !strings.Contains(fmt.Sprint(r["error"]), "Request defines parameters that are not allowed") {
		t.Errorf("overriding a final parameter: %d %v", st, r)
	}
	// wsk action update web --web raw (wsk first GETs the action without code).
	upd := &whisk.Action{Name: "web", Namespace: "_", Annotations: whisk.KeyValueArr{
		{Key: "web-export", Value: true}, {Key: "raw-http", Value: true}, {Key: "final", Value: true}}}
	if _, _, err := c.Actions.Get("web", false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Actions.Insert(upd, true); err != nil {
		t.Fatalf("wsk action update web --web raw: %v", err)
	}
	got, _, err = c.Actions.Get("web", false)
	if err != nil {
		t.Fatal(err)
	}
	if got.Annotations.GetValue("raw-http") != true || got.Version != "0.0.2" || got.Parameters.GetValue("who") != "web" {
		t.Errorf("after --web raw: annotations %v version %s parameters %v", got.Annotations, got.Version, got.Parameters)
	}
}

// TestWskPackages: `wsk package create`, an action in it, `wsk package
// bind`, and the bound action invoked with the parameters merged
// (package < binding < action), end to end.
func TestWskPackages(t *testing.T) {
	c, _ := wsk(t)
	code := actionZip(t)
	// wsk package create tools -p p package -p q package
	if _, _, err := c.Packages.Insert(&whisk.Package{Name: "tools", Namespace: "_", Parameters: whisk.KeyValueArr{{Key: "p", Value: "package"}, {Key: "q", Value: "package"}}}, false); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Packages.Delete("tools") })
	// wsk action create tools/echo action.zip --docker openwhisk/actionloop-base -p r action
	if err := wskCreate(t, c, &whisk.Action{Name: "tools/echo", Exec: &whisk.Exec{Kind: "blackbox", Image: "openwhisk/actionloop-base", Code: &code},
		Parameters: whisk.KeyValueArr{{Key: "r", Value: "action"}}}); err != nil {
		t.Fatal(err)
	}
	// wsk package bind tools mytools -p q binding -p r binding
	if _, _, err := c.Packages.Insert(&whisk.BindingPackage{Name: "mytools", Namespace: "_", Binding: whisk.Binding{Namespace: "_", Name: "tools"},
		Parameters: whisk.KeyValueArr{{Key: "q", Value: "binding"}, {Key: "r", Value: "binding"}}}, false); err != nil {
		t.Fatalf("wsk package bind: %v", err)
	}
	t.Cleanup(func() { c.Packages.Delete("mytools") })
	r, st := wskInvokeResult(t, c, "mytools/echo", map[string]any{"n": 1})
	wantJSON(t, fmt.Sprintf("wsk action invoke mytools/echo -r (%d)", st), r, `{"greeting":"Hello, stranger!","n":1,"p":"package","q":"binding","r":"action"}`)
	r, st = wskInvokeResult(t, c, "tools/echo", nil)
	wantJSON(t, fmt.Sprintf("wsk action invoke tools/echo -r (%d)", st), r, `{"greeting":"Hello, stranger!","p":"package","q":"package","r":"action"}`)
}

// TestWskColdStartVisible: while a first call's container starts and
// its code is prepared, GET .../wsk-route/starts shows it, with its
// phase and age (what `wsk-route invoke` prints as "starting a container
// for X, compiling…"), and it is gone once the container is ready.
func TestWskColdStartVisible(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python3 not found (%v); CI=true requires it", err)
		}
		t.Skipf("python3 not found (%v): skipping (the test runs when CI=true)", err)
	}
	c, _ := wsk(t)
	// A Python action whose import takes 2 s: its /init waits for the
	// launcher's ack, so the cold start lasts that long.
	src := "import time\ntime.sleep(2)\n\ndef main(args):\n    return {\"ok\": True}\n"
	if err := wskCreate(t, c, &whisk.Action{Name: "slow", Exec: &whisk.Exec{Kind: "python:default", Code: &src}}); err != nil {
		t.Fatal(err)
	}
	res, _, err := c.Actions.Invoke("slow", nil, false, false)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := res.(map[string]any)["activationId"].(string)
	starts := func() []map[string]any {
		req, _ := http.NewRequest(http.MethodGet, shared.URL+"/api/v1/namespaces/_/wsk-route/starts?action=slow", nil)
		user, key, _ := strings.Cut(shared.Auth, ":")
		req.SetBasicAuth(user, key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out []map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET .../wsk-route/starts: %d %v", resp.StatusCode, err)
		}
		return out
	}
	deadline := time.Now().Add(30 * time.Second)
	var seen map[string]any
	for seen == nil && time.Now().Before(deadline) {
		for _, s := range starts() {
			if s["activationId"] == id && s["phase"] == "compiling" && s["elapsedMs"].(float64) >= 1000 {
				seen = s
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if seen == nil {
		t.Fatalf("the cold start of %s never showed as compiling for a second", id)
	}
	if seen["action"] != "/guest/slow" || seen["kind"] != "python:3" {
		t.Errorf("cold start %v", seen)
	}
	for time.Now().Before(deadline) {
		if _, _, err := c.Activations.Get(id); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if s := starts(); len(s) != 0 {
		t.Errorf("cold starts after the activation: %v", s)
	}
}

// TestWskKinds: the kinds wsk infers from a file's extension or takes
// from --kind, stored with "default" resolved as OpenWhisk stores its
// manifest's kind, and run.
func TestWskKinds(t *testing.T) {
	const goSrc = "package main\n\nfunc Main(args map[string]interface{}) map[string]interface{} {\n\treturn map[string]interface{}{\"lang\": \"go\", \"n\": args[\"n\"]}\n}\n"
	const pySrc = "def main(args):\n    return {\"lang\": \"python\", \"n\": args.get(\"n\")}\n"
	for _, tc := range []struct {
		cmd, tool, kind, code, wantKind, want string
	}{
		{"wsk action create k hello.go", "go", "go:default", goSrc, "go:1.", `{"lang":"go","n":1}`},
		{"wsk action create k hello.py", "python3", "python:default", pySrc, "python:3", `{"lang":"python","n":1}`},
		{"wsk action create k hello.py --kind python:3", "python3", "python:3", pySrc, "python:3", `{"lang":"python","n":1}`},
	} {
		t.Run(tc.cmd, func(t *testing.T) {
			if _, err := exec.LookPath(tc.tool); err != nil {
				if os.Getenv("CI") == "true" {
					t.Fatalf("%s not found (%v); CI=true requires it", tc.tool, err)
				}
				t.Skipf("%s not found (%v): skipping (the test runs when CI=true)", tc.tool, err)
			}
			c, _ := wsk(t)
			code := tc.code
			if err := wskCreate(t, c, &whisk.Action{Name: "k", Exec: &whisk.Exec{Kind: tc.kind, Code: &code}}); err != nil {
				t.Fatalf("%s: %v", tc.cmd, err)
			}
			a, _, err := c.Actions.Get("k", false)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(a.Exec.Kind, tc.wantKind) || strings.HasSuffix(a.Exec.Kind, ":default") {
				t.Errorf("stored kind %q, want %s…", a.Exec.Kind, tc.wantKind)
			}
			r, st := wskInvokeResult(t, c, "k", map[string]any{"n": 1})
			if st != 200 {
				t.Fatalf("invoke: %d %v", st, r)
			}
			wantJSON(t, "result", r, tc.want)
		})
	}
}

// TestWskListAndInfo: `wsk property get --apibuild`, `wsk namespace
// list`, `wsk list` (actions, packages, triggers, rules of the
// namespace) and `wsk action get NAME --save` (the code back, decoded
// because binary is true) as wsk sends them.
func TestWskListAndInfo(t *testing.T) {
	c, w := wsk(t)
	code := actionZip(t)
	if err := wskCreate(t, c, &whisk.Action{Name: "listed", Exec: &whisk.Exec{Kind: "blackbox", Image: "openwhisk/actionloop-base", Code: &code}}); err != nil {
		t.Fatal(err)
	}
	if info, _, err := c.Info.Get(); err != nil || info.BuildNo == "" {
		t.Errorf("wsk property get --apibuildno: %+v %v, want the sandbox's build", info, err)
	}
	if _, sent := w.last("GET /api/v1"); !sent {
		t.Error("no GET /api/v1")
	}
	// wsk list
	acts, _, err := c.Actions.List("", &whisk.ActionListOptions{Limit: 0, Skip: 0})
	found := false
	for _, a := range acts {
		found = found || a.Name == "listed"
	}
	if err != nil || !found {
		t.Errorf("wsk list: actions %v %v, want listed among them", acts, err)
	}
	if _, _, err := c.Packages.List(&whisk.PackageListOptions{}); err != nil {
		t.Errorf("wsk list: packages: %v", err)
	}
	if ts, _, err := c.Triggers.List(&whisk.TriggerListOptions{}); err != nil || len(ts) != 0 {
		t.Errorf("wsk list: triggers %v %v, want none", ts, err)
	}
	if rs, _, err := c.Rules.List(&whisk.RuleListOptions{}); err != nil || len(rs) != 0 {
		t.Errorf("wsk list: rules %v %v, want none", rs, err)
	}
	// wsk action get listed --save: GET ?code=true, base64-decoded.
	a, _, err := c.Actions.Get("listed", true)
	if _, sent := w.last("GET /api/v1/namespaces/_/actions/listed?code=true"); !sent {
		t.Error("--save sent no GET ...?code=true")
	}
	if err != nil || a.Exec.Code == nil || *a.Exec.Code != code || a.Exec.Binary == nil || !*a.Exec.Binary {
		t.Errorf("wsk action get listed --save: the code is not the zip sent, or not binary (%v)", err)
	}
	// wsk namespace list (it clears the client's namespace, as wsk does).
	ns, _, err := c.Namespaces.List()
	if err != nil || len(ns) != 1 || ns[0].Name != "guest" {
		t.Errorf("wsk namespace list: %v %v", ns, err)
	}
}
