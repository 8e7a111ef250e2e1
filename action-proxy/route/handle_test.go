package route

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/route/flow"
	"github.com/wsk-route/wsk-route/internal/agentproto"
	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/transport"
)

// readBody reads an activationBody.
func readBody(t *testing.T, r io.Reader) []byte {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wantActivationID is the id activationBody derives for a step execution.
func wantActivationID(run, step string, branch uint32) string {
	h := sha256.Sum256([]byte(run + "\x00" + step + "\x00" + strconv.FormatUint(uint64(branch), 10)))
	return hex.EncodeToString(h[:16])
}

func TestActivationBody(t *testing.T) {
	deadline := time.Date(2026, 12, 1, 10, 0, 0, 123456789, time.UTC)
	tests := []struct {
		name    string
		payload string
		f       frame.Frame
		id      Identity
		want    map[string]any // every field of the body
	}{
		{
			name:    "all fields",
			payload: `{"a":1}`,
			f:       frame.Frame{RunID: "run1", Step: "s1", Branch: 2, Deadline: deadline.UnixNano()},
			id:      Identity{Namespace: "ns", Action: "/ns/pkg/a", Version: "0.0.3", APIKey: "user:pass"},
			want: map[string]any{
				"value":          map[string]any{"a": float64(1)},
				"namespace":      "ns",
				"action_name":    "/ns/pkg/a",
				"action_version": "0.0.3",
				"activation_id":  wantActivationID("run1", "s1", 2),
				"transaction_id": "run1",
				"deadline":       strconv.FormatInt(deadline.UnixMilli(), 10),
				"api_key":        "user:pass",
			},
		},
		{
			name:    "no deadline, no api key, empty payload",
			payload: "",
			f:       frame.Frame{RunID: "run2", Step: "s", Branch: 0},
			id:      Identity{Namespace: "ns", Action: "/ns/a"},
			want: map[string]any{
				"value":          map[string]any{},
				"namespace":      "ns",
				"action_name":    "/ns/a",
				"action_version": "",
				"activation_id":  wantActivationID("run2", "s", 0),
				"transaction_id": "run2",
			},
		},
		{
			name:    "a run that is a trace: the step's traceparent",
			payload: `{}`,
			f:       frame.Frame{RunID: "0123456789abcdef0123456789abcdef", Step: "s", Branch: 0},
			id:      Identity{Namespace: "ns", Action: "/ns/a"},
			want: map[string]any{
				"value":          map[string]any{},
				"namespace":      "ns",
				"action_name":    "/ns/a",
				"action_version": "",
				"activation_id":  wantActivationID("0123456789abcdef0123456789abcdef", "s", 0),
				"transaction_id": "0123456789abcdef0123456789abcdef",
				"traceparent":    "00-0123456789abcdef0123456789abcdef-" + wantActivationID("0123456789abcdef0123456789abcdef", "s", 0)[:16] + "-01",
			},
		},
		{
			name:    "array payload, quotes in names",
			payload: `[1,"x"]`,
			f:       frame.Frame{RunID: `r"3`, Step: "s", Branch: 7},
			id:      Identity{Namespace: `n"s`, Action: `/n"s/a`},
			want: map[string]any{
				"value":          []any{float64(1), "x"},
				"namespace":      `n"s`,
				"action_name":    `/n"s/a`,
				"action_version": "",
				"activation_id":  wantActivationID(`r"3`, "s", 7),
				"transaction_id": `r"3`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := readBody(t, activationBody([]byte(tt.payload), &tt.f, tt.id, stepActivationID(&tt.f)))
			if !json.Valid(b) {
				t.Fatalf("body %s is not valid JSON", b)
			}
			// The value comes first: the proxy's run scanner and the
			// actions see it before the context fields.
			wantPrefix := `{"value":` + tt.payload
			if tt.payload == "" {
				wantPrefix = `{"value":{}`
			}
			if !bytes.HasPrefix(b, []byte(wantPrefix)) {
				t.Errorf("body %s does not start with %s", b, wantPrefix)
			}
			var got map[string]any
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			gotJSON, _ := json.Marshal(got)
			wantJSON, _ := json.Marshal(tt.want)
			if !bytes.Equal(gotJSON, wantJSON) {
				t.Errorf("body fields\ngot  %s\nwant %s", gotJSON, wantJSON)
			}
			if id, _ := got["activation_id"].(string); len(id) != 32 {
				t.Errorf("activation_id %q: %d characters, want 32 hex", id, len(id))
			} else if _, err := hex.DecodeString(id); err != nil {
				t.Errorf("activation_id %q is not hex: %v", id, err)
			}
		})
	}
}

func TestActivationIDDeterministic(t *testing.T) {
	id := Identity{Namespace: "ns", Action: "/ns/a"}
	activationID := func(run, step string, branch uint32) string {
		var m struct {
			ID string `json:"activation_id"`
		}
		f := frame.Frame{RunID: run, Step: step, Branch: branch}
		if err := json.Unmarshal(readBody(t, activationBody(nil, &f, id, stepActivationID(&f))), &m); err != nil {
			t.Fatal(err)
		}
		return m.ID
	}
	base := activationID("r", "s", 1)
	if again := activationID("r", "s", 1); again != base {
		t.Errorf("same run, step and branch: %s then %s", base, again)
	}
	for _, other := range []struct {
		run, step string
		branch    uint32
	}{{"r2", "s", 1}, {"r", "s2", 1}, {"r", "s", 2}, {"r\x00s", "", 1}} {
		if got := activationID(other.run, other.step, other.branch); got == base {
			t.Errorf("run %q step %q branch %d has the same activation id as run r step s branch 1", other.run, other.step, other.branch)
		}
	}
}

func TestIsErrorResult(t *testing.T) {
	tests := []struct {
		result string
		want   bool
	}{
		{`{"error":"sorry"}`, true},
		{`{"error":{"code":1}}`, true},
		{`{"error":null}`, true},
		{`{"a":1,"error":[1]}`, true},
		{` {"error" : 1} `, true},
		{`{}`, false},
		{`{"ok":true}`, false},
		{`{"errors":1}`, false},
		{`{"a":{"error":1}}`, false},
		{`["error"]`, false},
		{`"error"`, false},
		{`{"error":`, false},
		{``, false},
	}
	for _, tt := range tests {
		t.Run(tt.result, func(t *testing.T) {
			if got := flow.Failed([]byte(tt.result), nil); got != tt.want {
				t.Errorf("flow.Failed(%s) = %v, want %v", tt.result, got, tt.want)
			}
		})
	}
}

// fakeExecutor stands in for the proxy's server: it reserves when free is
// set, and records the bodies of the runs.
type fakeExecutor struct {
	mu       sync.Mutex // guards the fields below
	free     bool
	bodies   [][]byte
	result   []byte
	err      error         // returned by every run when set
	stall    time.Duration // TryReserve takes this long (a receiver slow to accept)
	released int           // reservations given back without a run
}

func (e *fakeExecutor) TryReserve(context.Context) (Reservation, bool) {
	e.mu.Lock()
	stall := e.stall
	e.mu.Unlock()
	time.Sleep(stall)
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.free {
		return nil, false
	}
	return fakeReservation{e}, true
}

func (e *fakeExecutor) setFree(free bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.free = free
}

func (e *fakeExecutor) runs() [][]byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([][]byte(nil), e.bodies...)
}

