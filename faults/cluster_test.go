package faults_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/route"
	"github.com/wsk-route/wsk-route/internal/agentproto"
	"github.com/wsk-route/wsk-route/internal/consulstore"
	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/internal/testenv/netns"
	"github.com/wsk-route/wsk-route/internal/transport"
)

// cluster is the route plane as it runs on invoker hosts: a real Consul,
// one real agent per host, real proxies each running the recording action
// (one process group per "container"), and an entry: a route plane in the
// test process, as the entry action's proxy runs it. With more than one
// host, the hosts are network namespaces and Consul listens on the bridge.
type cluster struct {
	t       testing.TB
	consul  *consulAgent
	net     *netns.Net // nil: one host, in the root namespace
	hosts   []*host
	entry   *route.Plane
	rec     *recorder
	recPath string
	shapes  []*shape
	place   map[string]int // action -> host index (default 0)

	mu    sync.Mutex // guards insts and seq
	insts []*instance
	seq   int
}

type clusterOptions struct {
	hosts  int // 0 or 1: one host in the root namespace
	shapes []*shape
	place  map[string]int
}

// host is one invoker host: its directories and its agent.
type host struct {
	c        *cluster
	idx      int
	name     string
	ns       *netns.Host // nil: the root namespace
	base     string
	runDir   string
	shmRoot  string
	args     []string // the agent's, the same at each restart
	agent    *proc
	agentGen int
	metrics  string // host:port of the agent's /metrics
}

// instance is one warm container: a proxy process (and its action child)
// registered for one action.
type instance struct {
	name   string // the proxy's name on its host
	action string // short action name: the step
	h      *host
	p      *proc
	addr   string // /init and /run, as reached from the host
}

// id is the instance's id in the route tables.
func (in *instance) id() string { return in.h.name + "/" + in.name }

// actionPid is the pid of the proxy's action process, or 0.
func (in *instance) actionPid() int {
	for _, c := range children(in.p.pid()) {
		return c
	}
	return 0
}

// newCluster starts Consul, the agents, every instance the shapes need,
// the entry, and waits until every instance knows the shapes' workflows.
func newCluster(t testing.TB, opts clusterOptions) *cluster {
	t.Helper()
	c := &cluster{t: t, shapes: opts.shapes, place: opts.place}
	c.recPath = filepath.Join(t.TempDir(), "executions.log")
	c.rec = newRecorder(c.recPath, "f0", "fl", "fr")
	consulIP := ""
	if opts.hosts > 1 {
		c.net = netns.New(t, netns.Options{Hosts: opts.hosts})
		consulIP = c.net.BridgeIP
	}
	c.consul = startConsul(t, consulIP)
	n := max(opts.hosts, 1)
	for i := range n {
		c.hosts = append(c.hosts, c.startHost(i))
	}
	for _, sh := range c.shapes {
		c.putSpec(sh)
	}
	actions := c.actions()
	for _, a := range actions {
		h := c.hosts[c.place[a]]
		for range c.want(a) {
			c.startInstance(h, a)
		}
	}
	c.startEntry()
	c.waitReady(actions)
	return c
}

// actions are the actions of the cluster's shapes, sorted.
func (c *cluster) actions() []string {
	var out []string
	for _, sh := range c.shapes {
		for a := range sh.instances {
			out = append(out, a)
		}
	}
	sort.Strings(out)
	return out
}

// want is how many instances of action the cluster keeps.
func (c *cluster) want(action string) int {
	for _, sh := range c.shapes {
		if n, ok := sh.instances[action]; ok {
			return n
		}
	}
	return 0
}

