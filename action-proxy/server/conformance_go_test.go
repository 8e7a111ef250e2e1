package server_test

// Section 4.6: openwhisk-runtime-go's Go unit and Example tests
// (openwhisk/*_test.go), replayed through HTTP. Where an Example calls the
// executor directly, the test sends the same program as an action and checks
// the /init answer that carries the executor's error.

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/server"
)

// startWindow is the stock tests' DefaultTimeoutStart (1 s): long enough
// that a child which dies at once is always seen dying during /init.
func startWindow(c *server.Config) {
	c.StartWindow = time.Second
}

func TestConformanceStartTestServer(t *testing.T) {
	h := newHarness(t, nil)
	// startTestServer first posts this invalid body.
	want(t, "init {value: {code: \"\"}}", h.init(t, []byte(`{value: {code: ""}}`)),
		400, errBody("Error unmarshaling request: invalid character 'v' looking for beginning of object key string"))
	// Example_startTestServer, byte for byte.
	want(t, "init {}", h.init(t, []byte(`{}`)), 403, bodyNoCode)
	want(t, "init XXX", h.init(t, []byte(`XXX`)), 400, bodyUnmarshalXXX)
	want(t, "run {}", h.run(t, []byte(`{}`)), 500, bodyNoAction)
	want(t, "run XXX", h.run(t, []byte(`XXX`)), 500, bodyNoAction)
	h.checkStreams(t, 0)
}

func TestConformanceInitRequestErrors(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		status int
		want   string
	}{
		{"empty body", ``, 400, errBody("Error unmarshaling request: unexpected end of JSON input")},
		{"value null", `{"value":null}`, 403, bodyNoCode},
		{"code null", `{"value":{"code":null,"main":"main","binary":false,"env":null}}`, 403, bodyNoCode},
		{"code empty binary", `{"value":{"code":"","binary":true}}`, 403, bodyNoCode},
		{"bad base64", `{"value":{"code":"!!!!","binary":true}}`, 400, errBody("cannot decode the request: illegal base64 data at input byte 0")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			want(t, "init "+tc.body, h.init(t, []byte(tc.body)), tc.status, tc.want)
			want(t, "run", h.run(t, runPayload(map[string]any{}, nil)), 500, bodyNoAction)
			h.checkStreams(t, 0)
		})
	}
}

func TestConformanceBadInitNoCompiler(t *testing.T) {
	h := newHarness(t, startWindow)
	want(t, "run before init", h.run(t, runPayload(map[string]any{"name": "Mike"}, nil)), 500, bodyNoAction)
	want(t, "init {}", h.init(t, []byte(`{}`)), 403, bodyNoCode)
	want(t, "init an ELF that exits at once", h.init(t, childInit("exit")), 502, bodyStartExited)
	want(t, "init a program that says hi and exits", h.init(t, childInit("hi")), 502, bodyStartExited)
	src := "package main\n\nfunc Main(args map[string]interface{}) map[string]interface{} {\n\treturn args\n}\n"
	want(t, "init a source that is not executable", h.init(t, initPayload(src, "main", nil, true)), 502, bodyStartExited)
	want(t, "run after the failed inits", h.run(t, runPayload(map[string]any{"name": "Mike"}, nil)), 500, bodyNoAction)
	// A failed start removes its action directory (outside debug mode).
	if left, _ := filepath.Glob(filepath.Join(h.cfg.BaseDir, "[0-9]*")); len(left) != 0 {
		t.Errorf("action directories left after failed starts: %q", left)
	}
	out, _ := h.checkStreams(t, 0)
	if !strings.Contains(out, "hi") {
		t.Errorf("stdout %q: the child's output is lost", out)
	}
}

func TestConformanceNewExecutorFailed(t *testing.T) {
	// ExampleNewExecutor_failed: "true", "/bin/pwd", "donotexist" and
	// "/etc/passwd" all fail to start with "command exited".
	tests := []struct {
		name string
		code func(t *testing.T) string
	}{
		{"true", hostFile("/bin/true")},
		{"/bin/pwd", hostFile("/bin/pwd")},
		{"donotexist", func(*testing.T) string { return "#!/donotexist/interpreter\necho hi\n" }},
		{"/etc/passwd", func(*testing.T) string { return "root:x:0:0:root:/root:/bin/bash\n" }},
		{"empty file", func(*testing.T) string { return "\n" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, startWindow)
			want(t, "init", h.init(t, initPayload(tc.code(t), "main", nil, true)), 502, bodyStartExited)
			want(t, "run", h.run(t, runPayload(map[string]any{}, nil)), 500, bodyNoAction)
			h.checkStreams(t, 0)
		})
	}
}

// hostFile sends a file of this machine, skipping when it is missing.
func hostFile(path string) func(t *testing.T) string {
	return func(t *testing.T) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Skipf("%s: %v", path, err)
		}
		return string(b)
	}
}

func TestConformanceNewExecutorAck(t *testing.T) {
	// ExampleNewExecutor_ack, _badack, _badack2 through /init, with
	// OW_WAIT_FOR_ACK set and OW_LOG_INIT_ERROR unset.
	tests := []struct {
		mode string
		want string
	}{
		{"hi", bodyAbruptly},
		{"exit", bodyAbruptly},
		{"bad-ack", bodyBadAckInvalid},
		{"empty-ack", bodyNotProperly},
		{"false-ack", bodyNotProperly},
	}
	for _, tc := range tests {
		t.Run(tc.mode, func(t *testing.T) {
			h := newHarness(t, func(c *server.Config) { c.WaitForAck = true })
			want(t, "init", h.init(t, childInit(tc.mode)), 502, tc.want)
			want(t, "run", h.run(t, runPayload(map[string]any{}, nil)), 500, bodyNoAction)
			// A failed init may be retried.
			h.mustInit(t, childInit("echo"))
			wantResult(t, "run after a good init", h.run(t, runPayload(map[string]any{"x": 1}, nil)), `{"x":1}`+"\n")
			out, _ := h.checkStreams(t, 1)
			if tc.mode == "hi" && !strings.Contains(out, "hi") {
				t.Errorf("stdout %q: the child's output is lost", out)
			}
		})
	}
}

func TestConformanceStartFailureLogged(t *testing.T) {
	// With OW_LOG_INIT_ERROR the start error goes to stderr, followed by one
	// sentinel per stream, and the answer is generic (Python's "detect
	// termination at init").
	h := newHarness(t, func(c *server.Config) {
		c.WaitForAck = true
		c.LogInitError = true
	})
	want(t, "init", h.init(t, childInit("hi")), 502, bodyCannotStart)
	out, errs := h.checkStreams(t, 1)
	if !strings.Contains(errs, "Command exited abruptly during initialization.") {
		t.Errorf("stderr %q does not name the start error", errs)
	}
	if !strings.Contains(out, "hi") {
		t.Errorf("stdout %q: the child's output is lost", out)
	}
}

// helloAckZip is openwhisk/_test/helloack.zip: an acking executable and its
// exec.env.
func helloAckZip(t *testing.T, execEnv string) string {
	return makeZip(t,
		zipEntry{Name: "exec", Body: string(childBinary), Mode: 0o755},
		zipEntry{Name: "exec.env", Body: execEnv},
	)
}

func TestConformanceExecutionEnv(t *testing.T) {
	t.Run("check mismatch", func(t *testing.T) {
		h := newHarness(t, func(c *server.Config) {
			c.WaitForAck = true
			c.ExecutionEnv = "bad/env"
		})
		want(t, "init", h.init(t, initPayload(helloAckZip(t, "exec/env\n"), "main", childEnv("echo"), true)), 502, bodyEnvMismatch)
		out, _ := h.checkStreams(t, 0)
		for _, line := range []string{"Expected exec.env should start with bad/env", "Actual value: exec/env"} {
			if !strings.Contains(out, line) {
				t.Errorf("stdout %q does not contain %q", out, line)
			}
		}
		want(t, "run", h.run(t, runPayload(map[string]any{}, nil)), 500, bodyNoAction)
	})
	t.Run("check match", func(t *testing.T) {
		h := newHarness(t, func(c *server.Config) {
			c.WaitForAck = true
			c.ExecutionEnv = "exec/env"
		})
		// exec.env is compared after trimming.
		h.mustInit(t, initPayload(helloAckZip(t, "exec/env\n"), "main", childEnv("echo"), true))
		wantResult(t, "run", h.run(t, runPayload(map[string]any{"name": "Mike"}, nil)), `{"name":"Mike"}`+"\n")
		h.checkStreams(t, 1)
	})
	t.Run("nocheck", func(t *testing.T) {
		h := newHarness(t, func(c *server.Config) { c.WaitForAck = true })
		h.mustInit(t, initPayload(helloAckZip(t, "exec/env"), "main", childEnv("echo"), true))
		h.checkStreams(t, 0)
	})
	t.Run("missing exec.env", func(t *testing.T) {
		h := newHarness(t, func(c *server.Config) {
			c.WaitForAck = true
			c.ExecutionEnv = "exec/env"
		})
		zip := makeZip(t, zipEntry{Name: "exec", Body: string(childBinary), Mode: 0o755})
		got := h.init(t, initPayload(zip, "main", childEnv("echo"), true))
		if got.status != 502 || !strings.HasPrefix(got.body, `{"error":"cannot start action: `) {
			t.Errorf("init without exec.env: got %v, want 502 cannot start action: ...", got)
		}
	})
}

func TestConformanceBadCompile(t *testing.T) {
	t.Run("OW_LOG_INIT_ERROR set", func(t *testing.T) {
		// Example_badcompile.
		h := newHarness(t, func(c *server.Config) {
			c.Compiler = compiler(t, "chatty.sh")
			c.LogInitError = true
		})
		want(t, "init", h.init(t, initPayload("hello", "main", nil, true)), 502, bodyNoBinary)
		out, errs := h.checkStreams(t, 1)
		if !strings.Contains(errs, "error in stdout\nerror in stderr\n") {
			t.Errorf("stderr %q does not hold the compiler's output", errs)
		}
		wantEmpty(t, "stdout", out)
		want(t, "run", h.run(t, runPayload(map[string]any{}, nil)), 500, bodyNoAction)
	})
	t.Run("OW_LOG_INIT_ERROR unset", func(t *testing.T) {
		h := newHarness(t, func(c *server.Config) { c.Compiler = compiler(t, "chatty.sh") })
		want(t, "init", h.init(t, initPayload("hello", "main", nil, true)), 502, errBody("error in stdout\nerror in stderr\n"))
		want(t, "run", h.run(t, runPayload(map[string]any{}, nil)), 500, bodyNoAction)
	})
}

func TestConformanceCompile(t *testing.T) {
	var base string
	h := newHarness(t, func(c *server.Config) {
		c.Compiler = compiler(t, "build.sh")
		c.ExecutionEnv = "compiled/env" // written by build.sh
		base = c.BaseDir
	})
	// Plain text: not executable, so the proxy compiles it with
	// "$OW_COMPILER <main> <abs src> <abs bin>".
	h.mustInit(t, initPayload("MESSAGE from source", "hello", nil, false))
	dir := filepath.Join(base, "1")
	wantBody := fmt.Sprintf(`{"main":"hello","src":%s,"bin":%s,"content":"MESSAGE from source"}`+"\n",
		strconv.Quote(filepath.Join(dir, "src")), strconv.Quote(filepath.Join(dir, "bin")))
	wantResult(t, "run", h.run(t, runPayload(map[string]any{}, nil)), wantBody)
	out, errs := h.checkStreams(t, 1)
	wantEmpty(t, "stdout", out)
	wantEmpty(t, "stderr", errs)
}

