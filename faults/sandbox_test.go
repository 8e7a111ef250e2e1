package faults_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/server"
)

// sandboxEnv is `wsk-route dev --data-dir` as a separate process, driven
// through its REST API as a client drives OpenWhisk: the workflow's entry
// action is invoked blocking, and its steps are the recording action.
type sandboxEnv struct {
	t       testing.TB
	port    int
	dataDir string
	tmp     string // TMPDIR of the sandbox: its run directories are made here
	p       *proc
	gen     int
	props   string // the wskprops file the sandbox writes: its API host and key
	url     string
	auth    string
	rec     *recorder
	recPath string
	sh      *shape
	hc      *http.Client
}

// entryTimeout is the entry action's time limit: the run's deadline.
const entryTimeout = 8 * time.Second

func newSandboxEnv(t testing.TB, sh *shape) *sandboxEnv {
	t.Helper()
	// The sandbox's sockets live under TMPDIR: keep it short (unix socket
	// paths are at most 108 bytes) and the test's own.
	tmp, err := os.MkdirTemp("", "wrf-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	e := &sandboxEnv{t: t, port: freePort(t), dataDir: filepath.Join(t.TempDir(), "data"), tmp: tmp, sh: sh,
		props: filepath.Join(t.TempDir(), "wskprops"), hc: &http.Client{Timeout: entryTimeout + 20*time.Second}}
	e.recPath = filepath.Join(t.TempDir(), "executions.log")
	e.rec = newRecorder(e.recPath, "")
	e.start()
	e.deploy()
	return e
}

// start starts `wsk-route dev` on the env's port and data dir and waits
// until its API answers.
func (e *sandboxEnv) start() {
	t := e.t
	e.gen++
	cmd := e.cmdDev()
	os.Remove(e.props)
	e.p = startProc(t, "wsk-route dev#"+strconv.Itoa(e.gen), cmd)
	waitFor(t, 90*time.Second, "the sandbox's API", func() bool {
		if e.p.exited() {
			t.Fatalf("wsk-route dev exited:\n%s", e.p.output())
		}
		props := readProps(e.props)
		if props["AUTH"] == "" || props["APIHOST"] == "" {
			return false
		}
		e.url, e.auth = props["APIHOST"], props["AUTH"]
		resp, err := http.Get(e.url + "/api/v1")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

func (e *sandboxEnv) cmdDev() *exec.Cmd {
	cmd := exec.Command(bin(e.t, "wsk-route"), "dev", "--port", strconv.Itoa(e.port), "--data-dir", e.dataDir,
		"--blocking-wait", (entryTimeout + 10*time.Second).String(), "--log-level", "warn", "--write-wskprops", e.props)
	cmd.Env = append(os.Environ(), "TMPDIR="+e.tmp)
	return cmd
}

// api calls the REST API with the guest key.
func (e *sandboxEnv) api(method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		return 0, nil, err
	}
	u, k, _ := strings.Cut(e.auth, ":")
	req.SetBasicAuth(u, k)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (e *sandboxEnv) mustAPI(method, path string, body any) []byte {
	e.t.Helper()
	status, b, err := e.api(method, path, body)
	if err != nil || status/100 != 2 {
		e.t.Fatalf("%s %s: %d %s %v", method, path, status, b, err)
	}
	return b
}

// deploy creates the step actions (the recording action, a native
// binary), the workflow's spec and its entry action, and warms each step
// once.
func (e *sandboxEnv) deploy() {
	code, err := os.ReadFile(bin(e.t, "rec"))
	if err != nil {
		e.t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString(code)
	var steps []string
	for a := range e.sh.instances {
		steps = append(steps, a)
		e.mustAPI(http.MethodPut, "/api/v1/namespaces/_/actions/"+a+"?overwrite=true", map[string]any{
			"exec": map[string]any{"kind": "blackbox", "image": "openwhisk/actionloop-base", "code": b64, "binary": true},
		})
	}
	e.mustAPI(http.MethodPut, "/api/v1/namespaces/_/wsk-route/workflows/"+e.sh.spec.Workflow, e.sh.spec)
	e.mustAPI(http.MethodPut, "/api/v1/namespaces/_/actions/"+e.sh.spec.Workflow+"?overwrite=true", map[string]any{
		"exec":   map[string]any{"kind": "blackbox", "image": "openwhisk/actionloop-base", "code": server.EntryCode(e.sh.spec.Workflow)},
		"limits": map[string]any{"timeout": entryTimeout.Milliseconds()},
	})
	for _, a := range steps {
		in := json.RawMessage(e.sh.input("warm-"+a, e.recPath))
		e.mustAPI(http.MethodPost, "/api/v1/namespaces/_/actions/"+a+"?blocking=true&result=true", in)
	}
}

// run invokes the entry action, blocking, for the result.
func (e *sandboxEnv) run(sh *shape, tag string, deadline time.Time) outcome {
	start := time.Now()
	status, b, err := e.api(http.MethodPost, "/api/v1/namespaces/_/actions/"+sh.spec.Workflow+"?blocking=true&result=true",
		json.RawMessage(sh.input(tag, e.recPath)))
	o := outcome{start: start, end: time.Now(), deadline: deadline}
	switch {
	case err != nil: // the sandbox is down: the client knows at once
		o.err, o.clear = err.Error(), true
	case status == http.StatusOK:
		o.value = b
	case status == http.StatusAccepted:
		o.err = "no result within the blocking wait: " + string(b)
	default:
		var r struct{ Error string }
		json.Unmarshal(b, &r)
		o.err = fmt.Sprintf("%d %s", status, b)
		// The entry names the step ("failed at step S") or the reason; a
		// run that only ran out of time says so.
		o.clear = r.Error != "" && !strings.Contains(r.Error, "deadline exceeded") && !strings.Contains(r.Error, "time limit")
	}
	return o
}

// kill kills the sandbox with SIGKILL (its proxies die with it:
// Pdeathsig); start starts it again on the same data dir and port.
func (e *sandboxEnv) kill() { e.p.kill9(e.t) }

func (e *sandboxEnv) snapshot() snapshot {
	s := snapshot{components: -1}
	if !e.p.exited() {
		s.procs = append(s.procs, statProc("wsk-route dev", e.p.pid(), -1))
	}
	dirs, _ := filepath.Glob(filepath.Join(e.tmp, "wsk-route-dev-*"))
	for _, d := range dirs {
		s.shm += countFiles(filepath.Join(d, "shm"), false)
		s.sockets += countFiles(filepath.Join(d, "run"), true)
	}
	s.strayDirs = max(len(dirs)-1, 0)
	return s
}

func (e *sandboxEnv) recorder() *recorder { return e.rec }

// readProps parses a wskprops file (KEY=VALUE lines); nil if unreadable.
func readProps(path string) map[string]string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return m
}
