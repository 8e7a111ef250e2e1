package child_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/child"
)

// script writes a /bin/sh script and returns its path.
func script(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "exec")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

const (
	echo    = `while read -r line; do echo "$line" >&3; done`
	ackEcho = `echo '{"ok":true}' >&3` + "\n" + echo
)

func start(t *testing.T, cfg child.Config) *child.Process {
	t.Helper()
	p, err := child.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func call(t *testing.T, p *child.Process, body string) (string, error) {
	t.Helper()
	return callWithin(t, p, body, 20*time.Second)
}

// callWithin is call with a bound of its own.
func callWithin(t *testing.T, p *child.Process, body string, bound time.Duration) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	res, _, err := p.Call(ctx, strings.NewReader(body))
	if ctx.Err() != nil {
		t.Fatalf("Call(%.80q) hung after %v (%d bytes)", body, bound, len(body))
	}
	return string(res), err
}

func TestStart(t *testing.T) {
	tests := []struct {
		name    string
		script  string
		ack     bool
		wantErr string // empty: success
	}{
		{"no ack, stays alive", echo, false, ""},
		{"no ack, exits at once", "exit 0", false, "command exited"},
		{"ack", ackEcho, true, ""},
		{"ack with spaces", `echo '{ "ok": true }' >&3; ` + echo, true, ""},
		{"exits before ack", "exit 1", true, "Command exited abruptly during initialization."},
		{"ack not json", `echo 'bad' >&3; ` + echo, true, "invalid character 'b' looking for beginning of value"},
		{"ack not ok", `echo '{"ok":false}' >&3; ` + echo, true, "The action did not initialize properly."},
		{"acks then exits", `echo '{"ok":true}' >&3; exit 0`, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := child.Start(context.Background(), child.Config{Path: script(t, tt.script), WaitForAck: tt.ack, StartWindow: 200 * time.Millisecond})
			if p != nil {
				defer p.Close()
			}
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.wantErr {
				t.Fatalf("Start error = %q, want %q", got, tt.wantErr)
			}
		})
	}
}

func TestStartMissingExecutable(t *testing.T) {
	for _, path := range []string{"/does/not/exist", "/etc/passwd"} {
		_, err := child.Start(context.Background(), child.Config{Path: path})
		if !errors.Is(err, child.ErrExited) {
			t.Errorf("Start(%s) = %v, want %v", path, err, child.ErrExited)
		}
	}
}

func TestAckTimeoutIsBounded(t *testing.T) {
	_, err := child.Start(context.Background(), child.Config{Path: script(t, "sleep 60"), WaitForAck: true, AckTimeout: 100 * time.Millisecond})
	if !errors.Is(err, child.ErrAckTimeout) {
		t.Fatalf("Start = %v, want %v", err, child.ErrAckTimeout)
	}
}

func TestCallStripsNewlines(t *testing.T) {
	p := start(t, child.Config{Path: script(t, ackEcho), WaitForAck: true})
	got, err := call(t, p, "{\n\"a\":\n1}\n\n")
	if err != nil || got != `{"a":1}` {
		t.Fatalf("Call = %q, %v; want {\"a\":1}", got, err)
	}
}

func TestCallLargeBody(t *testing.T) {
	p := start(t, child.Config{Path: script(t, ackEcho), WaitForAck: true})
	body := `{"arg":"` + strings.Repeat("a", 4<<20) + `"}`
	// The shell's read takes a system call per byte: 4 Mi of them took
	// 12 s on an idle 2-core machine, and more than call's 20 s on a
	// loaded one.
	got, err := callWithin(t, p, body, 2*time.Minute)
	if err != nil || got != body {
		t.Fatalf("Call of %d bytes returned %d bytes, %v", len(body), len(got), err)
	}
}

func TestResultThenExitIsDelivered(t *testing.T) {
	// The stock proxy randomly answers "command exited" here.
	for i := range 20 {
		p := start(t, child.Config{Path: script(t, `read -r line; echo '{"n":1}' >&3; exit 0`)})
		got, err := call(t, p, "{}")
		if err != nil || got != `{"n":1}` {
			t.Fatalf("round %d: Call = %q, %v", i, got, err)
		}
	}
}