func TestConformanceCompileSkippedForExecutables(t *testing.T) {
	// A script starting with #! and an ELF binary are executable: they run
	// without the compiler, which here would fail with output.
	for _, tc := range []struct {
		name string
		init func(t *testing.T) []byte
	}{
		{"script", func(t *testing.T) []byte { return initPayload(action(t, "echo.sh"), "main", nil, false) }},
		{"ELF", func(t *testing.T) []byte { return childInit("echo") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(c *server.Config) { c.Compiler = compiler(t, "chatty.sh") })
			h.mustInit(t, tc.init(t))
			wantResult(t, "run", h.run(t, runPayload(map[string]any{"a": "b"}, nil)), `{"a":"b"}`+"\n")
		})
	}
}

func TestConformanceSetEnv(t *testing.T) {
	// Example_SetEnv: init env values that are not strings are exported
	// as their JSON text.
	h := newHarness(t, nil)
	env := map[string]any{
		"s": "string",
		"n": 123,
		"a": []int{1, 2, 3},
		"o": map[string]int{"a": 1, "b": 2},
		"b": true,
	}
	h.mustInit(t, initPayload(action(t, "setenv.sh"), "main", env, false))
	wantResult(t, "run", h.run(t, runPayload(map[string]any{}, nil)),
		`{"a":"[1,2,3]","o":"{\"a\":1,\"b\":2}","s":"string","n":"123","b":"true"}`+"\n")
}

func TestConformanceShellNoCompiler(t *testing.T) {
	// Example_shell_nocompiler: results are returned byte for byte.
	h := newHarness(t, nil)
	want(t, "run before init", h.run(t, runPayload(map[string]any{"name": "Mike"}, nil)), 500, bodyNoAction)
	h.mustInit(t, initPayload(action(t, "hello.sh"), "", nil, true))
	wantResult(t, "run Mike", h.run(t, runPayload(map[string]any{"name": "Mike"}, nil)), `{"hello": "Mike"}`+"\n")
	wantResult(t, "run world", h.run(t, runPayload(map[string]any{"name": "world"}, nil)), `{"hello": "world"}`+"\n")
	want(t, "run * (the script exits)", h.run(t, runPayload(map[string]any{"name": "*"}, nil)), 400, bodyExited)
	want(t, "run after the exit", h.run(t, runPayload(map[string]any{"name": "Mike"}, nil)), 500, bodyNoAction)
	out, errs := h.checkStreams(t, 3)
	if !strings.Contains(out, "msg=hello Mike\n") || !strings.Contains(out, "msg=hello world\n") {
		t.Errorf("stdout %q misses the script's messages", out)
	}
	if strings.TrimSpace(errs) != "Goodbye!" {
		t.Errorf("stderr %q, want Goodbye!", errs)
	}
}

func TestConformanceStartLatestAction(t *testing.T) {
	t.Run("emit1", func(t *testing.T) {
		// A loop answering 1: a JSON number is not a dictionary or array.
		h := newHarness(t, nil)
		h.mustInit(t, initPayload(action(t, "emit1.sh"), "main", nil, false))
		want(t, "run", h.run(t, []byte(`{"value":{}}`)), 502, bodyNotDict)
		h.checkStreams(t, 1)
	})
	t.Run("terminate", func(t *testing.T) {
		h := newHarness(t, startWindow)
		want(t, "init", h.init(t, initPayload(action(t, "true.sh"), "main", nil, false)), 502, bodyStartExited)
		want(t, "run", h.run(t, []byte(`{"value":{}}`)), 500, bodyNoAction)
		h.checkStreams(t, 0)
	})
}

func TestConformanceTarGz(t *testing.T) {
	h := newHarness(t, nil)
	tgz := makeTarGz(t,
		zipEntry{Name: "exec", Body: action(t, "hello_zip.sh"), Mode: 0o755},
		zipEntry{Name: "data.txt", Body: "data\n"},
	)
	h.mustInit(t, initPayload(tgz, "main", nil, true))
	wantResult(t, "run", h.run(t, runPayload(map[string]any{}, nil)), `{"msg":"hello zip"}`+"\n")
	h.checkStreams(t, 1)
}

