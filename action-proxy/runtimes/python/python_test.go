package python_test

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/server"
	"github.com/wsk-route/wsk-route/internal/proxytest"
)

const (
	sentinel     = proxytest.Sentinel
	executionEnv = "wsk-route/python3"

	// Bodies the proxy answers (openwhisk-runtime-protocol.md 1.2, 1.3).
	bodyBuildFailed = `{"error":"The action failed to generate or locate a binary. See logs for details."}`
	bodyStartFailed = `{"error":"Cannot start action. Check logs for details."}`
	bodyNotDict     = `{"error":"The action did not return a dictionary or array."}`
	bodyReinit      = `{"error":"Cannot initialize the action more than once."}`
	bodyNoCode      = `{"error":"Missing main/no code to execute."}`
	bodyExited      = `{"error":"command exited"}`

	// httpTimeout only stops a hung proxy from hanging the test run.
	httpTimeout = 2 * time.Minute
)

// requirePython skips the test when python3 is missing, unless CI=true, where the
// runtime must be tested.
func requirePython(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python3 is not on PATH (%v); CI=true requires the Python runtime tests to run", err)
		}
		t.Skipf("python3 is not on PATH (%v): skipping the Python runtime tests (they run when CI=true)", err)
	}
}

// compiler is the absolute path of ./compile, the proxy's OW_COMPILER here.
func compiler(t *testing.T) string {
	t.Helper()
	path, err := filepath.Abs("compile")
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// proxy is a wsk-route proxy configured like the Python runtime image, serving over
// HTTP with its log streams in files.
type proxy struct {
	*proxytest.Proxy
}

func newProxy(t *testing.T) *proxy {
	t.Helper()
	requirePython(t)
	px := proxytest.Start(t, func(cfg *server.Config) {
		cfg.Compiler = compiler(t)
		cfg.WaitForAck = true
		cfg.LogInitError = true
		cfg.ExecutionEnv = executionEnv
		// The container environment: PATH for the compiler, and __OW_API_HOST as the
		// invoker sets it (BasicActionRunnerTests "confirm expected environment").
		cfg.Environ = []string{"PATH=" + os.Getenv("PATH"), "__OW_API_HOST=xyz"}
	})
	px.Client.Timeout = httpTimeout
	return &proxy{px}
}

// post sends body to path, checking the transport rules (proxytest.CheckTransport),
// and returns the status and the body without its final newline.
func (p *proxy) post(t *testing.T, path string, body []byte) (int, string) {
	t.Helper()
	r := p.Post(t, path, body)
	return r.Status, strings.TrimSuffix(r.Body, "\n")
}

// initBody is ActionContainer.initPayload for source code.
func initBody(code, main string, env map[string]any) []byte {
	return proxytest.InitPayload(code, main, env, false)
}

// zipInit is initBody for a zip, sent base64-encoded with binary true.
func zipInit(zipped []byte, main string) []byte {
	return proxytest.InitPayload(string(zipped), main, nil, true)
}

// runBody is ActionContainer.runPayload: {"value": value} plus context fields.
func runBody(value any, context map[string]string) []byte {
	return proxytest.RunPayload(value, context)
}

// file is one zip entry.
type file = proxytest.File

func mkZip(t *testing.T, files ...file) []byte { return proxytest.Zip(t, files...) }

// want checks a response's status and exact body.
func want(t *testing.T, what string, status int, body string, wantStatus int, wantBody string) {
	t.Helper()
	if status != wantStatus || body != wantBody {
		t.Errorf("%s: got %d %s, want %d %s", what, status, truncate(body), wantStatus, truncate(wantBody))
	}
}

func truncate(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

func wantEmpty(t *testing.T, name, s string) {
	t.Helper()
	if strings.TrimSpace(s) != "" {
		t.Errorf("%s: want empty, got %q", name, s)
	}
}

func wantContains(t *testing.T, name, s, sub string) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Errorf("%s: want it to contain %q, got %q", name, sub, s)
	}
}

// initOK initializes and requires 200 {"ok":true}.
func (p *proxy) initOK(t *testing.T, body []byte) {
	t.Helper()
	status, got := p.post(t, "/init", body)
	if status != http.StatusOK || got != `{"ok":true}` {
		p.dumpLogs(t)
		t.Fatalf("init: got %d %s, want 200 {\"ok\":true}", status, truncate(got))
	}
}

