package runtimes_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox/runtimes"
	"github.com/wsk-route/wsk-route/internal/proxytest"
	"github.com/wsk-route/wsk-route/internal/testenv"
	"github.com/wsk-route/wsk-route/internal/whisk"
)

// proxyBin is cmd/proxy, built once by TestMain; installDir holds the
// runtimes every test shares (so Go builds share one cache).
var proxyBin, installDir string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	tmp, cleanup, err := testenv.BuildStatic(map[string]string{"proxy": "github.com/wsk-route/wsk-route/cmd/proxy"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cleanup()
	proxyBin = filepath.Join(tmp, "proxy")
	installDir = filepath.Join(tmp, "runtimes")
	return m.Run()
}

func install(t *testing.T) *runtimes.Set {
	t.Helper()
	s, err := runtimes.Install(installDir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// require returns the kind's runtime, skipping the test when its
// interpreter is missing, unless CI=true, where that fails the test.
func require(t *testing.T, s *runtimes.Set, kind string) runtimes.Runtime {
	t.Helper()
	rt, err := s.Lookup(whisk.Exec{Kind: kind})
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v; CI=true requires it", err)
		}
		t.Skipf("%v: skipping (the test runs when CI=true)", err)
	}
	return rt
}

// proxy is a cmd/proxy process serving on a local port.
type proxy struct {
	url            string
	stdout, stderr *testenv.SyncBuffer
}

// freeAddr returns a local TCP address nothing listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startProxy runs the proxy with PATH plus rt.Env, as the sandbox invoker
// does, until the test ends.
func startProxy(t *testing.T, rt runtimes.Runtime) *proxy {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(proxyBin, "-listen", addr)
	cmd.Dir = t.TempDir()
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, rt.Env...)
	p := &proxy{url: "http://" + addr, stdout: &testenv.SyncBuffer{}, stderr: &testenv.SyncBuffer{}}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-waited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-waited
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return p
		}
		select {
		case err := <-waited:
			t.Fatalf("proxy exited before listening: %v\n%s", err, p.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("proxy not listening on %s within 15s: %v", addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (p *proxy) post(t *testing.T, path string, body []byte) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func (p *proxy) initOK(t *testing.T, body []byte) {
	t.Helper()
	if status, got := p.post(t, "/init", body); status != http.StatusOK || got != `{"ok":true}` {
		t.Fatalf("init: %d %s, want 200 {\"ok\":true}", status, got)
	}
}

func TestLookup(t *testing.T) {
	s := install(t)
	goKind := s.Kinds()["go"]
	for _, tt := range []struct {
		kind, want string // want: canonical kind prefix, or "" for an unknown kind
	}{
		{"python:3", "python:3"},
		{"python:3.11", "python:3"},
		{"python:3.12", "python:3"},
		{"python:default", "python:3"},
		{"go:1.26", "go:1."},
		{"go:1.22", "go:1."},
		{"go:default", "go:1."},
		{"blackbox", "blackbox"},
		{"native", "blackbox"},
		{"nodejs:20", ""},
		{"python:2", ""},
		{"go:1.19", ""},
		{"go:1.x", ""},
		{"sequence", ""},
		{"blackbox:1", ""},
		{"", ""},
	} {
		t.Run(tt.kind, func(t *testing.T) {
			rt, err := s.Lookup(whisk.Exec{Kind: tt.kind})
			if tt.want == "" {
				if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", tt.kind)) || !strings.Contains(err.Error(), "python:3") || !strings.Contains(err.Error(), "blackbox") {
					t.Errorf("Lookup(%q) = %+v, %v; want an error naming the kind and listing the known ones", tt.kind, rt, err)
				}
				return
			}
			if !strings.HasPrefix(rt.Kind, tt.want) {
				t.Errorf("Lookup(%q).Kind = %q, want %s...", tt.kind, rt.Kind, tt.want)
			}
			if err != nil && (rt.Available == nil || !errors.Is(err, rt.Available)) {
				t.Errorf("Lookup(%q) error %v does not carry Available %v", tt.kind, err, rt.Available)
			}
		})
	}
	if rt, _ := s.Lookup(whisk.Exec{Kind: "blackbox"}); len(rt.Env) != 0 || rt.Available != nil {
		t.Errorf("blackbox runtime %+v, want no env, available", rt)
	}
	if len(goKind) == 1 {
		if rt, _ := s.Lookup(whisk.Exec{Kind: "go:default"}); rt.Kind != goKind[0] {
			t.Errorf("go:default is %s, Kinds says %s", rt.Kind, goKind[0])
		}
	}
}

func TestInstall(t *testing.T) {
	dir := t.TempDir()
	s1, err := runtimes.Install(dir)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := runtimes.Install(dir) // idempotent
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		path string
		exec bool
	}{
		{"python/compile", true},
		{"python/launcher.py", false},
		{"go/compile", true},
		{"go/launcher.go.tmpl", false},
	} {
		fi, err := os.Stat(filepath.Join(dir, f.path))
		if err != nil {
			t.Errorf("%s: %v", f.path, err)
			continue
		}
		if got := fi.Mode().Perm()&0o111 != 0; got != f.exec {
			t.Errorf("%s mode %v, want executable %v", f.path, fi.Mode(), f.exec)
		}
	}
	k1, k2 := s1.Kinds(), s2.Kinds()
	if fmt.Sprint(k1) != fmt.Sprint(k2) || len(k1["blackbox"]) != 1 {
		t.Errorf("Kinds %v then %v; want the same, with blackbox", k1, k2)
	}
	rt, _ := s1.Lookup(whisk.Exec{Kind: "python:3"})
	want := "OW_COMPILER=" + filepath.Join(dir, "python", "compile")
	if len(rt.Env) == 0 || rt.Env[0] != want {
		t.Errorf("python env %v, want %s first", rt.Env, want)
	}
}

func TestPythonAction(t *testing.T) {
	rt := require(t, install(t), "python:3")
	p := startProxy(t, rt)
	code := "def main(args):\n    return {\"greeting\": \"Hello \" + args.get(\"name\", \"stranger\")}\n"
	p.initOK(t, proxytest.InitPayload(code, "main", nil, false))
	status, got := p.post(t, "/run", proxytest.RunPayload(map[string]any{"name": "Mike"}, nil))
	if status != http.StatusOK || got != `{"greeting":"Hello Mike"}` {
		t.Errorf("run: %d %s, want 200 {\"greeting\":\"Hello Mike\"}", status, got)
	}
}

const goHello = `package main

import "os"

func Main(args map[string]interface{}) map[string]interface{} {
	name, _ := args["name"].(string)
	if name == "" {
		name = "stranger"
	}
	println("log line")
	return map[string]interface{}{"greeting": "Hello " + name, "namespace": os.Getenv("__OW_NAMESPACE")}
}
`

func TestGoAction(t *testing.T) {
	s := install(t)
	rt := require(t, s, "go:default")
	for _, tt := range []struct {
		name string
		init []byte
	}{
		{"single file", proxytest.InitPayload(goHello, "main", nil, false)},
		{"other main", proxytest.InitPayload(strings.Replace(goHello, "func Main", "func Hello", 1), "hello", nil, false)},
		{"zip with go.mod", proxytest.InitPayload(string(proxytest.Zip(t,
			proxytest.File{Name: "go.mod", Body: "module example.com/hello\n\ngo 1.22\n"},
			proxytest.File{Name: "hello.go", Body: goHello},
		)), "main", nil, true)},
		{"zip without go.mod", proxytest.InitPayload(string(proxytest.Zip(t,
			proxytest.File{Name: "hello.go", Body: goHello},
		)), "", nil, true)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := startProxy(t, rt)
			status, got := p.post(t, "/init", tt.init)
			if status != http.StatusOK || got != `{"ok":true}` {
				t.Fatalf("init: %d %s, want 200 {\"ok\":true}\nstderr: %s", status, got, p.stderr)
			}
			for _, name := range []string{"Mike", "Ann"} {
				status, got := p.post(t, "/run", proxytest.RunPayload(map[string]any{"name": name}, map[string]string{"namespace": "guest"}))
				want := `{"greeting":"Hello ` + name + `","namespace":"guest"}`
				if status != http.StatusOK || got != want {
					t.Errorf("run %s: %d %s, want 200 %s", name, status, got, want)
				}
			}
		})
	}
}

