package agent_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsk-route/wsk-route/internal/agentproto"
	"github.com/wsk-route/wsk-route/internal/consulstore"
	"github.com/wsk-route/wsk-route/internal/fdpass"
	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/leakcheck"
	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/internal/spec"
	"github.com/wsk-route/wsk-route/internal/testenv"
	"github.com/wsk-route/wsk-route/internal/transport"
	"github.com/wsk-route/wsk-route/invoker-plugin/agent"
)

// waitTimeout bounds every wait for something to reach Consul or a proxy.
const waitTimeout = 15 * time.Second

var storeSeq atomic.Int64

// newStore returns a store on the shared Consul agent with a prefix and a
// service name of the test's own.
func newStore(t *testing.T) *consulstore.Store {
	t.Helper()
	c := testenv.SharedConsul(t)
	name := fmt.Sprintf("wra%d-%d", os.Getpid(), storeSeq.Add(1))
	s, err := consulstore.New(consulstore.Options{Address: c.Addr, Prefix: name, Service: name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// shortTempDir returns a temporary directory with a short path (unix
// socket paths are limited to 108 bytes).
func shortTempDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "wra")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// testAgent is a running Agent.
type testAgent struct {
	*agent.Agent
	runDir string
	stop   func() error // cancels Run and returns its error
}

// startAgent runs an agent on host with store until the test ends.
func startAgent(t *testing.T, host string, store agent.Registry, edit func(*agent.Config)) *testAgent {
	t.Helper()
	base := shortTempDir(t)
	cfg := agent.Config{
		Host:         host,
		RunDir:       filepath.Join(base, "run"),
		ShmRoot:      filepath.Join(base, "shm"),
		TTL:          3 * time.Second,
		Registry:     store,
		Logger:       slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
		PingInterval: 100 * time.Millisecond,
		PongWait:     500 * time.Millisecond,
		StateDir:     filepath.Join(base, "state"),
		// Each connection is a container of its own, so that one test
		// process can run proxies of several namespaces; tenancy_test.go
		// covers the real peer lookup.
		PeerOf: distinctPeers(),
	}
	if edit != nil {
		edit(&cfg)
	}
	a, err := agent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(waitTimeout):
				runErr = fmt.Errorf("Run did not return %v after cancel", waitTimeout)
			}
		})
		return runErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("agent %s: %v", host, err)
		}
	})
	return &testAgent{Agent: a, runDir: cfg.RunDir, stop: stop}
}

// fakeProxy is a test proxy session: it dials the agent's websocket,
// keeps the table and specs it is sent, and records every message.
type fakeProxy struct {
	t    *testing.T
	conn *websocket.Conn
	done chan struct{}

	// mu guards the fields below, which the reader goroutine (read) writes
	// as messages arrive. The test reads them with mu held: waitFor's cond
	// runs with it, and instance and specData take it. The agent sends
	// welcome and key once, before newProxy returns (its waitFor saw them),
	// so those two may be read without mu afterwards; table, specs and msgs
	// change for the whole session.
	mu      sync.Mutex
	msgs    []*agentproto.Message
	welcome *agentproto.Welcome
	key     []byte
	table   map[string]routetable.Instance
	specs   map[string]agentproto.SpecData
	err     error // why the reader stopped
}

func dial(t *testing.T, a *testAgent) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{
		NetDialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", a.SocketPath())
		},
		HandshakeTimeout: 5 * time.Second,
	}
	conn, resp, err := d.Dial("ws://agent"+agentproto.Path, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", a.SocketPath(), err)
	}
	resp.Body.Close()
	return conn
}

// newProxy connects and registers a proxy named name of action
// "/<ns>/<name>" (the agent makes its frame socket, RunDir/proxies/<name>.sock).
func newProxy(t *testing.T, a *testAgent, ns, name string) *fakeProxy {
	t.Helper()
	return newProxyAs(t, a, register(a, ns, name))
}

