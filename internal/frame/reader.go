package frame

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

const (
	// readBufSize is the Reader's initial buffer; it grows to fit a larger
	// header (at most MaxHeader).
	readBufSize = 4 << 10
	// payloadChunk is the most a Reader allocates for a payload ahead of
	// the bytes arriving: a larger payload grows as it is read, so a peer
	// that announces a big payload and sends nothing costs little memory.
	payloadChunk = 1 << 20
	// maxEmptyReads is how many (0, nil) reads in a row a Reader accepts
	// before it gives up with io.ErrNoProgress.
	maxEmptyReads = 100
)

// Reader reads frames from a stream (a net.Conn), buffering reads in a
// reusable buffer so that a small frame usually costs one read call. The
// Payload of each frame it returns is a new slice owned by the caller, which
// may keep it past the next call; its strings are copied too. Length fields
// are checked against their limits before anything is allocated.
//
// A Reader is not safe for concurrent use. It may read past the end of a
// frame into the next one, so the stream must not be read around it.
type Reader struct {
	r          io.Reader
	maxPayload int
	buf        []byte
	start, end int   // buffered, unconsumed bytes are buf[start:end]
	rerr       error // error from the last Read, returned once the buffer runs dry
	err        error // sticky error: after a bad frame the stream is out of step
}

// NewReader returns a Reader of frames from r whose inline payloads are at
// most maxPayload bytes (<= 0 means DefaultMaxPayload).
func NewReader(r io.Reader, maxPayload int) *Reader {
	if maxPayload <= 0 {
		maxPayload = DefaultMaxPayload
	}
	return &Reader{r: r, maxPayload: maxPayload}
}

// Next reads the next frame into f. It returns io.EOF (unwrapped) when the
// stream ends cleanly between frames, an error wrapping
// io.ErrUnexpectedEOF when it ends inside one, a *[DecodeError] for a frame
// that cannot be decoded, and otherwise the read error, wrapped. After any
// error but io.EOF the stream is out of step: every later call returns the
// same error, and the caller should close the stream. After a
// *DecodeError f.Seq holds the frame's sequence number, so that the caller
// can refuse it before closing. Next does not verify the tag.
func (r *Reader) Next(f *Frame) error {
	if r.err != nil {
		return r.err
	}
	err := r.next(f)
	if err != nil {
		r.err = err
	}
	return err
}

func (r *Reader) next(f *Frame) error {
	if err := r.fill(prefixLen); err != nil {
		if err == io.EOF && r.start == r.end {
			return io.EOF
		}
		return readErr("header", err)
	}
	h, err := checkPrefix(r.buf[r.start:r.end])
	if err != nil {
		return err
	}
	if err := r.fill(h); err != nil {
		return readErr("header", err)
	}
	n, err := decodeHeader(r.buf[r.start:r.start+h], f, r.maxPayload)
	if err != nil {
		// The prefix was sound, so the sequence number can be trusted
		// enough to address a refusal to the sender.
		f.Seq = binary.BigEndian.Uint64(r.buf[r.start+offSeq : r.start+offSeq+8])
		return err
	}
	r.start += h
	if f.PayloadKind != PayloadInline {
		return nil
	}
	p, err := r.readPayload(n)
	if err != nil {
		return readErr("payload", err)
	}
	f.Payload = p
	return nil
}

// readErr wraps a read error; io.EOF inside a frame becomes
// io.ErrUnexpectedEOF.
func readErr(what string, err error) error {
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("frame: stream ended inside a frame's %s: %w", what, io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("frame: reading %s: %w", what, err)
}

// fill makes at least need (<= MaxHeader) bytes available in
// buf[start:end], growing or compacting the buffer as needed.
func (r *Reader) fill(need int) error {
	if r.end-r.start >= need {
		return nil
	}
	if len(r.buf)-r.start < need {
		if len(r.buf) < need {
			nb := make([]byte, max(need, readBufSize, 2*len(r.buf)))
			r.end = copy(nb, r.buf[r.start:r.end])
			r.buf = nb
		} else {
			r.end = copy(r.buf, r.buf[r.start:r.end])
		}
		r.start = 0
	}
	for empty := 0; r.end-r.start < need; {
		if r.rerr != nil {
			return r.rerr
		}
		n, err := r.r.Read(r.buf[r.end:])
		r.end += n
		r.rerr = err
		if n > 0 {
			empty = 0
		} else if err == nil {
			if empty++; empty >= maxEmptyReads {
				return io.ErrNoProgress
			}
		}
	}
	return nil
}

// readPayload returns a new slice holding the next n bytes of the stream:
// first what is buffered, then straight from the underlying reader.
func (r *Reader) readPayload(n int) ([]byte, error) {
	p := make([]byte, min(n, max(payloadChunk, r.end-r.start)))
	got := copy(p, r.buf[r.start:r.end])
	r.start += got
	if r.start == r.end {
		r.start, r.end = 0, 0
	}
	for got < n {
		if got == len(p) {
			np := make([]byte, min(n, 2*len(p)))
			copy(np, p)
			p = np
		}
		if r.rerr != nil {
			return nil, r.rerr
		}
		m, err := io.ReadFull(r.r, p[got:])
		got += m
		if err != nil && got < n {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return p, nil
}
