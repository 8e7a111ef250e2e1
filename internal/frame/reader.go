package frame

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
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
// A frame can be read in two steps, so that its header is checked (its tag
// verified) before any memory is committed to its payload: [Reader.NextHeader]
// reads the header, then [Reader.ReadPayload] reads the inline payload, in
// chunks, hashing it as it arrives, or [Reader.Discard] skips it. [Reader.Next]
// does both. The memory a Reader holds for a frame whose payload it has not
// been asked to read is its buffer: at most MaxHeader bytes.
//
// A read deadline that passes while a Reader waits for the bytes of a
// header (an error wrapping os.ErrDeadlineExceeded, as net.Conn returns)
// is not sticky: nothing read is lost, and the next call goes on with the
// same frame. So one reader can wait for a frame with a deadline, give up,
// and another take over the stream (package transport's client does).
// Inside a payload it is sticky, like every other error.
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
	pending    int   // inline payload bytes of the last header, not read yet
	h          hash.Hash
	sum        [sha256.Size]byte
}

// NewReader returns a Reader of frames from r whose inline payloads are at
// most maxPayload bytes (<= 0 means DefaultMaxPayload); those of
// LegacyVersion frames at most MaxLegacyPayload.
func NewReader(r io.Reader, maxPayload int) *Reader {
	if maxPayload <= 0 {
		maxPayload = DefaultMaxPayload
	}
	return &Reader{r: r, maxPayload: maxPayload}
}

// Next reads the next frame into f: [Reader.NextHeader], then, for an
// inline payload, [Reader.ReadPayload]. It returns io.EOF (unwrapped) when
// the stream ends cleanly between frames, an error wrapping
// io.ErrUnexpectedEOF when it ends inside one, a *[DecodeError] for a
// frame that cannot be decoded (also for a payload that does not match its
// Digest), and otherwise the read error, wrapped. After any error but
// io.EOF the stream is out of step: every later call returns the same
// error, and the caller should close the stream. After a *DecodeError
// f.Seq holds the frame's sequence number, so that the caller can refuse
// it before closing. Next does not verify the tag.
func (r *Reader) Next(f *Frame) error {
	if err := r.NextHeader(f); err != nil {
		return err
	}
	if f.PayloadKind != PayloadInline {
		return nil
	}
	return r.ReadPayload(f)
}

// NextHeader reads the next frame's header into f, with f.Payload nil; a
// payload still pending from the previous header is discarded first. For
// an inline payload, f.Size bytes follow, checked against the Reader's
// bound: read them with ReadPayload, or skip them with Discard (the next
// NextHeader does). Errors are those of Next, and sticky as there.
func (r *Reader) NextHeader(f *Frame) error {
	if r.err != nil {
		return r.err
	}
	err := r.discard()
	if err == nil {
		err = r.nextHeader(f)
	}
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		r.err = err
	}
	return err
}

// ReadPayload reads the inline payload of the frame whose header
// NextHeader just read into f (the same f) into a new slice, f.Payload,
// and checks it against f.Digest (a *DecodeError "digest" when it does
// not match; for a LegacyVersion frame it sets f.Digest). Memory is
// committed as bytes arrive, a chunk at a time, not from the length alone.
// Errors are those of Next, and sticky as there.
func (r *Reader) ReadPayload(f *Frame) error {
	if r.err != nil {
		return r.err
	}
	n := r.pending
	r.pending = 0
	if f.PayloadKind != PayloadInline || uint64(n) != f.Size {
		r.err = errors.New("frame: ReadPayload without the header of an inline frame")
		return r.err
	}
	p, err := r.readPayload(n)
	if err != nil {
		r.err = readErr("payload", err)
		return r.err
	}
	f.Payload = p
	if n > 0 || f.legacy {
		if err := checkDigest(f, &r.sum); err != nil {
			f.Payload = nil
			r.err = err
			return err
		}
	}
	return nil
}

// Discard skips the inline payload of the frame whose header NextHeader
// just read, without keeping or checking it. Errors are those of Next.
func (r *Reader) Discard() error {
	if r.err != nil {
		return r.err
	}
	if err := r.discard(); err != nil {
		r.err = err
		return err
	}
	return nil
}

func (r *Reader) nextHeader(f *Frame) error {
	if err := r.fill(prefixLen); err != nil {
		if err == io.EOF && r.start == r.end {
			return io.EOF
		}
		return readErr("header", err)
	}
	h, lay, err := checkPrefix(r.buf[r.start:r.end])
	if err != nil {
		return err
	}
	if err := r.fill(h); err != nil {
		return readErr("header", err)
	}
	max := r.maxPayload
	if lay == &layoutV2 {
		max = min(max, MaxLegacyPayload)
	}
	n, err := decodeHeader(r.buf[r.start:r.start+h], lay, f, max)
	if err != nil {
		// The prefix was sound, so the sequence number can be trusted
		// enough to address a refusal to the sender.
		f.Seq = binary.BigEndian.Uint64(r.buf[r.start+offSeq : r.start+offSeq+8])
		if lay == &layoutV2 {
			f.legacy = true // so that the refusal can be read
		}
		return err
	}
	r.start += h
	r.pending = n
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
			nb := make([]byte, max(need, readBufSize, min(2*len(r.buf), MaxHeader)))
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
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return err // not kept: the caller may wait again (see Reader)
		}
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

// read reads into p: what is buffered first, then from the underlying
// reader. It returns 0 and the read error once the stream has nothing
// more.
func (r *Reader) read(p []byte) (int, error) {
	if r.start < r.end {
		n := copy(p, r.buf[r.start:r.end])
		r.start += n
		if r.start == r.end {
			r.start, r.end = 0, 0
		}
		return n, nil
	}
	for empty := 0; ; {
		if r.rerr != nil {
			if r.rerr == io.EOF {
				return 0, io.ErrUnexpectedEOF
			}
			return 0, r.rerr
		}
		n, err := r.r.Read(p)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if n > 0 {
				return n, nil
			}
			return 0, err // not kept (see Reader)
		}
		r.rerr = err
		if n > 0 {
			return n, nil
		}
		if err == nil {
			if empty++; empty >= maxEmptyReads {
				return 0, io.ErrNoProgress
			}
		}
	}
}

// readPayload returns a new slice holding the next n bytes of the stream
// and leaves their SHA-256 in r.sum. The slice starts at most payloadChunk
// long (or what is buffered) and doubles as bytes arrive.
func (r *Reader) readPayload(n int) ([]byte, error) {
	if r.h == nil {
		r.h = sha256.New()
	}
	r.h.Reset()
	p := make([]byte, min(n, max(payloadChunk, r.end-r.start)))
	got := 0
	for got < n {
		if got == len(p) {
			np := make([]byte, min(n, 2*len(p)))
			copy(np, p)
			p = np
		}
		m, err := r.read(p[got:])
		r.h.Write(p[got : got+m])
		got += m
		if err != nil {
			return nil, err
		}
	}
	r.h.Sum(r.sum[:0])
	return p, nil
}

// discard skips the pending payload bytes, reading them into the buffer.
func (r *Reader) discard() error {
	for r.pending > 0 {
		if r.start == r.end {
			if len(r.buf) == 0 {
				r.buf = make([]byte, readBufSize)
			}
			r.start, r.end = 0, 0
			m, err := r.read(r.buf[:min(len(r.buf), r.pending)])
			r.pending -= m
			if err != nil {
				return readErr("payload", err)
			}
			continue
		}
		m := min(r.end-r.start, r.pending)
		r.start += m
		r.pending -= m
	}
	return nil
}