func TestExitDuringCall(t *testing.T) {
	p := start(t, child.Config{Path: script(t, `read -r line; exit 3`)})
	if _, err := call(t, p, "{}"); !errors.Is(err, child.ErrExited) {
		t.Fatalf("Call = %v, want %v", err, child.ErrExited)
	}
	// Every later caller sees the exit; none hangs.
	for range 3 {
		if _, err := call(t, p, "{}"); !errors.Is(err, child.ErrNotRunning) {
			t.Fatalf("later Call = %v, want %v", err, child.ErrNotRunning)
		}
	}
}

// A child that answers one activation with two lines (written together, as
// a program printing a multi-line result does) must not have the second
// line taken as the answer to the next activation.
func TestStrayLinesAreNotPairedWithTheNextCall(t *testing.T) {
	p := start(t, child.Config{Path: script(t, `n=0; while read -r line; do n=$((n+1)); if [ $n = 1 ]; then printf '{"n":1}\n{"stray":true}\n' >&3; else echo "{\"n\":$n}" >&3; fi; done`)})
	if got, _ := call(t, p, "{}"); got != `{"n":1}` {
		t.Fatalf("first = %q", got)
	}
	for want := 2; want <= 4; want++ {
		got, _, err := p.Call(context.Background(), strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		if w := `{"n":` + strconv.Itoa(want) + `}`; string(got) != w {
			t.Fatalf("call %d got %q, want %q: a stray line was paired with it", want, got, w)
		}
	}
}

func TestCancelKillsChild(t *testing.T) {
	p := start(t, child.Config{Path: script(t, `read -r line; sleep 60`)})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, _, err := p.Call(ctx, strings.NewReader("{}"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Call = %v, want deadline exceeded", err)
	}
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("child still running after the call was cancelled")
	}
}

func TestCloseKillsProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	p := start(t, child.Config{Path: script(t, `sleep 60 & echo $! > `+pidFile+`; `+echo)})
	call(t, p, "{}")
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	p.Close()
	deadline := time.Now().Add(10 * time.Second)
	for processAlive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("grandchild %d survived Close", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func processAlive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// A zombie (state Z) has exited.
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

func TestEnvironmentIsExactlyWhatIsGiven(t *testing.T) {
	p := start(t, child.Config{
		Path: script(t, `while read -r line; do echo "{\"v\":\"$__OW_X\",\"home\":\"$HOME\"}" >&3; done`),
		Env:  []string{"__OW_X=a=b=c"},
	})
	if got, _ := call(t, p, "{}"); got != `{"v":"a=b=c","home":""}` {
		t.Fatalf("got %q", got)
	}
}

func TestPoolSerialisesWithOneProcess(t *testing.T) {
	pool := child.NewPool(child.Config{Path: script(t, `while read -r line; do echo "{\"pid\":$$,\"in\":$line}" >&3; done`)}, 1)
	defer pool.Close()
	if err := pool.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			lease, err := pool.Acquire(context.Background())
			if err != nil {
				errs <- err
				return
			}
			defer lease.Release()
			in := `{"i":` + strconv.Itoa(i) + `}`
			res, _, err := lease.Process().Call(context.Background(), strings.NewReader(in))
			if err != nil || !strings.HasSuffix(string(res), `"in":`+in+`}`) {
				errs <- errors.New("call " + in + " got " + string(res))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(pool.Pids()); n != 1 {
		t.Errorf("pool ran %d processes, want 1", n)
	}
}

func TestPoolGrowsForConcurrentCalls(t *testing.T) {
	pool := child.NewPool(child.Config{Path: script(t, echo)}, 4)
	defer pool.Close()
	var leases []*child.Lease
	for range 4 {
		l, err := pool.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		leases = append(leases, l)
	}
	if n := len(pool.Pids()); n != 4 {
		t.Fatalf("pool has %d processes, want 4", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := pool.Acquire(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("fifth Acquire = %v, want to wait for a free process", err)
	}
	for _, l := range leases {
		l.Release()
	}
}

func TestPoolBreaksWhenAChildExits(t *testing.T) {
	pool := child.NewPool(child.Config{Path: script(t, `read -r line; exit 1`)}, 1)
	defer pool.Close()
	if err := pool.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	l, err := pool.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = l.Process().Call(context.Background(), strings.NewReader("{}"))
	l.Release()
	if !errors.Is(err, child.ErrExited) {
		t.Fatalf("Call = %v, want %v", err, child.ErrExited)
	}
	if _, err := pool.Acquire(context.Background()); !errors.Is(err, child.ErrPoolClosed) {
		t.Fatalf("Acquire after exit = %v, want %v", err, child.ErrPoolClosed)
	}
}