type fakeReservation struct{ e *fakeExecutor }

func (r fakeReservation) Release() {
	r.e.mu.Lock()
	defer r.e.mu.Unlock()
	r.e.released++
}

func (r fakeReservation) Run(_ context.Context, body io.Reader) ([]byte, func() []byte, error) {
	b, err := io.ReadAll(body)
	r.e.mu.Lock()
	defer r.e.mu.Unlock()
	r.e.bodies = append(r.e.bodies, b)
	if r.e.err != nil {
		err = r.e.err
	}
	logs := func() []byte { return []byte("log line\n") }
	if err != nil {
		return nil, logs, err
	}
	return r.e.result, logs, nil
}

var (
	_ Executor    = (*fakeExecutor)(nil)
	_ Reservation = fakeReservation{}
)

// testSpec is workflow "wf" of namespace "ns": step s1 runs /ns/a and
// sends its result to s2, which runs /ns/b.
const testSpec = `{"workflow":"wf","namespace":"ns","start":["s1"],"steps":{"s1":{"action":"/ns/a","next":["s2"]},"s2":{"action":"/ns/b"}}}`

var testKey = []byte("0123456789abcdef0123456789abcdef")

// newTestPlane returns a Plane with exec, not connected to any agent.
func newTestPlane(t *testing.T, exec Executor) *Plane {
	t.Helper()
	p, err := New(Config{AgentSocket: filepath.Join(t.TempDir(), "agent.sock"), Name: "test"}, exec)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// welcome makes p look registered, as a session would after the agent's
// welcome, key and specs: instance "host1/c1" of /ns/a, knowing testSpec
// and an empty table. Its clients are nil: the tests never send.
func welcome(t *testing.T, p *Plane) {
	t.Helper()
	p.Identify(Identity{Namespace: "ns", Action: "/ns/a", Version: "0.0.1"})
	p.setWelcome(&welcomeState{instanceID: "host1/c1", host: "host1", key: testKey})
	p.applySpecs(&agentproto.Specs{Full: true, Upsert: []agentproto.SpecData{{Workflow: "wf", Version: 3, Spec: json.RawMessage(testSpec)}}})
	if p.specFor(context.Background(), "wf", 0) == nil {
		t.Fatal("testSpec was not applied")
	}
}

// stepFrame is a signed step frame for s1 of run r1.
func stepFrame(edit func(*frame.Frame)) *transport.Delivery {
	d := &transport.Delivery{Frame: frame.Frame{
		Kind: frame.KindStep, RunID: "r1", Workflow: "wf", SpecVersion: 3, Step: "s1",
		Namespace: "ns", Target: "host1/c1", Deadline: time.Now().Add(time.Minute).UnixNano(),
		Payload: []byte(`{"in":1}`), Size: 8,
	}}
	if edit != nil {
		edit(&d.Frame)
	}
	d.Frame.Sign(testKey)
	return d
}

func TestHandleFrameNotWelcomed(t *testing.T) {
	p := newTestPlane(t, &fakeExecutor{free: true})
	p.Identify(Identity{Namespace: "ns", Action: "/ns/a"})
	for _, kind := range []frame.Kind{frame.KindStep, frame.KindResult} {
		d := stepFrame(func(f *frame.Frame) { f.Kind = kind })
		if code, reason := p.HandleFrame(context.Background(), d); code != frame.CodeUnavailable {
			t.Errorf("%s frame before the welcome: got %s (%s), want %s", kind, code, reason, frame.CodeUnavailable)
		}
	}
}

func TestHandleFrameRefusals(t *testing.T) {
	tests := []struct {
		name string
		edit func(*frame.Frame)
		sign []byte // nil: testKey
		want frame.Code
	}{
		{"wrong namespace", func(f *frame.Frame) { f.Namespace = "other" }, nil, frame.CodeWrongNamespace},
		{"bad tag", nil, []byte("another key, another namespace!!"), frame.CodeBadTag},
		{"expired", func(f *frame.Frame) { f.Deadline = time.Now().Add(-time.Second).UnixNano() }, nil, frame.CodeExpired},
		{"other target", func(f *frame.Frame) { f.Target = "host1/c2" }, nil, frame.CodeUnknownStep},
		{"unknown workflow", func(f *frame.Frame) { f.Workflow = "nope" }, nil, frame.CodeUnknownStep},
		{"unknown step", func(f *frame.Frame) { f.Step = "s9" }, nil, frame.CodeUnknownStep},
		{"step of another action", func(f *frame.Frame) { f.Step = "s2" }, nil, frame.CodeUnknownStep},
		{"result of an unknown run", func(f *frame.Frame) { f.Kind = frame.KindResult }, nil, frame.CodeUnknownStep},
		{"ack", func(f *frame.Frame) { f.Kind = frame.KindAck }, nil, frame.CodeMalformed},
	}
	exec := &fakeExecutor{free: true, result: []byte(`{"out":1}`)}
	p := newTestPlane(t, exec)
	welcome(t, p)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := stepFrame(tt.edit)
			if tt.sign != nil {
				d.Frame.Sign(tt.sign)
			}
			if code, reason := p.HandleFrame(context.Background(), d); code != tt.want {
				t.Errorf("got %s (%s), want %s", code, reason, tt.want)
			}
		})
	}
	p.wg.Wait()
	if n := len(exec.runs()); n != 0 {
		t.Errorf("%d runs after refused frames, want 0", n)
	}
}