func TestConformanceSaveJar(t *testing.T) {
	jar := makeZip(t,
		zipEntry{Name: "META-INF/MANIFEST.MF", Body: "Manifest-Version: 1.0\nMain-Class: Hello\n"},
		zipEntry{Name: "Hello.class", Body: "\xca\xfe\xba\xbe not really a class"},
	)
	t.Run("jar kept", func(t *testing.T) {
		var base string
		h := newHarness(t, func(c *server.Config) {
			c.SaveJar = "app.jar"
			c.Compiler = compiler(t, "jar.sh")
			base = c.BaseDir
		})
		h.mustInit(t, initPayload(jar, "Hello", nil, true))
		wantResult(t, "run", h.run(t, runPayload(map[string]any{}, nil)), `{"jar":"app.jar"}`+"\n")
		if got := readFile(t, filepath.Join(base, "1", "bin", "app.jar")); got != jar {
			t.Errorf("the saved jar differs from the one sent (%d bytes, want %d)", len(got), len(jar))
		}
	})
	t.Run("zip without manifest is extracted", func(t *testing.T) {
		h := newHarness(t, func(c *server.Config) {
			c.SaveJar = "app.jar"
			c.Compiler = compiler(t, "jar.sh")
		})
		zip := makeZip(t, zipEntry{Name: "Hello.class", Body: "\xca\xfe\xba\xbe"})
		got := h.init(t, initPayload(zip, "Hello", nil, true))
		if got.status != 502 || !strings.Contains(got.body, "jar.sh: no ") || !strings.Contains(got.body, "Hello.class") {
			t.Errorf("init: got %v, want 502 with jar.sh's complaint listing Hello.class", got)
		}
	})
}

func TestConformanceRunBodyNewlines(t *testing.T) {
	// The proxy strips the newlines of the /run body: the child reads one
	// line per activation.
	h := newHarness(t, nil)
	h.mustInit(t, initPayload(action(t, "echo.sh"), "main", nil, false))
	body := "{\n  \"value\": {\n    \"a\": 1,\n    \"b\": [\n      2\n    ]\n  },\n  \"namespace\": \"guest\"\n}\n"
	wantResult(t, "run", h.run(t, []byte(body)), `{"a":1,"b":[2]}`+"\n")
	wantResult(t, "next run", h.run(t, runPayload(map[string]any{"c": 3}, nil)), `{"c":3}`+"\n")
	h.checkStreams(t, 2)
}

func TestConformanceDebugReinit(t *testing.T) {
	t.Run("new code replaces the old", func(t *testing.T) {
		h := newHarness(t, func(c *server.Config) { c.Debug = true })
		h.mustInit(t, initPayload(action(t, "echo.sh"), "main", nil, false))
		wantResult(t, "run", h.run(t, runPayload(map[string]any{"v": 1}, nil)), `{"v":1}`+"\n")
		h.mustInit(t, initPayload(action(t, "hello_zip.sh"), "main", nil, false))
		wantResult(t, "run after re-init", h.run(t, runPayload(map[string]any{"v": 2}, nil)), `{"msg":"hello zip"}`+"\n")
	})
	t.Run("the old child is stopped", func(t *testing.T) {
		requireProc(t)
		h := newHarness(t, func(c *server.Config) { c.Debug = true })
		h.mustInit(t, childInit("pid"))
		old := decodePID(t, h.run(t, runPayload(map[string]any{}, nil))).PID
		h.mustInit(t, childInit("pid"))
		if pid := decodePID(t, h.run(t, runPayload(map[string]any{}, nil))).PID; pid == old {
			t.Errorf("run after re-init answered by the old child %d", pid)
		}
		poll(t, "the old child to be reaped", func() bool { return processReaped(old) })
	})
	t.Run("a failed re-init keeps the old action", func(t *testing.T) {
		h := newHarness(t, func(c *server.Config) {
			c.Debug = true
			startWindow(c)
		})
		h.mustInit(t, initPayload(action(t, "echo.sh"), "main", nil, false))
		want(t, "failed re-init", h.init(t, childInit("exit")), 502, bodyStartExited)
		wantResult(t, "run", h.run(t, runPayload(map[string]any{"v": 3}, nil)), `{"v":3}`+"\n")
	})
}

func TestConformanceEnvToChild(t *testing.T) {
	// __OW_* of the proxy's environment reach the child, other variables
	// do not; the proxy adds __OW_PROXY_VERSION, __OW_WAIT_FOR_ACK and
	// __OW_EXECUTION_ENV; the init env is exported before the start.
	h := newHarness(t, func(c *server.Config) {
		c.WaitForAck = true
		c.ExecutionEnv = "exec/env"
		c.Environ = append(c.Environ, "__OW_API_HOST=https://host", "NOT_OW=secret")
	})
	h.mustInit(t, initPayload(helloAckZip(t, "exec/env"), "main", childEnv("env", "MY_INIT_PARAM", "x"), true))
	got := h.run(t, runPayload(map[string]any{}, nil))
	if got.status != 200 {
		t.Fatalf("run: got %v, want 200", got)
	}
	env := map[string]string{}
	decodeJSON(t, got.body, &env)
	for k, v := range map[string]string{
		"__OW_API_HOST":      "https://host",
		"MY_INIT_PARAM":      "x",
		"CHILD_MODE":         "env",
		"__OW_EXECUTION_ENV": "exec/env",
	} {
		if env[k] != v {
			t.Errorf("child env %s=%q, want %q", k, env[k], v)
		}
	}
	for _, k := range []string{"__OW_PROXY_VERSION", "__OW_WAIT_FOR_ACK"} {
		if env[k] == "" {
			t.Errorf("child env has no %s", k)
		}
	}
	if v, ok := env["NOT_OW"]; ok {
		t.Errorf("child env has NOT_OW=%q: only __OW_* variables are passed on", v)
	}
}

func TestConformanceInitEnvOverrides(t *testing.T) {
	// Init env entries override what the proxy sets and copies (2.4).
	h := newHarness(t, func(c *server.Config) {
		c.Environ = append(c.Environ, "__OW_API_HOST=from-proxy")
	})
	h.mustInit(t, childInit("env", "__OW_PROXY_VERSION", "from-init", "__OW_API_HOST", "from-init"))
	env := map[string]string{}
	decodeJSON(t, h.run(t, runPayload(map[string]any{}, nil)).body, &env)
	for _, k := range []string{"__OW_PROXY_VERSION", "__OW_API_HOST"} {
		if env[k] != "from-init" {
			t.Errorf("child env %s=%q, want the init env's value", k, env[k])
		}
	}
}

func TestConformanceFromEnv(t *testing.T) {
	environ := []string{
		"OW_COMPILER=/bin/compile",
		"OW_WAIT_FOR_ACK=1",
		"OW_EXECUTION_ENV=openwhisk/action-python-v3.12",
		"OW_LOG_INIT_ERROR=1",
		"OW_SAVE_JAR=app.jar",
		"__OW_ALLOW_CONCURRENT=true",
		"PATH=/usr/bin",
	}
	c := server.FromEnv(environ)
	if c.Compiler != "/bin/compile" || !c.WaitForAck || c.ExecutionEnv != "openwhisk/action-python-v3.12" ||
		!c.LogInitError || c.SaveJar != "app.jar" || !c.AllowConcurrent {
		t.Errorf("FromEnv(%q) = %+v", environ, c)
	}
	z := server.FromEnv([]string{"OW_WAIT_FOR_ACK=", "OW_LOG_INIT_ERROR=", "__OW_ALLOW_CONCURRENT=false"})
	if z.WaitForAck || z.LogInitError || z.AllowConcurrent || z.Compiler != "" {
		t.Errorf("FromEnv with empty values = %+v, want nothing enabled", z)
	}
}
