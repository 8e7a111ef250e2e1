package testenv

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
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// ConsulVersion is the Consul release scripts/install-consul.sh builds.
const ConsulVersion = "v1.20.6"

// Bounds on starting and stopping an agent.
const (
	consulReadyTimeout = 30 * time.Second // until the agent has a leader and its node is in the catalog
	consulStopTimeout  = 10 * time.Second // from SIGTERM to SIGKILL
	consulStartTries   = 3                // a free port can be taken between choosing and binding it
)

// ErrNoConsul is returned (and reported by Skip) when no consul binary is found.
var ErrNoConsul = errors.New("testenv: no consul binary (run scripts/install-consul.sh, or set WSK_ROUTE_CONSUL to one)")

// ConsulBinary finds the consul binary: $WSK_ROUTE_CONSUL if set, else the
// one scripts/install-consul.sh caches at
// $WSK_ROUTE_CACHE/bin/consul-v1.20.6 ($WSK_ROUTE_CACHE defaults to
// $HOME/.cache/wsk-route), else `consul` on PATH. It returns "" if there is
// none, or if $WSK_ROUTE_CONSUL names something that is not an executable
// file (an explicit choice is not silently replaced).
func ConsulBinary() string {
	if p := os.Getenv("WSK_ROUTE_CONSUL"); p != "" {
		if isExecutable(p) {
			return p
		}
		return ""
	}
	cache := os.Getenv("WSK_ROUTE_CACHE")
	if cache == "" {
		if home, err := os.UserHomeDir(); err == nil {
			cache = filepath.Join(home, ".cache", "wsk-route")
		}
	}
	if cache != "" {
		if p := filepath.Join(cache, "bin", "consul-"+ConsulVersion); isExecutable(p) {
			return p
		}
	}
	if p, err := exec.LookPath("consul"); err == nil {
		return p
	}
	return ""
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// ConsulOptions configures StartConsul. The zero value is an agent on
// 127.0.0.1.
type ConsulOptions struct {
	// ClientAddr is the IP the HTTP API listens on (-client). Empty means
	// 127.0.0.1; tests across network namespaces pass the bridge IP.
	ClientAddr string
	// BindAddr is the IP of the agent's cluster listeners (-bind: serf and
	// server RPC). Empty means 127.0.0.1.
	BindAddr string
}

// Consul is a running `consul agent -dev`.
type Consul struct {
	// Addr is host:port of the agent's HTTP API.
	Addr string
	// Node is the agent's node name.
	Node string

	cmd      *exec.Cmd
	dir      string        // data dir and log, removed by Stop
	done     chan struct{} // closed when the process has exited
	stopOnce sync.Once
}

// StartConsul starts `consul agent -dev` for the test: a temporary data
// dir, free ports for every listener it keeps (HTTP, serf LAN and WAN,
// server RPC; DNS and gRPC are disabled), -bind and -client from opts. It
// waits (at most 30 s) until the agent has a leader and its own node is in
// the catalog, and registers a cleanup that stops it (SIGTERM, then SIGKILL,
// then wait for the exit).
//
// Without a consul binary it skips the test with a message saying to run
// scripts/install-consul.sh, or fails it when CI=true. An agent that does not
// start fails the test.
func StartConsul(t testing.TB, opts ConsulOptions) *Consul {
	t.Helper()
	c, err := startConsul(opts)
	if errors.Is(err, ErrNoConsul) {
		Skip(t, "%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("consul agent %s log (tail):\n%s", c.Addr, c.logTail(4096))
		}
		c.Stop()
	})
	return c
}

// Stop stops the agent: SIGTERM, SIGKILL if it has not exited within 10 s,
// then it waits for the exit and removes the data dir. It is idempotent.
func (c *Consul) Stop() {
	c.stopOnce.Do(func() {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		t := time.NewTimer(consulStopTimeout)
		select {
		case <-c.done:
		case <-t.C:
			_ = c.cmd.Process.Kill()
			<-c.done
		}
		t.Stop()
		_ = os.RemoveAll(c.dir)
	})
}

