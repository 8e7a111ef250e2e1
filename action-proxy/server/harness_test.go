package server_test

// The harness replays OpenWhisk's action-container test suites
// (apache/openwhisk ActionContainer.scala, openwhisk-runtime-go's Scala and
// Example tests) as black-box HTTP tests against a Proxy served by
// httptest. See openwhisk-runtime-protocol.md section 4.

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/proxymain"
	"github.com/wsk-route/wsk-route/action-proxy/server"
	"github.com/wsk-route/wsk-route/internal/proxytest"
)

// sentinel and hangTimeout are proxytest's, under the names the
// conformance tests use.
const (
	sentinel    = proxytest.Sentinel
	hangTimeout = proxytest.HangTimeout
)

// childBinary is the testdata/child program, built once by TestMain, and
// childBase64 its base64 encoding.
var (
	childBinary []byte
	childBase64 string
)

func TestMain(m *testing.M) {
	// With WSK_ROUTE_SKELETON, a proxy starts its own binary, named
	// "proxy", as a dockerskeleton action's process: here, this one.
	if filepath.Base(os.Args[0]) == "proxy" {
		os.Exit(proxymain.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "proxy-conformance-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "harness: temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "child")
	cmd := exec.Command(goTool(), "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./testdata/child")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "harness: go build ./testdata/child: %v\n%s", err, out)
		return 1
	}
	childBinary, err = os.ReadFile(bin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "harness:", err)
		return 1
	}
	childBase64 = base64.StdEncoding.EncodeToString(childBinary)
	return m.Run()
}

// goTool finds the go command that runs these tests.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// harness is one Proxy behind an httptest server, with its stdout and stderr
// captured in files, as a container started by ActionContainer.withContainer.
// It is a proxytest.Proxy; the fields name its parts for the tests.
type harness struct {
	pt     *proxytest.Proxy
	cfg    server.Config
	proxy  *server.Proxy
	srv    *httptest.Server
	client *http.Client
	stdout *os.File
	stderr *os.File
}

// newHarness starts a Proxy with proxytest.Start: no compiler and no ack,
// BaseDir in a temp dir, and an environment holding only PATH (for
// compilers); edit changes the config before the Proxy is created.
func newHarness(t *testing.T, edit func(*server.Config)) *harness {
	t.Helper()
	pt := proxytest.Start(t, edit)
	return &harness{
		pt:     pt,
		cfg:    pt.Config,
		proxy:  pt.Handler,
		srv:    pt.Server,
		client: pt.Client,
		stdout: pt.Stdout,
		stderr: pt.Stderr,
	}
}

// response is what the proxy answered (a proxytest.Response).
type response struct {
	status int
	body   string
	header http.Header
}

func fromProxytest(r proxytest.Response) response {
	return response{status: r.Status, body: r.Body, header: r.Header}
}

func (r response) String() string {
	return fmt.Sprintf("%d %q", r.status, r.body)
}

// post sends body to path and checks the transport rules every answer must
// satisfy (proxytest.CheckTransport); a transport error fails the test.
func (h *harness) post(t *testing.T, path string, body []byte) response {
	t.Helper()
	return fromProxytest(h.pt.Post(t, path, body))
}

// tryPost is post for other goroutines and for requests expected to be cut
// short: it returns the transport error instead of failing the test.
func (h *harness) tryPost(ctx context.Context, t *testing.T, path string, body []byte) (response, error) {
	t.Helper()
	r, err := h.pt.TryPost(ctx, t, path, body)
	return fromProxytest(r), err
}

// checkTransport asserts the transport rules of section 1.1.
func checkTransport(t *testing.T, path string, resp *http.Response, n int) {
	t.Helper()
	proxytest.CheckTransport(t, path, resp, n)
}

// init posts an /init body.
func (h *harness) init(t *testing.T, body []byte) response {
	t.Helper()
	return h.post(t, "/init", body)
}

// run posts a /run body.
func (h *harness) run(t *testing.T, body []byte) response {
	t.Helper()
	return h.post(t, "/run", body)
}

