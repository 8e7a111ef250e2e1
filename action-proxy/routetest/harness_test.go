package routetest_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/route"
	"github.com/wsk-route/wsk-route/internal/consulstore"
	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/internal/spec"
	"github.com/wsk-route/wsk-route/internal/testenv"
	"github.com/wsk-route/wsk-route/internal/transport"
)

// bins are the binaries the tests run, built once by TestMain.
var bins struct {
	proxy, agent, step, hostile string
	err                         error
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "routetest-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins.proxy = filepath.Join(dir, "proxy")
	bins.agent = filepath.Join(dir, "wsk-route-agent")
	bins.step = filepath.Join(dir, "step")
	bins.hostile = filepath.Join(dir, "hostile")
	for out, pkg := range map[string]string{
		bins.proxy:   "github.com/wsk-route/wsk-route/cmd/proxy",
		bins.agent:   "github.com/wsk-route/wsk-route/cmd/wsk-route-agent",
		bins.step:    "github.com/wsk-route/wsk-route/action-proxy/routetest/testdata/step",
		bins.hostile: "github.com/wsk-route/wsk-route/action-proxy/routetest/testdata/hostile",
	} {
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			bins.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
			break
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func needBins(t testing.TB) {
	t.Helper()
	if bins.err != nil {
		t.Fatal(bins.err)
	}
}

// host is one invoker host: a run directory, a shm root and an agent.
type host struct {
	name    string
	runDir  string
	shmRoot string
	agent   *proc
	// agentArgs are the agent's arguments, for restartAgent.
	agentArgs []string
	// command wraps a command to run on this host (network namespaces);
	// nil runs it directly.
	command func(name string, args ...string) *exec.Cmd
	// dial reaches the host's TCP addresses (network namespaces); nil dials directly.
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// startHost starts an agent for a host named name, registering with
// Consul at consulAddr. relay is the agent's relay listen address ("" for none).
func startHost(t testing.TB, name, consulAddr, relay, advertise string, command func(string, ...string) *exec.Cmd, extraArgs ...string) *host {
	t.Helper()
	needBins(t)
	base := t.TempDir()
	shmRoot, err := os.MkdirTemp(shmBase(), "wr-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(shmRoot) })
	h := &host{name: name, runDir: filepath.Join(base, "run"), shmRoot: shmRoot, command: command}
	os.MkdirAll(h.runDir, 0o755)
	args := []string{"-host", name, "-run-dir", h.runDir, "-shm-dir", shmRoot, "-state-dir", filepath.Join(base, "state"),
		"-consul", consulAddr, "-ttl", "3s", "-log-level", "debug"}
	if relay != "" {
		args = append(args, "-relay-listen", relay)
		if advertise != "" {
			args = append(args, "-relay-advertise", advertise)
		}
	}
	h.agentArgs = append(args, extraArgs...)
	h.agent = startProc(t, "agent "+name, h.cmd(bins.agent, h.agentArgs...))
	waitFor(t, 20*time.Second, "agent socket of "+name, func() bool {
		_, err := os.Stat(filepath.Join(h.runDir, "agent.sock"))
		return err == nil
	})
	return h
}

// shmBase is /dev/shm when it exists (the real case), else the temp dir.
func shmBase() string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		return "/dev/shm"
	}
	return os.TempDir()
}

func (h *host) cmd(name string, args ...string) *exec.Cmd {
	if h.command != nil {
		return h.command(name, args...)
	}
	return exec.Command(name, args...)
}

// action is one proxy process running the step action in some mode.
type action struct {
	name string // proxy name on its host
	fqn  string
	addr string // host:port of /init and /run
	proc *proc
	host *host
}

// startAction starts a proxy on h, runs /init with the step action in
// mode as /guest/<actionName>, and returns it once initialised.
func startAction(t testing.TB, h *host, name, actionName, mode string, extraEnv ...string) *action {
	t.Helper()
	port := freePort(t, h)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	if h.dial != nil {
		addr = "0.0.0.0:" + strconv.Itoa(port)
	}
	cmd := h.cmd(bins.proxy, "-listen", addr)
	cmd.Dir = t.TempDir() // the proxy unpacks actions under ./action
	cmd.Env = append(os.Environ(),
		route.EnvAgent+"="+filepath.Join(h.runDir, "agent.sock"),
		route.EnvName+"="+name,
		// A plain process of this host, not a container: it can write the
		// run directory, and is told so.
		route.EnvInsecureRunDir+"=1",
	)
	cmd.Env = append(cmd.Env, extraEnv...)
	a := &action{name: name, fqn: "/guest/" + actionName, addr: addr, host: h}
	if h.dial != nil {
		a.addr = "127.0.0.1:" + strconv.Itoa(port)
	}
	a.proc = startProc(t, "proxy "+h.name+"/"+name, cmd)
	code, err := os.ReadFile(bins.step)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"value": map[string]any{
		"code": base64.StdEncoding.EncodeToString(code), "binary": true, "main": "main",
		"env": map[string]string{
			"__OW_NAMESPACE": "guest", "__OW_ACTION_NAME": a.fqn, "__OW_ACTION_VERSION": "0.0.1",
			"STEP_MODE": mode,
		},
	}})
	const bound = 20 * time.Second
	deadline := time.Now().Add(bound)
	for {
		status, b, err := a.post("/init", body)
		if err == nil && status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for /init of %s: last answer %d %s %v", bound, name, status, b, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return a
}

// post sends body to the proxy, through the host's network if it has one.
func (a *action) post(path string, body []byte) (int, []byte, error) {
	tr := &http.Transport{}
	if a.host.dial != nil {
		tr.DialContext = a.host.dial
	}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	resp, err := c.Post("http://"+a.addr+path, "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func freePort(t testing.TB, h *host) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// entry is an in-process route plane that starts runs, as the entry
// action's proxy will.
type entry struct {
	plane *route.Plane
}

func startEntry(t testing.TB, h *host, tcpListen, tcpAdvertise string) *entry {
	t.Helper()
	plane, err := route.New(route.Config{
		AgentSocket:  filepath.Join(h.runDir, "agent.sock"),
		Name:         "entry-" + strconv.Itoa(os.Getpid()),
		TCPListen:    tcpListen,
		TCPAdvertise: tcpAdvertise,
		Logger:       slog.New(slog.NewTextHandler(testWriter{t, "entry"}, nil)),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	plane.Identify(route.Identity{Namespace: "guest", Action: "/guest/entry"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- plane.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("entry plane: %v", err)
		}
	})
	return &entry{plane: plane}
}

// putSpec stores sp in Consul.
func putSpec(t testing.TB, consulAddr string, sp *spec.Spec) {
	t.Helper()
	st, err := consulstore.New(consulstore.Options{Address: consulAddr})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutSpec(context.Background(), sp); err != nil {
		t.Fatal(err)
	}
}

func startConsul(t testing.TB) string {
	t.Helper()
	return testenv.StartConsul(t, testenv.ConsulOptions{}).Addr
}

// proc is a started process whose output goes to the test log.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
	out  bytes.Buffer
}

func startProc(t testing.TB, label string, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{cmd: cmd, done: make(chan struct{})}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", label, err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if testing.Verbose() {
				t.Logf("[%s] %s", label, sc.Text())
			}
		}
	}()
	go func() {
		cmd.Wait()
		pw.Close()
		close(p.done)
	}()
	t.Cleanup(func() { p.kill() })
	return p
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// kill stops the process group: SIGTERM, then SIGKILL after a grace.
func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// signal sends sig to the whole process group.
func (p *proc) signal(sig syscall.Signal) { syscall.Kill(-p.cmd.Process.Pid, sig) }

// pause stops the process group and waits until every thread of the
// process is stopped: kill(2) returns before a thread running on another
// core has stopped, and such a thread could still accept a frame.
func (p *proc) pause(t testing.TB) {
	t.Helper()
	p.signal(syscall.SIGSTOP)
	waitFor(t, 5*time.Second, "the process to stop", func() bool {
		tasks, err := os.ReadDir("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/task")
		if err != nil || len(tasks) == 0 {
			return false
		}
		for _, task := range tasks {
			stat, err := os.ReadFile("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/task/" + task.Name() + "/stat")
			if err != nil {
				return false
			}
			// The state follows the parenthesised command name.
			i := bytes.LastIndexByte(stat, ')')
			if i < 0 || i+2 >= len(stat) || stat[i+2] != 'T' {
				return false
			}
		}
		return true
	})
}

type testWriter struct {
	t     testing.TB
	label string
}

func (w testWriter) Write(b []byte) (int, error) {
	if testing.Verbose() {
		w.t.Logf("[%s] %s", w.label, strings.TrimRight(string(b), "\n"))
	}
	return len(b), nil
}

// waitFor polls cond until it holds or the bound passes.
func waitFor(t testing.TB, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", bound, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// trail decodes the "trail" of a step result: which steps ran, where.
func trail(t testing.TB, v json.RawMessage) []map[string]any {
	t.Helper()
	var r struct {
		Trail []map[string]any `json:"trail"`
	}
	if err := json.Unmarshal(v, &r); err != nil {
		t.Fatalf("result %s: %v", v, err)
	}
	return r.Trail
}

// waitSpec waits until the proxy of instance id (in the entry's table)
// knows workflow. It probes with a frame for a step the workflow does not
// have, which is refused either way, so the probe never runs the action
// (a run in flight would make the instance busy for the test's own runs):
// "unknown workflow" until the agent's spec push has arrived, "has no
// step" after. Tests that stop an agent call it first, since a push
// pending when the agent stops would never arrive.
func waitSpec(t testing.TB, consulAddr string, e *entry, id, workflow string) {
	t.Helper()
	st, err := consulstore.New(consulstore.Options{Address: consulAddr})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	key, err := st.NamespaceKey(ctx, "guest")
	if err != nil {
		t.Fatal(err)
	}
	var inst routetable.Instance
	for _, in := range e.plane.Instances("") {
		if in.ID == id {
			inst = in
		}
	}
	if inst.Unix == "" {
		t.Fatalf("instance %s has no unix endpoint in the entry's table", id)
	}
	c := &transport.Client{ShmThreshold: -1}
	defer c.Close()
	payload := []byte(`{"text":"probe"}`)
	for {
		f := &frame.Frame{Kind: frame.KindStep, RunID: "probe-" + testenv.RandomID(t), Workflow: workflow, Step: "wsk-route-probe: no such step",
			Namespace: "guest", Target: id, Deadline: time.Now().Add(5 * time.Second).UnixNano(),
			Payload: payload, Size: uint64(len(payload))}
		ack, err := c.Send(ctx, inst.Unix, f, key)
		last := fmt.Sprint(err)
		if err == nil {
			if ack.Code == frame.CodeUnknownStep && strings.Contains(ack.Reason, "has no step") {
				return
			}
			last = ack.Code.String() + ": " + ack.Reason
		}
		if ctx.Err() != nil {
			t.Fatalf("instance %s never knew workflow %s: last answer %s", id, workflow, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
