package agent_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsk-route/wsk-route/internal/agentproto"
	"github.com/wsk-route/wsk-route/internal/testenv"
	"github.com/wsk-route/wsk-route/invoker-plugin/agent"
	"github.com/wsk-route/wsk-route/invoker-plugin/proxyconn"
)

var peerSeq atomic.Int64

// distinctPeers gives every connection a fake cgroup of its own.
func distinctPeers() proxyconn.PeerFunc {
	return func(net.Conn) (proxyconn.Peer, error) {
		n := peerSeq.Add(1)
		return proxyconn.Peer{PID: int32(n), Cgroup: proxyconn.Cgroup{Path: fmt.Sprintf("/test.slice/conn-%d.scope", n)}}, nil
	}
}

// fakePeers identifies every connection as the cgroup last given to set;
// a test sets it before each dial (the agent identifies the peer before
// the websocket handshake completes).
type fakePeers struct {
	cur atomic.Pointer[proxyconn.Peer]
}

func (f *fakePeers) set(cgroupPath string) {
	f.cur.Store(&proxyconn.Peer{PID: 1, Cgroup: proxyconn.Cgroup{Path: cgroupPath}})
}

func (f *fakePeers) peerOf(net.Conn) (proxyconn.Peer, error) {
	p := f.cur.Load()
	if p == nil {
		return proxyconn.Peer{}, errors.New("no fake identity")
	}
	return *p, nil
}

// registerRefused sends a Register on a new session and checks that the
// agent closes it with a reason containing want and never sends a key.
func registerRefused(t *testing.T, a *testAgent, ns, name, want string) {
	t.Helper()
	conn := dial(t, a)
	defer conn.Close()
	b, err := agentproto.Encode(&agentproto.Message{Type: agentproto.TypeRegister, Register: register(a, ns, name)})
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.WriteMessage(websocket.TextMessage, b); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(waitTimeout))
	for {
		_, b, err := conn.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || !strings.Contains(ce.Text, want) {
				t.Fatalf("register %s/%s: session ended with %v, want a close reason containing %q", ns, name, err, want)
			}
			return
		}
		if m, _ := agentproto.Decode(b); m != nil && (m.Type == agentproto.TypeWelcome || m.Type == agentproto.TypeKey) {
			t.Fatalf("register %s/%s: refused session was sent %s", ns, name, m.Type)
		}
	}
}

