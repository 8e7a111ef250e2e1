package main_test

// Black-box tests of the /bin/proxy binary: its flags (-version, -compile,
// -env, -listen) and one init and run against its real stdout and stderr.

import (
	"archive/zip"
	"bytes"
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
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/testenv"
)

// proxyBin is the binary built by TestMain.
var proxyBin string

const sentinel = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX"

// waitLimit only detects hangs; no test expects to wait that long.
const waitLimit = 30 * time.Second

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, cleanup, err := testenv.BuildStatic(map[string]string{"proxy": "."})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cleanup()
	proxyBin = filepath.Join(dir, "proxy")
	return m.Run()
}

// baseEnv is the environment of a proxy started by the tests: PATH only, so
// no OW_* of the machine leaks in.
func baseEnv(extra ...string) []string {
	return append([]string{"PATH=" + os.Getenv("PATH")}, extra...)
}

// proxyCmd prepares the binary with args in a temp working directory.
func proxyCmd(t *testing.T, env []string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(proxyBin, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = env
	return cmd
}

func TestVersion(t *testing.T) {
	cmd := proxyCmd(t, baseEnv(), "-version")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("proxy -version: %v; stderr %q", err, stderr.String())
	}
	re := regexp.MustCompile(`^OpenWhisk ActionLoop Proxy v[0-9][0-9A-Za-z.+-]*, built with go[0-9][^\s]*.*\n$`)
	if !re.MatchString(stdout.String()) {
		t.Errorf("proxy -version printed %q, want a line like %q", stdout.String(), "OpenWhisk ActionLoop Proxy v1.17.1, built with go1.24.1")
	}
	if !strings.Contains(stdout.String(), runtime.Version()) {
		t.Errorf("proxy -version printed %q, want the Go version %s", stdout.String(), runtime.Version())
	}
}

// TestListenFDRefused: -listen fd:N with no listening socket at N, or no
// descriptor number, exits 1 and says what was wrong.
func TestListenFDRefused(t *testing.T) {
	for _, tc := range []struct{ arg, want string }{
		{"fd:x", "want fd:N"},
		{"fd:1", "want fd:N"},
		{"fd:3", "-listen fd:3"}, // nothing passed as descriptor 3
	} {
		cmd := proxyCmd(t, baseEnv(), "-listen", tc.arg)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("proxy -listen %s: %v, stderr %q; want exit 1 and %q", tc.arg, err, stderr.String(), tc.want)
		}
	}
}

// compile runs proxy -compile and returns the zip it writes.
func compile(t *testing.T, env []string, stdin string, args ...string) (*zip.Reader, []byte) {
	t.Helper()
	cmd := proxyCmd(t, env, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("proxy %q: %v; stderr %q", args, err, stderr.String())
	}
	zr, err := zip.NewReader(bytes.NewReader(stdout.Bytes()), int64(stdout.Len()))
	if err != nil {
		t.Fatalf("proxy %q: stdout is not a zip: %v (%d bytes, stderr %q)", args, err, stdout.Len(), stderr.String())
	}
	return zr, stdout.Bytes()
}

// zipFiles returns a zip's regular files by name.
func zipFiles(t *testing.T, zr *zip.Reader) map[string]*zip.File {
	t.Helper()
	files := map[string]*zip.File{}
	for _, f := range zr.File {
		if !f.FileInfo().IsDir() {
			files[f.Name] = f
		}
	}
	return files
}

func readZipFile(t *testing.T, f *zip.File) string {
	t.Helper()
	rc, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const echoScript = "#!/bin/bash\nwhile read line\ndo echo \"$line\" | jq -c .value >&3\ndone\n"

// requireJQ skips a test whose action uses bash and jq when they are
// missing, and fails it instead when CI=true.
func requireJQ(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"bash", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("the test action needs %s: %v", tool, err)
			}
			t.Skipf("the test action needs %s (apt-get install %s): %v", tool, tool, err)
		}
	}
}

func TestCompileShellScript(t *testing.T) {
	// With no OW_COMPILER a script is already executable: the zip holds it
	// as exec.
	zr, _ := compile(t, baseEnv(), echoScript, "-compile", "main")
	files := zipFiles(t, zr)
	exe, ok := files["exec"]
	if !ok {
		t.Fatalf("zip holds %v, want exec", names(files))
	}
	if got := readZipFile(t, exe); got != echoScript {
		t.Errorf("exec is %q, want the script", got)
	}
	if exe.Mode()&0o111 == 0 {
		t.Errorf("exec has mode %v, want executable", exe.Mode())
	}
}

func names(files map[string]*zip.File) []string {
	var n []string
	for k := range files {
		n = append(n, k)
	}
	return n
}

