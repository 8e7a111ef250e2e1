package logmux_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/logmux"
)

// syncBuf is a sink safe to read while the copier writes.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// newMux starts a Mux with sink as its first sink, closed when t ends.
func newMux(t *testing.T, sink io.Writer) *logmux.Mux {
	t.Helper()
	m, err := logmux.New(sink)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestSwitchSplitsAtTheCall(t *testing.T) {
	var main syncBuf
	m, err := logmux.New(&main)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := 0; i < 50; i++ {
		m.W.WriteString("invoker line\n")
		run := &syncBuf{}
		if err := m.Switch(ctx, run); err != nil {
			t.Fatal(err)
		}
		m.W.WriteString("direct line 1\ndirect partial")
		if err := m.Switch(ctx, &main); err != nil {
			t.Fatal(err)
		}
		if got, want := run.String(), "direct line 1\ndirect partial"; got != want {
			t.Fatalf("run %d: direct logs %q, want %q", i, got, want)
		}
	}
	m.Close()
	if got, want := main.String(), strings.Repeat("invoker line\n", 50); got != want {
		t.Fatalf("main sink got %q, want %q", got, want)
	}
}

func TestChildOutputBeforeSwitchStaysInOldSink(t *testing.T) {
	var main syncBuf
	m, err := logmux.New(&main)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", "i=0; while [ $i -lt 200 ]; do echo line$i; i=$((i+1)); done")
	cmd.Stdout = m.W
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	run := &syncBuf{}
	if err := m.Switch(context.Background(), run); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(main.String(), "\n"); n != 200 {
		t.Fatalf("main sink has %d lines before the switch returned, want 200", n)
	}
	if got := run.String(); got != "" {
		t.Fatalf("run buffer got %q", got)
	}
	m.Close()
}

// A Switch whose context ended before the copier passed its marker still
// takes effect at its point of the stream, and the next Switch waits for
// its own marker, not the stale one.
func TestSwitchAfterAnAbandonedSwitch(t *testing.T) {
	var main syncBuf
	blocked := &blockingWriter{release: make(chan struct{})}
	m, err := logmux.New(blocked)
	if err != nil {
		t.Fatal(err)
	}
	m.W.WriteString("held\n") // the copier blocks writing this to the old sink
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	run := &syncBuf{}
	if err := m.Switch(ctx, run); err == nil {
		t.Fatal("Switch returned nil while the copier was blocked")
	}
	m.W.WriteString("for run\n")
	close(blocked.release)
	if err := m.Switch(context.Background(), &main); err != nil {
		t.Fatal(err)
	}
	if got := run.String(); got != "for run\n" {
		t.Fatalf("run sink got %q, want %q", got, "for run\n")
	}
	m.W.WriteString("after\n")
	m.Close()
	if got := main.String(); got != "after\n" {
		t.Fatalf("main sink got %q", got)
	}
}

type blockingWriter struct{ release chan struct{} }

func (b *blockingWriter) Write(p []byte) (int, error) { <-b.release; return len(p), nil }

// Mark switches at the exact point of the stream without waiting: runs
// back to back, each marked in and out, each waited for only after the
// next has started, get exactly their own output.
func TestMarkWithoutWaiting(t *testing.T) {
	var main syncBuf
	m, err := logmux.New(&main)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type run struct {
		buf  *syncBuf
		wait func(context.Context) error
	}
	var runs []run
	for i := 0; i < 50; i++ {
		m.W.WriteString("invoker line\n")
		buf := &syncBuf{}
		if _, err := m.Mark(buf); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(m.W, "direct %d\n", i)
		wait, err := m.Mark(&main)
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, run{buf, wait})
	}
	for i, r := range runs {
		if err := r.wait(ctx); err != nil {
			t.Fatal(err)
		}
		if got, want := r.buf.String(), fmt.Sprintf("direct %d\n", i); got != want {
			t.Fatalf("run %d: direct logs %q, want %q", i, got, want)
		}
	}
	m.Close()
	if got, want := main.String(), strings.Repeat("invoker line\n", 50); got != want {
		t.Fatalf("main sink got %q, want %q", got, want)
	}
}