// newProxyAs is newProxy with the registration reg.
func newProxyAs(t *testing.T, a *testAgent, reg *agentproto.Register) *fakeProxy {
	t.Helper()
	p := &fakeProxy{t: t, conn: dial(t, a), done: make(chan struct{}),
		table: map[string]routetable.Instance{}, specs: map[string]agentproto.SpecData{}}
	go p.read()
	t.Cleanup(p.close)
	p.send(&agentproto.Message{Type: agentproto.TypeRegister, Register: reg})
	p.waitFor("welcome", func() bool { return p.welcome != nil && p.key != nil })
	return p
}

func register(a *testAgent, ns, name string) *agentproto.Register {
	return &agentproto.Register{
		Namespace: ns, Action: "/" + ns + "/" + name, Name: name,
	}
}

// frameListener fetches the frame socket the agent made for p, as a proxy
// does after its welcome.
func (p *fakeProxy) frameListener() net.Listener {
	p.t.Helper()
	p.mu.Lock()
	w := *p.welcome
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	msg, f, err := fdpass.Fetch(ctx, strings.TrimPrefix(w.Handoff, "unix:"), []byte(w.Token+"\n"), "frames")
	if err != nil {
		p.t.Fatalf("fetching the frame socket: %v", err)
	}
	defer f.Close()
	if string(msg) != "ok" {
		p.t.Fatalf("handoff answered %q", msg)
	}
	ln, err := net.FileListener(f)
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() { ln.Close() })
	return ln
}

func (p *fakeProxy) send(m *agentproto.Message) {
	p.t.Helper()
	b, err := agentproto.Encode(m)
	if err != nil {
		p.t.Fatal(err)
	}
	if err := p.conn.WriteMessage(websocket.TextMessage, b); err != nil {
		p.t.Fatalf("write: %v", err)
	}
}

func (p *fakeProxy) read() {
	defer close(p.done)
	for {
		_, b, err := p.conn.ReadMessage()
		if err != nil {
			p.mu.Lock()
			p.err = err
			p.mu.Unlock()
			return
		}
		m, err := agentproto.Decode(b)
		if err != nil {
			p.mu.Lock()
			p.err = err
			p.mu.Unlock()
			return
		}
		p.apply(m)
	}
}

func (p *fakeProxy) apply(m *agentproto.Message) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.msgs = append(p.msgs, m)
	switch m.Type {
	case agentproto.TypeWelcome:
		p.welcome = m.Welcome
	case agentproto.TypeKey:
		p.key = m.Key.Key
	case agentproto.TypeTable:
		if m.Table.Full {
			clear(p.table)
		}
		for _, in := range m.Table.Upsert {
			p.table[in.ID] = in
		}
		for _, id := range m.Table.Remove {
			delete(p.table, id)
		}
	case agentproto.TypeSpecs:
		if m.Specs.Full {
			clear(p.specs)
		}
		for _, sd := range m.Specs.Upsert {
			p.specs[sd.Workflow] = sd
		}
		for _, wf := range m.Specs.Remove {
			delete(p.specs, wf)
		}
	}
}

func (p *fakeProxy) close() {
	_ = p.conn.Close()
	<-p.done
}

