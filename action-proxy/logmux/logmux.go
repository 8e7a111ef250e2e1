package logmux

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// Mux copies what an action writes to W to the current sink.
type Mux struct {
	// W is the pipe's write end: give it to the child as its fd 1 or 2.
	W *os.File

	r      *os.File
	rc     syscall.RawConn // r's descriptor, read by the copier without blocking
	pipe   *pipeCalls      // r's descriptor, as a switch looks into it (holding deliverMu)
	marker []byte

	switchMu sync.Mutex // serialises Mark; guards sent

	sent int // markers written

	// deliverMu is held by the copier from the moment it reads bytes out
	// of the pipe until it has delivered them: whoever holds it knows
	// that no byte is between the pipe and a sink.
	deliverMu sync.Mutex
	sink      io.Writer // the current sink; guarded by deliverMu
	// brief: the copier holds deliverMu for a moment only: to look for
	// bytes, or to deliver them to a sink that never blocks.
	brief   atomic.Bool
	pending []byte // read but not delivered (a partial marker); guarded by deliverMu

	mu       sync.Mutex    // guards the fields below
	next     []io.Writer   // the sinks of markers written but not yet seen by the copier
	seen     int           // markers the copier has passed
	progress chan struct{} // closed and replaced each time seen grows

	done chan struct{} // closed when the copier has ended
}

// ErrClosed is returned by Switch on a closed Mux.
var ErrClosed = errors.New("logmux: closed")

// New starts a Mux whose output goes to sink until the first Switch.
func New(sink io.Writer) (*Mux, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("logmux: pipe: %w", err)
	}
	rc, err := r.SyscallConn()
	if err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("logmux: pipe: %w", err)
	}
	var nonce [16]byte
	rand.Read(nonce[:])
	m := &Mux{
		W:        w,
		r:        r,
		rc:       rc,
		pipe:     newPipeCalls(rc),
		marker:   []byte("\x00wsk-route-log-switch-" + hex.EncodeToString(nonce[:]) + "\x00"),
		progress: make(chan struct{}),
		done:     make(chan struct{}),
	}
	m.sink = sink
	m.brief.Store(true)
	go m.copy()
	return m, nil
}

// Switch makes output written from now on go to sink, once everything
// written before has reached the old sink. It waits for that until ctx
// ends; if ctx ends first, the switch still happens, later, at the same
// point of the stream, and the next Switch waits for it too.
func (m *Mux) Switch(ctx context.Context, sink io.Writer) error {
	wait, err := m.Mark(sink)
	if err != nil {
		return err
	}
	return wait(ctx)
}

// Mark makes output written from now on go to sink, without waiting, and
// returns a function that waits (until ctx ends) for everything written
// before to have reached the old sink. A caller that only needs the new
// sink to get what is written from now on need not wait at all.
//
// When nothing written before is still on its way (the pipe is empty, the
// copier holds no bytes and no earlier switch is pending), which is the
// rule before a direct run, the switch happens at once and costs no write
// and no wake-up; when the old sink is a Buffer, Mark also delivers what
// is waiting in the pipe itself, as at the end of a run that logged.
// Otherwise Mark writes the switch's marker into the pipe, the exact point
// of the switch, and the copier switches when it reaches it.
func (m *Mux) Mark(sink io.Writer) (wait func(ctx context.Context) error, err error) {
	m.switchMu.Lock()
	defer m.switchMu.Unlock()
	select {
	case <-m.done:
		return nil, ErrClosed
	default:
	}
	if m.switchNow(sink) {
		return switched, nil
	}
	m.mu.Lock()
	m.next = append(m.next, sink)
	m.mu.Unlock()
	if _, err := m.W.Write(m.marker); err != nil {
		m.mu.Lock()
		m.next = m.next[:len(m.next)-1]
		m.mu.Unlock()
		return nil, fmt.Errorf("logmux: writing the switch marker: %w", err)
	}
	m.sent++
	target := m.sent
	return func(ctx context.Context) error { return m.await(ctx, target) }, nil
}

// switched is the wait of a switch that has happened.
func switched(context.Context) error { return nil }

// switchNow makes sink the current one if nothing written before is on its
// way to the old one, and reports whether it did. Bytes waiting in the
// pipe do not stop it when the old sink is one that never blocks (a
// Buffer's): it delivers exactly those bytes there first. It waits only
// for a copier that holds deliverMu for a moment (brief): a copier busy
// delivering to another sink (a slow one, say) holds deliverMu, and then
// the switch goes through the pipe.
func (m *Mux) switchNow(sink io.Writer) bool {
	if !m.deliverMu.TryLock() {
		if !m.brief.Load() {
			return false
		}
		m.deliverMu.Lock()
	}
	defer m.deliverMu.Unlock()
	m.mu.Lock()
	pendingMarkers := len(m.next)
	m.mu.Unlock()
	if pendingMarkers > 0 || len(m.pending) > 0 {
		return false
	}
	switch n := m.pipe.unread(); {
	case n == 0:
	case n > 0 && neverBlocks(m.sink):
		if !m.deliverUnread(n) {
			return false
		}
	default:
		return false
	}
	m.sink = sink
	return true
}

// neverBlocks reports whether writing to w cannot block: a Buffer's
// writers.
func neverBlocks(w io.Writer) bool {
	_, ok := w.(streamWriter)
	return ok
}

