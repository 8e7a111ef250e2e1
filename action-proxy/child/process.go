package child

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Defaults applied to zero Config fields.
const (
	// DefaultAckTimeout bounds the wait for an ack when Config.AckTimeout is zero.
	DefaultAckTimeout = 2 * time.Minute
	// DefaultStartWindow is how long a child started without ack must stay
	// alive to count as started (the stock proxy's 5 ms).
	DefaultStartWindow = 5 * time.Millisecond
	// DefaultMaxResult bounds one result line (512 MiB).
	DefaultMaxResult = 512 << 20

	// exitGrace is how long a caller keeps reading fd 3 after the child has
	// exited, in case a descendant still holds the pipe open.
	exitGrace = 100 * time.Millisecond
	// readBufferSize is the size of the fd-3 reader's buffer.
	readBufferSize = 64 << 10
)

// Config describes how to start one executable.
type Config struct {
	// Path is the executable; it is started with no arguments unless Args
	// says otherwise.
	Path string
	// Args is the child's whole argv, argv[0] included; nil means
	// [Path].
	Args []string
	// Dir is its working directory; empty means the caller's.
	Dir string
	// Env is its entire environment: nothing else is inherited.
	Env []string
	// Stdout and Stderr are inherited by the child as its fd 1 and fd 2.
	// Nil means /dev/null.
	Stdout, Stderr *os.File
	// WaitForAck makes Start wait for a {"ok":true} line on fd 3.
	WaitForAck bool
	// AckTimeout bounds that wait; zero means DefaultAckTimeout.
	AckTimeout time.Duration
	// StartWindow applies when WaitForAck is false; zero means DefaultStartWindow.
	StartWindow time.Duration
	// MaxResult bounds the length of one result line; zero means DefaultMaxResult.
	MaxResult int
}

func (c Config) withDefaults() Config {
	if c.AckTimeout <= 0 {
		c.AckTimeout = DefaultAckTimeout
	}
	if c.StartWindow <= 0 {
		c.StartWindow = DefaultStartWindow
	}
	if c.MaxResult <= 0 {
		c.MaxResult = DefaultMaxResult
	}
	return c
}

// Process is one running executable. Its methods are safe for concurrent
// use, but calls are serialised: one activation at a time.
type Process struct {
	cfg   Config
	cmd   *exec.Cmd
	stdin *os.File

	waitDone chan struct{} // closed when the process has been reaped

	callMu  sync.Mutex    // serialises Start's ack wait and Call; guards br
	results *os.File      // read end of fd 3
	br      *bufio.Reader // reads results

	deadlineMu sync.Mutex // guards the read deadline of results, eof and readGen
	eof        bool       // the child is gone: reads must not block any more
	readGen    uint64     // generation of the current read of results

	closeOnce sync.Once
}

// Start starts the executable and waits until it counts as started: its ack
// when cfg.WaitForAck is set, otherwise StartWindow without exiting. The
// returned errors are ErrExited, ErrExitedDuringInit, ErrNotInitialized,
// ErrAckTimeout, the JSON error of an unparsable ack, or ctx's error.
func Start(ctx context.Context, cfg Config) (*Process, error) {
	cfg = cfg.withDefaults()
	p, err := spawn(cfg)
	if err != nil {
		return nil, err
	}
	if err := p.awaitStart(ctx); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// spawn starts the process and the goroutine that reaps it.
func spawn(cfg Config) (*Process, error) {
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("child: stdin pipe: %w", err)
	}
	resultR, resultW, err := os.Pipe()
	if err != nil {
		stdinR.Close()
		stdinW.Close()
		return nil, fmt.Errorf("child: fd 3 pipe: %w", err)
	}
	// Bigger pipes let a large activation or result cross in one go,
	// instead of a wakeup of each side per 64 KiB. Best effort: the limit
	// is /proc/sys/fs/pipe-max-size.
	growPipe(stdinW)
	growPipe(resultR)

	cmd := exec.Command(cfg.Path)
	if cfg.Args != nil {
		cmd.Args = cfg.Args
	}
	cmd.Dir = cfg.Dir
	cmd.Env = cfg.Env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.Stdin = stdinR
	if cfg.Stdout != nil {
		cmd.Stdout = cfg.Stdout
	}
	if cfg.Stderr != nil {
		cmd.Stderr = cfg.Stderr
	}
	cmd.ExtraFiles = []*os.File{resultW}
	// Own process group, so Close also kills what a shell action spawned;
	// and die with the proxy.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}

	err = cmd.Start()
	// The child holds its own copies now; keeping ours would hide its exit
	// (EOF on fd 3) from us.
	stdinR.Close()
	resultW.Close()
	if err != nil {
		stdinW.Close()
		resultR.Close()
		return nil, ErrExited
	}

	p := &Process{
		cfg:      cfg,
		cmd:      cmd,
		stdin:    stdinW,
		waitDone: make(chan struct{}),
		results:  resultR,
		br:       bufio.NewReaderSize(resultR, readBufferSize),
	}
	go p.reap()
	return p, nil
}

