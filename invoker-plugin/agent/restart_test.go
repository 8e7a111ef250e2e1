package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/route"
	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/internal/spec"
	"github.com/wsk-route/wsk-route/internal/transport"
	"github.com/wsk-route/wsk-route/invoker-plugin/agent"
)

// heldWatch is a registry whose instance watch starts only once release is
// closed: an agent that has just started and has not had Consul's first
// answer yet.
type heldWatch struct {
	agent.Registry
	release chan struct{}
}

func (h heldWatch) WatchInstances(ctx context.Context, fn func([]routetable.Instance), onError func(error)) error {
	select {
	case <-h.release:
	case <-ctx.Done():
		return nil
	}
	return h.Registry.WatchInstances(ctx, fn, onError)
}

// frameSink serves frames on the listeners it is given and records them.
type frameSink struct {
	t      *testing.T
	delay  time.Duration // before each answer
	srv    *transport.Server
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	frames []frame.Frame
}

func newFrameSink(t *testing.T, delay time.Duration) *frameSink {
	s := &frameSink{t: t, delay: delay}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.srv = &transport.Server{Unverified: true, Handler: transport.HandlerFunc(func(_ context.Context, d *transport.Delivery) (frame.Code, string) {
		s.mu.Lock()
		f := d.Frame
		f.Payload = append([]byte(nil), d.Payload()...)
		s.frames = append(s.frames, f)
		s.mu.Unlock()
		d.Release()
		time.Sleep(s.delay) // recorded on arrival, answered after delay
		return frame.CodeOK, ""
	})}
	t.Cleanup(func() { s.cancel(); s.wg.Wait() })
	return s
}

func (s *frameSink) serve(ln net.Listener) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = s.srv.Serve(s.ctx, ln)
	}()
}

func (s *frameSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.frames)
}

// replyFrame is a step's result on its way to the entry target, signed
// with key.
func replyFrame(ns, target string, key []byte) *frame.Frame {
	f := &frame.Frame{Kind: frame.KindResult, RunID: "run1", Workflow: "flow", Step: "s3",
		Namespace: ns, Target: target, ReplyTo: "instance:" + target,
		Deadline: time.Now().Add(time.Minute).UnixNano(), Payload: []byte(`{"x":1}`), Size: 7}
	f.Sign(key)
	return f
}

// freePort returns a TCP address on 127.0.0.1 that nothing listens on.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// restartable runs the agents of one host, one after the other, on the
// same directories and relay port, as systemd restarts the unit.
type restartable struct {
	t                      *testing.T
	host, base, relay      string
	ttl                    time.Duration
	registry               func() agent.Registry
	cur                    *testAgent
	runDir, shmRoot, state string
}

func newRestartable(t *testing.T, host string, registry func() agent.Registry) *restartable {
	base := shortTempDir(t)
	return &restartable{t: t, host: host, base: base, relay: freePort(t), ttl: 10 * time.Second, registry: registry,
		runDir: filepath.Join(base, "run"), shmRoot: filepath.Join(base, "shm"), state: filepath.Join(base, "state")}
}

// start starts the host's next agent.
func (r *restartable) start() *testAgent {
	r.cur = startAgent(r.t, r.host, r.registry(), func(c *agent.Config) {
		c.RunDir, c.ShmRoot, c.StateDir = r.runDir, r.shmRoot, r.state
		c.RelayListen = r.relay
		c.TTL = r.ttl
	})
	return r.cur
}

// A step on host B replies to its entry on host A while B's agent restarts:
// the reply reaches the new agent before the new agent has Consul's first
// answer, and before or after the step's proxy registered with it again.
// The new agent relays it (it waits for what it needs, briefly) instead of
// refusing it: such a refusal lost the only copy of the run's result (the
// runs lost at an agent's restart in the ansible test bed, docs/deploy.md
// section 9).
func TestRelayFromRestartedAgent(t *testing.T) {
	for _, proxyFirst := range []bool{false, true} {
		name := "frame before the proxy"
		if proxyFirst {
			name = "proxy back, no table yet"
		}
		t.Run(name, func(t *testing.T) { testRelayFromRestartedAgent(t, proxyFirst) })
	}
}

