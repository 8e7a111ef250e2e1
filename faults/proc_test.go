package faults_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proc is a started process in a process group of its own: a container,
// an agent, a sandbox. Its output is kept (the last 64 KiB) and shown in
// the test log when the test fails or runs with -v.
type proc struct {
	label string
	cmd   *exec.Cmd
	done  chan struct{}

	mu  sync.Mutex // guards out
	out bytes.Buffer
}

// outKeep bounds the output kept of one process.
const outKeep = 64 << 10

// startProc starts cmd; a cleanup of t kills its group if it still runs.
func startProc(t testing.TB, label string, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{label: label, cmd: cmd, done: make(chan struct{})}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", label, err)
	}
	copied := make(chan struct{})
	go func() { // owned by p: ends when the pipe closes, after the exit
		defer close(copied)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			if p.out.Len() > outKeep {
				b := p.out.Bytes()[p.out.Len()-outKeep/2:]
				p.out = *bytes.NewBuffer(append([]byte(nil), b...))
			}
			p.out.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
		io.Copy(io.Discard, pr)
	}()
	go func() { // owned by p: Wait, then close done
		cmd.Wait()
		pw.Close()
		<-copied
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() && testing.Verbose() {
			out := p.output()
			if len(out) > 3000 {
				out = "..." + out[len(out)-3000:]
			}
			t.Logf("[%s] output (tail):\n%s", label, out)
		}
	})
	return p
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// signal sends sig to the process group.
func (p *proc) signal(sig syscall.Signal) error { return syscall.Kill(-p.pid(), sig) }

// kill9 kills the process group with SIGKILL and waits for the exit.
func (p *proc) kill9(t testing.TB) {
	t.Helper()
	p.signal(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not exit within 10 s of SIGKILL", p.label)
	}
}

// stop ends the group: SIGCONT (a paused group cannot exit), SIGTERM, then
// SIGKILL after 5 s.
func (p *proc) stop() {
	if p.exited() {
		return
	}
	p.signal(syscall.SIGCONT)
	p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.signal(syscall.SIGKILL)
		<-p.done
	}
}

// pause stops the group and waits until every thread of the process is
// stopped: kill(2) returns before a thread running on another core has
// stopped, and such a thread could still accept a frame.
func (p *proc) pause(t testing.TB) {
	t.Helper()
	p.signal(syscall.SIGSTOP)
	waitFor(t, 5*time.Second, p.label+" to stop", func() bool { return allStopped(p.pid()) })
}

// allStopped reports whether every thread of pid is in state T (stopped).
func allStopped(pid int) bool {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tasks, err := os.ReadDir(dir)
	if err != nil || len(tasks) == 0 {
		return false
	}
	for _, task := range tasks {
		stat, err := os.ReadFile(filepath.Join(dir, task.Name(), "stat"))
		if err != nil {
			return false
		}
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 || i+2 >= len(stat) || stat[i+2] != 'T' {
			return false
		}
	}
	return true
}

// children returns the pids of pid's child processes, from
// /proc/PID/task/*/children.
func children(pid int) []int {
	tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/children")
	var out []int
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, s := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(s); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// waitFor polls cond every 20 ms until it holds, or fails t after bound.
func waitFor(t testing.TB, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	if err := poll(bound, cond); err != nil {
		t.Fatalf("timed out after %v waiting for %s", bound, what)
	}
}

// poll is waitFor that returns an error instead of failing a test.
func poll(bound time.Duration, cond func() bool) error {
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v", bound)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// logWriter writes a component's log lines into the test log with -v.
type logWriter struct {
	t     testing.TB
	label string
}

func (w logWriter) Write(b []byte) (int, error) {
	if testing.Verbose() {
		w.t.Logf("[%s] %s", w.label, strings.TrimRight(string(b), "\n"))
	}
	return len(b), nil
}