// reap waits for the process to exit. A descendant may still hold fd 3
// open, so after exitGrace reads stop blocking even without EOF.
func (p *Process) reap() {
	p.cmd.Wait()
	close(p.waitDone)
	t := time.NewTimer(exitGrace)
	defer t.Stop()
	<-t.C
	p.deadlineMu.Lock()
	p.eof = true
	p.results.SetReadDeadline(time.Unix(1, 0))
	p.deadlineMu.Unlock()
}

// arm starts a read of fd 3: it clears a deadline left by an earlier
// interrupt (unless the child is gone) and returns the read's generation.
func (p *Process) arm() uint64 {
	p.deadlineMu.Lock()
	defer p.deadlineMu.Unlock()
	p.readGen++
	if !p.eof {
		p.results.SetReadDeadline(time.Time{})
	}
	return p.readGen
}

// interrupt makes the read of generation gen return, if it is still the
// current one: a late interrupt never cuts a later read short.
func (p *Process) interrupt(gen uint64) {
	p.deadlineMu.Lock()
	defer p.deadlineMu.Unlock()
	if p.readGen == gen {
		p.results.SetReadDeadline(time.Unix(1, 0))
	}
}

// readLine reads one '\n'-terminated line and returns it without the
// newline, in a slice the caller owns. A final line without newline is
// returned with io.EOF. A line over max bytes is consumed and reported as
// ErrResultTooLarge.
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	frag, err := br.ReadSlice('\n')
	if err == nil {
		// Capacity for the newline lets callers append it back for free.
		out := make([]byte, len(frag)-1, len(frag))
		copy(out, frag)
		return out, nil
	}
	var buf []byte
	for errors.Is(err, bufio.ErrBufferFull) {
		if len(buf)+len(frag) > max {
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			if err != nil {
				return nil, err
			}
			return nil, ErrResultTooLarge
		}
		buf = append(buf, frag...)
		frag, err = br.ReadSlice('\n')
	}
	if len(buf)+len(frag) > max {
		return nil, ErrResultTooLarge
	}
	buf = append(buf, frag...)
	if err == nil {
		return buf[:len(buf)-1], nil
	}
	return buf, err
}

func (p *Process) awaitStart(ctx context.Context) error {
	if !p.cfg.WaitForAck {
		t := time.NewTimer(p.cfg.StartWindow)
		defer t.Stop()
		select {
		case <-p.waitDone:
			return ErrExited
		case <-t.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	p.callMu.Lock()
	defer p.callMu.Unlock()
	ack, err := p.receive(ctx, p.cfg.AckTimeout)
	switch {
	case errors.Is(err, ErrExited):
		return ErrExitedDuringInit
	case err != nil:
		return err
	}
	var v struct {
		OK bool `json:"ok"`
	}
	if err := json.Unmarshal(ack, &v); err != nil {
		return err // the stock proxy shows the raw JSON error
	}
	if !v.OK {
		return ErrNotInitialized
	}
	return nil
}

// receive reads the next fd-3 line, without its newline, in a slice the
// caller owns. It returns ErrExited when the child has gone (a line it wrote
// before exiting is still returned first), ErrAckTimeout after timeout (if
// positive), or ctx's error. p.callMu must be held.
func (p *Process) receive(ctx context.Context, timeout time.Duration) ([]byte, error) {
	gen := p.arm()
	stop := context.AfterFunc(ctx, func() { p.interrupt(gen) })
	defer stop()
	var timedOut atomic.Bool
	if timeout > 0 {
		t := time.AfterFunc(timeout, func() { timedOut.Store(true); p.interrupt(gen) })
		defer t.Stop()
	}
	data, err := readLine(p.br, p.cfg.MaxResult)
	if err == nil || (errors.Is(err, io.EOF) && len(data) > 0) {
		// A last line without its newline is still the child's answer.
		return data, nil
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case timedOut.Load():
			return nil, ErrAckTimeout
		}
		return nil, ErrExited // reap gave up on a descendant holding fd 3
	}
	if errors.Is(err, ErrResultTooLarge) {
		return nil, err
	}
	return nil, ErrExited // EOF: every holder of fd 3 is gone
}

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.waitDone:
		return true
	default:
		return false
	}
}

// Done returns a channel closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.waitDone }