// A switch with nothing on its way to the old sink happens at once: no
// marker crosses the pipe, and what is written next reaches the new sink.
func TestQuietSwitchWritesNoMarker(t *testing.T) {
	var main syncBuf
	m := newMux(t, &main)
	for i := 0; i < 20; i++ {
		run := &syncBuf{}
		wait, err := m.Mark(run)
		if err != nil {
			t.Fatal(err)
		}
		if err := wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Mark(&main); err != nil {
			t.Fatal(err)
		}
	}
	if n := m.MarkersWritten(); n != 0 {
		t.Fatalf("%d markers written for switches of a pipe nobody wrote to, want 0", n)
	}

	// Output still in the pipe makes the switch go through it, exactly.
	m.W.WriteString("before\n")
	run := &syncBuf{}
	if err := m.Switch(context.Background(), run); err != nil {
		t.Fatal(err)
	}
	m.W.WriteString("during\n")
	if err := m.Switch(context.Background(), &main); err != nil {
		t.Fatal(err)
	}
	if got := run.String(); got != "during\n" {
		t.Fatalf("run sink got %q, want %q", got, "during\n")
	}
	if got := main.String(); got != "before\n" {
		t.Fatalf("main sink got %q, want %q", got, "before\n")
	}
}

// Switches at the exact point of the stream while another writer keeps
// the pipe busy, so that both ways of switching (at once, and through the
// pipe) alternate: each run's sink gets its own line and never another
// run's or the main sink's.
func TestSwitchExactUnderConcurrentOutput(t *testing.T) {
	var main syncBuf
	m := newMux(t, &main)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			fmt.Fprintf(m.W, "noise %d\n", i)
			if i%64 == 0 {
				time.Sleep(50 * time.Microsecond) // let the pipe run dry now and then
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const runs = 300
	bufs := make([]*syncBuf, runs)
	for i := range bufs {
		fmt.Fprintf(m.W, "main %d\n", i)
		bufs[i] = &syncBuf{}
		if _, err := m.Mark(bufs[i]); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(m.W, "run %d\n", i)
		if err := m.Switch(ctx, &main); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	m.Close()
	all := main.String()
	for i, b := range bufs {
		got := b.String()
		for _, line := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
			if strings.HasPrefix(line, "noise ") {
				continue
			}
			if line != fmt.Sprintf("run %d", i) {
				t.Fatalf("run %d's sink got line %q (all of it: %q)", i, line, got)
			}
		}
		if !strings.Contains(got, fmt.Sprintf("run %d\n", i)) {
			t.Fatalf("run %d's sink lacks its line: %q", i, got)
		}
		if !strings.Contains(all, fmt.Sprintf("main %d\n", i)) || strings.Contains(all, fmt.Sprintf("run %d\n", i)) {
			t.Fatalf("main sink wrong around run %d", i)
		}
	}
}

// A run's output still in the pipe when the run ends is delivered to its
// Buffer by the switch itself, with no marker through the pipe; the
// stamped lines are the run's, and what follows goes to the new sink.
func TestSwitchFromBufferDeliversAtOnce(t *testing.T) {
	var main syncBuf
	m := newMux(t, &main)
	for i := 0; i < 20; i++ {
		buf := &logmux.Buffer{Limit: 1 << 20}
		if err := m.Switch(context.Background(), buf.Stdout()); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(m.W, "run %d\n", i)
		if err := m.Switch(context.Background(), &main); err != nil {
			t.Fatal(err)
		}
		if got := string(buf.Bytes()); !strings.HasSuffix(got, fmt.Sprintf(" stdout: run %d\n", i)) || strings.Count(got, "\n") != 1 {
			t.Fatalf("run %d's logs %q", i, got)
		}
	}
	if n := m.MarkersWritten(); n != 0 {
		t.Fatalf("%d markers written, want 0: every switch could happen at once", n)
	}
	m.W.WriteString("after\n")
	m.Close()
	if got := main.String(); got != "after\n" {
		t.Fatalf("main sink got %q", got)
	}
}

// A switch into a run's Buffer and back, with nothing in the pipe,
// allocates nothing: the proxy makes two pairs of them per direct step.
func TestQuietSwitchAllocs(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("allocation counts are not meaningful under coverage or -race")
	}
	m := newMux(t, io.Discard)
	buf := &logmux.Buffer{Limit: 1 << 20}
	run := buf.Stdout()
	if n := testing.AllocsPerRun(200, func() {
		m.Mark(run)
		m.Mark(io.Discard)
	}); n != 0 {
		t.Fatalf("a pair of quiet switches allocates %v times, want 0", n)
	}
}
