package child_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/child"
)

// newPool returns a started pool of echo processes, closed when the test
// ends.
func newPool(t *testing.T, max int) *child.Pool {
	t.Helper()
	pool := child.NewPool(child.Config{Path: script(t, echo), StartWindow: 20 * time.Millisecond}, max)
	if err := pool.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { pool.Close() })
	return pool
}

// tryAcquire calls TryAcquire and fails the test on an error.
func tryAcquire(t *testing.T, pool *child.Pool) (*child.Lease, bool) {
	t.Helper()
	lease, ok, err := pool.TryAcquire(context.Background())
	if err != nil {
		t.Fatalf("TryAcquire: %v", err)
	}
	if ok != (lease != nil) {
		t.Fatalf("TryAcquire: ok %v with lease %v", ok, lease)
	}
	return lease, ok
}

func TestTryAcquireOneProcess(t *testing.T) {
	pool := newPool(t, 1)
	lease, ok := tryAcquire(t, pool)
	if !ok {
		t.Fatal("TryAcquire on an idle pool: ok = false, want true")
	}
	first := lease.Process().Pid()
	if _, ok := tryAcquire(t, pool); ok {
		t.Fatal("TryAcquire while the only process is leased: ok = true, want false")
	}
	if got, err := call(t, lease.Process(), `{"value":1}`); err != nil || got != `{"value":1}` {
		t.Fatalf("Call on the leased process: %q, %v", got, err)
	}
	lease.Release()

	lease, ok = tryAcquire(t, pool)
	if !ok {
		t.Fatal("TryAcquire after Release: ok = false, want true")
	}
	if pid := lease.Process().Pid(); pid != first {
		t.Errorf("TryAcquire after Release leased pid %d, want the idle process %d", pid, first)
	}
	lease.Release()
	if n := len(pool.Pids()); n != 1 {
		t.Errorf("%d processes, want 1", n)
	}
}

func TestTryAcquireStartsSecondProcess(t *testing.T) {
	pool := newPool(t, 2)
	a, ok := tryAcquire(t, pool)
	if !ok {
		t.Fatal("first TryAcquire: ok = false")
	}
	b, ok := tryAcquire(t, pool)
	if !ok {
		t.Fatal("second TryAcquire with max 2: ok = false, want a new process")
	}
	if a.Process().Pid() == b.Process().Pid() {
		t.Fatalf("both leases hold pid %d", a.Process().Pid())
	}
	if n := len(pool.Pids()); n != 2 {
		t.Errorf("%d processes, want 2", n)
	}
	if _, ok := tryAcquire(t, pool); ok {
		t.Fatal("third TryAcquire with max 2 and both leased: ok = true, want false")
	}
	b.Release()
	c, ok := tryAcquire(t, pool)
	if !ok {
		t.Fatal("TryAcquire after one Release: ok = false")
	}
	if c.Process().Pid() != b.Process().Pid() {
		t.Errorf("leased pid %d, want the idle process %d, not a third one", c.Process().Pid(), b.Process().Pid())
	}
	a.Release()
	c.Release()
	if n := len(pool.Pids()); n != 2 {
		t.Errorf("%d processes after the releases, want 2", n)
	}
}

func TestTryAcquireClosed(t *testing.T) {
	pool := newPool(t, 1)
	pool.Close()
	lease, ok, err := pool.TryAcquire(context.Background())
	if !errors.Is(err, child.ErrPoolClosed) || ok || lease != nil {
		t.Errorf("TryAcquire after Close: %v, %v, %v; want nil, false, ErrPoolClosed", lease, ok, err)
	}
	// The refusal gave its slot back: a closed pool keeps refusing the same way.
	if _, ok, err := pool.TryAcquire(context.Background()); !errors.Is(err, child.ErrPoolClosed) || ok {
		t.Errorf("second TryAcquire after Close: %v, %v; want false, ErrPoolClosed", ok, err)
	}
}

func TestTryAcquireStartFails(t *testing.T) {
	pool := child.NewPool(child.Config{Path: script(t, "exit 0"), StartWindow: 200 * time.Millisecond}, 1)
	t.Cleanup(func() { pool.Close() })
	lease, ok, err := pool.TryAcquire(context.Background())
	if !errors.Is(err, child.ErrExited) || ok || lease != nil {
		t.Fatalf("TryAcquire starting an action that exits: %v, %v, %v; want nil, false, ErrExited", lease, ok, err)
	}
	// The failed start released its slot.
	if _, _, err := pool.TryAcquire(context.Background()); !errors.Is(err, child.ErrExited) {
		t.Errorf("second TryAcquire: %v, want ErrExited again (not a full pool)", err)
	}
}