// waitFor polls cond (called with p.mu held) until it holds.
func (p *fakeProxy) waitFor(what string, cond func() bool) {
	p.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		p.mu.Lock()
		ok, err := cond(), p.err
		p.mu.Unlock()
		if ok {
			return
		}
		if err != nil || time.Now().After(deadline) {
			p.t.Fatalf("proxy: waiting for %s: gave up (reader: %v)", what, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// instance returns the instance id of p's table (read with p.mu held).
func (p *fakeProxy) instance(id string) (routetable.Instance, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	in, ok := p.table[id]
	return in, ok
}

// specData returns workflow wf of p's specs (read with p.mu held).
func (p *fakeProxy) specData(wf string) (agentproto.SpecData, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	sd, ok := p.specs[wf]
	return sd, ok
}

// tableIDs returns the ids in p's table, sorted; call it with p.mu held
// (from a waitFor cond).
func (p *fakeProxy) tableIDs() []string {
	ids := make([]string, 0, len(p.table))
	for id := range p.table {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// consulView keeps the latest passing instances that Consul reports.
type consulView struct {
	mu    sync.Mutex
	insts []routetable.Instance
}

func watchConsul(t *testing.T, store *consulstore.Store) *consulView {
	t.Helper()
	v := &consulView{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = store.WatchInstances(ctx, func(in []routetable.Instance) {
			v.mu.Lock()
			v.insts = in
			v.mu.Unlock()
		}, nil)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return v
}

func (v *consulView) waitFor(t *testing.T, what string, cond func([]routetable.Instance) bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		v.mu.Lock()
		ok := cond(v.insts)
		v.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("consul: waiting for %s: gave up", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func hasID(insts []routetable.Instance, id string) bool {
	return slices.ContainsFunc(insts, func(in routetable.Instance) bool { return in.ID == id })
}

func TestRegisterTableAndRemove(t *testing.T) {
	store := newStore(t)
	view := watchConsul(t, store)
	a := startAgent(t, "hostA", store, nil)

	p1 := newProxy(t, a, "ns1", "p1")
	w := p1.welcome
	if w.InstanceID != "hostA/p1" || w.Host != "hostA" || w.Relay != a.FrameEndpoint() || filepath.Base(w.ShmDir) != "ns1" {
		t.Errorf("welcome %+v, want instance hostA/p1, relay %s, shm dir .../ns1", w, a.FrameEndpoint())
	}
	if fi, err := os.Stat(w.ShmDir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("shm dir %s: %v, %v; want a 0700 directory", w.ShmDir, fi, err)
	}
	if len(p1.key) < 16 {
		t.Errorf("key of %d bytes", len(p1.key))
	}
	view.waitFor(t, "hostA/p1 in consul", func(in []routetable.Instance) bool { return hasID(in, "hostA/p1") })

	p2 := newProxy(t, a, "ns1", "p2")
	p2.waitFor("p1 and p2 in p2's table", func() bool { return slices.Equal(p2.tableIDs(), []string{"hostA/p1", "hostA/p2"}) })
	if got, _ := p2.instance("hostA/p1"); got.Action != "/ns1/p1" || got.Namespace != "ns1" || got.Host != "hostA" {
		t.Errorf("p1 in p2's table: %+v", got)
	}
	p1.waitFor("p2 in p1's table", func() bool { return len(p1.table) == 2 })
	if !bytesEqual(p1.key, p2.key) {
		t.Error("two proxies of one namespace got different keys")
	}

	p3 := newProxy(t, a, "ns2", "p3")
	p3.waitFor("p3 in its own table", func() bool { return slices.Equal(p3.tableIDs(), []string{"hostA/p3"}) })
	if bytesEqual(p1.key, p3.key) {
		t.Error("two namespaces got the same key")
	}

	p1.close()
	view.waitFor(t, "hostA/p1 gone from consul", func(in []routetable.Instance) bool { return !hasID(in, "hostA/p1") })
	p2.waitFor("a remove of p1", func() bool {
		for _, m := range p2.msgs {
			if m.Type == agentproto.TypeTable && !m.Table.Full && slices.Contains(m.Table.Remove, "hostA/p1") {
				return true
			}
		}
		return false
	})
	p3.mu.Lock()
	defer p3.mu.Unlock()
	for _, m := range p3.msgs {
		if m.Type != agentproto.TypeTable {
			continue
		}
		for _, in := range m.Table.Upsert {
			if in.Namespace != "ns2" {
				t.Errorf("ns2 proxy was sent %s of namespace %s", in.ID, in.Namespace)
			}
		}
		if len(m.Table.Remove) > 0 {
			t.Errorf("ns2 proxy was sent removes %v", m.Table.Remove)
		}
	}
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

// A proxy that stops reading (a paused container) stops answering pings
// and is dropped within the pong deadline.
func TestSilentProxyDropped(t *testing.T) {
	store := newStore(t)
	a := startAgent(t, "hostA", store, nil) // PongWait 500ms
	watcher := newProxy(t, a, "ns1", "watcher")

	conn := dial(t, a)
	defer conn.Close()
	b, err := agentproto.Encode(&agentproto.Message{Type: agentproto.TypeRegister, Register: register(a, "ns1", "silent")})
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.WriteMessage(websocket.TextMessage, b); err != nil {
		t.Fatal(err)
	}
	watcher.waitFor("silent in the table", func() bool { _, ok := watcher.table["hostA/silent"]; return ok })
	start := time.Now()
	watcher.waitFor("silent removed", func() bool { _, ok := watcher.table["hostA/silent"]; return !ok })
	// PongWait, then Consul's deregistration and its blocking query.
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("silent proxy dropped after %v", d)
	}
}

func TestBadMessageClosesOnlyThatSession(t *testing.T) {
	store := newStore(t)
	a := startAgent(t, "hostA", store, nil)
	good := newProxy(t, a, "ns1", "good")
	// Checked at the end: it must be there before the bad sessions come.
	good.waitFor("its instance in its table", func() bool { _, ok := good.table["hostA/good"]; return ok })
	tests := []struct {
		name string
		msg  string
	}{
		{"not json", "{"},
		{"agent message", `{"type":"welcome","welcome":{"instance_id":"x"}}`},
		{"stats before register", `{"type":"stats","stats":{"hops":[]}}`},
		{"namespace with slash", `{"type":"register","register":{"namespace":"a/b","action":"/a/b/c","unix":"unix:/x","name":"n"}}`},
		{"socket outside run dir", `{"type":"register","register":{"namespace":"ns1","action":"/ns1/x","unix":"unix:/etc/x.sock","name":"n"}}`},
		{"action of another namespace", `{"type":"register","register":{"namespace":"ns1","action":"/ns2/x","unix":"unix:` + filepath.Join(a.runDir, "n.sock") + `","name":"n"}}`},
		{"name taken", `{"type":"register","register":{"namespace":"ns1","action":"/ns1/x","unix":"unix:` + filepath.Join(a.runDir, "n.sock") + `","name":"good"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := dial(t, a)
			defer conn.Close()
			if err := conn.WriteMessage(websocket.TextMessage, []byte(tt.msg)); err != nil {
				t.Fatal(err)
			}
			_ = conn.SetReadDeadline(time.Now().Add(waitTimeout))
			for {
				_, b, err := conn.ReadMessage()
				if err != nil {
					var ce *websocket.CloseError
					if !errors.As(err, &ce) {
						t.Fatalf("bad session not closed by the agent: %v", err)
					}
					break // closed, as it should be
				}
				if m, _ := agentproto.Decode(b); m != nil && m.Type == agentproto.TypeWelcome {
					t.Fatalf("bad session was welcomed: %+v", m.Welcome)
				}
			}
		})
	}
	good.mu.Lock()
	err := good.err
	good.mu.Unlock()
	if err != nil {
		t.Errorf("the good session ended: %v", err)
	}
	good.mu.Lock()
	_, ok := good.table["hostA/good"]
	good.mu.Unlock()
	if !ok {
		t.Error("the good session's instance left the table")
	}
}

func TestSpecsPushed(t *testing.T) {
	store := newStore(t)
	a := startAgent(t, "hostA", store, nil)
	p1 := newProxy(t, a, "ns1", "p1")
	p3 := newProxy(t, a, "ns2", "p3")
	p1.waitFor("a specs snapshot", func() bool {
		return slices.ContainsFunc(p1.msgs, func(m *agentproto.Message) bool { return m.Type == agentproto.TypeSpecs })
	})

	sp := &spec.Spec{Workflow: "flow", Namespace: "ns1", Start: []string{"a"},
		Steps: map[string]spec.Step{"a": {Action: "/ns1/p1"}}}
	v, err := store.PutSpec(context.Background(), sp)
	if err != nil {
		t.Fatal(err)
	}
	p1.waitFor("spec flow", func() bool { return p1.specs["flow"].Version == v })
	sd, _ := p1.specData("flow")
	got, err := spec.Parse(sd.Spec)
	if err != nil {
		t.Fatalf("pushed spec: %v", err)
	}
	if got.Key() != "ns1/flow" || got.Steps["a"].Action != "/ns1/p1" {
		t.Errorf("pushed spec %+v", got)
	}
	// A second proxy of ns1 gets it in its snapshot.
	p2 := newProxy(t, a, "ns1", "p2")
	p2.waitFor("spec flow in the snapshot", func() bool { return p2.specs["flow"].Version == v })

	p3.mu.Lock()
	defer p3.mu.Unlock()
	if len(p3.specs) != 0 {
		t.Errorf("ns2 proxy got specs %v", p3.specs)
	}
}

func TestRelayAcrossAgents(t *testing.T) {
	store := newStore(t)
	listen := func(c *agent.Config) { c.RelayListen = "127.0.0.1:0" }
	a := startAgent(t, "hostA", store, listen)
	b := startAgent(t, "hostB", store, listen)
	if !strings.HasPrefix(b.RelayEndpoint(), "tcp:127.0.0.1:") {
		t.Fatalf("relay endpoint %q", b.RelayEndpoint())
	}

	// The receiver on host B: a frame server at the socket it registers.
	var got struct {
		sync.Mutex
		frames []frame.Frame
	}
	answer := frame.CodeOK
	srv := &transport.Server{Unverified: true, Handler: transport.HandlerFunc(func(_ context.Context, d *transport.Delivery) (frame.Code, string) {
		got.Lock()
		defer got.Unlock()
		f := d.Frame
		f.Payload = append([]byte(nil), d.Payload()...)
		got.frames = append(got.frames, f)
		if answer == frame.CodeOK {
			d.Release()
		}
		return answer, "receiver says " + answer.String()
	})}
	recv := newProxy(t, b, "ns1", "recv")
	ln := recv.frameListener()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	defer func() { cancel(); <-served }()
	sender := newProxy(t, a, "ns1", "sender")
	sender.waitFor("recv in the sender's table", func() bool { _, ok := sender.table["hostB/recv"]; return ok })
	if in, _ := sender.instance("hostB/recv"); in.Relay != b.RelayEndpoint() {
		t.Fatalf("recv's relay %q, want %q", in.Relay, b.RelayEndpoint())
	}

	c := &transport.Client{ShmThreshold: -1}
	defer c.Close()
	send := func(target, ns string) frame.Frame {
		t.Helper()
		f := &frame.Frame{Kind: frame.KindStep, RunID: "run1", Workflow: "flow", Step: "s1",
			Namespace: ns, Target: target, Payload: []byte("hello"), Size: 5}
		f.Sign(sender.key)
		ack, err := c.Send(context.Background(), a.FrameEndpoint(), f, nil)
		if err != nil {
			t.Fatalf("send to %s: %v", target, err)
		}
		return ack
	}

	if ack := send("hostB/recv", "ns1"); ack.Code != frame.CodeOK {
		t.Fatalf("ack %v %q, want ok", ack.Code, ack.Reason)
	}
	got.Lock()
	if len(got.frames) != 1 || string(got.frames[0].Payload) != "hello" || !got.frames[0].Verify(recv.key) {
		t.Errorf("receiver got %+v, want one frame with payload hello and a valid tag", got.frames)
	}
	answer = frame.CodeBusy
	got.Unlock()
	if ack := send("hostB/recv", "ns1"); ack.Code != frame.CodeBusy || !strings.Contains(ack.Reason, "receiver says busy") {
		t.Errorf("ack %v %q, want the receiver's busy", ack.Code, ack.Reason)
	}
	if ack := send("hostB/nobody", "ns1"); ack.Code != frame.CodeUnknownStep {
		t.Errorf("unknown target: ack %v %q, want unknown step", ack.Code, ack.Reason)
	}
	if ack := send("hostB/recv", "ns2"); ack.Code != frame.CodeWrongNamespace {
		t.Errorf("wrong namespace: ack %v %q, want wrong namespace", ack.Code, ack.Reason)
	}
	got.Lock()
	defer got.Unlock()
	if len(got.frames) != 2 {
		t.Errorf("receiver got %d frames, want 2", len(got.frames))
	}
}

func TestMetricsAfterStats(t *testing.T) {
	store := newStore(t)
	a := startAgent(t, "hostA", store, func(c *agent.Config) { c.MetricsListen = "127.0.0.1:0" })
	p := newProxy(t, a, "ns1", "p1")
	buckets := make([]uint64, len(agentproto.LatencyBuckets)+1)
	buckets[2] = 3
	p.send(&agentproto.Message{Type: agentproto.TypeStats, Stats: &agentproto.Stats{Hops: []agentproto.HopStats{
		{Action: "/ns1/next", Transport: "shm", Hops: 3, Bytes: 300, Buckets: buckets, SumSeconds: 0.00006},
	}}})
	want := []string{
		`wsk_route_hops_total{action="/ns1/next",transport="shm"} 3`,
		`wsk_route_hop_bytes_total{action="/ns1/next",transport="shm"} 300`,
		`wsk_route_hop_latency_seconds_count{action="/ns1/next",transport="shm"} 3`,
		// by edge: from the action the proxy registered
		`wsk_route_edge_hops_total{from_action="/ns1/p1",outcome="ok",to_action="/ns1/next",transport="shm"} 3`,
		`wsk_route_edge_bytes_total{from_action="/ns1/p1",to_action="/ns1/next",transport="shm"} 300`,
		`wsk_route_edge_latency_seconds_count{from_action="/ns1/p1",to_action="/ns1/next",transport="shm"} 3`,
		`wsk_route_proxies 1`,
	}
	deadline := time.Now().Add(waitTimeout)
	for {
		body := scrape(t, "http://"+a.MetricsAddr()+"/metrics")
		missing := ""
		for _, w := range want {
			if !strings.Contains(body, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics lacks %q:\n%s", missing, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Run stops on cancel, deregisters what it registered and leaves no
// goroutine behind.
func TestRunStopsAndDeregisters(t *testing.T) {
	testenv.SharedConsul(t) // outlives the test: started before the check
	// Checked when the test has cleaned up: after the agent, the proxy
	// session and the watch have stopped and the store has closed its idle
	// connections (the agent's registry calls left some).
	leakcheck.Check(t)
	store := newStore(t)
	view := watchConsul(t, store)
	view.waitFor(t, "the watch's first answer", func(in []routetable.Instance) bool { return in != nil })
	a := startAgent(t, "hostA", store, func(c *agent.Config) {
		c.RelayListen = "127.0.0.1:0"
		c.MetricsListen = "127.0.0.1:0"
	})
	p := newProxy(t, a, "ns1", "p1")
	view.waitFor(t, "hostA/p1 in consul", func(in []routetable.Instance) bool { return hasID(in, "hostA/p1") })
	if err := a.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	view.waitFor(t, "hostA/p1 gone from consul", func(in []routetable.Instance) bool { return !hasID(in, "hostA/p1") })
	<-p.done // the agent closed the session
	p.close()
	if _, err := os.Stat(a.SocketPath()); !os.IsNotExist(err) {
		t.Errorf("socket %s left behind: %v", a.SocketPath(), err)
	}
}

// The agent passes the TTL check while the session lives: the instance
// stays passing for several TTLs.
func TestTTLKeptPassing(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for several TTLs")
	}
	store := newStore(t)
	var mu sync.Mutex
	seen, dropped := false, false
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = store.WatchInstances(ctx, func(in []routetable.Instance) {
			mu.Lock()
			defer mu.Unlock()
			has := hasID(in, "hostA/p1")
			dropped = dropped || (seen && !has)
			seen = seen || has
		}, nil)
	}()
	defer func() { cancel(); <-done }()
	a := startAgent(t, "hostA", store, func(c *agent.Config) { c.TTL = time.Second })
	newProxy(t, a, "ns1", "p1")
	<-time.After(3500 * time.Millisecond) // three and a half TTLs
	mu.Lock()
	defer mu.Unlock()
	if !seen || dropped {
		t.Errorf("instance seen %v, dropped %v; want seen and never dropped", seen, dropped)
	}
}

// Unregister withdraws the instance at once and ends the session.
func TestUnregister(t *testing.T) {
	store := newStore(t)
	a := startAgent(t, "hostA", store, nil)
	watcher := newProxy(t, a, "ns1", "watcher")
	p := newProxy(t, a, "ns1", "p1")
	watcher.waitFor("p1 in the table", func() bool { _, ok := watcher.table["hostA/p1"]; return ok })
	p.send(&agentproto.Message{Type: agentproto.TypeUnregister, Unregister: &agentproto.Unregister{Reason: "child died"}})
	watcher.waitFor("p1 removed", func() bool { _, ok := watcher.table["hostA/p1"]; return !ok })
	select {
	case <-p.done:
	case <-time.After(waitTimeout):
		t.Fatal("the agent kept the session after Unregister")
	}
	// The name is free again.
	newProxy(t, a, "ns1", "p1")
}
