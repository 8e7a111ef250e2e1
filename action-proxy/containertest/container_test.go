package containertest_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/testenv"
)

const (
	sentinel  = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX"
	proxyPkg  = "github.com/wsk-route/wsk-route/cmd/proxy"
	echoPkg   = "./testdata/echo"
	testLabel = "wsk-route.test=containertest"

	// Bounds on waiting, not timed assertions: past them something is called hung.
	dockerTimeout = testenv.DockerTimeout // one docker command (docker logs)
	reqTimeout    = time.Minute           // one HTTP request that should be answered
	pollTimeout   = time.Minute           // waiting for the proxy to listen, or for logs to arrive
	pollInterval  = 50 * time.Millisecond
	// pausedTimeout is the client timeout of the request sent to a paused container, which
	// must not be answered at all.
	pausedTimeout = 2 * time.Second
)

// TestProxyInContainer builds the proxy and the echo action once, imports an image, and
// runs each scenario in a fresh container of it.
func TestProxyInContainer(t *testing.T) {
	requireDocker(t)

	bins := t.TempDir()
	proxy := goBuild(t, bins, "proxy", proxyPkg)
	echo, err := os.ReadFile(goBuild(t, bins, "echo", echoPkg))
	if err != nil {
		t.Fatal(err)
	}
	image := testenv.ImportProxyImage(t, proxy, "wsk-route/proxy-containertest")

	t.Run("InitAndRun", func(t *testing.T) { testInitAndRun(t, image, echo) })
	t.Run("PauseUnpause", func(t *testing.T) { testPauseUnpause(t, image, echo) })
	t.Run("KillContainer", func(t *testing.T) { testKillContainer(t, image, echo) })
	t.Run("ActionExits", func(t *testing.T) { testActionExits(t, image, echo) })
}

// testInitAndRun checks /init, a rejected re-init, and the three kinds of /run result, with
// exactly one sentinel per stream per /run, after that run's own log lines.
func testInitAndRun(t *testing.T, image string, echo []byte) {
	c := startContainer(t, image)
	checkResponse(t, "first /init", initAction(t, c, echo), http.StatusOK, "{\"ok\":true}\n")
	// A small body: a proxy may answer the re-init before reading it, and with a large body
	// Go's server then resets the connection while the client is still writing.
	r, err := post(c.url+"/init", initBody([]byte("#!/bin/sh\n")), reqTimeout)
	if err != nil {
		t.Fatalf("second /init: %v", err)
	}
	checkResponse(t, "second /init", r, http.StatusForbidden,
		"{\"error\":\"Cannot initialize the action more than once.\"}\n")

	for _, id := range []string{"a-1", "a-2"} {
		value := map[string]any{"name": "run " + id, "nested": map[string]any{"n": 1, "list": []int{1, 2}}}
		r := mustRun(t, c, id, value)
		checkEcho(t, "/run "+id, r, id, value)
	}

	r = mustRun(t, c, "a-3", []int{1, 2, 3})
	checkResponse(t, "/run of an array", r, http.StatusOK, "[1,2,3]\n")
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("/run of an array: Content-Type %q, want application/json", ct)
	}

	r = mustRun(t, c, "a-4", map[string]any{"scalar": true})
	checkResponse(t, "/run returning a scalar", r, http.StatusBadGateway,
		"{\"error\":\"The action did not return a dictionary or array.\"}\n")

	checkSentinels(t, c, "a-1", "a-2", "a-3", "a-4")
}

// testPauseUnpause checks that a paused container does not answer (the request times out on
// the client), and that after unpause the proxy answers again, with its action intact.
func testPauseUnpause(t *testing.T, image string, echo []byte) {
	c := startContainer(t, image)
	checkResponse(t, "/init", initAction(t, c, echo), http.StatusOK, "{\"ok\":true}\n")
	checkEcho(t, "/run before pause", mustRun(t, c, "p-1", map[string]any{"step": 1}), "p-1", map[string]any{"step": 1})

	testenv.Docker(t, nil, "pause", c.name)
	r, err := post(c.url+"/run", runBody("p-2", map[string]any{"step": 2}), pausedTimeout)
	switch {
	case err == nil:
		t.Errorf("/run on a paused container answered %d %q; want no answer", r.status, r.body)
	case !isTimeout(err):
		t.Errorf("/run on a paused container: got %v; want a client timeout (the kernel still accepts)", err)
	}

	testenv.Docker(t, nil, "unpause", c.name)
	// The kernel accepted the timed-out request's connection and buffered the request, so
	// the proxy reads it after unpause, when its caller is gone. As with the upstream proxy
	// (which ignores the caller going away), that must not cost the action: the next /run
	// is answered by it as usual.
	checkEcho(t, "/run after unpause", mustRun(t, c, "p-3", map[string]any{"step": 3}), "p-3", map[string]any{"step": 3})
}