// mustInit posts an /init body and requires 200 {"ok":true}.
func (h *harness) mustInit(t *testing.T, body []byte) {
	t.Helper()
	want(t, "init", h.init(t, body), 200, okBody)
}

// okBody is the answer to a successful /init.
const okBody = `{"ok":true}` + "\n"

// errBody is an error answer: {"error":msg} as json.Marshal writes it, and a
// newline.
func errBody(msg string) string {
	b, err := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	if err != nil {
		panic(err)
	}
	return string(b) + "\n"
}

// Error bodies named in the contract (section 1.2, 1.3).
var (
	bodyNoCode        = errBody("Missing main/no code to execute.")
	bodyTwice         = errBody("Cannot initialize the action more than once.")
	bodyNoAction      = errBody("no action defined yet")
	bodyExited        = errBody("command exited")
	bodyNotDict       = errBody("The action did not return a dictionary or array.")
	bodyStartExited   = errBody("cannot start action: command exited")
	bodyNoBinary      = errBody("The action failed to generate or locate a binary. See logs for details.")
	bodyCannotStart   = errBody("Cannot start action. Check logs for details.")
	bodyAbruptly      = errBody("cannot start action: Command exited abruptly during initialization.")
	bodyNotProperly   = errBody("cannot start action: The action did not initialize properly.")
	bodyEnvMismatch   = errBody("cannot start action: Execution environment version mismatch. See logs for details.")
	bodyUnmarshalXXX  = errBody("Error unmarshaling request: invalid character 'X' looking for beginning of value")
	bodyBadAckInvalid = errBody("cannot start action: invalid character 'b' looking for beginning of value")
)

// want checks an exact status and body.
func want(t *testing.T, what string, got response, status int, body string) {
	t.Helper()
	if got.status != status || got.body != body {
		t.Errorf("%s: got %d %q, want %d %q", what, got.status, truncate(got.body), status, truncate(body))
	}
}

// wantResult checks a successful /run: 200, the exact body, and the
// Content-Type of section 1.3.
func wantResult(t *testing.T, what string, got response, body string) {
	t.Helper()
	want(t, what, got, 200, body)
	if got.status == 200 {
		if ct := got.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q, want application/json", what, ct)
		}
	}
}

func truncate(s string) string {
	if len(s) > 300 {
		return s[:300] + fmt.Sprintf("...(%d bytes)", len(s))
	}
	return s
}

// checkStreams requires exactly wantSentinels sentinel lines in each of
// stdout and stderr, and returns both without them (ActionContainer
// checkStreams).
func (h *harness) checkStreams(t *testing.T, wantSentinels int) (stdout, stderr string) {
	t.Helper()
	return h.pt.Streams(t, wantSentinels)
}

// readFile returns a file's content.
func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// wantEmpty requires a stream to be empty after trimming (ActionContainer's
// "shouldBe empty").
func wantEmpty(t *testing.T, name, s string) {
	t.Helper()
	if strings.TrimSpace(s) != "" {
		t.Errorf("%s: want empty, got %q", name, s)
	}
}

// waitForStream polls a stream until it contains s.
func (h *harness) waitForStream(t *testing.T, f *os.File, s string) {
	t.Helper()
	poll(t, "output "+strconv.Quote(s), func() bool {
		b, _ := os.ReadFile(f.Name())
		return bytes.Contains(b, []byte(s))
	})
}

// poll calls cond until it is true, failing the test after hangTimeout.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(hangTimeout)
	for delay := time.Millisecond; !cond(); delay = min(2*delay, 50*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", hangTimeout, what)
		}
		time.Sleep(delay)
	}
}

// initPayload is ActionContainer.initPayload (proxytest.InitPayload).
func initPayload(code string, main string, env map[string]any, binary bool) []byte {
	return proxytest.InitPayload(code, main, env, binary)
}

// runPayload is ActionContainer.runPayload (proxytest.RunPayload).
func runPayload(value any, other map[string]string) []byte {
	return proxytest.RunPayload(value, other)
}

// mustJSON encodes v as the invoker does (proxytest.MustJSON).
func mustJSON(v any) []byte {
	return proxytest.MustJSON(v)
}