// deliverUnread reads the n bytes waiting in the pipe and delivers them,
// and reports whether all were delivered: not when the read fails, or
// when they end in what may be the start of a marker (deliverLocked
// keeps those). deliverMu is held.
func (m *Mux) deliverUnread(n int) bool {
	b := m.pipe.read(n)
	m.deliverLocked(b, false)
	return len(b) == n && len(m.pending) == 0
}

// pipeCalls makes a switch's system calls on the pipe's read end, through
// its RawConn, without allocating: the functions handed to Control are
// made once and leave their results in its fields. Used holding
// deliverMu.
type pipeCalls struct {
	rc      syscall.RawConn
	n       int    // the last call's result
	buf     []byte // what read reads into; reused
	countFn func(fd uintptr)
	readFn  func(fd uintptr)
}

func newPipeCalls(rc syscall.RawConn) *pipeCalls {
	c := &pipeCalls{rc: rc}
	c.countFn, c.readFn = c.count, c.readAll
	return c
}

// unread returns the bytes waiting in the pipe, or -1 if it cannot tell.
func (c *pipeCalls) unread() int {
	c.n = -1
	if c.rc.Control(c.countFn) != nil {
		return -1
	}
	return c.n
}

func (c *pipeCalls) count(fd uintptr) {
	n, err := unix.IoctlGetInt(int(fd), unix.TIOCINQ) // FIONREAD
	if err != nil {
		n = -1
	}
	c.n = n
}

// read reads n bytes waiting in the pipe and returns what it got (fewer
// if a read fails). The bytes are good until the next call.
func (c *pipeCalls) read(n int) []byte {
	if cap(c.buf) < n || cap(c.buf) > maxKeptRead {
		c.buf = make([]byte, n, max(n, 4<<10))
	}
	c.buf, c.n = c.buf[:n], 0
	c.rc.Control(c.readFn)
	return c.buf[:c.n]
}

// maxKeptRead bounds the buffer a Mux keeps for reads between switches.
const maxKeptRead = 64 << 10

func (c *pipeCalls) readAll(fd uintptr) {
	for c.n < len(c.buf) {
		k, err := unix.Read(int(fd), c.buf[c.n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil || k <= 0 {
			return
		}
		c.n += k
	}
}

// await waits until the copier has passed target markers, or ctx ends.
func (m *Mux) await(ctx context.Context, target int) error {
	for {
		m.mu.Lock()
		seen, progress := m.seen, m.progress
		m.mu.Unlock()
		if seen >= target {
			return nil
		}
		select {
		case <-progress:
		case <-m.done:
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close closes the write end held by the Mux and waits until the copier
// has delivered everything, which happens once the child's copies of the
// write end are closed too (the child has exited).
func (m *Mux) Close() error {
	m.W.Close()
	<-m.done
	return m.r.Close()
}

// copy is the copier: it owns the read end. It reads what is in the pipe
// and delivers it holding deliverMu, so that a switch that finds the pipe
// empty and deliverMu free knows nothing is on its way.
func (m *Mux) copy() {
	defer close(m.done)
	buf := make([]byte, 32<<10)
	eof := false
	for !eof {
		err := m.rc.Read(func(fd uintptr) bool {
			for {
				m.deliverMu.Lock()
				n, err := unix.Read(int(fd), buf)
				if err == nil && n > 0 {
					m.brief.Store(neverBlocks(m.sink))
					m.deliverLocked(buf[:n], false)
					m.brief.Store(true) // what it does next with deliverMu: look
				}
				m.deliverMu.Unlock()
				switch {
				case err == unix.EINTR || (err == nil && n > 0):
				case err == unix.EAGAIN:
					return false // the poller says when there is more
				default: // end of file, or the pipe failed
					eof = true
					return true
				}
			}
		})
		if err != nil {
			eof = true
		}
	}
	m.deliverMu.Lock()
	m.deliverLocked(nil, true)
	m.deliverMu.Unlock()
}

// deliverLocked passes b, read from the pipe, to the sinks: each marker in
// the stream switches the sink. Bytes that may begin a marker split across
// reads are kept until the next read, or delivered at the end of the
// stream (eof). deliverMu is held.
func (m *Mux) deliverLocked(b []byte, eof bool) {
	data := b
	if len(m.pending) > 0 {
		data = append(m.pending, b...)
	}
	for {
		i := bytes.Index(data, m.marker)
		if i < 0 {
			break
		}
		m.sink.Write(data[:i])
		data = data[i+len(m.marker):]
		m.passMarker()
	}
	keep := 0
	if !eof {
		keep = partialSuffix(data, m.marker)
	}
	if len(data)-keep > 0 {
		m.sink.Write(data[:len(data)-keep])
	}
	m.pending = append(m.pending[:0], data[len(data)-keep:]...)
}

// passMarker records that the copier passed a marker and makes the sink
// that marker switches to the current one. deliverMu is held.
func (m *Mux) passMarker() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.next) == 0 {
		return // a marker the Mux did not write: cannot happen, it is random
	}
	m.sink = m.next[0]
	m.next = m.next[1:]
	m.seen++
	close(m.progress)
	m.progress = make(chan struct{})
}

// partialSuffix returns the length of the longest suffix of b that is a
// proper prefix of marker: bytes that may be the start of a marker split
// across reads.
func partialSuffix(b, marker []byte) int {
	for k := min(len(b), len(marker)-1); k > 0; k-- {
		if bytes.HasPrefix(marker, b[len(b)-k:]) {
			return k
		}
	}
	return 0
}