// testKillContainer checks that docker kill ends a /run in flight with a connection error,
// and that later requests fail at once with a connection error: nothing waits for a timeout.
func testKillContainer(t *testing.T, image string, echo []byte) {
	c := startContainer(t, image)
	checkResponse(t, "/init", initAction(t, c, echo), http.StatusOK, "{\"ok\":true}\n")
	checkEcho(t, "/run before kill", mustRun(t, c, "k-1", map[string]any{}), "k-1", map[string]any{})

	type result struct {
		r   *response
		err error
	}
	inflight := make(chan result, 1)
	go func() {
		r, err := post(c.url+"/run", runBody("k-2", map[string]any{"block": true}), reqTimeout)
		inflight <- result{r, err}
	}()
	// The action logs before it blocks: once the line is there, the /run is in the action.
	waitForLogs(t, c, "the blocking /run to reach the action", func(stdout, _ string) bool {
		return hasLine(stdout, "echo-out k-2")
	})

	testenv.Docker(t, nil, "kill", c.name)
	res := <-inflight // bounded by reqTimeout
	switch {
	case res.err == nil:
		t.Errorf("in-flight /run answered %d %q after docker kill; want a connection error", res.r.status, res.r.body)
	case isTimeout(res.err):
		t.Errorf("in-flight /run hung until the client gave up after docker kill: %v", res.err)
	default:
		t.Logf("in-flight /run after docker kill: %v", res.err)
	}

	r, err := post(c.url+"/run", runBody("k-3", map[string]any{}), reqTimeout)
	switch {
	case err == nil:
		t.Errorf("/run to a killed container answered %d %q; want a connection error", r.status, r.body)
	case !isConnError(err):
		t.Errorf("/run to a killed container: got %v; want connection refused or no route to host", err)
	default:
		t.Logf("/run after docker kill: %v", err)
	}
}

// testActionExits checks the action process dying during a /run: that run gets 400
// "command exited" with its sentinels, the next gets 500 "no action defined yet" without,
// and the proxy (the container) stays up.
func testActionExits(t *testing.T, image string, echo []byte) {
	c := startContainer(t, image)
	checkResponse(t, "/init", initAction(t, c, echo), http.StatusOK, "{\"ok\":true}\n")
	checkEcho(t, "/run before exit", mustRun(t, c, "e-1", map[string]any{"x": 1}), "e-1", map[string]any{"x": 1})

	checkResponse(t, "/run that makes the action exit", mustRun(t, c, "e-2", map[string]any{"exit": true}),
		http.StatusBadRequest, "{\"error\":\"command exited\"}\n")
	checkResponse(t, "/run after the action exited", mustRun(t, c, "e-3", map[string]any{"x": 3}),
		http.StatusInternalServerError, "{\"error\":\"no action defined yet\"}\n")

	if running := testenv.Docker(t, nil, "inspect", "-f", "{{.State.Running}}", c.name); running != "true" {
		t.Errorf("the proxy's container is not running after the action exited (State.Running=%s)", running)
	}
	checkSentinels(t, c, "e-1", "e-2")
}

// ---- docker ----

// requireDocker skips the test with -short (unless CI=true) and when docker is not usable,
// or fails it when CI=true.
func requireDocker(t *testing.T) {
	t.Helper()
	if testing.Short() && !testenv.CI() {
		t.Skip("containertest: skipped with -short (builds an image and runs containers)")
	}
	testenv.RequireDocker(t)
}