func (p *proxy) dumpLogs(t *testing.T) {
	t.Helper()
	out, _ := os.ReadFile(p.Stdout.Name())
	errs, _ := os.ReadFile(p.Stderr.Name())
	t.Logf("stdout:\n%s\nstderr:\n%s", out, errs)
}

// ---- BasicActionRunnerTests (openwhisk-runtime-protocol.md 4.2) ----

func TestBasicInitNoCode(t *testing.T) {
	t.Parallel()
	p := newProxy(t)
	// Python312Tests: testNoSource without a code stub, so the init must fail.
	status, body := p.post(t, "/init", initBody("", "", nil))
	if status == http.StatusOK {
		t.Errorf("init with no code: got 200 %s, want a failure", body)
	}
	status, body = p.post(t, "/init", []byte(`{}`))
	if status == http.StatusOK || (body != bodyNoCode && body != bodyBuildFailed) {
		t.Errorf("init {}: got %d %s, want a failure with %s", status, body, bodyNoCode)
	}
}

func TestBasicNotReturningJSONObject(t *testing.T) {
	t.Parallel()
	p := newProxy(t)
	p.initOK(t, initBody("def main(args):\n    return \"not a json object\"\n", "main", nil))
	status, body := p.post(t, "/run", runBody(map[string]any{}, nil))
	want(t, "run", status, body, http.StatusBadGateway, bodyNotDict)
	stdout, stderr := p.Streams(t, 1)
	wantEmpty(t, "stdout", stdout)
	wantEmpty(t, "stderr", stderr)
}

func TestBasicInitTwice(t *testing.T) {
	t.Parallel()
	p := newProxy(t)
	p.initOK(t, initBody("def main(args):\n    return args\n", "main", nil))
	status, body := p.post(t, "/init", initBody("def main(args):\n    return args\n", "main", nil))
	want(t, "second init", status, body, http.StatusForbidden, bodyReinit)
	stdout, stderr := p.Streams(t, 0)
	wantContains(t, "stdout+stderr", stdout+stderr, "Cannot initialize the action more than once.")
}

func TestBasicEntryPointOtherThanMain(t *testing.T) {
	t.Parallel()
	p := newProxy(t)
	p.initOK(t, initBody("def niam(args):\n  return args\n", "niam", nil))
	status, body := p.post(t, "/run", runBody(map[string]any{"string": "hello"}, nil))
	want(t, "run", status, body, http.StatusOK, `{"string":"hello"}`)
	stdout, stderr := p.Streams(t, 1)
	wantEmpty(t, "stdout", stdout)
	wantEmpty(t, "stderr", stderr)
}

func TestBasicEcho(t *testing.T) {
	t.Parallel()
	p := newProxy(t)
	p.initOK(t, initBody(`from __future__ import print_function
import sys
def main(args):
    print('hello stdout')
    print('hello stderr', file=sys.stderr)
    return args
`, "main", nil))
	inputs := []string{`{"string":"hello"}`, `{"string":"❄ ☃ ❄"}`, `{"numbers":[42,1]}`, `{"object":{"a":"A"}}`}
	for _, in := range inputs {
		status, body := p.post(t, "/run", []byte(`{"value":`+in+`}`))
		want(t, "run "+in, status, body, http.StatusOK, in)
	}
	stdout, stderr := p.Streams(t, len(inputs))
	wantContains(t, "stdout", stdout, "hello stdout")
	wantContains(t, "stderr", stderr, "hello stderr")
	// The launcher flushes before it answers: each activation's log line comes
	// before its sentinel.
	for _, s := range []struct{ name, path, line string }{
		{"stdout", p.Stdout.Name(), "hello stdout"},
		{"stderr", p.Stderr.Name(), "hello stderr"},
	} {
		b, _ := os.ReadFile(s.path)
		wantSeq := strings.Repeat(s.line+"\n"+sentinel+"\n", len(inputs))
		if string(b) != wantSeq {
			t.Errorf("%s: got %q, want each log line before its sentinel: %q", s.name, b, wantSeq)
		}
	}
}