// childInit is the /init body for the testdata/child program in the given
// mode, sent base64-encoded as wsk sends a binary. More env entries may be
// given as key, value pairs.
func childInit(mode string, kv ...string) []byte {
	return proxytest.InitBody(childBase64, "main", childEnv(mode, kv...))
}

func childEnv(mode string, kv ...string) map[string]any {
	env := map[string]any{"CHILD_MODE": mode}
	for i := 0; i+1 < len(kv); i += 2 {
		env[kv[i]] = kv[i+1]
	}
	return env
}

// action reads a script from testdata/actions.
func action(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "actions", name))
	if err != nil {
		t.Fatal(err)
	}
	requireTools(t, string(b))
	return string(b)
}

// requireTools skips a test whose script needs bash or jq when they are
// missing, and fails it instead when CI=true.
func requireTools(t *testing.T, script string) {
	t.Helper()
	for _, tool := range []string{"bash", "jq"} {
		if !strings.Contains(script, tool) {
			continue
		}
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("the test actions need %s: %v", tool, err)
			}
			t.Skipf("the test actions need %s (apt-get install %s): %v", tool, tool, err)
		}
	}
}

// compiler copies a script from testdata/compilers into a temp dir, makes
// it executable, and returns its absolute path for Config.Compiler.
func compiler(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "compilers", name))
	if err != nil {
		t.Fatal(err)
	}
	requireTools(t, string(b))
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// zipEntry is one file of a zip built by makeZip. With mode
// os.ModeSymlink the entry is a symlink to body.
type zipEntry = proxytest.File

// makeZip builds a zip in memory (proxytest.Zip) and returns it as a string.
func makeZip(t *testing.T, entries ...zipEntry) string {
	t.Helper()
	return string(proxytest.Zip(t, entries...))
}

// makeTarGz builds a tar.gz in memory.
func makeTarGz(t *testing.T, entries ...zipEntry) string {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		mode := e.Mode
		if mode == 0 {
			mode = 0o644
		}
		hdr := &tar.Header{Name: e.Name, Mode: int64(mode.Perm()), Size: int64(len(e.Body)), Typeflag: tar.TypeReg}
		if mode&os.ModeSymlink != 0 {
			hdr = &tar.Header{Name: e.Name, Mode: 0o777, Linkname: e.Body, Typeflag: tar.TypeSymlink}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag == tar.TypeSymlink {
			continue
		}
		if _, err := io.WriteString(tw, e.Body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// decodeJSON decodes a response body into v.
func decodeJSON(t *testing.T, body string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("decoding %q: %v", truncate(body), err)
	}
}

// jsonUnmarshal decodes s into v; safe in any goroutine.
func jsonUnmarshal(s string, v any) error {
	return json.Unmarshal([]byte(s), v)
}

// pidResult is what the child answers in "pid" mode.
type pidResult struct {
	PID   int             `json:"pid"`
	Value json.RawMessage `json:"value"`
}

func decodePID(t *testing.T, r response) pidResult {
	t.Helper()
	var p pidResult
	if r.status != 200 {
		t.Fatalf("run: got %v, want 200 with a pid", r)
	}
	if err := json.Unmarshal([]byte(r.body), &p); err != nil || p.PID <= 0 {
		t.Fatalf("run: %q is not a pid result: %v", r.body, err)
	}
	return p
}

// processGone reports whether pid has exited: no such process, or a zombie
// waiting to be reaped.
func processGone(pid int) bool {
	f, err := os.Open(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	defer f.Close()
	line, _ := bufio.NewReader(f).ReadString('\n')
	// pid (comm) state ...; comm may hold spaces, so cut at the last ')'.
	i := strings.LastIndexByte(line, ')')
	if i < 0 || i+2 >= len(line) {
		return false
	}
	return line[i+2] == 'Z' || line[i+2] == 'X'
}

// processReaped reports whether pid no longer exists at all.
func processReaped(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return os.IsNotExist(err)
}

// requireProc skips tests that inspect processes through /proc.
func requireProc(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc to watch the child process")
	}
}