func TestHandleFrameNoExecutor(t *testing.T) {
	p := newTestPlane(t, nil)
	welcome(t, p)
	if code, reason := p.HandleFrame(context.Background(), stepFrame(nil)); code != frame.CodeUnavailable {
		t.Errorf("step frame to a plane without executor: got %s (%s), want %s", code, reason, frame.CodeUnavailable)
	}
}

// serveFrames serves p's HandleFrame on a unix socket, as the plane's
// frame server does, and returns a function that sends f there, signed
// with testKey, and returns the ack: a step runs only once its ack is
// written (transport.Delivery.OnAcked), which only a real server does.
func serveFrames(t *testing.T, p *Plane) func(f *frame.Frame) (frame.Frame, error) {
	t.Helper()
	ep := "unix:" + filepath.Join(t.TempDir(), "frames.sock")
	ln, err := transport.Listen(ep)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		(&transport.Server{Handler: transport.HandlerFunc(p.HandleFrame), Keys: p.frameKey}).Serve(ctx, ln)
	}()
	c := &transport.Client{ShmThreshold: -1}
	t.Cleanup(func() {
		c.Close()
		cancel()
		<-done
	})
	return func(f *frame.Frame) (frame.Frame, error) {
		return c.Send(context.Background(), ep, f, testKey)
	}
}