func TestBasicUnicode(t *testing.T) {
	t.Parallel()
	p := newProxy(t)
	p.initOK(t, initBody(`# encoding: utf-8
def main(args):
    sep = args['delimiter']
    str = sep + u" ☃ " + sep
    print(str)
    return {"winter" : str }`, "main", nil))
	status, body := p.post(t, "/run", runBody(map[string]any{"delimiter": "❄"}, nil))
	want(t, "run", status, body, http.StatusOK, `{"winter":"❄ ☃ ❄"}`)
	stdout, stderr := p.Streams(t, 1)
	wantContains(t, "stdout", stdout, "❄ ☃ ❄")
	wantEmpty(t, "stderr", stderr)
}

func TestBasicEnvParametersBeforeInit(t *testing.T) {
	t.Parallel()
	p := newProxy(t)
	p.initOK(t, initBody(`import os
somevar = os.environ['SOME_VAR']
another = os.environ['ANOTHER_VAR']

def main(dict):
    global somevar
    global another
    return {
       "SOME_VAR": somevar,
       "ANOTHER_VAR": another
    }
`, "main", map[string]any{"SOME_VAR": "xyz", "ANOTHER_VAR": ""}))
	status, body := p.post(t, "/run", runBody(map[string]any{}, nil))
	want(t, "run", status, body, http.StatusOK, `{"SOME_VAR":"xyz","ANOTHER_VAR":""}`)
	stdout, stderr := p.Streams(t, 1)
	wantEmpty(t, "stdout", stdout)
	wantEmpty(t, "stderr", stderr)
}

func TestBasicExpectedEnv(t *testing.T) {
	t.Parallel()
	p := newProxy(t)
	p.initOK(t, initBody(`import os
def main(dict):
    return {
       "api_host": os.environ['__OW_API_HOST'],
       "api_key": os.environ['__OW_API_KEY'],
       "namespace": os.environ['__OW_NAMESPACE'],
       "action_name": os.environ['__OW_ACTION_NAME'],
       "action_version": os.environ['__OW_ACTION_VERSION'],
       "activation_id": os.environ['__OW_ACTIVATION_ID'],
       "deadline": os.environ['__OW_DEADLINE']
    }`, "main", nil))
	status, body := p.post(t, "/run", runBody(map[string]any{}, map[string]string{
		"api_key": "abc", "namespace": "zzz", "action_name": "xxx", "action_version": "0.0.1",
		"activation_id": "iii", "deadline": "123",
	}))
	want(t, "run", status, body, http.StatusOK,
		`{"api_host":"xyz","api_key":"abc","namespace":"zzz","action_name":"xxx","action_version":"0.0.1","activation_id":"iii","deadline":"123"}`)
	stdout, stderr := p.Streams(t, 1)
	wantEmpty(t, "stdout", stdout)
	wantEmpty(t, "stderr", stderr)
}

func TestBasicLargeInput(t *testing.T) {
	t.Parallel()
	p := newProxy(t)
	p.initOK(t, initBody("def main(args):\n    return args\n", "main", nil))
	in := `{"arg":"` + strings.Repeat("a", 1048561) + `"}`
	status, body := p.post(t, "/run", []byte(`{"value":`+in+`}`))
	if status != http.StatusOK || body != in {
		t.Errorf("run: got %d and %d bytes, want 200 and the %d-byte input back", status, len(body), len(in))
	}
	p.Streams(t, 1)
}

// ---- PythonBasicTests, PythonAdvancedTests, Python3Tests as run by Python312Tests
// (openwhisk-runtime-protocol.md 4.4) ----

func TestPythonZipNonDefaultEntryPoint(t *testing.T) {
	t.Parallel()
	p := newProxy(t)
	p.initOK(t, zipInit(mkZip(t,
		file{Name: "__main__.py", Body: "\nfrom echo import echo\ndef niam(args):\n    return echo(args)\n"},
		file{Name: "echo.py", Body: "\ndef echo(args):\n  return { \"echo\": args }\n"},
	), "niam"))
	status, body := p.post(t, "/run", runBody(map[string]any{"msg": "it works"}, nil))
	want(t, "run", status, body, http.StatusOK, `{"echo":{"msg":"it works"}}`)
	stdout, stderr := p.Streams(t, 1)
	wantEmpty(t, "stdout", stdout)
	wantEmpty(t, "stderr", stderr)
}