// logTail returns at most the last n bytes of the agent's log.
func (c *Consul) logTail(n int64) string {
	f, err := os.Open(filepath.Join(c.dir, "consul.log"))
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > n {
		_, _ = f.Seek(fi.Size()-n, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

var consulSeq atomic.Int64

// startConsul starts an agent, retrying when it exits before it is ready
// (usually a port taken between choosing it and the agent binding it).
func startConsul(opts ConsulOptions) (*Consul, error) {
	bin := ConsulBinary()
	if bin == "" {
		return nil, ErrNoConsul
	}
	if opts.ClientAddr == "" {
		opts.ClientAddr = "127.0.0.1"
	}
	if opts.BindAddr == "" {
		opts.BindAddr = "127.0.0.1"
	}
	var err error
	for range consulStartTries {
		var c *Consul
		if c, err = tryStartConsul(bin, opts); err == nil {
			return c, nil
		}
	}
	return nil, err
}

func tryStartConsul(bin string, opts ConsulOptions) (*Consul, error) {
	ports, err := freePorts(opts)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "wsk-route-consul-")
	if err != nil {
		return nil, fmt.Errorf("testenv: consul data dir: %w", err)
	}
	logf, err := os.Create(filepath.Join(dir, "consul.log"))
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("testenv: consul log: %w", err)
	}
	defer logf.Close() // the child has its own copy of the descriptor
	c := &Consul{
		Addr: net.JoinHostPort(opts.ClientAddr, strconv.Itoa(ports.http)),
		Node: fmt.Sprintf("wsk-route-test-%d-%d", os.Getpid(), consulSeq.Add(1)),
		dir:  dir,
		done: make(chan struct{}),
	}
	c.cmd = exec.Command(bin, "agent", "-dev",
		"-data-dir", filepath.Join(dir, "data"),
		"-node", c.Node,
		"-disable-host-node-id",
		"-bind", opts.BindAddr,
		"-client", opts.ClientAddr,
		"-http-port", strconv.Itoa(ports.http),
		"-server-port", strconv.Itoa(ports.server),
		"-serf-lan-port", strconv.Itoa(ports.serfLAN),
		"-serf-wan-port", strconv.Itoa(ports.serfWAN),
		"-dns-port", "-1",
		"-grpc-port", "-1",
		"-grpc-tls-port", "-1",
		"-log-level", "warn",
	)
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	c.cmd.SysProcAttr = consulSysProcAttr()
	started := make(chan error, 1)
	go func() { // owned by c: Stop waits for done
		defer close(c.done)
		// The parent-death signal follows the thread that started the
		// agent, so that thread stays locked to this goroutine (and out of
		// reach of goroutines that end their threads) for the agent's life.
		runtime.LockOSThread()
		if err := c.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = c.cmd.Wait()
	}()
	if err := <-started; err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("testenv: start %s: %w", bin, err)
	}
	if err := c.waitReady(consulReadyTimeout); err != nil {
		tail := c.logTail(2048)
		c.Stop()
		return nil, fmt.Errorf("testenv: consul agent on %s: %w; log tail:\n%s", c.Addr, err, tail)
	}
	return c, nil
}

type consulPorts struct{ http, server, serfLAN, serfWAN int }

// freePorts picks ports the kernel says are free: TCP for HTTP (on the
// client address) and server RPC, TCP and UDP for the two serf ports (on
// the bind address). All are held open until every one is chosen, so that
// no two coincide.
func freePorts(opts ConsulOptions) (consulPorts, error) {
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			_ = c.Close()
		}
	}()
	tcp := func(ip string) (int, error) {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			return 0, fmt.Errorf("testenv: free port on %s: %w", ip, err)
		}
		closers = append(closers, l)
		return l.Addr().(*net.TCPAddr).Port, nil
	}
	tcpAndUDP := func(ip string) (int, error) {
		for range 20 {
			port, err := tcp(ip)
			if err != nil {
				return 0, err
			}
			u, err := net.ListenPacket("udp", net.JoinHostPort(ip, strconv.Itoa(port)))
			if err == nil {
				closers = append(closers, u)
				return port, nil
			}
		}
		return 0, fmt.Errorf("testenv: no port on %s free for both TCP and UDP", ip)
	}
	var p consulPorts
	var err error
	if p.http, err = tcp(opts.ClientAddr); err != nil {
		return p, err
	}
	if p.server, err = tcp(opts.BindAddr); err != nil {
		return p, err
	}
	if p.serfLAN, err = tcpAndUDP(opts.BindAddr); err != nil {
		return p, err
	}
	if p.serfWAN, err = tcpAndUDP(opts.BindAddr); err != nil {
		return p, err
	}
	return p, nil
}