// goBuild builds pkg as a static executable dir/name and returns its path.
func goBuild(t *testing.T, dir, name, pkg string) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build %s: %v", pkg, err)
	}
	out := filepath.Join(dir, name)
	cmd := exec.Command(goTool, "build", "-trimpath", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// container is one running proxy container.
type container struct {
	name string
	url  string // http://<bridge IP>:8080
}

// startContainer runs image detached and returns it once it has an IP. It is removed when the
// test ends (unpaused first); if the test failed, its logs are logged.
func startContainer(t *testing.T, image string) *container {
	t.Helper()
	c := &container{name: "wsk-route-containertest-" + testenv.RandomID(t)}
	t.Cleanup(func() {
		if t.Failed() {
			if stdout, stderr, err := containerLogs(c.name); err == nil {
				t.Logf("docker logs %s:\n--- stdout\n%s--- stderr\n%s", c.name, stdout, stderr)
			}
		}
		_, _ = testenv.RunDocker(nil, "unpause", c.name) // fails unless paused, which is fine
		if _, err := testenv.RunDocker(nil, "rm", "-f", "-v", c.name); err != nil {
			t.Errorf("removing container %s: %v", c.name, err)
		}
	})
	testenv.Docker(t, nil, "run", "-d", "--name", c.name, "--label", testLabel, image)
	ip := testenv.Docker(t, nil, "inspect", "-f", "{{.NetworkSettings.IPAddress}}", c.name)
	if net.ParseIP(ip) == nil {
		t.Fatalf("container %s has no IP on the default bridge (inspect says %q)", c.name, ip)
	}
	c.url = "http://" + net.JoinHostPort(ip, "8080")
	return c
}

// containerLogs returns what the container wrote on stdout and on stderr.
func containerLogs(name string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), dockerTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", "logs", name)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		return "", "", fmt.Errorf("docker logs %s: %w: %s", name, err, bytes.TrimSpace(e.Bytes()))
	}
	return o.String(), e.String(), nil
}

// waitForLogs polls the container's logs until ready holds, and returns them.
func waitForLogs(t *testing.T, c *container, what string, ready func(stdout, stderr string) bool) (string, string) {
	t.Helper()
	deadline := time.Now().Add(pollTimeout)
	for {
		stdout, stderr, err := containerLogs(c.name)
		if err != nil {
			t.Fatal(err)
		}
		if ready(stdout, stderr) {
			return stdout, stderr
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s in docker logs; stdout:\n%s\nstderr:\n%s", pollTimeout, what, stdout, stderr)
		}
		time.Sleep(pollInterval)
	}
}

// checkSentinels checks that, on each stream, the echo action's line for each activation id
// is followed by exactly one sentinel, and that there are no other sentinels.
func checkSentinels(t *testing.T, c *container, ids ...string) {
	t.Helper()
	n := len(ids)
	stdout, stderr := waitForLogs(t, c, fmt.Sprintf("%d sentinels per stream", n), func(stdout, stderr string) bool {
		return countLines(stdout, sentinel) >= n && countLines(stderr, sentinel) >= n
	})
	for _, s := range []struct{ name, logs, prefix string }{
		{"stdout", stdout, "echo-out "},
		{"stderr", stderr, "echo-err "},
	} {
		var got, want []string
		for _, line := range strings.Split(s.logs, "\n") {
			if line == sentinel || strings.HasPrefix(line, s.prefix) {
				got = append(got, line)
			}
		}
		for _, id := range ids {
			want = append(want, s.prefix+id, sentinel)
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: action log lines and sentinels in this order:\n%s\nwant:\n%s\nfull %s:\n%s",
				s.name, strings.Join(got, "\n"), strings.Join(want, "\n"), s.name, s.logs)
		}
	}
}

func countLines(logs, line string) int {
	n := 0
	for _, l := range strings.Split(logs, "\n") {
		if l == line {
			n++
		}
	}
	return n
}

func hasLine(logs, line string) bool { return countLines(logs, line) > 0 }

// ---- HTTP, as the invoker speaks it ----

// response is what the proxy answered.
type response struct {
	status           int
	header           http.Header
	contentLength    int64 // -1 when absent
	transferEncoding []string
	body             string
}

// post sends one JSON request on a new connection, as the invoker does (no keep-alive).
func post(url string, body any, timeout time.Duration) (*response, error) {
	return send(&http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}, url, body)
}

// send posts body as JSON to url with client and reads the whole answer.
func send(client *http.Client, url string, body any) (*response, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading the answer to POST %s: %w", url, err)
	}
	return &response{
		status:           resp.StatusCode,
		header:           resp.Header,
		contentLength:    resp.ContentLength,
		transferEncoding: resp.TransferEncoding,
		body:             string(data),
	}, nil
}