func TestPythonZipRelativePaths(t *testing.T) {
	t.Parallel()
	p := newProxy(t)
	p.initOK(t, zipInit(mkZip(t,
		file{Name: "__main__.py", Body: "\ndef main(args):\n    with open('workfile', 'r') as f:\n      return { 'file': f.read() }\n"},
		file{Name: "workfile", Body: "this is a test string"},
	), "main"))
	status, body := p.post(t, "/run", runBody(map[string]any{}, nil))
	want(t, "run", status, body, http.StatusOK, `{"file":"this is a test string"}`)
	stdout, stderr := p.Streams(t, 1)
	wantEmpty(t, "stdout", stdout)
	wantEmpty(t, "stderr", stderr)
}

func TestPythonZipMissingMain(t *testing.T) {
	t.Parallel()
	p := newProxy(t)
	status, body := p.post(t, "/init", zipInit(mkZip(t,
		file{Name: "echo.py", Body: "\ndef echo(args):\n  return { \"echo\": args }\n"},
	), "echo"))
	want(t, "init", status, body, http.StatusBadGateway, bodyBuildFailed)
	stdout, stderr := p.Streams(t, 1)
	wantEmpty(t, "stdout", stdout)
	wantContains(t, "stderr", stderr, "Zip file does not include main__")
}

func TestPythonActionFails(t *testing.T) {
	t.Parallel()
	p := newProxy(t)
	p.initOK(t, initBody(`
def div(x, y):
    return x/y

def main(dict):
    return {"divBy0": div(5,0)}
`, "main", nil))
	status, body := p.post(t, "/run", runBody(map[string]any{}, nil))
	// errorCodeOnRun is false for Python 3.12: the launcher's {"error":...} is a 200.
	want(t, "run", status, body, http.StatusOK, `{"error":"division by zero"}`)
	stdout, stderr := p.Streams(t, 1)
	wantEmpty(t, "stdout", stdout)
	wantContains(t, "stderr", stderr, "Traceback")
	wantContains(t, "stderr", stderr, "ZeroDivisionError")
}

func TestPythonCompilationErrors(t *testing.T) {
	t.Parallel()
	p := newProxy(t)
	status, body := p.post(t, "/init", initBody("\n 10 PRINT \"Hello!\"\n 20 GOTO 10\n", "main", nil))
	want(t, "init", status, body, http.StatusBadGateway, bodyBuildFailed)
	stdout, stderr := p.Streams(t, 1)
	wantEmpty(t, "stdout", stdout)
	wantContains(t, "stderr", stderr, "main__.py")
	if !regexp.MustCompile(`(SyntaxError|IndentationError)`).MatchString(stderr) {
		t.Errorf("stderr: want the syntax error, got %q", stderr)
	}
}

func TestPythonApplicationError(t *testing.T) {
	t.Parallel()
	p := newProxy(t)
	p.initOK(t, initBody("\ndef main(args):\n    return { \"error\": \"sorry\" }\n", "main", nil))
	status, body := p.post(t, "/run", runBody(map[string]any{}, nil))
	want(t, "run", status, body, http.StatusOK, `{"error":"sorry"}`)
	stdout, stderr := p.Streams(t, 1)
	wantEmpty(t, "stdout", stdout)
	wantEmpty(t, "stderr", stderr)
}

func TestPythonUnsupportedImport(t *testing.T) {
	t.Parallel()
	p := newProxy(t)
	status, body := p.post(t, "/init", initBody(`
import iamnotsupported
def main(args):
    return { "error": "not reaching here" }
`, "main", nil))
	want(t, "init", status, body, http.StatusBadGateway, bodyStartFailed)
	stdout, stderr := p.Streams(t, 1)
	wantEmpty(t, "stdout", stdout)
	if !regexp.MustCompile(`Traceback|cannot start`).MatchString(stderr) {
		t.Errorf("stderr: want Traceback|cannot start, got %q", stderr)
	}
	wantContains(t, "stderr", stderr, "iamnotsupported")
}