func (c *cluster) startHost(i int) *host {
	t := c.t
	h := &host{c: c, idx: i, name: "h" + strconv.Itoa(i+1), base: t.TempDir()}
	if c.net != nil {
		h.ns = c.net.Hosts[i]
	}
	h.runDir = filepath.Join(h.base, "run")
	shmRoot, err := os.MkdirTemp(shmBase(), "wr-faults-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(shmRoot) })
	h.shmRoot = shmRoot
	if err := os.MkdirAll(h.runDir, 0o755); err != nil {
		t.Fatal(err)
	}
	ip := "127.0.0.1"
	if h.ns != nil {
		ip = h.ns.IP
	}
	h.metrics = net.JoinHostPort(ip, strconv.Itoa(freePort(t)))
	h.args = []string{"-host", h.name, "-run-dir", h.runDir, "-shm-dir", h.shmRoot,
		"-state-dir", filepath.Join(h.base, "state"), "-consul", c.consul.addr, "-ttl", "3s",
		"-metrics-listen", h.metrics, "-log-level", "info"}
	if h.ns != nil {
		relay := net.JoinHostPort(h.ns.IP, "7070")
		h.args = append(h.args, "-relay-listen", relay, "-relay-advertise", "tcp:"+relay)
	}
	h.startAgent()
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
	if h.ns != nil {
		return h.ns.Command(name, args...)
	}
	return exec.Command(name, args...)
}

// agentSocket is the agent's websocket socket, where proxies find it.
func (h *host) agentSocket() string { return filepath.Join(h.runDir, agentproto.DefaultSocket) }

// startAgent starts the agent and waits until its socket accepts
// connections (a socket file left by a killed agent does not count).
func (h *host) startAgent() {
	t := h.c.t
	h.agentGen++
	h.agent = startProc(t, fmt.Sprintf("agent %s#%d", h.name, h.agentGen), h.cmd(bin(t, "wsk-route-agent"), h.args...))
	waitFor(t, 20*time.Second, "the agent socket of "+h.name, func() bool {
		if h.agent.exited() {
			t.Fatalf("agent %s exited:\n%s", h.name, h.agent.output())
		}
		conn, err := net.DialTimeout("unix", h.agentSocket(), time.Second)
		if err != nil {
			return false
		}
		conn.Close()
		return true
	})
}

// dial reaches a TCP address of the host (inside its namespace).
func (h *host) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if h.ns != nil {
		return h.ns.Dial(ctx, network, addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

func (h *host) httpClient(timeout time.Duration) (*http.Client, func()) {
	tr := &http.Transport{DialContext: h.dial, DisableKeepAlives: true}
	return &http.Client{Transport: tr, Timeout: timeout}, tr.CloseIdleConnections
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startInstance starts a proxy on h and runs /init with the recording
// action as /guest/<action>; it returns once /init answered 200.
func (c *cluster) startInstance(h *host, action string) *instance {
	t := c.t
	c.mu.Lock()
	c.seq++
	name := fmt.Sprintf("p%d-%s", c.seq, action)
	c.mu.Unlock()
	port := strconv.Itoa(freePort(t))
	listen := "127.0.0.1:" + port
	if h.ns != nil {
		listen = "0.0.0.0:" + port
	}
	cmd := h.cmd(bin(t, "proxy"), "-listen", listen)
	cmd.Dir = t.TempDir() // the proxy unpacks the action under ./action
	// A plain process of this host, not a container: it can write the run
	// directory, and is told so.
	cmd.Env = append(os.Environ(), route.EnvAgent+"="+h.agentSocket(), route.EnvName+"="+name, route.EnvInsecureRunDir+"=1")
	in := &instance{name: name, action: action, h: h, addr: "127.0.0.1:" + port}
	in.p = startProc(t, "proxy "+h.name+"/"+name, cmd)
	code, err := os.ReadFile(bin(t, "rec"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"value": map[string]any{
		"code": base64.StdEncoding.EncodeToString(code), "binary": true, "main": "main",
		"env": map[string]string{"__OW_NAMESPACE": "guest", "__OW_ACTION_NAME": "/guest/" + action, "__OW_ACTION_VERSION": "0.0.1"},
	}})
	hc, done := h.httpClient(30 * time.Second)
	defer done()
	var last string
	err = poll(30*time.Second, func() bool {
		if in.p.exited() {
			return true
		}
		resp, err := hc.Post("http://"+in.addr+"/init", "application/json", bytes.NewReader(body))
		if err != nil {
			last = err.Error()
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		last = resp.Status + " " + string(b)
		return resp.StatusCode == http.StatusOK
	})
	if err != nil || in.p.exited() {
		t.Fatalf("/init of %s: %v; last answer %s\n%s", name, err, last, in.p.output())
	}
	c.mu.Lock()
	c.insts = append(c.insts, in)
	c.mu.Unlock()
	return in
}

// instancesOf returns the live instances of action, oldest first.
func (c *cluster) instancesOf(action string) []*instance {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*instance
	for _, in := range c.insts {
		if in.action == action && !in.p.exited() {
			out = append(out, in)
		}
	}
	return out
}

// remove forgets in (killed by a fault).
func (c *cluster) remove(in *instance) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, x := range c.insts {
		if x == in {
			c.insts = append(c.insts[:i], c.insts[i+1:]...)
			return
		}
	}
}

// replace starts a new instance of in's action on in's host, as the
// invoker would start a new container; in is forgotten.
func (c *cluster) replace(in *instance) *instance {
	c.remove(in)
	return c.startInstance(in.h, in.action)
}

func (c *cluster) startEntry() {
	t := c.t
	plane, err := route.New(route.Config{
		AgentSocket: c.hosts[0].agentSocket(),
		Name:        "entry",
		Logger:      slog.New(slog.NewTextHandler(logWriter{t, "entry"}, &slog.HandlerOptions{Level: slog.LevelWarn})),
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
	c.entry = plane
}

func (c *cluster) putSpec(sh *shape) {
	st, err := consulstore.New(consulstore.Options{Address: c.consul.addr})
	if err != nil {
		c.t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := st.PutSpec(ctx, sh.spec); err != nil {
		c.t.Fatal(err)
	}
}

// waitReady waits until the entry knows each workflow and every instance
// of actions, and every instance knows the workflows (probed with a frame
// for a step no workflow has, refused either way, so nothing runs).
func (c *cluster) waitReady(actions []string) {
	t := c.t
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, sh := range c.shapes {
		if err := c.entry.WaitReady(ctx, sh.spec.Workflow); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range actions {
		want := len(c.instancesOf(a))
		waitFor(t, 30*time.Second, fmt.Sprintf("%d instances of %s in the entry's table", want, a), func() bool {
			return len(c.entry.Instances("/guest/"+a)) >= want
		})
	}
	st, err := consulstore.New(consulstore.Options{Address: c.consul.addr})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	key, err := st.NamespaceKey(ctx, "guest")
	if err != nil {
		t.Fatal(err)
	}
	cl := &transport.Client{ShmThreshold: -1}
	defer cl.Close()
	for _, inst := range c.entry.Instances("") {
		if inst.Action == "/guest/entry" || inst.Unix == "" {
			continue
		}
		for _, sh := range c.shapes {
			if err := probeSpec(ctx, cl, key, inst, sh.spec.Workflow); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// probeSpec waits until inst knows workflow: a frame for a step the
// workflow does not have is refused with "unknown workflow" before the
// agent's spec push, "has no step" after.
func probeSpec(ctx context.Context, cl *transport.Client, key []byte, inst routetable.Instance, workflow string) error {
	payload := []byte(`{}`)
	last := ""
	for {
		f := &frame.Frame{Kind: frame.KindStep, RunID: "probe-" + strconv.FormatInt(time.Now().UnixNano(), 36), Workflow: workflow,
			Step: "faults-probe: no such step", Namespace: "guest", Target: inst.ID,
			Deadline: time.Now().Add(5 * time.Second).UnixNano(), Payload: payload, Size: uint64(len(payload))}
		ack, err := cl.Send(ctx, inst.Unix, f, key)
		last = fmt.Sprint(err)
		if err == nil {
			if ack.Code == frame.CodeUnknownStep && strings.Contains(ack.Reason, "has no step") {
				return nil
			}
			last = ack.Code.String() + ": " + ack.Reason
		}
		if ctx.Err() != nil {
			return fmt.Errorf("instance %s never knew workflow %s: last answer %s", inst.ID, workflow, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// run runs sh once through the entry with the given deadline.
func (c *cluster) run(sh *shape, tag string, deadline time.Time) outcome {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	res, err := c.entry.StartRun(ctx, sh.spec.Workflow, sh.input(tag, c.recPath), route.RunOptions{})
	o := outcome{start: start, end: time.Now(), deadline: deadline}
	if err != nil {
		o.err = err.Error()
		// A RunError without a step is the deadline passing; any other
		// error names its reason (not registered, unknown workflow).
		var re *route.RunError
		o.clear = !errors.As(err, &re) || re.Step != ""
		return o
	}
	o.value = res.Value
	return o
}

// agentGoroutines reads go_goroutines from the agent's /metrics, or -1.
func (h *host) agentGoroutines() int {
	hc, done := h.httpClient(2 * time.Second)
	defer done()
	resp, err := hc.Get("http://" + h.metrics + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "go_goroutines "); ok {
			if n, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				return int(n)
			}
		}
	}
	return -1
}

// snapshot takes the cluster's resources: the test process (the entry),
// Consul, the agents, every live proxy and its action, and what is in
// the hosts' shm and run directories.
func (c *cluster) snapshot() snapshot {
	s := snapshot{procs: []procStat{self()}, components: 1} // the entry
	if !c.consul.p.exited() {
		s.procs = append(s.procs, statProc("consul", c.consul.p.pid(), -1))
	}
	for _, h := range c.hosts {
		s.procs = append(s.procs, statProc("agent "+h.name, h.agent.pid(), h.agentGoroutines()))
		s.shm += countFiles(h.shmRoot, false)
		s.sockets += countFiles(h.runDir, true)
	}
	c.mu.Lock()
	insts := append([]*instance(nil), c.insts...)
	c.mu.Unlock()
	for _, in := range insts {
		if in.p.exited() {
			continue
		}
		s.components++
		s.procs = append(s.procs, statProc("proxy "+in.id(), in.p.pid(), -1))
		if pid := in.actionPid(); pid > 0 {
			s.procs = append(s.procs, statProc("action of "+in.id(), pid, -1))
		}
	}
	return s
}

func (c *cluster) recorder() *recorder { return c.rec }
