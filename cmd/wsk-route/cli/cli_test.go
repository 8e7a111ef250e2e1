package cli_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
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

	"github.com/apache/openwhisk-client-go/whisk"

	"github.com/wsk-route/wsk-route/action-proxy/server"
	"github.com/wsk-route/wsk-route/cmd/wsk-route/cli"
	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox"
	"github.com/wsk-route/wsk-route/internal/testenv"
)

// bins are the wsk-route binary, the test action and the proxy that the
// in-process sandbox's containers run, built in TestMain.
var bins struct{ wskRoute, act, proxy string }

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	dir, cleanup, err := testenv.BuildStatic(map[string]string{"wsk-route": "..", "act": "../sandbox/testdata/act", "proxy": "../../proxy"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cleanup()
	bins.wskRoute, bins.act, bins.proxy = filepath.Join(dir, "wsk-route"), filepath.Join(dir, "act"), filepath.Join(dir, "proxy")
	stop, err := startSandbox()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := m.Run()
	if err := stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	return code
}

// run runs the CLI in process; it fails the test if Run does not return
// within 30 s (a dev that started instead of failing).
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- cli.Run(args, strings.NewReader(""), &out, &errb) }()
	select {
	case code = <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("wsk-route %s did not return within 30 s", strings.Join(args, " "))
	}
	return code, out.String(), errb.String()
}

func TestHelp(t *testing.T) {
	code, out, errs := run(t, "help")
	if code != 0 {
		t.Fatalf("help: exit %d, stderr %q", code, errs)
	}
	if !strings.Contains(out, "dev") || !strings.Contains(out, "sandbox") {
		t.Errorf("help does not list dev:\n%s", out)
	}
	if strings.Contains(out, "\n  proxy ") {
		t.Errorf("help lists the hidden proxy command:\n%s", out)
	}
}

func TestDevBadFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string // in stderr
	}{
		{"port out of range", []string{"dev", "--port", "70000"}, []string{"--port", "70000"}},
		{"unknown log level", []string{"dev", "--log-level", "loud"}, []string{"--log-level", "loud"}},
		{"auth without colon", []string{"dev", "--port", "0", "--auth", "nocolon"}, []string{"uuid:key"}},
		{"concurrency over the ceiling", []string{"dev", "--port", "0", "--max-concurrency", "501"}, []string{"--max-concurrency 501", "1 (OpenWhisk's default) to 500"}},
		{"concurrency 0", []string{"dev", "--port", "0", "--max-concurrency", "0"}, []string{"--max-concurrency 0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := run(t, tc.args...)
			if code != 1 {
				t.Errorf("exit %d, want 1 (stderr %q)", code, errs)
			}
			for _, w := range tc.want {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr %q does not name %q", errs, w)
				}
			}
		})
	}
}

