package faults_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/testenv"
)

// consulAgent is a `consul agent -dev` that the suite can pause, kill and
// start again, empty, on the same address (testenv.StartConsul's agent
// keeps its process to itself and takes new ports at each start).
type consulAgent struct {
	t     testing.TB
	bin   string
	addr  string // host:port of the HTTP API, the same across restarts
	bind  string
	ports [4]int // http, server, serf LAN, serf WAN
	node  string
	p     *proc
	gen   int
}

// startConsul starts an agent whose API listens on clientIP (127.0.0.1
// when empty). Without a consul binary it skips (fails when CI=true).
func startConsul(t testing.TB, clientIP string) *consulAgent {
	t.Helper()
	bin := testenv.ConsulBinary()
	if bin == "" {
		testenv.Skip(t, "%v", testenv.ErrNoConsul)
	}
	if clientIP == "" {
		clientIP = "127.0.0.1"
	}
	c := &consulAgent{t: t, bin: bin, bind: "127.0.0.1", node: fmt.Sprintf("faults-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)}
	var err error
	if c.ports, err = freeConsulPorts(clientIP, c.bind); err != nil {
		t.Fatal(err)
	}
	c.addr = net.JoinHostPort(clientIP, strconv.Itoa(c.ports[0]))
	c.start()
	return c
}

// start starts the agent with a new, empty data dir and waits until it has
// a leader and its node is in the catalog.
func (c *consulAgent) start() {
	c.t.Helper()
	c.gen++
	host, _, _ := net.SplitHostPort(c.addr)
	cmd := exec.Command(c.bin, "agent", "-dev",
		"-data-dir", filepath.Join(c.t.TempDir(), "consul"),
		"-node", c.node, "-disable-host-node-id",
		"-bind", c.bind, "-client", host,
		"-http-port", strconv.Itoa(c.ports[0]), "-server-port", strconv.Itoa(c.ports[1]),
		"-serf-lan-port", strconv.Itoa(c.ports[2]), "-serf-wan-port", strconv.Itoa(c.ports[3]),
		"-dns-port", "-1", "-grpc-port", "-1", "-grpc-tls-port", "-1", "-log-level", "warn")
	c.p = startProc(c.t, "consul#"+strconv.Itoa(c.gen), cmd)
	if err := c.waitReady(30 * time.Second); err != nil {
		c.t.Fatalf("consul on %s: %v\n%s", c.addr, err, c.p.output())
	}
}

func (c *consulAgent) waitReady(bound time.Duration) error {
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	get := func(path string) string {
		resp, err := hc.Get("http://" + c.addr + path)
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		if resp.StatusCode != http.StatusOK {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	return poll(bound, func() bool {
		if c.p.exited() {
			return true
		}
		l := get("/v1/status/leader")
		return l != "" && l != `""` && strings.Contains(get("/v1/catalog/node/"+c.node), c.node)
	})
}

// pause stops the agent (SIGSTOP) until resume.
func (c *consulAgent) pause() { c.p.pause(c.t) }

func (c *consulAgent) resume() { c.p.signal(syscall.SIGCONT) }

// kill kills the agent with SIGKILL: in -dev mode everything it held is gone.
func (c *consulAgent) kill() { c.p.kill9(c.t) }

// restartEmpty kills the agent if it runs and starts an empty one on the
// same address.
func (c *consulAgent) restartEmpty() {
	if !c.p.exited() {
		c.kill()
	}
	c.start()
}

// freeConsulPorts picks the agent's ports: TCP for HTTP (on clientIP) and
// server RPC, TCP and UDP for the serf ports, all held until all are chosen.
func freeConsulPorts(clientIP, bind string) ([4]int, error) {
	var ports [4]int
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	tcp := func(ip string) (int, error) {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			return 0, err
		}
		closers = append(closers, l)
		return l.Addr().(*net.TCPAddr).Port, nil
	}
	both := func(ip string) (int, error) {
		for range 20 {
			p, err := tcp(ip)
			if err != nil {
				return 0, err
			}
			if u, err := net.ListenPacket("udp", net.JoinHostPort(ip, strconv.Itoa(p))); err == nil {
				closers = append(closers, u)
				return p, nil
			}
		}
		return 0, fmt.Errorf("no port free for TCP and UDP on %s", ip)
	}
	var err error
	if ports[0], err = tcp(clientIP); err != nil {
		return ports, err
	}
	if ports[1], err = tcp(bind); err != nil {
		return ports, err
	}
	if ports[2], err = both(bind); err != nil {
		return ports, err
	}
	ports[3], err = both(bind)
	return ports, err
}
