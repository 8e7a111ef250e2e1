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
)

// Mux copies what an action writes to W to the current sink.
type Mux struct {
	// W is the pipe's write end: give it to the child as its fd 1 or 2.
	W *os.File

	r      *os.File
	marker []byte

	switchMu sync.Mutex // serialises Switch; guards sent

	sent int // markers written

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
	var nonce [16]byte
	rand.Read(nonce[:])
	m := &Mux{
		W:        w,
		r:        r,
		marker:   []byte("\x00wsk-route-log-switch-" + hex.EncodeToString(nonce[:]) + "\x00"),
		progress: make(chan struct{}),
		done:     make(chan struct{}),
	}
	go m.copy(sink)
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

// Mark makes output written from now on go to sink, without waiting: it
// writes the switch's marker into the pipe, which is the exact point of
// the switch, and returns a function that waits (until ctx ends) for the
// copier to pass it, that is for everything written before to have
// reached the old sink. A caller that only needs the new sink to get what
// is written from now on need not wait at all.
func (m *Mux) Mark(sink io.Writer) (wait func(ctx context.Context) error, err error) {
	m.switchMu.Lock()
	defer m.switchMu.Unlock()
	select {
	case <-m.done:
		return nil, ErrClosed
	default:
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

// copy is the copier: it owns the read end and the current sink.
func (m *Mux) copy(sink io.Writer) {
	defer close(m.done)
	buf := make([]byte, 32<<10)
	var pending []byte // bytes read but not yet delivered
	for {
		n, err := m.r.Read(buf)
		pending = append(pending, buf[:n]...)
		for {
			i := bytes.Index(pending, m.marker)
			if i < 0 {
				break
			}
			sink.Write(pending[:i])
			pending = pending[i+len(m.marker):]
			sink = m.passMarker(sink)
		}
		keep := partialSuffix(pending, m.marker)
		if err != nil {
			keep = 0
		}
		if len(pending)-keep > 0 {
			sink.Write(pending[:len(pending)-keep])
		}
		pending = append(pending[:0], pending[len(pending)-keep:]...)
		if err != nil {
			return
		}
	}
}

// passMarker records that the copier passed a marker and returns the sink
// that marker switches to.
func (m *Mux) passMarker(current io.Writer) io.Writer {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.next) == 0 {
		return current // a marker the Mux did not write: cannot happen, it is random
	}
	sink := m.next[0]
	m.next = m.next[1:]
	m.seen++
	close(m.progress)
	m.progress = make(chan struct{})
	return sink
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
