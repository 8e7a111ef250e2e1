package actionloop_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// modesBin is the testdata/modes program, built once by TestMain.
var modesBin string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "actionloop-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	modesBin = filepath.Join(dir, "modes")
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(goBin, "build", "-o", modesBin, "./testdata/modes")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build testdata/modes: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// action is a running modes program, driven like the proxy drives an action: its
// stdin is a pipe, fd 3 the write end of the result pipe, and its environment holds
// only what the test gives it (no PATH).
type action struct {
	t       *testing.T
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	results *bufio.Reader
	stdout  bytes.Buffer
	stderr  bytes.Buffer
}

func startAction(t *testing.T, mode string, env ...string) *action {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	a := &action{t: t, results: bufio.NewReader(r)}
	a.cmd = exec.Command(modesBin, mode)
	a.cmd.Env = env
	a.cmd.ExtraFiles = []*os.File{w}
	a.cmd.Stdout, a.cmd.Stderr = &a.stdout, &a.stderr
	if a.stdin, err = a.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close() // the child holds the write end now: EOF on r means it exited
	t.Cleanup(func() {
		a.stdin.Close()
		if a.cmd.ProcessState == nil {
			a.cmd.Process.Kill()
			a.cmd.Wait()
		}
		r.Close()
	})
	return a
}

// send writes one activation line.
func (a *action) send(line string) {
	a.t.Helper()
	if _, err := io.WriteString(a.stdin, line+"\n"); err != nil {
		a.t.Fatalf("write activation: %v", err)
	}
}

// result reads one line from fd 3, without its newline.
func (a *action) result() string {
	a.t.Helper()
	line, err := a.results.ReadString('\n')
	if err != nil {
		a.t.Fatalf("read result: %v (got %q; stderr %q)", err, line, a.stderr.String())
	}
	return strings.TrimSuffix(line, "\n")
}

// call sends line and returns its result.
func (a *action) call(line string) string {
	a.t.Helper()
	a.send(line)
	return a.result()
}

// exit closes stdin and returns the exit status.
func (a *action) exit() int {
	a.t.Helper()
	a.stdin.Close()
	err := a.cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		a.t.Fatalf("wait: %v", err)
	}
	return a.cmd.ProcessState.ExitCode()
}

func TestProcessAck(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		want []string
	}{
		{"ack on", []string{"__OW_WAIT_FOR_ACK=1"}, []string{`{"ok":true}`, `{"a":1}`}},
		{"ack off", nil, []string{`{"a":1}`}},
		{"empty means off", []string{"__OW_WAIT_FOR_ACK="}, []string{`{"a":1}`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := startAction(t, "echo", tc.env...)
			a.send(`{"value":{"a":1}}`)
			for i, want := range tc.want {
				if got := a.result(); got != want {
					t.Errorf("fd 3 line %d = %q, want %q", i+1, got, want)
				}
			}
			if code := a.exit(); code != 0 {
				t.Errorf("exit status %d, want 0", code)
			}
			if rest, _ := io.ReadAll(a.results); len(rest) != 0 {
				t.Errorf("extra output on fd 3: %q", rest)
			}
		})
	}
}