// cgroupRoot returns a fake cgroup file system root with the given v2
// cgroups present.
func cgroupRoot(t *testing.T, paths ...string) string {
	t.Helper()
	root := t.TempDir()
	for _, p := range paths {
		if err := os.MkdirAll(filepath.Join(root, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestBindingRefusesOtherNamespace(t *testing.T) {
	store := newStore(t)
	peers := &fakePeers{}
	a := startAgent(t, "hostA", store, func(c *agent.Config) {
		c.PeerOf = peers.peerOf
		c.MetricsListen = "127.0.0.1:0"
		c.CgroupRoot = cgroupRoot(t, "/docker/aaa", "/docker/bbb")
	})
	peers.set("/docker/aaa")
	newProxy(t, a, "ns1", "a1")
	// The user's code of container aaa asks for another namespace.
	registerRefused(t, a, "ns2", "evil", "container is bound to another namespace")
	// Another session of aaa for its own namespace is fine.
	newProxy(t, a, "ns1", "a2")
	// Container bbb binds ns2; aaa still cannot have it, bbb cannot have ns1.
	peers.set("/docker/bbb")
	newProxy(t, a, "ns2", "b1")
	registerRefused(t, a, "ns1", "evil2", "container is bound to another namespace")
	peers.set("/docker/aaa")
	registerRefused(t, a, "ns2", "evil3", "container is bound to another namespace")

	body := scrape(t, "http://"+a.MetricsAddr()+"/metrics")
	for _, w := range []string{
		`wsk_route_register_refusals_total{reason="namespace_mismatch"} 3`,
		`wsk_route_register_refusals_total{reason="unidentified_peer"} 0`,
	} {
		if !strings.Contains(body, w) {
			t.Errorf("/metrics lacks %q", w)
		}
	}
}

func TestBindingSurvivesRestart(t *testing.T) {
	store := newStore(t)
	stateDir := t.TempDir()
	root := cgroupRoot(t, "/docker/aaa")
	peers := &fakePeers{}
	edit := func(c *agent.Config) { c.PeerOf, c.StateDir, c.CgroupRoot = peers.peerOf, stateDir, root }
	a1 := startAgent(t, "hostA", store, edit)
	peers.set("/docker/aaa")
	p := newProxy(t, a1, "ns1", "a1")
	p.close()
	if err := a1.stop(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(stateDir, agent.BindingsFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("bindings file mode %v, want 0600", fi.Mode().Perm())
	}
	// A new agent on the same state dir, before aaa's proxy is back.
	a2 := startAgent(t, "hostA", store, edit)
	registerRefused(t, a2, "ns2", "evil", "container is bound to another namespace")
	newProxy(t, a2, "ns1", "a1")
}

func TestBindingPrunedWhenCgroupVanishes(t *testing.T) {
	store := newStore(t)
	stateDir := t.TempDir()
	root := cgroupRoot(t, "/docker/aaa", "/docker/bbb")
	peers := &fakePeers{}
	edit := func(c *agent.Config) {
		c.PeerOf, c.StateDir, c.CgroupRoot = peers.peerOf, stateDir, root
		c.SweepInterval = 20 * time.Millisecond
	}
	a1 := startAgent(t, "hostA", store, edit)
	peers.set("/docker/aaa")
	newProxy(t, a1, "ns1", "a1").close()
	peers.set("/docker/bbb")
	newProxy(t, a1, "ns1", "b1").close()

	// The periodic sweep drops aaa once its cgroup is gone.
	if err := os.Remove(filepath.Join(root, "docker/aaa")); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(stateDir, agent.BindingsFile)
	deadline := time.Now().Add(waitTimeout)
	for {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "/docker/aaa") && strings.Contains(string(b), "/docker/bbb") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("binding of the vanished cgroup still saved:\n%s", b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := a1.stop(); err != nil {
		t.Fatal(err)
	}

	// Startup prunes too: bbb vanishes while no agent runs.
	if err := os.Remove(filepath.Join(root, "docker/bbb")); err != nil {
		t.Fatal(err)
	}
	edit2 := func(c *agent.Config) { edit(c); c.SweepInterval = time.Hour }
	a2 := startAgent(t, "hostA", store, edit2)
	// The paths are free again: a container created there may bind anew.
	for _, cg := range []string{"/docker/aaa", "/docker/bbb"} {
		if err := os.MkdirAll(filepath.Join(root, cg), 0o755); err != nil {
			t.Fatal(err)
		}
		peers.set(cg)
		newProxy(t, a2, "ns2", strings.TrimPrefix(cg, "/docker/"))
	}
}

func TestUnidentifiedPeer(t *testing.T) {
	store := newStore(t)
	unidentified := func(net.Conn) (proxyconn.Peer, error) {
		return proxyconn.Peer{}, fmt.Errorf("%w: test", proxyconn.ErrUnidentified)
	}
	a := startAgent(t, "hostA", store, func(c *agent.Config) { c.PeerOf = unidentified })
	registerRefused(t, a, "ns1", "p1", "peer unidentified")

	allow := startAgent(t, "hostB", store, func(c *agent.Config) {
		c.PeerOf, c.AllowUnidentifiedPeers = unidentified, true
	})
	newProxy(t, allow, "ns1", "p1")
	newProxy(t, allow, "ns2", "p2")
}

// The real path: this test process connects over the agent's unix socket;
// the agent reads its pid with SO_PEERCRED and its cgroup from /proc.
func TestRealPeerCredentials(t *testing.T) {
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		testenv.Skip(t, "no /proc/self/cgroup: %v", err)
	}
	own, err := proxyconn.ParseCgroup(self)
	if err != nil {
		t.Fatalf("own cgroup: %v", err)
	}
	store := newStore(t)
	stateDir := t.TempDir()
	a := startAgent(t, "hostA", store, func(c *agent.Config) { c.PeerOf, c.StateDir = nil, stateDir })
	newProxy(t, a, "ns1", "p1")
	registerRefused(t, a, "ns2", "p2", "container is bound to another namespace")
	newProxy(t, a, "ns1", "p3")
	b, err := os.ReadFile(filepath.Join(stateDir, agent.BindingsFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), fmt.Sprintf("%q", own.Path)) || !strings.Contains(string(b), `"ns1"`) {
		t.Errorf("bindings file does not bind this process's cgroup %s to ns1:\n%s", own, b)
	}
}