func testRelayFromRestartedAgent(t *testing.T, proxyFirst bool) {
	store := newStore(t)
	a := startAgent(t, "hostA", store, func(c *agent.Config) { c.RelayListen = "127.0.0.1:0" })
	entrySink := newFrameSink(t, 0)
	entry := newProxy(t, a, "ns1", "entry")
	entrySink.serve(entry.frameListener())

	release := make(chan struct{})
	var held bool
	b := newRestartable(t, "hostB", func() agent.Registry {
		if !held {
			return store
		}
		return heldWatch{Registry: store, release: release}
	})
	b1 := b.start()
	step := newProxy(t, b1, "ns1", "step")
	step.waitFor("the entry in the step's table", func() bool { _, ok := step.table["hostA/entry"]; return ok })
	if err := b1.stop(); err != nil {
		t.Fatal(err)
	}
	<-step.done // the stopping agent closed the session; the proxy keeps its key

	held = true
	b2 := b.start()
	if proxyFirst {
		newProxy(t, b2, "ns1", "step")
	}
	c := &transport.Client{ShmThreshold: -1}
	defer c.Close()
	t0 := time.Now()
	done := sendInBackground(c, b2.FrameEndpoint(), replyFrame("ns1", "hostA/entry", step.key))
	// Consul answers, and the step's proxy comes back, a moment later.
	time.Sleep(300 * time.Millisecond)
	if !proxyFirst {
		newProxy(t, b2, "ns1", "step")
	}
	close(release)
	r := <-done
	if r.err != nil || r.ack.Code != frame.CodeOK {
		t.Fatalf("the reply through the restarted agent: ack %v %q, err %v (after %v), want ok", r.ack.Code, r.ack.Reason, r.err, time.Since(t0))
	}
	if n := entrySink.count(); n != 1 {
		t.Fatalf("the entry got %d frames, want 1", n)
	}
}

// A frame for an instance of host B, sent while B's agent restarts, reaches
// the new agent before that instance's proxy registered with it again
// (the instance is still registered in Consul: the stopping agent left it
// there). The new agent waits for the proxy, briefly, and delivers the
// frame, instead of refusing the namespace or the instance.
func TestRelayToRestartedAgent(t *testing.T) {
	store := newStore(t)
	a := startAgent(t, "hostA", store, func(c *agent.Config) { c.RelayListen = "127.0.0.1:0" })
	step := newProxy(t, a, "ns1", "step")

	b := newRestartable(t, "hostB", func() agent.Registry { return store })
	b1 := b.start()
	entrySink := newFrameSink(t, 0)
	entry := newProxy(t, b1, "ns1", "entry")
	entrySink.serve(entry.frameListener())
	step.waitFor("the entry in the step's table", func() bool { _, ok := step.table["hostB/entry"]; return ok })
	if err := b1.stop(); err != nil {
		t.Fatal(err)
	}
	<-entry.done
	b2 := b.start()

	c := &transport.Client{ShmThreshold: -1}
	defer c.Close()
	t0 := time.Now()
	done := sendInBackground(c, a.FrameEndpoint(), replyFrame("ns1", "hostB/entry", step.key))
	time.Sleep(300 * time.Millisecond)
	again := newProxy(t, b2, "ns1", "entry")
	entrySink.serve(again.frameListener())
	r := <-done
	if r.err != nil || r.ack.Code != frame.CodeOK {
		t.Fatalf("the reply to the restarted agent's instance: ack %v %q, err %v (after %v), want ok", r.ack.Code, r.ack.Reason, r.err, time.Since(t0))
	}
	if n := entrySink.count(); n != 1 {
		t.Fatalf("the entry got %d frames, want 1", n)
	}
}

// A stopping agent drains its relays: a frame it was relaying when it was
// told to stop still reaches its target and its ack comes back (before, the
// stop cancelled the forward, and the sender got "unavailable" while the
// target may have taken the frame); a frame sent after the stop is not
// read (the frame socket is gone); and Run returns within the grace.
func TestStoppingAgentDrainsRelays(t *testing.T) {
	store := newStore(t)
	a := startAgent(t, "hostA", store, nil)
	sink := newFrameSink(t, 400*time.Millisecond) // a receiver slow to answer
	recv := newProxy(t, a, "ns1", "recv")
	sink.serve(recv.frameListener())

	c := &transport.Client{ShmThreshold: -1}
	defer c.Close()
	done := sendInBackground(c, a.FrameEndpoint(), replyFrame("ns1", "hostA/recv", recv.key))
	deadline := time.Now().Add(waitTimeout)
	for sink.count() == 0 && time.Since(deadline) < 0 {
		time.Sleep(10 * time.Millisecond)
	}
	// The receiver has the frame and answers it in 400 ms: stop now.
	t0 := time.Now()
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	stopped := time.Since(t0)
	r := <-done
	if r.err != nil || r.ack.Code != frame.CodeOK {
		t.Errorf("the frame in flight at the stop: ack %v %q, err %v; want ok (drained)", r.ack.Code, r.ack.Reason, r.err)
	}
	if stopped > 2*time.Second {
		t.Errorf("Run returned %v after the stop, want within the drain grace", stopped)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if ack, err := c.Send(ctx, a.FrameEndpoint(), replyFrame("ns1", "hostA/recv", recv.key), nil); err == nil {
		t.Errorf("a frame sent after the stop was answered: %v %q", ack.Code, ack.Reason)
	}
}

// slowStep is a step's action that answers its input after took.
type slowStep struct{ took time.Duration }

func (e slowStep) TryReserve(context.Context) (route.Reservation, bool) { return e, true }
func (e slowStep) Release()                                             {}
func (e slowStep) Run(ctx context.Context, body io.Reader) ([]byte, func() []byte, error) {
	var in struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.NewDecoder(body).Decode(&in); err != nil {
		return nil, nil, err
	}
	select {
	case <-time.After(e.took):
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	return in.Value, func() []byte { return nil }, nil
}

// planeOn runs a route plane of action /ns1/<name> on a's host until the
// test ends (the agent may be replaced meanwhile: the plane reconnects to
// the same socket path).
func planeOn(t *testing.T, a *testAgent, name string, exec route.Executor) *route.Plane {
	t.Helper()
	p, err := route.New(route.Config{AgentSocket: a.SocketPath(), RunDir: a.runDir, Name: name,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil))}, exec)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("plane %s: %v", name, err)
		}
	})
	p.Identify(route.Identity{Namespace: "ns1", Action: "/ns1/" + name})
	return p
}

// A run whose step is running on host B while B's agent restarts
// completes. As in the ansible test bed, the agent is away for a while
// (systemd restarts it), the step's proxy reconnects on its backoff, and
// the step's result, tried again every 50 to 400 ms, reaches the new agent
// before the proxy has registered with it again. This is the test bed's
// loss at an agent's restart ("0 of 1 results arrived; steps that
// finished: ..."), with the real route planes: before the fix, the new
// agent refused the result ("namespace not served here": no proxy of the
// namespace had registered with it yet; or "relay: no instance" before
// Consul's first answer), the step gave up on it (a refusal from the entry's
// side is final), and the run ended at its deadline.
func TestRunAcrossAgentRestart(t *testing.T) {
	store := newStore(t)
	sp := &spec.Spec{Namespace: "ns1", Workflow: "flow", Start: []string{"s"}, Steps: map[string]spec.Step{
		"s": {Action: "/ns1/step"},
	}}
	if _, err := store.PutSpec(context.Background(), sp); err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, "hostA", store, func(c *agent.Config) { c.RelayListen = "127.0.0.1:0" })
	b := newRestartable(t, "hostB", func() agent.Registry { return store })
	b1 := b.start()
	entry := planeOn(t, a, "entry", nil)
	planeOn(t, b1, "step", slowStep{took: 300 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := entry.WaitReady(ctx, "flow"); err != nil {
		t.Fatal(err)
	}
	if _, err := entry.StartRun(ctx, "flow", []byte(`{"n":0}`), route.RunOptions{}); err != nil {
		t.Fatalf("the run before the restart: %v", err)
	}

	for i, gap := range []time.Duration{800 * time.Millisecond, 900 * time.Millisecond, 0} {
		if i > 0 {
			// The step's proxy registers with the new agent (its backoff
			// is at most 1 s) before the next restart.
			time.Sleep(1500 * time.Millisecond)
		}
		type result struct {
			res *route.Result
			err error
		}
		done := make(chan result, 1)
		rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
		t0 := time.Now()
		go func() {
			res, err := entry.StartRun(rctx, "flow", []byte(fmt.Sprintf(`{"n":%d}`, i)), route.RunOptions{})
			done <- result{res, err}
		}()
		// The step runs (300 ms): restart B's agent under it.
		time.Sleep(100 * time.Millisecond)
		if err := b.cur.stop(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(gap)
		b.start()
		r := <-done
		rcancel()
		if r.err != nil {
			t.Fatalf("run %d, across a restart of the step's agent (away %v): %v (after %v)", i, gap, r.err, time.Since(t0))
		}
		if want := fmt.Sprintf(`{"n":%d}`, i); string(r.res.Value) != want {
			t.Fatalf("run %d answered %s, want %s", i, r.res.Value, want)
		}
		t.Logf("run %d across a restart of the step's agent (away %v): ok in %v", i, gap, time.Since(t0).Round(time.Millisecond))
	}
}

// sent is a frame's ack, or why it has none.
type sent struct {
	ack frame.Frame
	err error
}

// sendInBackground sends f to endpoint with c and hands its ack over when
// it comes.
func sendInBackground(c *transport.Client, endpoint string, f *frame.Frame) <-chan sent {
	done := make(chan sent, 1)
	go func() {
		ack, err := c.Send(context.Background(), endpoint, f, nil)
		done <- sent{ack, err}
	}()
	return done
}