func TestHandleFrameBusyThenAccepted(t *testing.T) {
	exec := &fakeExecutor{result: []byte(`{"out":1}`)}
	p := newTestPlane(t, exec)
	welcome(t, p)
	serve := serveFrames(t, p)
	send := func(d *transport.Delivery) (frame.Code, string) {
		t.Helper()
		f := d.Frame
		f.AcceptBy = time.Now().Add(5 * time.Second).UnixNano()
		ack, err := serve(&f)
		if err != nil {
			t.Fatalf("sending %s#%d: %v", f.Step, f.Branch, err)
		}
		return ack.Code, ack.Reason
	}

	if code, reason := send(stepFrame(nil)); code != frame.CodeBusy {
		t.Fatalf("busy executor: got %s (%s), want %s", code, reason, frame.CodeBusy)
	}
	// A refused frame is forgotten: its retry is not a duplicate.
	exec.setFree(true)
	if code, reason := send(stepFrame(func(f *frame.Frame) { f.Attempt = 1 })); code != frame.CodeOK {
		t.Fatalf("retry to a free executor: got %s (%s), want %s", code, reason, frame.CodeOK)
	}
	if code, reason := send(stepFrame(func(f *frame.Frame) { f.Attempt = 2 })); code != frame.CodeDuplicate {
		t.Errorf("accepted frame sent again: got %s (%s), want %s", code, reason, frame.CodeDuplicate)
	}
	if code, reason := send(stepFrame(func(f *frame.Frame) { f.Branch = 1 })); code != frame.CodeOK {
		t.Errorf("same step, other branch: got %s (%s), want %s", code, reason, frame.CodeOK)
	}
	p.wg.Wait()

	runs := exec.runs()
	if len(runs) != 2 {
		t.Fatalf("%d runs, want 2", len(runs))
	}
	for _, body := range runs {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("run body %s: %v", body, err)
		}
		if string(m["value"]) != `{"in":1}` || string(m["action_name"]) != `"/ns/a"` || string(m["transaction_id"]) != `"r1"` {
			t.Errorf("run body %s: want value {\"in\":1}, action_name /ns/a, transaction_id r1", body)
		}
	}
	// s2 has no instance in the (empty) table: each result fell back.
	var fallbacks uint64
	for _, h := range p.stats.deltas() {
		if h.Action == "/ns/b" && h.Transport == "none" {
			fallbacks += h.Fallbacks
		}
	}
	if fallbacks != 2 {
		t.Errorf("%d fallbacks counted for /ns/b, want 2", fallbacks)
	}
}

