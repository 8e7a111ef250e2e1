package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/shm"
)

// ackDrainTimeout bounds the writes of the acks still due when a
// connection stops being read.
const ackDrainTimeout = time.Second

// Defaults for the zero fields of Server.
const (
	// DefaultMaxInFlight is the number of handler calls per connection a
	// Server runs at once when MaxInFlight is 0.
	DefaultMaxInFlight = 64
	// DefaultMaxConns bounds the connections a Server serves at once.
	DefaultMaxConns = 256
	// DefaultReadTimeout bounds the wait for the header of a connection's
	// first frame (its whole header), and every read inside a frame.
	DefaultReadTimeout = 10 * time.Second
	// DefaultIdleTimeout bounds the wait for the next frame on a
	// connection that has delivered a verified one.
	DefaultIdleTimeout = 5 * time.Minute
)

// maxLegacyReads bounds, per Server, the version 2 frames whose payload
// (at most frame.MaxLegacyPayload) is being read before their tag can be
// checked.
const maxLegacyReads = 8

// Server receives frames on the connections of a listener, checks their
// tags, hands each to Handler and acknowledges it. Its fields must not
// change once Serve runs.
//
// Memory committed to a peer before it has proven that it holds the key of
// the namespace its frames name is bounded: a connection's first frame
// header (at most frame.MaxHeader, 16 KiB) must arrive within ReadTimeout,
// its tag is checked before any of its payload is read (a frame that does
// not verify is refused and its connection closed), at most MaxConns
// connections are served at once (further ones are closed as they come),
// and version 2 frames, whose tag covers their payload, are read only up
// to frame.MaxLegacyPayload and at most 8 at a time per Server. See
// ServerMemoryBound.
type Server struct {
	// Handler is called for every frame that verifies and is not an ack.
	// Required.
	Handler Handler
	// Keys returns the frame key of a namespace, and false for a namespace
	// the server does not serve (its frames are refused with
	// CodeWrongNamespace, and their connection closed; so are those of a
	// namespace whose key is empty). It is called once
	// per frame, before the frame's payload is read, on the connection's
	// reading goroutine; it may be called concurrently. Required unless
	// Unverified is set.
	Keys func(namespace string) (key []byte, ok bool)
	// Unverified, with Keys nil, hands frames to Handler without checking
	// their tags, reading payloads of up to MaxPayload from anyone who
	// connects, as version 2 servers did. Only for a listener whose every
	// peer is trusted (tests).
	Unverified bool
	// ShmDir is the directory shm references are resolved in. Empty:
	// shm frames are refused with CodeMalformed.
	ShmDir string
	// MaxPayload bounds an inline payload, in bytes; 0 or negative:
	// frame.DefaultMaxPayload (1 GiB). A larger frame is malformed. It is
	// only ever committed to a peer whose frame verified.
	MaxPayload int
	// MaxInFlight bounds the handler calls running at once for one
	// connection; the connection is not read while all are taken.
	// 0 or negative: DefaultMaxInFlight. Ignored with Inline.
	MaxInFlight int
	// Inline calls Handler on the connection's reading goroutine, one
	// frame after the other, instead of in a goroutine per frame: a frame
	// then costs no goroutine start and no wake-up between processes
	// (docs/benchmarks/hop-processes.md). Only for a Handler that answers
	// at once and never waits for another frame or a peer (one whose work
	// starts in OnAcked hooks, as the proxy's route plane's does; not the
	// agents' relay, which forwards a frame before it answers it): the
	// connection is not read while it runs.
	Inline bool
	// MaxConns bounds the connections served at once; one more is closed
	// as soon as it is accepted. 0 or negative: DefaultMaxConns.
	MaxConns int
	// ReadTimeout bounds the wait for a new connection's first frame
	// header, and each read inside a frame's payload: a peer that connects
	// and sends nothing, or stalls mid-frame, is dropped. 0 or negative:
	// DefaultReadTimeout.
	ReadTimeout time.Duration
	// IdleTimeout bounds the wait for the next frame header on a
	// connection that has delivered a verified frame; then the connection
	// is closed (the client redials). 0: DefaultIdleTimeout; negative: no
	// limit.
	IdleTimeout time.Duration

	conns atomic.Int64 // connections being served
	views segmentViews // mappings of the pooled segments senders wrote
}