// writeScript writes an executable script into a temp dir.
func writeScript(t *testing.T, name, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCompileWithCompiler(t *testing.T) {
	// OW_COMPILER gets "<main> <src> <bin>" and the -env variables; its
	// bin/ comes back zipped.
	comp := writeScript(t, "compile.sh", `#!/bin/sh
mkdir -p "$3"
printf '#!/bin/sh\n# main=%s greeting=%s source=%s\n' "$1" "$GREETING" "$(cat "$2/exec")" > "$3/exec"
chmod 755 "$3/exec"
echo "test/env" > "$3/exec.env"
`)
	zr, _ := compile(t, baseEnv("OW_COMPILER="+comp), "plain source", "-compile", "hello", "-env", `{"GREETING":"hi there"}`)
	files := zipFiles(t, zr)
	exe, ok := files["exec"]
	if !ok {
		t.Fatalf("zip holds %v, want exec and exec.env", names(files))
	}
	if got, want := readZipFile(t, exe), "#!/bin/sh\n# main=hello greeting=hi there source=plain source\n"; got != want {
		t.Errorf("exec is %q, want %q", got, want)
	}
	if env, ok := files["exec.env"]; !ok || readZipFile(t, env) != "test/env\n" {
		t.Errorf("zip holds %v, want exec.env with test/env", names(files))
	}
}

func TestCompileError(t *testing.T) {
	comp := writeScript(t, "compile.sh", "#!/bin/sh\necho 'syntax error: line 1'\n")
	cmd := proxyCmd(t, baseEnv("OW_COMPILER="+comp), "-compile", "main")
	cmd.Stdin = strings.NewReader("broken source")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("proxy -compile with a failing compiler: %v, want a non-zero exit", err)
	}
	if !strings.Contains(stderr.String(), "syntax error: line 1") {
		t.Errorf("stderr %q does not carry the compiler's output", stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout has %d bytes after a failed compile, want none", stdout.Len())
	}
}

// freePort finds a TCP port that is free on 127.0.0.1 now.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestServe(t *testing.T) {
	requireJQ(t)
	addr := freePort(t)
	logs := t.TempDir()
	stdout, err := os.Create(filepath.Join(logs, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	defer stdout.Close()
	stderr, err := os.Create(filepath.Join(logs, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()

	cmd := proxyCmd(t, baseEnv("__OW_API_HOST=https://h/?a=b"), "-listen", addr)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		<-exited
	}()

	// Wait for the listener, as the invoker retries /init on refusal.
	deadline := time.Now().Add(waitLimit)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("proxy exited before listening: %v; stderr %q", err, readFile(t, stderr.Name()))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("proxy not listening on %s after %v", addr, waitLimit)
		}
		time.Sleep(10 * time.Millisecond)
	}

	client := &http.Client{Timeout: waitLimit, Transport: &http.Transport{DisableKeepAlives: true}}
	post := func(path, body string) (int, string) {
		t.Helper()
		resp, err := client.Post("http://"+addr+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ContentLength != int64(len(b)) {
			t.Errorf("POST %s: Content-Length %d, body %d bytes", path, resp.ContentLength, len(b))
		}
		return resp.StatusCode, string(b)
	}

	script := "#!/bin/bash\nwhile read line\ndo\n  echo \"log line\"\n  echo \"$line\" | jq -c --arg h \"$__OW_API_HOST\" '{host: $h, value: .value}' >&3\ndone\n"
	init, _ := json.Marshal(map[string]any{"value": map[string]any{
		"code": base64.StdEncoding.EncodeToString([]byte(script)), "binary": true, "main": "main",
	}})
	if status, body := post("/run", `{"value":{}}`); status != 500 || body != `{"error":"no action defined yet"}`+"\n" {
		t.Errorf("run before init: got %d %q", status, body)
	}
	if status, body := post("/init", string(init)); status != 200 || body != `{"ok":true}`+"\n" {
		t.Fatalf("init: got %d %q", status, body)
	}
	if status, body := post("/run", `{"value":{"name":"Mike"}}`); status != 200 || body != `{"host":"https://h/?a=b","value":{"name":"Mike"}}`+"\n" {
		t.Errorf("run: got %d %q", status, body)
	}
	if status, body := post("/init", string(init)); status != 403 {
		t.Errorf("second init: got %d %q, want 403", status, body)
	}

	// Like upstream, the action lives under ./action in the working dir.
	if _, err := os.Stat(filepath.Join(cmd.Dir, "action", "1", "bin", "exec")); err != nil {
		t.Errorf("action binary not under ./action/1/bin: %v", err)
	}

	// SIGTERM stops the proxy cleanly.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("proxy after SIGTERM: %v, want exit 0", err)
		}
		exited <- err // for the deferred cleanup
	case <-time.After(waitLimit):
		t.Errorf("proxy still running %v after SIGTERM", waitLimit)
	}

	out := readFile(t, stdout.Name())
	errs := readFile(t, stderr.Name())
	if n := strings.Count(out, sentinel+"\n"); n != 1 || !strings.Contains(out, "log line\n"+sentinel) {
		t.Errorf("stdout %q: want the action's log line then 1 sentinel", out)
	}
	if n := strings.Count(errs, sentinel+"\n"); n != 1 {
		t.Errorf("stderr %q: want 1 sentinel", errs)
	}
	if !strings.Contains(errs, "Cannot initialize the action more than once.") {
		t.Errorf("stderr %q does not log the rejected init", errs)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