func TestWriteWskprops(t *testing.T) {
	info := sandbox.Info{URL: "http://127.0.0.1:4321", Auth: "uuid:key", Namespace: "guest"}
	ours := "APIHOST=http://127.0.0.1:4321\nAUTH=uuid:key\nNAMESPACE=guest\n"
	tests := []struct {
		name, old, want string
		exists          bool
	}{
		{"new file in a new directory", "", ours, false},
		{"other lines kept, ours replaced",
			"# my settings\nAPIGW_ACCESS_TOKEN=tok\nAPIHOST=https://old.example\nAUTH = old:key\nNAMESPACE=other\nAPIVERSION=v1\n",
			"# my settings\nAPIGW_ACCESS_TOKEN=tok\nAPIVERSION=v1\n" + ours, true},
		{"written twice is the same", ours, ours, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sub", "wskprops")
			if tc.exists {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(tc.old), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := cli.WriteWskprops(path, info); err != nil {
				t.Fatalf("writeWskprops: %v", err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("wskprops:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
	t.Run("unreadable path", func(t *testing.T) {
		dir := t.TempDir() // a directory is not a wskprops file
		if err := cli.WriteWskprops(dir, info); err == nil {
			t.Error("writing over a directory: no error")
		}
	})
}

func TestProxyVersion(t *testing.T) {
	out, err := exec.Command(bins.wskRoute, "proxy", "-version").Output()
	if err != nil {
		t.Fatalf("wsk-route proxy -version: %v", err)
	}
	if got := strings.TrimSpace(string(out)); got != server.VersionLine() {
		t.Errorf("wsk-route proxy -version printed %q, want %q", got, server.VersionLine())
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// readProps parses a wskprops file.
func readProps(path string) map[string]string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return m
}

func TestDevEndToEnd(t *testing.T) {
	tmp := t.TempDir()
	props, data := filepath.Join(tmp, "wskprops"), filepath.Join(tmp, "data")
	port := freePort(t)
	cmd := exec.Command(bins.wskRoute, "dev", "--port", fmt.Sprint(port), "--write-wskprops", props, "--data-dir", data)
	var stdout, stderr testenv.SyncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		}
	})

	var p map[string]string
	deadline := time.Now().Add(60 * time.Second)
	for p = readProps(props); p["NAMESPACE"] == ""; p = readProps(props) {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("wsk-route dev exited before it wrote %s: %v", props, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 60 s", props)
		}
		time.Sleep(50 * time.Millisecond)
	}
	apiHost, auth := p["APIHOST"], p["AUTH"]
	if want := fmt.Sprintf("http://127.0.0.1:%d", port); apiHost != want {
		t.Errorf("APIHOST %q, want %q", apiHost, want)
	}
	if want := sandbox.GuestUUID + ":" + sandbox.GuestKey; auth != want || p["NAMESPACE"] != "guest" {
		t.Errorf("AUTH %q NAMESPACE %q, want the guest key %q and guest", auth, p["NAMESPACE"], want)
	}
	banner := stdout.String()
	for _, w := range []string{"SANDBOX", "API host:   " + apiHost, "auth:       " + auth, props} {
		if !strings.Contains(banner, w) {
			t.Errorf("banner does not show %q:\n%s", w, banner)
		}
	}

	resp, err := http.Get(apiHost + "/api/v1")
	if err != nil {
		t.Fatalf("GET /api/v1: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /api/v1: %s", resp.Status)
	}

	c, err := whisk.NewClient(&http.Client{Timeout: 60 * time.Second}, &whisk.Config{Host: apiHost, AuthToken: auth, Namespace: "_", Version: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	code, err := os.ReadFile(bins.act)
	if err != nil {
		t.Fatal(err)
	}
	b64, bin := base64.StdEncoding.EncodeToString(code), true
	a := &whisk.Action{Name: "hello", Namespace: "_",
		Exec:       &whisk.Exec{Kind: "blackbox", Image: "openwhisk/actionloop-base", Code: &b64, Binary: &bin},
		Parameters: whisk.KeyValueArr{{Key: "name", Value: "default"}}}
	if _, r, err := c.Actions.Insert(a, true); err != nil {
		t.Fatalf("creating the action: %v (%v)", err, r)
	}
	res, r, err := c.Actions.Invoke("hello", map[string]any{"name": "e2e"}, true, true)
	if err != nil {
		t.Fatalf("invoking: %v (%v)", err, r)
	}
	if m, _ := res.(map[string]any); m["greeting"] != "Hello, e2e!" {
		t.Errorf("result %v, want the greeting Hello, e2e!", res)
	}

	// The invoke started a proxy child (this binary's hidden proxy
	// command): the check after SIGINT below is about it.
	if out, _ := exec.Command("pgrep", "-f", bins.wskRoute+" proxy").Output(); len(out) == 0 {
		t.Errorf("no %s proxy process while the action is warm", bins.wskRoute)
	}
	if fi, err := os.Stat(props); err != nil {
		t.Error(err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: mode %v, want 0600", props, fi.Mode().Perm())
	}

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Errorf("wsk-route dev after SIGINT: %v, want exit 0", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("wsk-route dev did not exit within 15 s of SIGINT")
	}
	if !strings.Contains(stdout.String(), "stopped") {
		t.Errorf("no \"stopped\" on stdout:\n%s", stdout.String())
	}
	if out, _ := exec.Command("pgrep", "-f", bins.wskRoute).Output(); len(out) > 0 {
		t.Errorf("processes of %s left after the sandbox stopped: %s", bins.wskRoute, out)
	}
	if _, err := os.Stat(filepath.Join(data, "wsk-route.db")); err != nil {
		t.Errorf("the data dir lost its store: %v", err)
	}
}
