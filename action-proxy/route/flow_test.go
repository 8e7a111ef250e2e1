package route

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/wsk-route/wsk-route/internal/agentproto"
	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/internal/transport"
)

// A run between two planes on one host, over real unix sockets, without an
// agent: the test plays the agent's part by setting what its welcome, key,
// specs and table messages would.

// flowSpecs are the workflows of the flow tests: "one" runs s1 on /ns/a;
// "fan" runs s1, then s2 and s3 (two results), all on /ns/a.
var flowSpecs = []agentproto.SpecData{
	{Workflow: "one", Version: 1, Spec: json.RawMessage(`{"workflow":"one","namespace":"ns","start":["s1"],"steps":{"s1":{"action":"/ns/a"}}}`)},
	{Workflow: "fan", Version: 1, Spec: json.RawMessage(`{"workflow":"fan","namespace":"ns","start":["s1"],"steps":{"s1":{"action":"/ns/a","next":["s2","s3"]},"s2":{"action":"/ns/a"},"s3":{"action":"/ns/a"}}}`)},
}

// flowPlane returns a registered Plane named name serving frames on its
// unix socket in dir until the test ends.
func flowPlane(t *testing.T, dir, name string, id Identity, exec Executor) *Plane {
	t.Helper()
	return flowPlaneWith(t, dir, name, id, exec, Config{})
}

// flowPlaneWith is flowPlane with cfg's settings besides its socket and
// name.
func flowPlaneWith(t *testing.T, dir, name string, id Identity, exec Executor, cfg Config) *Plane {
	t.Helper()
	cfg.AgentSocket, cfg.Name = dir+"/agent.sock", name
	p, err := New(cfg, exec)
	if err != nil {
		t.Fatal(err)
	}
	client := &transport.Client{ShmThreshold: -1, AckTimeout: 5 * time.Second}
	inline := &transport.Client{ShmThreshold: -1, AckTimeout: 5 * time.Second}
	t.Cleanup(func() {
		client.Close()
		inline.Close()
	})
	p.Identify(id)
	p.unix = "unix:" + dir + "/" + name + ".sock" // the agent's to make, in production
	p.setWelcome(&welcomeState{instanceID: "host1/" + name, host: "host1", key: testKey, client: client, inline: inline})
	p.applySpecs(&agentproto.Specs{Full: true, Upsert: flowSpecs})

	ln, err := transport.Listen(p.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	handler := transport.HandlerFunc(func(ctx context.Context, d *transport.Delivery) (frame.Code, string) {
		if c, ok := received.Load(name); ok {
			c.(*frameCounts).add(d.Frame.Kind)
		}
		return p.HandleFrame(ctx, d)
	})
	go func() {
		defer close(done)
		srv := &transport.Server{Unverified: true, Handler: handler} // HandleFrame checks the tags
		if err := srv.Serve(ctx, ln); err != nil {
			t.Errorf("%s: Serve: %v", name, err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		p.wg.Wait()
	})
	return p
}

// received counts, per plane name, the frames a flow plane received by
// kind, for the planes a test registers (countFrames).
var received sync.Map // name -> *frameCounts

type frameCounts struct {
	mu sync.Mutex
	n  map[frame.Kind]int
}

func (c *frameCounts) add(k frame.Kind) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[k]++
}

func (c *frameCounts) get(k frame.Kind) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[k]
}

// await returns the count of kind k once it is at least n, or after a
// few seconds.
func (c *frameCounts) await(k frame.Kind, n int) int {
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if got := c.get(k); got >= n {
			return got
		}
	}
	return c.get(k)
}

// countFrames counts the frames the flow plane name receives until the
// test ends.
func countFrames(t *testing.T, name string) *frameCounts {
	c := &frameCounts{n: map[frame.Kind]int{}}
	received.Store(name, c)
	t.Cleanup(func() { received.Delete(name) })
	return c
}

// flowPair returns an entry plane and a worker plane running /ns/a on
// exec; both tables hold both (the worker replies to the entry by its
// instance id).
func flowPair(t *testing.T, exec Executor) (entry, worker *Plane) {
	t.Helper()
	return flowPairWith(t, exec, Config{})
}

// flowPairWith is flowPair with cfg's settings for both planes.
func flowPairWith(t *testing.T, exec Executor, cfg Config) (entry, worker *Plane) {
	t.Helper()
	dir, err := os.MkdirTemp("", "wskroute") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	entry = flowPlaneWith(t, dir, "entry", Identity{Namespace: "ns", Action: "/ns/entry"}, nil, cfg)
	worker = flowPlaneWith(t, dir, "worker", Identity{Namespace: "ns", Action: "/ns/a"}, exec, cfg)
	table := &agentproto.Table{Full: true, Upsert: []routetable.Instance{
		{ID: "host1/worker", Namespace: "ns", Action: "/ns/a", Host: "host1", Unix: worker.Endpoint(), Concurrency: 1},
		{ID: "host1/entry", Namespace: "ns", Action: "/ns/entry", Host: "host1", Unix: entry.Endpoint(), Concurrency: 1},
	}}
	entry.applyTable(table)
	worker.applyTable(table)
	return entry, worker
}

