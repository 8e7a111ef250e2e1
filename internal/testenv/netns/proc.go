package netns

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// maxOutput bounds the output a Proc keeps for Output; older bytes are dropped.
const maxOutput = 1 << 20

// killGrace is how long Kill waits after SIGTERM before sending SIGKILL.
const killGrace = 2 * time.Second

// Proc is a process started by Host.Start in its own process group.
type Proc struct {
	// Name is the host name and command, used as the log prefix.
	Name string

	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited and its output is drained
	err  error         // Wait's result; read only after done is closed

	mu      sync.Mutex // guards out and partial
	t       testing.TB
	out     bytes.Buffer
	partial []byte
}

// Start starts name with args inside h's namespace, in a new process group. Each
// line it writes to stdout or stderr is logged with t.Log, prefixed with the host
// name, and kept for Output. The process group is killed at cleanup (SIGTERM, then
// SIGKILL after 2s). Start calls t.Fatal if the process cannot be started.
func (h *Host) Start(t testing.TB, name string, args ...string) *Proc {
	t.Helper()
	cmd := h.Command(name, args...)
	p := &Proc{Name: h.Name + ": " + name, cmd: cmd, done: make(chan struct{}), t: t}
	cmd.Stdout = procWriter{p}
	cmd.Stderr = procWriter{p}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = killGrace // bound the wait for output pipes held by escaped children
	if err := cmd.Start(); err != nil {
		t.Fatalf("netns: %s: start %s: %v", h.Name, name, err)
	}
	go func() {
		p.err = cmd.Wait()
		p.flush()
		close(p.done)
	}()
	h.net.addProc(p)
	t.Cleanup(func() { p.Kill() })
	return p
}

// procWriter is the io.Writer for a Proc's stdout and stderr.
type procWriter struct{ p *Proc }

func (w procWriter) Write(b []byte) (int, error) { return w.p.write(b) }

// write logs complete lines and keeps everything for Output.
func (p *Proc) write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keepLocked(b)
	p.partial = append(p.partial, b...)
	for {
		i := bytes.IndexByte(p.partial, '\n')
		if i < 0 {
			break
		}
		p.t.Logf("[%s] %s", p.Name, p.partial[:i])
		p.partial = p.partial[i+1:]
	}
	if len(p.partial) > 64<<10 { // a very long line: log what we have
		p.t.Logf("[%s] %s", p.Name, p.partial)
		p.partial = nil
	}
	return len(b), nil
}

func (p *Proc) keepLocked(b []byte) {
	p.out.Write(b)
	if over := p.out.Len() - maxOutput; over > 0 {
		p.out.Next(over)
	}
}

// flush logs a last line that had no newline.
func (p *Proc) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.partial) > 0 {
		p.t.Logf("[%s] %s", p.Name, p.partial)
		p.partial = nil
	}
}

// Output returns what the process has written to stdout and stderr so far (the
// last 1 MiB of it).
func (p *Proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// Pid returns the process id (also its process group id).
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig to the process group. It returns os.ErrProcessDone once the
// process has exited.
func (p *Proc) Signal(sig syscall.Signal) error {
	select {
	case <-p.done:
		return os.ErrProcessDone
	default:
	}
	if err := syscall.Kill(-p.cmd.Process.Pid, sig); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return os.ErrProcessDone
		}
		return fmt.Errorf("netns: signal %s: %w", p.Name, err)
	}
	return nil
}

// Stop sends sig to the process group and waits up to grace for the process to
// exit; then it kills the group with SIGKILL and waits. It returns Wait's error.
func (p *Proc) Stop(sig syscall.Signal, grace time.Duration) error {
	_ = p.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.Signal(syscall.SIGKILL)
		<-p.done
	}
	return p.err
}

// Kill stops the process group with SIGTERM, then SIGKILL after 2 seconds, and
// waits for it. It is safe to call more than once; it returns Wait's error.
func (p *Proc) Kill() error { return p.Stop(syscall.SIGTERM, killGrace) }

// Wait waits for the process to exit and returns exec.Cmd.Wait's error. It may be
// called any number of times, from any goroutine.
func (p *Proc) Wait() error {
	<-p.done
	return p.err
}

// Done returns a channel closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }
