package route

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"
)

// slowExecutor runs one step at a time: it says when a run started, and
// ends it after d, or with its context.
type slowExecutor struct {
	d       time.Duration
	started chan struct{} // buffer 1
}

func (e *slowExecutor) TryReserve(context.Context) (Reservation, bool) { return e, true }
func (e *slowExecutor) Release()                                       {}
func (e *slowExecutor) Run(ctx context.Context, body io.Reader) ([]byte, func() []byte, error) {
	io.Copy(io.Discard, body)
	select {
	case e.started <- struct{}{}:
	default:
	}
	select {
	case <-time.After(e.d):
		return []byte(`{"done":true}`), func() []byte { return nil }, nil
	case <-ctx.Done():
		return nil, func() []byte { return nil }, ctx.Err()
	}
}

// TestStoppingPlaneDrainsSteps stops a plane (as SIGTERM does its proxy)
// while it runs a direct step: the step runs to its end, its result
// reaches the entry, and only then does the plane leave its agent, whose
// table would otherwise drop the instance under the step and fail the run.
func TestStoppingPlaneDrainsSteps(t *testing.T) {
	reg := registryWith(t, `{"workflow":"dr","namespace":"ns1","start":["a"],"steps":{"a":{"action":"/ns1/a"}}}`)
	_, run := blobAgent(t, reg, "hostA", "127.0.0.1")
	entry := blobPlane(t, run, "entry", Identity{Namespace: "ns1", Action: "/ns1/entry", APIKey: "u:p"}, nil, "")

	exec := &slowExecutor{d: 600 * time.Millisecond, started: make(chan struct{}, 1)}
	worker, err := New(Config{
		AgentSocket: filepath.Join(run, "agent.sock"), Name: "pa", AckTimeout: 2 * time.Second,
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo})).With("plane", "pa"),
	}, exec)
	if err != nil {
		t.Fatal(err)
	}
	worker.Identify(Identity{Namespace: "ns1", Action: "/ns1/a", APIKey: "u:p"})
	workerCtx, stopWorker := context.WithCancel(context.Background())
	defer stopWorker()
	workerDone := make(chan error, 1)
	go func() { workerDone <- worker.Run(workerCtx) }()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := entry.WaitReady(ctx, "dr"); err != nil {
		t.Fatal(err)
	}
	waitInstances(t, ctx, entry, "/ns1/a", 1)
	type outcome struct {
		res *Result
		err error
	}
	ran := make(chan outcome, 1)
	go func() {
		res, err := entry.StartRun(ctx, "dr", []byte(`{}`), RunOptions{})
		ran <- outcome{res, err}
	}()
	select {
	case <-exec.started:
	case <-ctx.Done():
		t.Fatal("the step did not start")
	}
	stopped := time.Now()
	stopWorker()
	out := <-ran
	if out.err != nil {
		t.Fatalf("the run whose step's plane stopped under it: %v", out.err)
	}
	if string(out.res.Value) != `{"done":true}` {
		t.Errorf("result %s, want the step's", out.res.Value)
	}
	if err := <-workerDone; err != nil {
		t.Errorf("worker Run: %v", err)
	}
	if took := time.Since(stopped); took < 400*time.Millisecond {
		t.Errorf("the plane stopped %v after it was told: it did not wait for its step", took)
	}
}