func TestStartRunOneStep(t *testing.T) {
	exec := &fakeExecutor{free: true, result: []byte(`{"out":1}`)}
	entry, _ := flowPair(t, exec)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := entry.WaitReady(ctx, "one"); err != nil {
		t.Fatal(err)
	}
	res, err := entry.StartRun(ctx, "one", []byte(`{"x":1}`), RunOptions{})
	if err != nil {
		t.Fatalf("StartRun: %v", err)
	}
	if string(res.Value) != `{"out":1}` {
		t.Errorf("result %s, want {\"out\":1}", res.Value)
	}
	if len(res.Steps) != 1 || res.Steps[0].Step != "s1" || res.Steps[0].Instance != "host1/worker" || string(res.Steps[0].Logs) != "log line\n" {
		t.Errorf("step reports %+v, want s1 on host1/worker with its log line", res.Steps)
	}
	runs := exec.runs()
	if len(runs) != 1 {
		t.Fatalf("%d runs, want 1", len(runs))
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(runs[0], &body); err != nil {
		t.Fatal(err)
	}
	if string(body["value"]) != `{"x":1}` || string(body["transaction_id"]) != `"`+res.RunID+`"` {
		t.Errorf("run body %s, want value {\"x\":1} and transaction_id %s", runs[0], res.RunID)
	}
}

func TestStartRunFanOut(t *testing.T) {
	exec := &fakeExecutor{free: true, result: []byte(`{"out":1}`)}
	entry, _ := flowPair(t, exec)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := entry.StartRun(ctx, "fan", []byte(`{}`), RunOptions{})
	if err != nil {
		t.Fatalf("StartRun: %v", err)
	}
	if string(res.Value) != `[{"out":1},{"out":1}]` {
		t.Errorf("result %s, want the two branch results in an array", res.Value)
	}
	if len(res.Steps) != 3 {
		t.Errorf("%d step reports, want 3: %+v", len(res.Steps), res.Steps)
	}
}

func TestStartRunStepFails(t *testing.T) {
	tests := []struct {
		name   string
		exec   *fakeExecutor
		reason string // a substring of the RunError's reason
	}{
		{"error result", &fakeExecutor{free: true, result: []byte(`{"error":"boom"}`)}, `returned an error: {"error":"boom"}`},
		{"run error", &fakeExecutor{free: true, err: errors.New("the action crashed")}, "the action crashed"},
		// The reason must still fit in an error frame.
		{"long run error", &fakeExecutor{free: true, err: errors.New(strings.Repeat("é", frame.MaxReason))}, "éé"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entry, _ := flowPair(t, tt.exec)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			res, err := entry.StartRun(ctx, "one", []byte(`{}`), RunOptions{})
			var re *RunError
			if !errors.As(err, &re) {
				t.Fatalf("StartRun = %v, %v; want a *RunError", res, err)
			}
			if re.Step != "s1" || re.Code != frame.CodeStepFailed || !strings.Contains(re.Reason, tt.reason) {
				t.Errorf("RunError step %q code %s reason %.200q; want step s1, %s, reason containing %.50q", re.Step, re.Code, re.Reason, frame.CodeStepFailed, tt.reason)
			}
			if len(re.Reason) > frame.MaxReason || !utf8.ValidString(re.Reason) {
				t.Errorf("reason of %d bytes (valid UTF-8: %v), want at most frame.MaxReason of valid UTF-8", len(re.Reason), utf8.ValidString(re.Reason))
			}
		})
	}
}

// With Config.BusyWait, a hop whose only instance refuses it as busy
// tries it again, with pauses, instead of falling back at once: the step
// runs there once the instance is free. (Without it, TestStartRunNoInstance.)
func TestBusyInstanceWaitedFor(t *testing.T) {
	exec := &fakeExecutor{free: false, result: []byte(`{"out":1}`)}
	entry, _ := flowPairWith(t, exec, Config{BusyWait: 200 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := entry.WaitReady(ctx, "one"); err != nil {
		t.Fatal(err)
	}
	free := time.AfterFunc(20*time.Millisecond, func() { exec.setFree(true) })
	defer free.Stop()
	res, err := entry.StartRun(ctx, "one", []byte(`{"x":1}`), RunOptions{})
	if err != nil {
		t.Fatalf("StartRun with the instance busy for 20 ms: %v", err)
	}
	if string(res.Value) != `{"out":1}` || len(exec.runs()) != 1 {
		t.Errorf("result %s after %d run(s) on the instance; want {\"out\":1} after 1", res.Value, len(exec.runs()))
	}
}

func TestStartRunNoInstance(t *testing.T) {
	entry, _ := flowPair(t, &fakeExecutor{free: false})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err := entry.StartRun(ctx, "one", []byte(`{}`), RunOptions{})
	var re *RunError
	if !errors.As(err, &re) || re.Step != "s1" || re.Code != frame.CodeUnavailable || !strings.Contains(re.Reason, "busy") {
		t.Errorf("StartRun with the only instance busy: %v; want a RunError at s1, unavailable, naming the busy refusal", err)
	}
}