// ServerMemoryBound returns the memory a Server with maxConns (0: the
// default) may hold for peers that have not sent a verified frame: per
// connection a header buffer of at most frame.MaxHeader and its goroutine
// (counted as 16 KiB), plus the version 2 payloads it reads before
// verifying them. It is an estimate of the heap and stacks; the tests check
// a process's RSS against it (plus the runtime's own slack).
func ServerMemoryBound(maxConns int) int {
	if maxConns <= 0 {
		maxConns = DefaultMaxConns
	}
	return maxConns*(frame.MaxHeader+16<<10) + maxLegacyReads*frame.MaxLegacyPayload
}

// config is a Server's settings with the defaults filled in.
type config struct {
	maxPayload, maxInFlight, maxConns int
	readTimeout, idleTimeout          time.Duration
	legacy                            chan struct{} // slots of maxLegacyReads
}

func (s *Server) config() config {
	c := config{
		maxPayload:  s.MaxPayload,
		maxInFlight: s.MaxInFlight,
		maxConns:    s.MaxConns,
		readTimeout: s.ReadTimeout,
		idleTimeout: s.IdleTimeout,
		legacy:      make(chan struct{}, maxLegacyReads),
	}
	if c.maxPayload <= 0 {
		c.maxPayload = frame.DefaultMaxPayload
	}
	if c.maxInFlight <= 0 {
		c.maxInFlight = DefaultMaxInFlight
	}
	if c.maxConns <= 0 {
		c.maxConns = DefaultMaxConns
	}
	if c.readTimeout <= 0 {
		c.readTimeout = DefaultReadTimeout
	}
	if c.idleTimeout == 0 {
		c.idleTimeout = DefaultIdleTimeout
	}
	return c
}

// Serve accepts connections on ln and serves them until ctx ends or ln
// fails. When ctx ends it closes ln and stops reading every connection,
// lets the handlers still running finish and their acks go out (each write
// bounded by one second), closes the connections, waits for all its
// goroutines and returns nil; when ln fails it does the same and returns
// the error. It returns an error at once if Handler is nil, or Keys is nil
// without Unverified.
//
// Per connection, one goroutine reads frames. For each it reads the
// header, checks the tag with the key Keys gives for the frame's namespace
// (a version 2 frame: once its bounded payload is read), refuses a frame
// whose AcceptBy has passed with CodeLate (skipping its payload), then
// reads the payload, resolves a shm reference (maps the segment), hands
// the frame to Handler in its own goroutine and acknowledges it with
// frame.AckFor and the same Seq, so acks may go out of order; once the ack
// of a frame the handler accepted is written it calls the delivery's
// OnAcked hook. A frame that cannot be decoded or does not verify gets an
// ack (CodeMalformed, CodeBadTag, CodeWrongNamespace) when its Seq could
// be read, then the connection is closed. Acks received by a server are
// ignored.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.Handler == nil {
		return errors.New("transport: Server.Handler is nil")
	}
	if s.Keys == nil && !s.Unverified {
		return errors.New("transport: Server.Keys is nil (set Unverified to serve frames without checking their tags)")
	}
	cfg := s.config()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-ctx.Done()
		ln.Close()
	}()

	var err error
	for {
		c, aerr := ln.Accept()
		if aerr != nil {
			if ctx.Err() == nil {
				err = fmt.Errorf("transport: accept: %w", aerr)
			}
			break
		}
		if s.conns.Add(1) > int64(cfg.maxConns) {
			s.conns.Add(-1)
			c.Close()
			continue
		}
		// serveConn closes c when ctx ends.
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.conns.Add(-1)
			s.serveConn(ctx, c, &cfg)
		}()
	}
	cancel()
	wg.Wait()
	s.views.close()
	return err
}