// waitReady polls the agent's HTTP API until it reports a leader and its
// own node is in the catalog, the process exits, or timeout passes.
func (c *Consul) waitReady(timeout time.Duration) error {
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 2 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	get := func(path string) (string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.Addr+path, nil)
		if err != nil {
			return "", err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("%s: %s", path, resp.Status)
		}
		return string(bytes.TrimSpace(b)), err
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error = errors.New("not polled yet")
	for {
		leader, err := get("/v1/status/leader")
		if err == nil && (leader == `""` || leader == "") {
			err = errors.New("no leader yet")
		}
		if err == nil {
			var node string
			node, err = get("/v1/catalog/node/" + c.Node)
			if err == nil && (node == "null" || !strings.Contains(node, c.Node)) {
				err = errors.New("own node not in the catalog yet")
			}
		}
		if err == nil {
			return nil
		}
		last = err
		select {
		case <-c.done:
			return fmt.Errorf("agent exited before it was ready (%v)", c.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("not ready within %v: %w", timeout, last)
		case <-tick.C:
		}
	}
}

// shared is the one agent of a test binary (SharedConsul), stopped by Main.
var shared struct {
	mu      sync.Mutex
	main    bool // Main is running the tests
	started bool
	c       *Consul
	err     error
}

// SharedConsul returns the test binary's shared agent, starting it on the
// first call (on 127.0.0.1, as StartConsul with zero options). It is stopped
// when the tests are done, by Main (or M), which the package's TestMain
// must call; without it SharedConsul fails the test. Tests that share the
// agent must keep their data apart (their own KV prefix and service name).
// Like StartConsul it skips (or fails under CI=true) when there is no
// binary.
func SharedConsul(tb testing.TB) *Consul {
	tb.Helper()
	shared.mu.Lock()
	if !shared.main {
		shared.mu.Unlock()
		tb.Fatal("testenv: SharedConsul needs the package's TestMain to call testenv.Main(m) (or run m through testenv.M), which stops the agent")
	}
	if !shared.started {
		shared.started = true
		shared.c, shared.err = startConsul(ConsulOptions{})
	}
	c, err := shared.c, shared.err
	shared.mu.Unlock()
	if errors.Is(err, ErrNoConsul) {
		Skip(tb, "%v", err)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// Main runs the tests (m.Run), stops the shared agent if one was started
// and exits with the tests' status. Call it from TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
func Main(m *testing.M) { os.Exit(M(m).Run()) }

// M wraps m in a runner whose Run runs the tests and then stops the shared
// agent if one was started, returning the tests' status: Main without the
// exit, for a TestMain that checks something after the agent is stopped,
// such as the goroutine-leak check:
//
//	func TestMain(m *testing.M) { leakcheck.VerifyTestMain(testenv.M(m)) }
func M(m *testing.M) interface{ Run() int } { return sharedRunner{m} }

// sharedRunner is M's runner.
type sharedRunner struct{ m *testing.M }

func (r sharedRunner) Run() int {
	shared.mu.Lock()
	shared.main = true
	shared.mu.Unlock()
	code := r.m.Run()
	shared.mu.Lock()
	c := shared.c
	shared.c, shared.started, shared.main = nil, false, false
	shared.mu.Unlock()
	if c != nil {
		c.Stop()
	}
	return code
}

// CI reports whether the tests run under CI (CI=true), where a missing
// dependency is a failure rather than a reason to skip.
func CI() bool { return os.Getenv("CI") == "true" }

// Skip skips the test with the given reason, or fails it (Fatal) when
// CI=true, so that CI never passes by skipping. Other helpers use it for
// any missing dependency.
func Skip(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if CI() {
		t.Fatalf("%s (CI=true, so this fails instead of skipping)", msg)
		return
	}
	t.Skip(msg)
}

// RequireOrSkip does nothing when err is nil; otherwise it skips the test,
// or fails it when CI=true, with "what: err".
func RequireOrSkip(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil {
		Skip(t, "%s: %v", what, err)
	}
}