func TestPythonSysExecutable(t *testing.T) {
	t.Parallel()
	p := newProxy(t)
	p.initOK(t, initBody("\nimport sys\ndef main(args):\n    return { \"sys\": sys.executable }\n", "main", nil))
	status, body := p.post(t, "/run", runBody(map[string]any{}, nil))
	var res struct{ Sys string }
	if status != http.StatusOK || json.Unmarshal([]byte(body), &res) != nil || !strings.Contains(res.Sys, "python") {
		t.Errorf("run: got %d %s, want 200 with a python sys.executable", status, body)
	}
	if !filepath.IsAbs(res.Sys) {
		t.Errorf("sys.executable %q is not absolute", res.Sys)
	}
}

func TestPythonArrays(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, code string
		value      any
	}{
		{"array result", "def main(args):\n    return [\"a\", \"b\"]\n", map[string]any{}},
		{"array input", "def main(args):\n    return args\n", []string{"a", "b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newProxy(t)
			p.initOK(t, initBody(tc.code, "main", nil))
			status, body := p.post(t, "/run", runBody(tc.value, nil))
			want(t, "run", status, body, http.StatusOK, `["a","b"]`)
			stdout, stderr := p.Streams(t, 1)
			wantEmpty(t, "stdout", stdout)
			wantEmpty(t, "stderr", stderr)
		})
	}
}

func TestPythonTerminationAtRun(t *testing.T) {
	t.Parallel()
	p := newProxy(t)
	p.initOK(t, initBody("\nimport sys\ndef main(args):\n  sys.exit(1)\n", "main", nil))
	status, body := p.post(t, "/run", runBody(map[string]any{}, nil))
	want(t, "run", status, body, http.StatusBadRequest, bodyExited)
	stdout, stderr := p.Streams(t, 1)
	wantEmpty(t, "stdout", stdout)
	wantEmpty(t, "stderr", stderr)
}

func TestPythonTerminationAtInit(t *testing.T) {
	t.Parallel()
	p := newProxy(t)
	status, body := p.post(t, "/init", initBody("\nimport sys\nsys.exit(1)\ndef main(args):\n   pass\n", "main", nil))
	want(t, "init", status, body, http.StatusBadGateway, bodyStartFailed)
	stdout, stderr := p.Streams(t, 1)
	wantEmpty(t, "stdout", stdout)
	wantContains(t, "stderr", stderr, "Command exited abruptly during initialization.")
}

func TestPythonReadEnvAtImport(t *testing.T) {
	t.Parallel()
	p := newProxy(t)
	p.initOK(t, initBody(`
import os
X = os.getenv('X')
print(X)
def main(args):
   return { "body": "ok" }
`, "main", map[string]any{"X": "xyz"}))
	status, body := p.post(t, "/run", runBody(map[string]any{}, nil))
	want(t, "run", status, body, http.StatusOK, `{"body":"ok"}`)
	stdout, stderr := p.Streams(t, 1)
	wantContains(t, "stdout", stdout, "xyz")
	wantEmpty(t, "stderr", stderr)
}