// Pid returns the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Call runs one activation: it streams body to the child's stdin with every
// '\n' removed, then a single '\n', and returns the child's next fd-3 line
// without its newline (with spare capacity for one byte, so appending the
// newline back does not copy). Lines the child wrote on fd 3 after its
// previous result are discarded first and counted in stray.
//
// ErrNotRunning means the child had exited before anything was sent;
// ErrExited means it exited during the exchange. If ctx ends first, the
// child is killed, since its state is unknown, and ctx's error is returned.
// After any error other than ErrResultTooLarge the process is closed.
func (p *Process) Call(ctx context.Context, body io.Reader) (result []byte, stray int, err error) {
	p.callMu.Lock()
	defer p.callMu.Unlock()
	if p.Exited() {
		p.Close()
		return nil, 0, ErrNotRunning
	}
	stray = p.discardStray()

	stop := context.AfterFunc(ctx, func() { p.stdin.SetWriteDeadline(time.Unix(1, 0)) })
	sent, werr := writeActivation(p.stdin, body)
	stop()
	var rerr readError
	switch {
	case werr == nil:
	case ctx.Err() != nil:
		p.Close()
		return nil, stray, ctx.Err()
	case errors.As(werr, &rerr):
		// The request body failed, not the child, which got a partial
		// line: its state is unknown.
		p.Close()
		return nil, stray, werr
	default:
		// The child is gone or closed its stdin; what it wrote before,
		// if anything, is still its answer.
	}
	for {
		result, err = p.receive(ctx, 0)
		if err != nil {
			if !errors.Is(err, ErrResultTooLarge) {
				p.Close()
			}
			return nil, stray, err
		}
		// A line that arrives while the child has not read a single byte
		// of this activation cannot be its answer: it is a late extra
		// line of the previous one.
		if werr == nil && sent > 0 && pipeAvailable(p.stdin) >= sent {
			stray++
			continue
		}
		return result, stray, nil
	}
}

// discardStray drops what the child wrote on fd 3 since its last result:
// everything already buffered or waiting in the pipe. It never blocks, and
// returns the number of lines dropped (a partial line counts as one).
func (p *Process) discardStray() int {
	avail := p.br.Buffered() + pipeAvailable(p.results)
	lines := 0
	for avail > 0 {
		b, err := p.br.Peek(min(avail, p.br.Size()))
		if err != nil {
			return lines
		}
		lines += bytes.Count(b, []byte{'\n'})
		if b[len(b)-1] != '\n' && avail == len(b) {
			lines++
		}
		p.br.Discard(len(b))
		avail -= len(b)
	}
	return lines
}

// pipeSize is the capacity asked for the child's stdin and fd-3 pipes.
const pipeSize = 1 << 20

// growPipe raises the capacity of the pipe f belongs to, if allowed.
func growPipe(f *os.File) {
	if rc, err := f.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) {
			unix.FcntlInt(fd, unix.F_SETPIPE_SZ, pipeSize)
		})
	}
}

// pipeAvailable returns the number of bytes waiting in the pipe f
// (TIOCINQ is FIONREAD on Linux).
func pipeAvailable(f *os.File) int {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0
	}
	n := 0
	rc.Control(func(fd uintptr) {
		n, _ = unix.IoctlGetInt(int(fd), unix.TIOCINQ)
	})
	return n
}

// readError marks an error reading the activation body, as opposed to
// writing it to the child.
type readError struct{ err error }

func (e readError) Error() string { return "child: reading the activation: " + e.err.Error() }
func (e readError) Unwrap() error { return e.err }

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// writeActivation copies body to w without its '\n' bytes (in valid JSON
// they can only be whitespace) and ends it with one '\n'. It fills its
// buffer before each write (the child cannot act on part of a line anyway),
// so a body that fits in the buffer reaches the child in one write, newline
// included: one wakeup of the child instead of two or more. It returns the
// number of bytes written.
func writeActivation(w io.Writer, body io.Reader) (int, error) {
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	buf := (*bp)[:len(*bp)-1] // room for the final newline
	sent := 0
	for {
		n, rerr := io.ReadFull(body, buf)
		eof := errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF)
		if rerr != nil && !eof {
			return sent, readError{rerr}
		}
		chunk := stripNewlines(buf[:n])
		if eof {
			chunk = append(chunk, '\n')
		}
		if len(chunk) > 0 {
			n, err := w.Write(chunk)
			sent += n
			if err != nil {
				return sent, err
			}
		}
		if eof {
			return sent, nil
		}
	}
}

// stripNewlines removes '\n' bytes from b in place and returns the result.
func stripNewlines(b []byte) []byte {
	out := b[:0]
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return append(out, b...)
		}
		out = append(out, b[:i]...)
		b = b[i+1:]
	}
}

// Close kills the process and everything in its process group, then waits
// until it has been reaped. It is idempotent and always returns nil.
func (p *Process) Close() error {
	p.closeOnce.Do(func() {
		if !p.Exited() {
			syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			p.cmd.Process.Kill()
		}
		<-p.waitDone
		p.stdin.Close()
		p.results.Close()
	})
	return nil
}