// TestGoArrayInput: an array value (a join's or a map's result) reaches a
// Go Main as {"value": [...]}.
func TestGoArrayInput(t *testing.T) {
	s := install(t)
	rt := require(t, s, "go:default")
	const code = `package main

func Main(args map[string]interface{}) map[string]interface{} {
	list, _ := args["value"].([]interface{})
	return map[string]interface{}{"n": len(list)}
}
`
	p := startProxy(t, rt)
	if status, got := p.post(t, "/init", proxytest.InitPayload(code, "main", nil, false)); status != http.StatusOK {
		t.Fatalf("init: %d %s\nstderr: %s", status, got, p.stderr)
	}
	for _, tt := range []struct {
		value any
		want  string
	}{
		{[]any{1, "two", map[string]any{"three": 3}}, `{"n":3}`},
		{[]any{}, `{"n":0}`},
		{map[string]any{"value": []any{1}}, `{"n":1}`},
	} {
		if status, got := p.post(t, "/run", proxytest.RunPayload(tt.value, nil)); status != http.StatusOK || got != tt.want {
			t.Errorf("run %v: %d %s, want %s", tt.value, status, got, tt.want)
		}
	}
}

func TestGoErrors(t *testing.T) {
	s := install(t)
	rt := require(t, s, "go:1.26")
	for _, tt := range []struct {
		name, code, main string
		want             []string
	}{
		{"syntax error", "package main\n\nfunc Main(args map[string]interface{}) map[string]interface{} {\n\treturn args +\n}\n", "main", []string{"exec__.go:5", "syntax error"}},
		{"type error", "package main\n\nfunc Main(args map[string]interface{}) map[string]interface{} {\n\treturn 42\n}\n", "main", []string{"exec__.go:4", "cannot use 42"}},
		{"no such function", goHello, "greet", []string{"undefined: Greet"}},
		{"bad main", goHello, "no-such", []string{"no-such", "is not a Go function name"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := startProxy(t, rt)
			status, got := p.post(t, "/init", proxytest.InitPayload(tt.code, tt.main, nil, false))
			if status != http.StatusBadGateway {
				t.Errorf("init: %d %s, want 502", status, got)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("init response %s does not contain %q", got, w)
				}
			}
		})
	}
	// A panic is the action's error, and the proxy keeps serving.
	p := startProxy(t, rt)
	p.initOK(t, proxytest.InitPayload("package main\n\nfunc Main(args map[string]interface{}) map[string]interface{} {\n\tpanic(\"boom\")\n}\n", "main", nil, false))
	for range 2 {
		if status, got := p.post(t, "/run", proxytest.RunPayload(map[string]any{}, nil)); status != http.StatusOK || got != `{"error":"panic: boom"}` {
			t.Errorf("run of a panicking action: %d %s, want 200 {\"error\":\"panic: boom\"}", status, got)
		}
	}
}

// TestPythonInitErrorLogged checks OW_LOG_INIT_ERROR: the reason goes to
// the logs and the response is the proxy's generic one.
func TestPythonInitErrorLogged(t *testing.T) {
	rt := require(t, install(t), "python:3")
	p := startProxy(t, rt)
	status, got := p.post(t, "/init", proxytest.InitPayload("def main(args)\n    return args\n", "main", nil, false))
	if status != http.StatusBadGateway || strings.Contains(got, "SyntaxError") {
		t.Errorf("init: %d %s, want 502 with the generic message", status, got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(p.stderr.String(), "SyntaxError") {
		if time.Now().After(deadline) {
			t.Fatalf("proxy stderr %q lacks the SyntaxError", p.stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