// initBody is the invoker's /init for a native binary action.
func initBody(code []byte) map[string]any {
	return map[string]any{"value": map[string]any{
		"name":   "echo",
		"main":   "main",
		"binary": true,
		"code":   base64.StdEncoding.EncodeToString(code),
		"env": map[string]string{
			"MY_INIT_PARAM":  "x",
			"__OW_NAMESPACE": "guest",
		},
	}}
}

// initAction sends /init, retrying while the proxy is not listening yet, like the invoker.
func initAction(t *testing.T, c *container, code []byte) *response {
	t.Helper()
	deadline := time.Now().Add(pollTimeout)
	for {
		r, err := post(c.url+"/init", initBody(code), reqTimeout)
		if err == nil {
			return r
		}
		if !isConnError(err) || time.Now().After(deadline) {
			t.Fatalf("POST %s/init: %v", c.url, err)
		}
		time.Sleep(pollInterval)
	}
}

// runBody is the invoker's /run: the value plus the activation context, all strings.
func runBody(id string, value any) map[string]any {
	return map[string]any{
		"value":          value,
		"namespace":      "guest",
		"action_name":    "/guest/echo",
		"action_version": "0.0.1",
		"activation_id":  id,
		"transaction_id": "tx-" + id,
		"deadline":       strconv.FormatInt(time.Now().Add(time.Minute).UnixMilli(), 10),
	}
}

// mustRun sends /run and fails the test if it gets no answer.
func mustRun(t *testing.T, c *container, id string, value any) *response {
	t.Helper()
	r, err := post(c.url+"/run", runBody(id, value), reqTimeout)
	if err != nil {
		t.Fatalf("POST %s/run (%s): %v", c.url, id, err)
	}
	return r
}

// checkResponse checks status and exact body, and that Content-Length is set and right
// (the invoker takes an answer without it for no answer).
func checkResponse(t *testing.T, what string, r *response, status int, body string) {
	t.Helper()
	if r.status != status || r.body != body {
		t.Errorf("%s: got %d %q, want %d %q", what, r.status, r.body, status, body)
	}
	checkContentLength(t, what, r)
}

func checkContentLength(t *testing.T, what string, r *response) {
	t.Helper()
	switch {
	case r.contentLength < 0:
		t.Errorf("%s: no Content-Length (Transfer-Encoding %v)", what, r.transferEncoding)
	case r.contentLength != int64(len(r.body)):
		t.Errorf("%s: Content-Length %d, body of %d bytes", what, r.contentLength, len(r.body))
	}
}

// checkEcho checks a 200 answer of the echo action to activation id with value.
func checkEcho(t *testing.T, what string, r *response, id string, value any) {
	t.Helper()
	checkContentLength(t, what, r)
	if r.status != http.StatusOK {
		t.Errorf("%s: got %d %q, want 200", what, r.status, r.body)
		return
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q, want application/json", what, ct)
	}
	if !strings.HasSuffix(r.body, "}\n") || strings.Count(r.body, "\n") != 1 {
		t.Errorf("%s: body %q is not the action's result line, verbatim with its newline", what, r.body)
	}
	var got struct {
		Echo         json.RawMessage `json:"echo"`
		ActivationID string          `json:"activation_id"`
		InitParam    string          `json:"init_param"`
		WaitForAck   string          `json:"wait_for_ack"`
	}
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		t.Errorf("%s: body %q: %v", what, r.body, err)
		return
	}
	want, err := json.Marshal(value)
	if err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, got.Echo); err != nil || compact.String() != string(want) {
		t.Errorf("%s: the action saw value %s, want %s", what, got.Echo, want)
	}
	if got.ActivationID != id {
		t.Errorf("%s: the action saw __OW_ACTIVATION_ID=%q, want %q", what, got.ActivationID, id)
	}
	if got.InitParam != "x" {
		t.Errorf("%s: the action saw MY_INIT_PARAM=%q, want %q (from /init env)", what, got.InitParam, "x")
	}
	if got.WaitForAck == "" {
		t.Errorf("%s: the action saw no __OW_WAIT_FOR_ACK, though the image sets OW_WAIT_FOR_ACK", what)
	}
}

// isTimeout reports whether err is a client timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// isConnError reports whether err says nothing listens at the address or it cannot be reached.
func isConnError(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, syscall.ENETUNREACH)
}