// A step frame whose accept window closes before its ack is written never
// runs: the action is given back, and the frame is forgotten, so that the
// sender's next try (with a new window) runs it, once.
func TestLateStepFrameNeverRuns(t *testing.T) {
	exec := &fakeExecutor{free: true, result: []byte(`{"out":1}`), stall: 300 * time.Millisecond}
	p := newTestPlane(t, exec)
	welcome(t, p)
	send := serveFrames(t, p)

	// The receiver takes 300 ms to accept; the window is 100 ms.
	f := stepFrame(nil).Frame
	f.AcceptBy = time.Now().Add(100 * time.Millisecond).UnixNano()
	if ack, err := send(&f); err == nil && ack.Code == frame.CodeOK {
		t.Fatalf("a frame accepted after its window closed: ack %v", ack.Code)
	}
	waitUntil(t, "the reservation given back", func() bool {
		exec.mu.Lock()
		defer exec.mu.Unlock()
		return exec.released == 1
	})
	if n := len(exec.runs()); n != 0 {
		t.Fatalf("the late frame ran %d times", n)
	}

	// The sender's next try, with a window of its own, runs it once.
	exec.mu.Lock()
	exec.stall = 0
	exec.mu.Unlock()
	f.Attempt = 1
	f.AcceptBy = time.Now().Add(5 * time.Second).UnixNano()
	if ack, err := send(&f); err != nil || ack.Code != frame.CodeOK {
		t.Fatalf("the next try: %v, %v; want it accepted", ack.Code, err)
	}
	p.wg.Wait()
	if n := len(exec.runs()); n != 1 {
		t.Fatalf("the step ran %d times, want once", n)
	}
}

// waitUntil polls cond for up to 5 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A run keeps the spec version it started with across one update; older
// or unknown versions get the current spec.
func TestSpecForKeepsThePreviousVersion(t *testing.T) {
	p, err := New(Config{AgentSocket: t.TempDir() + "/agent.sock"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	welcome(t, p) // version 3
	v := func(version uint64) agentproto.SpecData {
		return agentproto.SpecData{Workflow: "wf", Version: version, Spec: json.RawMessage(testSpec)}
	}
	p.applySpecs(&agentproto.Specs{Upsert: []agentproto.SpecData{v(5)}})
	tests := []struct {
		ask, want uint64
	}{
		{0, 5}, {5, 5}, {3, 3}, {4, 5}, {1, 5},
	}
	for _, tt := range tests {
		if got := p.specFor(context.Background(), "wf", tt.ask); got == nil || got.Version != tt.want {
			t.Errorf("specFor(wf, %d) = %v, want version %d", tt.ask, got, tt.want)
		}
	}
	p.applySpecs(&agentproto.Specs{Upsert: []agentproto.SpecData{v(7)}})
	if got := p.specFor(context.Background(), "wf", 3); got.Version != 7 {
		t.Errorf("after two updates, version 3 gave %d, want the current 7", got.Version)
	}
	if got := p.specFor(context.Background(), "wf", 5); got.Version != 5 {
		t.Errorf("after two updates, version 5 gave %d, want 5", got.Version)
	}
	p.applySpecs(&agentproto.Specs{Remove: []string{"wf"}})
	p.mu.Lock()
	prev := p.previous["wf"]
	p.mu.Unlock()
	if prev != nil {
		t.Errorf("removing the workflow kept its previous version %d", prev.Version)
	}
}