func TestProcessEnv(t *testing.T) {
	a := startAction(t, "env", "__OW_API_HOST=xyz")
	got := a.call(`{"value":{},"api_key":"abc","namespace":"zzz","action_name":"xxx","action_version":"0.0.1",` +
		`"activation_id":"iii","transaction_id":"ttt","deadline":"123","count":7}`)
	want := `{"__OW_ACTION_NAME":"xxx","__OW_ACTION_VERSION":"0.0.1","__OW_ACTIVATION_ID":"iii",` +
		`"__OW_API_HOST":"xyz","__OW_API_KEY":"abc","__OW_DEADLINE":"123","__OW_NAMESPACE":"zzz",` +
		`"__OW_TRANSACTION_ID":"ttt"}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	// The next activation overwrites what it carries and keeps the rest.
	got = a.call(`{"value":{},"activation_id":"jjj","deadline":"456"}`)
	want = strings.NewReplacer(`"iii"`, `"jjj"`, `"123"`, `"456"`).Replace(want)
	if got != want {
		t.Errorf("second activation: got  %s\nwant %s", got, want)
	}
}

func TestProcessDeadline(t *testing.T) {
	a := startAction(t, "deadline")
	tests := []struct{ line, want string }{
		{`{"value":{},"deadline":"123"}`, `{"deadline":123,"err":"context deadline exceeded"}`},
		{`{"value":{},"deadline":"4102444800000"}`, `{"deadline":4102444800000,"err":""}`},
		{`{"value":{}}`, `{"err":""}`},
	}
	for _, tc := range tests {
		if got := a.call(tc.line); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.line, got, tc.want)
		}
	}
}

func TestProcessResults(t *testing.T) {
	tests := []struct {
		mode, line, want string
	}{
		{"echo", `{"value":["a","b"]}`, `["a","b"]`},
		{"echo", `{}`, `{}`},
		{"echo", `{"value":{"winter":"❄ ☃ ❄"}}`, `{"winter":"❄ ☃ ❄"}`},
		{"error", `{"value":{}}`, `{"error":"boom: \"quoted\"\nsecond line <&>"}`},
		{"scalar", `{"value":{}}`, `"a string but not a map"`},
		{"nil", `{"value":{}}`, `null`},
		{"unencodable", `{"value":{}}`, `{"error":"actionloop: encode the result as JSON: json: unsupported value: NaN"}`},
		{"main", `{"value":{"name":"Demo"}}`, `{"name":"Demo","seen":true}`},
		{"main", `{}`, `{"seen":true}`},
		{"main", `{"value":null}`, `{"seen":true}`},
		{"main", `{"value":["a"]}`, `{"error":"actionloop: the action takes a JSON object but the value is not one (it is an array)"}`},
	}
	for _, tc := range tests {
		t.Run(tc.mode+" "+tc.line, func(t *testing.T) {
			a := startAction(t, tc.mode, "__OW_WAIT_FOR_ACK=1")
			if got := a.result(); got != `{"ok":true}` {
				t.Fatalf("ack = %q", got)
			}
			if got := a.call(tc.line); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
			if code := a.exit(); code != 0 {
				t.Errorf("exit status %d, want 0", code)
			}
		})
	}
}

func TestProcessBadLineThenGood(t *testing.T) {
	a := startAction(t, "echo")
	for _, line := range []string{"not json", "", "[1,2]", `{"value":`} {
		got := a.call(line)
		var res struct{ Error string }
		if err := json.Unmarshal([]byte(got), &res); err != nil || !strings.HasPrefix(res.Error, "actionloop: activation input is not") {
			t.Errorf("%q answered %q, want a JSON error object", line, got)
		}
	}
	if got := a.call(`{"value":{"still":"alive"}}`); got != `{"still":"alive"}` {
		t.Errorf("after bad lines: got %s", got)
	}
}

func TestProcessPanic(t *testing.T) {
	a := startAction(t, "panic")
	if got, want := a.call(`{"value":{"panic":true}}`), `{"error":"actionloop: the action panicked: kaboom"}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if got := a.call(`{"value":{"panic":false}}`); got != `{"panic":false}` {
		t.Errorf("after panic: got %s", got)
	}
	a.exit()
	if !strings.Contains(a.stderr.String(), "kaboom") {
		t.Errorf("stderr %q lacks the panic", a.stderr.String())
	}
}

func TestProcessLogs(t *testing.T) {
	a := startAction(t, "print")
	for range 3 {
		a.call(`{"value":{}}`)
	}
	if code := a.exit(); code != 0 {
		t.Fatalf("exit status %d", code)
	}
	if got := strings.Count(a.stdout.String(), "hello stdout\n"); got != 3 {
		t.Errorf("stdout %q: %d lines, want 3", a.stdout.String(), got)
	}
	if got := strings.Count(a.stderr.String(), "hello stderr\n"); got != 3 {
		t.Errorf("stderr %q: %d lines, want 3", a.stderr.String(), got)
	}
}

func TestProcessHugeLine(t *testing.T) {
	const size = 8 << 20
	big := strings.Repeat("x", size)
	a := startAction(t, "echo", "__OW_WAIT_FOR_ACK=1")
	a.result() // ack
	line := `{"value":{"big":"` + big + `","n":[1,2]},"activation_id":"big"}`
	// Write from a goroutine: the pipe holds far less than 8 MiB, and the child only
	// answers once it has read the whole line.
	errc := make(chan error, 1)
	go func() {
		_, err := io.WriteString(a.stdin, line+"\n")
		errc <- err
	}()
	got := a.result()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if want := `{"big":"` + big + `","n":[1,2]}`; got != want {
		t.Errorf("echo of a %d-byte line: got %d bytes, want %d", len(line), len(got), len(want))
	}
	if got := a.call(`{"value":{"small":1}}`); got != `{"small":1}` {
		t.Errorf("after the huge line: got %s", got)
	}
	if code := a.exit(); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
}

func TestProcessEOF(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []string
	}{
		{"no activation", "", nil},
		{"after activations", `{"value":[1]}` + "\n" + `{"value":[2]}` + "\n", []string{"[1]", "[2]"}},
		{"last line unterminated", `{"value":[1]}`, []string{"[1]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := startAction(t, "echo")
			io.WriteString(a.stdin, tc.input)
			if code := a.exit(); code != 0 {
				t.Errorf("exit status %d, want 0 (stderr %q)", code, a.stderr.String())
			}
			rest, _ := io.ReadAll(a.results)
			var got []string
			if len(rest) > 0 {
				got = strings.Split(strings.TrimSuffix(string(rest), "\n"), "\n")
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("results %q, want %q", got, tc.want)
			}
		})
	}
}

func TestProcessNoResultPipe(t *testing.T) {
	cmd := exec.Command(modesBin, "echo")
	cmd.Env = []string{}
	cmd.Stdin = strings.NewReader(`{"value":{}}` + "\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("run without fd 3: %v, want exit status 1", err)
	}
	if !strings.Contains(stderr.String(), "file descriptor 3 is not open for writing") {
		t.Errorf("stderr %q does not explain the missing fd 3", stderr.String())
	}
}