// pythonVersion is "python3.X" for the python3 on PATH, the one compile runs with.
func pythonVersion(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("python3", "-c", `import sys; print("python%d.%d" % sys.version_info[:2])`).Output()
	if err != nil {
		t.Fatalf("python3 version: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// virtualenvFiles is an action with a virtualenv/ holding a package the system
// Python does not have, made by hand since pip cannot reach PyPI here. It stands in
// for the suite's python_virtualenv (random_user_agent): main and naim return
// {"agent": ...} from the package.
func virtualenvFiles(t *testing.T) []file {
	sp := "virtualenv/lib/" + pythonVersion(t) + "/site-packages/"
	return []file{
		{Name: "__main__.py", Body: `#!/usr/bin/env python
"""Python Hello virtualenv test."""
from wsk_route_test_agent.user_agent import UserAgent

def main(args):
    return {"agent": UserAgent(limit=100).get_random_user_agent()}

def naim(args):
    return main(args)
`},
		{Name: sp + "wsk_route_test_agent/__init__.py", Body: ""},
		{Name: sp + "wsk_route_test_agent/user_agent.py", Body: `
class UserAgent:
    def __init__(self, limit=1):
        self.limit = limit

    def get_random_user_agent(self):
        return "Mozilla/5.0 (X11; Linux x86_64) wsk-route-test/1.0"
`},
		{Name: "virtualenv/bin/python", Body: "#!/bin/sh\n", Mode: 0o755},
	}
}

func TestPythonVirtualenv(t *testing.T) {
	t.Parallel()
	for _, main := range []string{"main", "naim"} {
		t.Run(main, func(t *testing.T) {
			t.Parallel()
			p := newProxy(t)
			p.initOK(t, zipInit(mkZip(t, virtualenvFiles(t)...), main))
			status, body := p.post(t, "/run", runBody(map[string]any{}, nil))
			want(t, "run", status, body, http.StatusOK, `{"agent":"Mozilla/5.0 (X11; Linux x86_64) wsk-route-test/1.0"}`)
			stdout, stderr := p.Streams(t, 1)
			wantEmpty(t, "stdout", stdout)
			wantEmpty(t, "stderr", stderr)
		})
	}
}

func TestPythonRequirementsTxt(t *testing.T) {
	t.Skip("building a virtualenv from requirements.txt needs pip to download from PyPI, " +
		"and the test machines have no internet access; compile runs " +
		"pip install --target virtualenv/lib/python3.X/site-packages -r requirements.txt")
}

// precompiled is what `proxy -compile main` makes of files: compile's bin/ directory,
// zipped, with exec first.
func precompiled(t *testing.T, main string, files []file, drop string) []byte {
	t.Helper()
	dir := t.TempDir()
	src, bin := filepath.Join(dir, "src"), filepath.Join(dir, "bin")
	for _, f := range files {
		path := filepath.Join(src, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(f.Body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(compiler(t), main, src, bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "__OW_EXECUTION_ENV=" + executionEnv}
	if out, err := cmd.CombinedOutput(); err != nil || len(out) != 0 {
		t.Fatalf("compile: %v, output %q", err, out)
	}
	var zipped []file
	err := filepath.WalkDir(bin, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(bin, path)
		if rel == drop {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		body, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		zipped = append(zipped, file{Name: filepath.ToSlash(rel), Body: string(body), Mode: info.Mode().Perm()})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return mkZip(t, zipped...)
}

func TestPythonPrecompiled(t *testing.T) {
	t.Parallel()
	p := newProxy(t)
	// A zip with an executable exec is not compiled again: the proxy runs it as is.
	p.initOK(t, zipInit(precompiled(t, "naim", virtualenvFiles(t), ""), "ignored"))
	status, body := p.post(t, "/run", runBody(map[string]any{}, nil))
	want(t, "run", status, body, http.StatusOK, `{"agent":"Mozilla/5.0 (X11; Linux x86_64) wsk-route-test/1.0"}`)
}

func TestPythonWrongMainModule(t *testing.T) {
	t.Parallel()
	p := newProxy(t)
	// As the suite's python_virtualenv_invalid_main.zip: -compile output without main__.py.
	status, body := p.post(t, "/init", zipInit(precompiled(t, "main", virtualenvFiles(t), "main__.py"), "main"))
	want(t, "init", status, body, http.StatusBadGateway, bodyStartFailed)
	stdout, stderr := p.Streams(t, 1)
	wantEmpty(t, "stdout", stdout)
	wantContains(t, "stderr", stderr, "main__")
}

func TestPythonInvalidVirtualenv(t *testing.T) {
	t.Parallel()
	p := newProxy(t)
	status, body := p.post(t, "/init", zipInit(mkZip(t,
		file{Name: "__main__.py", Body: "\ndef main(args):\n    return args\n\ndef naim(dict):\n    return main(dict)\n"},
		file{Name: "virtualenv/invalidvirtualenv.md", Body: "not a virtualenv\n"},
	), "main"))
	if status != http.StatusBadGateway || !regexp.MustCompile(`Invalid virtualenv|action failed`).MatchString(body) {
		t.Errorf("init: got %d %s, want 502 matching Invalid virtualenv|action failed", status, body)
	}
	stdout, stderr := p.Streams(t, 1)
	wantEmpty(t, "stdout", stdout)
	wantContains(t, "stderr", stderr, "Invalid virtualenv")
}

// ---- Behaviour of this runtime beyond the upstream suites ----

func TestPythonMissingFunction(t *testing.T) {
	t.Parallel()
	p := newProxy(t)
	status, body := p.post(t, "/init", initBody("def main(args):\n    return args\n", "nope", nil))
	want(t, "init", status, body, http.StatusBadGateway, bodyStartFailed)
	_, stderr := p.Streams(t, 1)
	wantContains(t, "stderr", stderr, "the action has no function 'nope' in main__.py")
}

func TestPythonResults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, code string
		status     int
		body       string
		stderr     string // a substring stderr must hold; "" means empty
	}{
		{"not serializable", "def main(args):\n    return {'s': {1, 2}}\n", http.StatusOK,
			`{"error":"The action's result is not JSON serializable: Object of type set is not JSON serializable"}`, "TypeError"},
		{"NaN", "def main(args):\n    return {'x': float('nan')}\n", http.StatusOK,
			`{"error":"The action's result is not JSON serializable: Out of range float values are not JSON compliant"}`, "ValueError"},
		{"None", "def main(args):\n    pass\n", http.StatusBadGateway, bodyNotDict, ""},
		{"async main", "import asyncio\nasync def main(args):\n    await asyncio.sleep(0)\n    return {'async': True}\n",
			http.StatusOK, `{"async":true}`, ""},
		{"newline in result", "def main(args):\n    return {'s': 'a\\nb'}\n", http.StatusOK, `{"s":"a\nb"}`, ""},
		{"lone surrogate", "def main(args):\n    return {'s': '\\ud800'}\n", http.StatusOK, `{"s":"\ud800"}`, ""},
		{"non-string context", "import os\ndef main(args):\n    return {'n': os.environ.get('__OW_COUNT')}\n",
			http.StatusOK, `{"n":"[1,2]"}`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newProxy(t)
			p.initOK(t, initBody(tc.code, "main", nil))
			status, body := p.post(t, "/run", []byte(`{"value":{},"count":[1,2]}`))
			want(t, "run", status, body, tc.status, tc.body)
			_, stderr := p.Streams(t, 1)
			if tc.stderr == "" {
				wantEmpty(t, "stderr", stderr)
			} else {
				wantContains(t, "stderr", stderr, tc.stderr)
			}
		})
	}
}

func TestPythonExecutionEnvFile(t *testing.T) {
	t.Parallel()
	requirePython(t)
	dir := t.TempDir()
	src, bin := filepath.Join(dir, "src"), filepath.Join(dir, "bin")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "exec"), []byte("def main(args):\n    return args\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(compiler(t), "main", src, bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "__OW_EXECUTION_ENV=" + executionEnv}
	if out, err := cmd.CombinedOutput(); err != nil || len(out) != 0 {
		t.Fatalf("compile: %v, output %q", err, out)
	}
	for _, name := range []string{"exec", "exec__.py", "main__.py", "exec.env"} {
		if _, err := os.Stat(filepath.Join(bin, name)); err != nil {
			t.Errorf("bin/%s: %v", name, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(bin, "exec.env")); string(b) != executionEnv {
		t.Errorf("exec.env = %q, want %q", b, executionEnv)
	}
	if info, err := os.Stat(filepath.Join(bin, "exec")); err == nil && info.Mode().Perm()&0o111 == 0 {
		t.Errorf("bin/exec is not executable: %v", info.Mode())
	}
}

// TestQuickstartExample runs examples/hello-python/hello.py, the README's Python action.
func TestQuickstartExample(t *testing.T) {
	t.Parallel()
	code, err := os.ReadFile(filepath.Join("..", "..", "..", "examples", "hello-python", "hello.py"))
	if err != nil {
		t.Fatal(err)
	}
	p := newProxy(t)
	p.initOK(t, initBody(string(code), "main", nil))
	status, body := p.post(t, "/run", runBody(map[string]any{"name": "Demo"}, nil))
	want(t, "run", status, body, http.StatusOK, `{"greeting":"Hello, Demo!"}`)
	status, body = p.post(t, "/run", runBody(map[string]any{}, nil))
	want(t, "run", status, body, http.StatusOK, `{"greeting":"Hello, World!"}`)
	stdout, stderr := p.Streams(t, 2)
	wantContains(t, "stdout", stdout, "hello-python: greeting Demo")
	wantEmpty(t, "stderr", stderr)
}