// serverConn is the state of one accepted connection.
type serverConn struct {
	s    *Server
	conn net.Conn
	// unix: the connection is a unix socket, on which a sender that gives
	// up on a frame shuts down its reading side first (see Client.Send),
	// so that an ack written without error was seen by it.
	unix bool
	wmu  sync.Mutex // serialises writes to conn; held only for the write
	wbuf []byte     // ack encoding buffer; guarded by wmu
}

// serveConn reads frames from c until it fails or ctx ends, then waits for
// its handler goroutines (whose acks still go out) and closes c.
func (s *Server) serveConn(ctx context.Context, c net.Conn, cfg *config) {
	ctx, cancel := context.WithCancel(ctx)
	sc := &serverConn{s: s, conn: c, unix: c.LocalAddr().Network() == "unix"}
	sem := make(chan struct{}, cfg.maxInFlight)
	var hwg sync.WaitGroup
	dr := &deadlineReader{conn: c}
	// When ctx ends (server stopping) or the reader stops, reading stops at
	// once but the handlers still running may write their acks, within
	// ackDrainTimeout; then the connection closes.
	stop := context.AfterFunc(ctx, func() {
		dr.stop()
		_ = c.SetWriteDeadline(time.Now().Add(ackDrainTimeout))
	})
	defer func() {
		cancel()
		hwg.Wait()
		stop()
		c.Close()
	}()

	r := frame.NewReader(dr, cfg.maxPayload)
	verified := false // a frame of this connection verified
	// A peer that has not proven itself gets ReadTimeout from the moment it
	// connected to deliver a frame header that verifies (acks it may send
	// meanwhile do not count).
	proveBy := time.Now().Add(cfg.readTimeout)
	for {
		if verified {
			dr.setDeadline(cfg.idleTimeout)
		} else {
			dr.setDeadlineAt(proveBy)
		}
		d := new(Delivery)
		f := &d.Frame
		if err := r.NextHeader(f); err != nil {
			sc.refuseDecode(f, err)
			return
		}
		dr.setProgress(cfg.readTimeout)
		if f.Kind == frame.KindAck {
			if f.Size != 0 || f.PayloadKind != frame.PayloadInline {
				return // acks carry nothing; do not read what this one announces
			}
			continue
		}
		if code, reason, ok := sc.verify(ctx, r, f, cfg); !ok {
			ack := frame.AckFor(f, code, reason)
			sc.writeAck(&ack, 0)
			sc.linger()
			return
		}
		verified = true
		if late(f) {
			if err := r.Discard(); err != nil {
				return
			}
			ack := frame.AckFor(f, frame.CodeLate, lateReason(f))
			sc.writeAck(&ack, 0)
			continue
		}
		if f.PayloadKind == frame.PayloadInline && f.Payload == nil {
			if err := r.ReadPayload(f); err != nil {
				sc.refuseDecode(f, err)
				return
			}
		}
		if s.Inline {
			sc.handle(ctx, d)
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		hwg.Add(1)
		go func() {
			defer hwg.Done()
			defer func() { <-sem }()
			sc.handle(ctx, d)
		}()
	}
}

// Bounds of linger.
const (
	lingerTime  = 200 * time.Millisecond
	lingerBytes = 256 << 10
)

// linger lets the peer read the refusal just written before the connection
// closes: closing a socket with unread input resets the connection, and a
// peer that gets the reset first never sees the ack. It shuts down the
// writing side and discards what the peer still sends, for at most
// lingerTime and lingerBytes (the payload of a refused frame is never kept).
func (sc *serverConn) linger() {
	if cw, ok := sc.conn.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	sc.conn.SetReadDeadline(time.Now().Add(lingerTime))
	io.CopyN(io.Discard, sc.conn, lingerBytes)
}

// refuseDecode answers a frame that could not be decoded with
// CodeMalformed, when its Seq could be read.
func (sc *serverConn) refuseDecode(f *frame.Frame, err error) {
	var de *frame.DecodeError
	if errors.As(err, &de) && f.Seq != 0 {
		ack := frame.AckFor(f, frame.CodeMalformed, de.Error())
		sc.writeAck(&ack, 0)
	}
}

// verify checks the tag of the frame whose header r just read into f, with
// the key of its namespace. A version 3 frame is checked before any of its
// payload is read; a version 2 inline frame, whose tag covers its payload,
// after its payload (bounded by the Reader) is read, at most
// maxLegacyReads at a time per Server. It returns ok, or the refusal.
func (sc *serverConn) verify(ctx context.Context, r *frame.Reader, f *frame.Frame, cfg *config) (frame.Code, string, bool) {
	if sc.s.Keys == nil {
		return frame.CodeOK, "", true // Unverified
	}
	key, ok := sc.s.Keys(f.Namespace)
	if !ok || len(key) == 0 { // an empty key would verify a tag anyone can compute
		return frame.CodeWrongNamespace, fmt.Sprintf("namespace %q is not served here", f.Namespace), false
	}
	if f.WireVersion() == frame.LegacyVersion && f.PayloadKind == frame.PayloadInline {
		t := time.NewTimer(cfg.readTimeout)
		defer t.Stop()
		select {
		case cfg.legacy <- struct{}{}:
		case <-t.C:
			return frame.CodeBusy, "too many version 2 frames being read", false
		case <-ctx.Done():
			return frame.CodeUnavailable, "server stopping", false
		}
		err := r.ReadPayload(f)
		<-cfg.legacy
		if err != nil {
			var de *frame.DecodeError
			if errors.As(err, &de) {
				return frame.CodeMalformed, de.Error(), false
			}
			return frame.CodeMalformed, "reading the payload: " + err.Error(), false
		}
	}
	if !f.Verify(key) {
		return frame.CodeBadTag, "authentication tag does not match the namespace key", false
	}
	return frame.CodeOK, "", true
}

// late reports whether f's accept window has passed.
func late(f *frame.Frame) bool {
	return f.AcceptBy != 0 && time.Now().UnixNano() >= f.AcceptBy
}

func lateReason(f *frame.Frame) string {
	return "accept window passed " + time.Duration(time.Now().UnixNano()-f.AcceptBy).String() + " ago"
}

// handle resolves d's payload, calls the handler, writes the ack and then
// tells the handler's OnAcked hook whether the ack went out in time. A
// frame accepted with a hook whose AcceptBy passed while the handler ran is
// answered CodeLate (and the hook told so): the sender is about to give up
// on it.
func (sc *serverConn) handle(ctx context.Context, d *Delivery) {
	// The handler may own d (and change it) once it returns: keep what
	// the ack needs.
	req := d.Frame
	req.Payload = nil
	var hook func(bool)
	code, reason := frame.CodeOK, ""
	if late(&req) {
		code, reason = frame.CodeLate, lateReason(&req)
	} else {
		code, reason = sc.resolve(d)
	}
	if code == frame.CodeOK {
		code, reason = sc.s.Handler.HandleFrame(ctx, d)
		switch {
		case code == frame.CodeOK:
			// d is the handler's now, whatever the ack says.
			hook = d.acked
			if hook != nil && late(&req) {
				code, reason = frame.CodeLate, "accepted, but "+lateReason(&req)
			}
		case code != frame.CodeDuplicate:
			d.Release()
		}
	}
	ack := frame.AckFor(&req, code, reason)
	inTime := sc.writeAck(&ack, req.AcceptBy) && code == frame.CodeOK
	if hook != nil {
		hook(inTime || req.AcceptBy == 0)
	}
}

// resolve maps the shm segment of a shm frame, or copies out the payload
// of a pooled one (before the ack: its sender writes it again then).
func (sc *serverConn) resolve(d *Delivery) (frame.Code, string) {
	f := &d.Frame
	if f.PayloadKind != frame.PayloadShm && f.PayloadKind != frame.PayloadShmPooled {
		return frame.CodeOK, ""
	}
	if sc.s.ShmDir == "" {
		return frame.CodeMalformed, "shm segment " + f.Ref + ": shm payloads not accepted on this endpoint"
	}
	if f.PayloadKind == frame.PayloadShmPooled {
		if f.Size > MaxPooledPayload {
			return frame.CodeMalformed, fmt.Sprintf("pooled shm segment %s: payload of %d bytes over the limit of %d", f.Ref, f.Size, MaxPooledPayload)
		}
		b := getRecvBuf(int(f.Size))
		if err := sc.s.views.copyOut(sc.s.ShmDir, f.Ref, *b); err != nil {
			putRecvBuf(b)
			return frame.CodeMalformed, fmt.Sprintf("pooled shm segment %s: %v", f.Ref, err)
		}
		d.pooled = b
		return frame.CodeOK, ""
	}
	seg, err := shm.Open(sc.s.ShmDir, f.Ref, f.Size)
	if err != nil {
		return frame.CodeMalformed, fmt.Sprintf("shm segment %s: %v", f.Ref, err)
	}
	d.seg = seg
	return frame.CodeOK, ""
}

// writeAck encodes and writes ack; a write error closes the connection,
// which ends its reader. It reports whether the ack reached its sender in
// time for a frame with acceptBy (0: none): on a unix socket, whether the
// write succeeded (a sender that gives up shuts down its reading side
// first, so that a later write fails, and reads every ack written before);
// on other connections, whether it succeeded before acceptBy, by the clock
// read as soon as the write returned.
func (sc *serverConn) writeAck(ack *frame.Frame, acceptBy int64) bool {
	sc.wmu.Lock()
	defer sc.wmu.Unlock()
	b, err := frame.Encode(sc.wbuf[:0], ack)
	if err != nil {
		// Acks built by AckFor always encode; refuse to write garbage.
		sc.conn.Close()
		return false
	}
	sc.wbuf = b
	if _, err := sc.conn.Write(b); err != nil {
		sc.conn.Close()
		return false
	}
	return acceptBy == 0 || sc.unix || time.Now().UnixNano() < acceptBy
}

// deadlineReader is a connection's reading side with read deadlines: one
// fixed deadline for a header (setDeadline), or a deadline that each read
// pushes forward (setProgress), so that a peer sending a large payload
// slowly but steadily is served and one that stalls is not. stop ends
// reading for good, even against a concurrent setDeadline.
type deadlineReader struct {
	conn    net.Conn
	stopped atomic.Bool
	mu      sync.Mutex    // orders stop against the deadline updates
	step    time.Duration // progress mode: each read's allowance; 0: fixed deadline
	set     time.Time     // the deadline last set, in progress mode
}

var errStopped = errors.New("transport: connection no longer read")

// setDeadline sets a fixed deadline d from now (d < 0: none) for the reads
// to come.
func (r *deadlineReader) setDeadline(d time.Duration) {
	var t time.Time
	if d > 0 {
		t = time.Now().Add(d)
	}
	r.setDeadlineAt(t)
}

// setDeadlineAt sets the fixed deadline t (zero: none) for the reads to
// come.
func (r *deadlineReader) setDeadlineAt(t time.Time) {
	r.step = 0
	r.mu.Lock()
	if !r.stopped.Load() {
		_ = r.conn.SetReadDeadline(t)
	}
	r.mu.Unlock()
}

// setProgress makes every read from now on get d more to return.
func (r *deadlineReader) setProgress(d time.Duration) {
	r.step, r.set = d, time.Time{}
}

// stop makes every read fail from now on, a blocked one at once.
func (r *deadlineReader) stop() {
	r.mu.Lock()
	r.stopped.Store(true)
	_ = r.conn.SetReadDeadline(time.Now())
	r.mu.Unlock()
}

// Read implements io.Reader.
func (r *deadlineReader) Read(p []byte) (int, error) {
	if r.stopped.Load() {
		return 0, errStopped
	}
	if r.step > 0 {
		// Pushing the deadline forward on every read costs a timer update:
		// do it once an eighth of the allowance has gone by.
		if now := time.Now(); r.set.Sub(now) < r.step-r.step/8 {
			r.set = now.Add(r.step)
			r.mu.Lock()
			if r.stopped.Load() {
				r.mu.Unlock()
				return 0, errStopped
			}
			_ = r.conn.SetReadDeadline(r.set)
			r.mu.Unlock()
		}
	}
	return r.conn.Read(p)
}
