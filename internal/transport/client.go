package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/shm"
)

// Defaults for the zero fields of Client.
const (
	// DefaultShmThreshold: above it a same-host payload goes through shm.
	// Measured (docs/benchmarks/route-plane.md), shm costs 1.36x inline at
	// 32 KiB and 0.70x at 64 KiB.
	DefaultShmThreshold = 48 << 10
	DefaultDialTimeout  = time.Second
	DefaultAckTimeout   = 2 * time.Second
	// DefaultClockSkew is how long past a frame's AcceptBy Send waits for
	// its ack from a receiver that may be on another host: acceptance
	// across hosts assumes their clocks agree within it, and acks that
	// take less to come back.
	DefaultClockSkew = 250 * time.Millisecond
	// DefaultMaxAckPayload bounds the payload of a received ack (acks
	// carry none).
	DefaultMaxAckPayload = 64 << 10
	// DefaultMaxIdle is how long a connection may lie unused before Send
	// dials anew rather than use it: well under a Server's
	// DefaultIdleTimeout, after which the server closes it.
	DefaultMaxIdle = time.Minute
)

// shmLifetime is how long a segment outlives its frame's deadline (or is
// kept when the frame has none) before a host sweep may remove it; Send
// removes it itself as soon as the ack arrives.
const shmLifetime = time.Minute

// Client sends frames to endpoints and waits for their acks. It keeps one
// persistent connection per endpoint, multiplexed by Seq, and redials a
// broken one on the next Send. The zero value is ready to use; fields must
// not change after the first Send. A Client is safe for concurrent use.
type Client struct {
	// ShmDir is the sender's shm directory. Payloads larger than
	// ShmThreshold sent with a key to a unix endpoint go through a
	// segment created here. Empty: never use shm.
	ShmDir string
	// ShmThreshold is the payload size above which shm is used.
	// 0: DefaultShmThreshold; negative: never use shm.
	ShmThreshold int
	// DialTimeout bounds a dial. 0: DefaultDialTimeout.
	DialTimeout time.Duration
	// AckTimeout bounds the wait for an ack (and the write before it);
	// the context of Send bounds it too. 0: DefaultAckTimeout. It does
	// not apply to a frame with AcceptBy, whose ack is waited for until
	// AcceptBy (see Send).
	AckTimeout time.Duration
	// ClockSkew is how long past a frame's AcceptBy Send waits for its
	// ack from tcp: and rdma: endpoints, and from every endpoint when
	// Relayed is set (not from a unix endpoint that is the receiver
	// itself, which shares the sender's clock). Cross-host acceptance
	// assumes clocks within ClockSkew of each other. 0: DefaultClockSkew;
	// negative: none.
	ClockSkew time.Duration
	// Relayed says that this client's endpoints may be relays (a host
	// agent's frame socket) forwarding to other hosts, so ClockSkew
	// applies to its unix endpoints too.
	Relayed bool
	// MaxPayload bounds the payload of a received ack; 0:
	// DefaultMaxAckPayload.
	MaxPayload int
	// ShmPoolBytes bounds the capacity of the segments the client keeps
	// for shm payloads up to MaxPooledPayload (see MaxPooledPayload);
	// past it, a payload goes through a fresh segment. 0:
	// DefaultShmPoolBytes; negative: no pool.
	ShmPoolBytes int
	// MaxIdle is how long a connection may lie unused before Send dials
	// anew rather than use it. Nothing reads an idle connection, so a
	// client learns that its peer closed one only when it next uses it:
	// Send then sends the frame once more on a new connection, if nothing
	// had come back for it. 0 or negative: DefaultMaxIdle.
	MaxIdle time.Duration
	// Dial opens connections; nil: a net.Dialer. It lets RDMA or tests
	// plug in their own.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)

	seq atomic.Uint64

	mu     sync.Mutex             // guards conns and closed
	conns  map[string]*clientConn // by endpoint
	closed bool

	removing sync.WaitGroup // segment removals in flight
	pool     segmentPool    // shm segments written again once acked
}

// ackResult is what a connection's reader hands a waiting Send.
type ackResult struct {
	ack frame.Frame
	err error
}

// clientConn is one persistent connection to an endpoint.
//
// It has no reader goroutine: the Sends waiting on it read it, one at a
// time (leader and followers). The Send that holds turn reads acks and
// hands each to its waiter, until its own comes (or it gives up); then it
// passes turn on, and a waiting Send takes it. A lone Send so reads its
// own ack, with no goroutine hand-off between processes' wake-ups
// (docs/benchmarks/hop-processes.md).
type clientConn struct {
	endpoint string
	ready    chan struct{} // closed when the dial finished
	dialErr  error         // set before ready is closed
	conn     net.Conn      // set before ready is closed, if dialErr is nil

	wmu sync.Mutex  // serialises writes; held only for one write
	vec net.Buffers // reused header+payload vector; guarded by wmu
	arr [2][]byte   // backing array of vec; guarded by wmu

	// turn holds a token while nobody reads the connection; r is read
	// only by the holder of the token.
	turn chan struct{}
	r    *frame.Reader

	mu       sync.Mutex // guards waiters, err, cutHere, acks and lastUsed
	waiters  map[uint64]chan ackResult
	err      error     // non-nil once the connection broke, or was cut
	cutHere  bool      // this client cut it for a cause of its own (see cut): its end is not the peer's
	acks     uint64    // acks read
	lastUsed time.Time // when a frame was last written or an ack read

	cutOnce sync.Once
}

// errCut is the error of a connection a Send cut when it gave up on a
// frame's ack.
var errCut = errors.New("connection cut: a frame's accept window closed without its ack")

var hdrPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

var waiterPool = sync.Pool{New: func() any { return make(chan ackResult, 1) }}

// timerPool holds stopped timers. Since Go 1.23 a stopped timer delivers no
// stale tick after Reset, so they can be reused.
var timerPool sync.Pool

func getTimer(d time.Duration) *time.Timer {
	if t, ok := timerPool.Get().(*time.Timer); ok {
		t.Reset(d)
		return t
	}
	return time.NewTimer(d)
}

func putTimer(t *time.Timer) {
	t.Stop()
	timerPool.Put(t)
}

// Send delivers f to endpoint and waits for its ack, which it returns (its
// Code says whether the receiver accepted the frame).
//
// Send sets f.Seq. When key is non-nil it may move the payload to a shm
// segment (a unix endpoint, ShmDir set, payload above ShmThreshold, f
// inline) and then signs f with key; when key is nil f is sent as it is
// (a relay forwarding a frame signed by someone else) and shm is never used.
// A payload up to MaxPooledPayload goes through a segment of the client's
// pool, which the receiver copies out before it acks, and which is written
// again once acked (dropped and removed when no ack came: the receiver may
// still read it); a larger one through a fresh segment that the receiver
// maps, removed once Send returns, whatever the outcome (in the
// background: Close waits for it). f's payload fields are then restored
// (inline, the original Payload), so f can be sent again to another
// instance; f.Tag keeps the last signature.
//
// A transport failure returns an error wrapping ErrUnreachable (dial,
// write, connection lost) or ErrTimeout (no ack within AckTimeout or the
// ctx deadline), naming the endpoint, so the caller can try the next
// instance. Send does not retry, but for one case: a connection that had
// lain idle and turns out closed by its peer before anything came back for
// f (a server's idle timeout, a restarted agent) gets f once more on a new
// connection.
//
// A frame with AcceptBy (wall clock) is waited for until AcceptBy, plus
// ClockSkew when the endpoint is tcp: or rdma:, or the client is Relayed;
// AckTimeout does not apply, and ctx ending cuts the wait short. Send then
// gives up on it only after it has shut down the reading side of the
// connection (CloseRead; the whole connection where there is none) and
// read every byte already received on it: an ack the receiver wrote before
// that is returned as usual, and one it writes after fails (see
// Delivery.OnAcked). Other frames in flight on that connection get their
// acks, if already written, or fail with ErrUnreachable; the next Send
// dials anew. So on a unix socket, a frame with AcceptBy for which Send
// returns any error was not accepted and will not run, and one for which
// it returns an ack with CodeOK will run. A frame whose window closed
// before it could be sent is not sent (ErrTimeout).
func (c *Client) Send(ctx context.Context, endpoint string, f *frame.Frame, key []byte) (frame.Frame, error) {
	network, addr, err := ParseEndpoint(endpoint)
	if err != nil {
		return frame.Frame{}, err
	}
	var closeAt time.Time // the end of f's accept window; zero: none
	if f.AcceptBy != 0 {
		closeAt = time.Unix(0, f.AcceptBy).Add(c.skew(network))
		if !time.Now().Before(closeAt) {
			return frame.Frame{}, fmt.Errorf("%w %s: the frame's accept window closed %v ago, before it was sent", ErrTimeout, endpoint, time.Since(closeAt))
		}
	}
	if key != nil && network == "unix" && c.useShm(f) {
		payload := f.Payload
		seg, err := c.pooledSegment(payload)
		if err != nil {
			return frame.Frame{}, fmt.Errorf("transport: %s: %w", endpoint, err)
		}
		if seg != nil {
			f.PayloadKind, f.Ref, f.Size, f.Payload = frame.PayloadShmPooled, seg.name, uint64(len(payload)), nil
			f.Sign(key)
			ack, err := c.sendSigned(ctx, endpoint, network, addr, f, closeAt)
			if err == nil {
				c.pool.put(c.ShmDir, seg) // the receiver copied it out before it acked
			} else {
				c.pool.drop(c.ShmDir, seg) // it may still read it
			}
			f.PayloadKind, f.Ref, f.Size, f.Payload = frame.PayloadInline, "", uint64(len(payload)), payload
			return ack, err
		}
		deadline := time.Now().Add(shmLifetime)
		if f.Deadline > 0 {
			deadline = time.Unix(0, f.Deadline).Add(shmLifetime)
		}
		name, err := shm.Write(c.ShmDir, payload, deadline)
		if err != nil {
			return frame.Frame{}, fmt.Errorf("transport: %s: %w", endpoint, err)
		}
		f.PayloadKind, f.Ref, f.Size, f.Payload = frame.PayloadShm, name, uint64(len(payload)), nil
		defer func() {
			c.removeSegment(name)
			f.PayloadKind, f.Ref, f.Size, f.Payload = frame.PayloadInline, "", uint64(len(payload)), payload
		}()
	} else if f.PayloadKind == frame.PayloadInline {
		f.Size = uint64(len(f.Payload))
	}
	if key != nil {
		f.Sign(key)
	}
	return c.sendSigned(ctx, endpoint, network, addr, f, closeAt)
}

// pooledSegment returns a segment of the pool holding payload, or nil
// when payload is too large for one or the pool is full (or off).
func (c *Client) pooledSegment(payload []byte) (*pooledSegment, error) {
	limit := c.ShmPoolBytes
	if limit == 0 {
		limit = DefaultShmPoolBytes
	}
	if limit < 0 || len(payload) > MaxPooledPayload {
		return nil, nil
	}
	seg, err := c.pool.get(c.ShmDir, len(payload), limit)
	if seg == nil || err != nil {
		return nil, err
	}
	copy(seg.mem, payload)
	return seg, nil
}

// sendSigned sends f, ready and signed, and waits for its ack (see Send).
func (c *Client) sendSigned(ctx context.Context, endpoint, network, addr string, f *frame.Frame, closeAt time.Time) (frame.Frame, error) {
	w := wait{ctx: ctx, closeAt: closeAt}
	w.ackTimeout = c.AckTimeout
	if w.ackTimeout <= 0 {
		w.ackTimeout = DefaultAckTimeout
	}
	w.until = time.Now().Add(w.ackTimeout)
	if !closeAt.IsZero() {
		w.until = closeAt
	} else if d, ok := ctx.Deadline(); ok && d.Before(w.until) {
		w.until, w.ctxBound = d, true
	}
	for try := 0; ; try++ {
		f.Seq = c.seq.Add(1)
		ack, err, stale := c.sendOn(&w, endpoint, network, addr, f)
		// A connection that had lain idle and turned out closed by its
		// peer (an idle timeout, a restarted agent) before anything came
		// back for f: f was not taken; send it once more on a new one.
		if !stale || try > 0 {
			return ack, err
		}
	}
}

// wait is what a Send waits for, and until when.
type wait struct {
	ctx        context.Context
	until      time.Time     // when it gives up; zero: never (after a cut)
	closeAt    time.Time     // the end of the frame's accept window; zero: none
	ackTimeout time.Duration // for the error text
	ctxBound   bool          // until is ctx's deadline

	cc *clientConn
	ch chan ackResult // where the frame's ack, or the connection's end, comes
}

// sendOn writes f on the connection to endpoint and waits for its ack. It
// reports stale when the connection, reused while idle, was found closed by
// its peer before any ack came back after f was written.
func (c *Client) sendOn(w *wait, endpoint, network, addr string, f *frame.Frame) (ack frame.Frame, err error, stale bool) {
	cc, fresh, err := c.connFor(w.ctx, endpoint, network, addr)
	if err != nil {
		return frame.Frame{}, err, false
	}
	ch := waiterPool.Get().(chan ackResult)
	cc.mu.Lock()
	if cc.err != nil {
		err := cc.err
		cc.mu.Unlock()
		waiterPool.Put(ch)
		return frame.Frame{}, fmt.Errorf("%w %s: %w", ErrUnreachable, endpoint, err), false
	}
	idle, acks := len(cc.waiters) == 0 && !fresh, cc.acks
	cc.waiters[f.Seq] = ch
	cc.lastUsed = time.Now()
	cc.mu.Unlock()
	w.cc, w.ch = cc, ch
	// wentStale says whether err ended the connection before anything
	// came back for f, on a connection this Send found idle, and its peer
	// ended it: not a cut of this client's (another Send's accept window
	// or failed write, Close), after which the peer may have read f and
	// be about to answer it, so that f must not be sent again.
	wentStale := func(err error) bool {
		if !idle || !peerGone(err) {
			return false
		}
		cc.mu.Lock()
		defer cc.mu.Unlock()
		return cc.acks == acks && !cc.cutHere
	}

	if err := c.write(cc, f, w.until); err != nil {
		// The connection is out of step. Other frames' acks it has
		// received are still read (a frame with AcceptBy may depend on
		// it) before it is closed.
		cc.cut(fmt.Errorf("write: %w", err))
		if cc.forget(f.Seq) {
			waiterPool.Put(ch)
		}
		c.drain(cc)
		return frame.Frame{}, fmt.Errorf("%w %s: write: %w", ErrUnreachable, endpoint, err), wentStale(err)
	}
	if !w.closeAt.IsZero() {
		ack, err := c.awaitWindow(w)
		return ack, err, err != nil && wentStale(err)
	}
	if r, ok := c.await(w); ok {
		waiterPool.Put(ch)
		if r.err != nil {
			return frame.Frame{}, fmt.Errorf("%w %s: %w", ErrUnreachable, endpoint, r.err), wentStale(r.err)
		}
		return r.ack, nil, false
	}
	if cc.forget(f.Seq) {
		waiterPool.Put(ch)
	}
	err = w.ctx.Err()
	switch {
	case err == nil && w.ctxBound:
		return frame.Frame{}, fmt.Errorf("%w %s: %w", ErrTimeout, endpoint, context.DeadlineExceeded), false
	case err == nil:
		return frame.Frame{}, fmt.Errorf("%w %s: no ack within %v", ErrTimeout, endpoint, w.ackTimeout), false
	case errors.Is(err, context.DeadlineExceeded):
		return frame.Frame{}, fmt.Errorf("%w %s: %w", ErrTimeout, endpoint, err), false
	}
	return frame.Frame{}, fmt.Errorf("transport: send to %s: %w", endpoint, err), false
}

// peerGone reports whether err says the peer had closed the connection.
func peerGone(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
}

// await waits for the ack of w's frame, reading the connection itself when
// nobody else does (see clientConn). It returns false when w.until passed
// or w.ctx ended first.
func (c *Client) await(w *wait) (ackResult, bool) {
	var timerC <-chan time.Time
	if !w.until.IsZero() {
		timer := getTimer(time.Until(w.until))
		defer putTimer(timer)
		timerC = timer.C
	}
	for {
		select {
		case r := <-w.ch:
			return r, true
		case <-w.cc.turn:
			r, ok := c.lead(w)
			w.cc.turn <- struct{}{}
			return r, ok
		case <-timerC:
			// The timer runs on the monotonic clock, an accept window's
			// end on the wall clock: make sure it has passed on the latter.
			if d := time.Until(w.until); d > 0 {
				timerC = time.After(d)
				continue
			}
			return ackResult{}, false
		case <-w.ctx.Done():
			return ackResult{}, false
		}
	}
}

// lead reads w.cc, holding its turn, and hands each ack to its waiter until
// w's own has come (or the connection ended: that answers every waiter).
// It returns false when w.until passed or w.ctx ended first. A read
// deadline interrupts the read for either (an ended ctx sets one at once);
// the frame reader loses nothing to it, so the next holder of the turn
// goes on where this one stopped.
func (c *Client) lead(w *wait) (ackResult, bool) {
	cc := w.cc
	if w.ctx.Done() != nil {
		stop := context.AfterFunc(w.ctx, func() { _ = cc.conn.SetReadDeadline(time.Now()) })
		defer stop()
	}
	for {
		select {
		case r := <-w.ch:
			return r, true
		default:
		}
		if !w.until.IsZero() && !time.Now().Before(w.until) {
			return ackResult{}, false
		}
		_ = cc.conn.SetReadDeadline(w.until)
		if w.ctx.Err() != nil {
			return ackResult{}, false
		}
		var ack frame.Frame
		err := cc.r.Next(&ack)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			// Ours, or an ended ctx's (maybe another Send's): look again.
		case err != nil:
			c.broken(cc, fmt.Errorf("connection lost: %w", err)) // answers w too
		default:
			cc.deliver(&ack)
		}
	}
}

// deliver hands ack to the Send waiting for it, if any.
func (cc *clientConn) deliver(ack *frame.Frame) {
	if ack.Kind != frame.KindAck {
		return
	}
	cc.mu.Lock()
	ch, ok := cc.waiters[ack.Seq]
	delete(cc.waiters, ack.Seq)
	cc.acks++
	cc.lastUsed = time.Now()
	cc.mu.Unlock()
	if ok {
		ch <- ackResult{ack: *ack}
	}
}

// drain reads what cc still receives after a cut, handing acks to their
// waiters, until the connection ends; then it is closed and its remaining
// waiters fail.
func (c *Client) drain(cc *clientConn) {
	<-cc.turn
	defer func() { cc.turn <- struct{}{} }()
	_ = cc.conn.SetReadDeadline(time.Time{})
	for {
		var ack frame.Frame
		if err := cc.r.Next(&ack); err != nil {
			c.broken(cc, fmt.Errorf("connection lost: %w", err))
			return
		}
		cc.deliver(&ack)
	}
}

// skew returns how long past AcceptBy Send waits for an ack over network.
func (c *Client) skew(network string) time.Duration {
	if network == "unix" && !c.Relayed {
		return 0
	}
	switch {
	case c.ClockSkew < 0:
		return 0
	case c.ClockSkew == 0:
		return DefaultClockSkew
	}
	return c.ClockSkew
}

// awaitWindow waits for the ack of w's frame until its accept window
// closes on the wall clock, or w.ctx's end; then it gives up: it cuts the
// connection and takes what is read from it before its end, the ack or the
// connection's end.
func (c *Client) awaitWindow(w *wait) (frame.Frame, error) {
	cc := w.cc
	r, ok := c.await(w)
	if !ok {
		// Every ack the receiver wrote before the cut is read before the
		// connection's end, which answers w if its ack was not among them.
		cause := w.ctx.Err()
		cc.cut(errCut)
		r, _ = c.await(&wait{ctx: context.Background(), cc: cc, ch: w.ch})
		switch {
		case r.err == nil:
		case errors.Is(cause, context.DeadlineExceeded):
			waiterPool.Put(w.ch)
			return frame.Frame{}, fmt.Errorf("%w %s: %w", ErrTimeout, cc.endpoint, cause)
		case cause != nil:
			waiterPool.Put(w.ch)
			return frame.Frame{}, fmt.Errorf("transport: send to %s: %w", cc.endpoint, cause)
		default:
			waiterPool.Put(w.ch)
			return frame.Frame{}, fmt.Errorf("%w %s: no ack before the frame's accept window closed at %s", ErrTimeout, cc.endpoint, w.closeAt.Format(time.RFC3339Nano))
		}
	}
	waiterPool.Put(w.ch)
	if r.err != nil {
		return frame.Frame{}, fmt.Errorf("%w %s: %w", ErrUnreachable, cc.endpoint, r.err)
	}
	return r.ack, nil
}

// cut stops cc being used for new frames (Sends get err) and shuts down
// its reading side, so that the receiver's later writes fail and its
// reader, once it has read what was received before, sees the connection
// end (and fails the remaining waiters). A connection without CloseRead
// is closed (what it had received is then lost).
//
// A cut for a cause of this client's (an accept window's give-up, a write
// that failed but not because the peer had gone, idleness, Close) marks
// the connection: its end is then never taken for the peer's, so that a
// frame another Send wrote on it is not sent again (sendOn's wentStale).
// A write that failed because the peer had gone (a restarted receiver)
// does not mark it.
func (cc *clientConn) cut(err error) {
	cc.mu.Lock()
	if cc.err == nil {
		cc.err = err
	}
	if !peerGone(err) {
		cc.cutHere = true
	}
	cc.mu.Unlock()
	cc.cutOnce.Do(func() {
		if cr, ok := cc.conn.(interface{ CloseRead() error }); !ok || cr.CloseRead() != nil {
			cc.conn.Close()
		}
	})
}

// useShm reports whether f's payload should go through a segment.
func (c *Client) useShm(f *frame.Frame) bool {
	return f.PayloadKind == frame.PayloadInline && c.shmFor(len(f.Payload))
}

// UsesShm reports whether Send, with a key, moves a payload of size bytes
// sent to endpoint into a shm segment. Callers use it to label metrics.
func (c *Client) UsesShm(endpoint string, size int) bool {
	network, _, err := ParseEndpoint(endpoint)
	return err == nil && network == "unix" && c.shmFor(size)
}

func (c *Client) shmFor(size int) bool {
	if c.ShmDir == "" || c.ShmThreshold < 0 {
		return false
	}
	t := c.ShmThreshold
	if t == 0 {
		t = DefaultShmThreshold
	}
	return size > t
}

// write sends f's header and inline payload in one vectored write.
func (c *Client) write(cc *clientConn, f *frame.Frame, deadline time.Time) error {
	bp := hdrPool.Get().(*[]byte)
	defer hdrPool.Put(bp)
	hdr, err := frame.AppendHeader((*bp)[:0], f)
	if err != nil {
		return err
	}
	*bp = hdr
	cc.wmu.Lock()
	defer cc.wmu.Unlock()
	cc.arr[0], cc.arr[1] = hdr, f.Payload
	cc.vec = cc.arr[:]
	if len(f.Payload) == 0 || f.PayloadKind != frame.PayloadInline {
		cc.vec = cc.arr[:1]
	}
	_ = cc.conn.SetWriteDeadline(deadline)
	_, err = cc.vec.WriteTo(cc.conn)
	cc.arr[0], cc.arr[1] = nil, nil
	return err
}

// forget removes the waiter for seq and reports whether it was still
// registered (then nobody else will send on its channel).
func (cc *clientConn) forget(seq uint64) bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if _, ok := cc.waiters[seq]; ok {
		delete(cc.waiters, seq)
		return true
	}
	return false
}

// connFor returns the live connection to endpoint, dialing one if needed
// (fresh says so). Concurrent callers share one dial. A connection idle for
// longer than MaxIdle is closed and dialed anew.
func (c *Client) connFor(ctx context.Context, endpoint, network, addr string) (cc *clientConn, fresh bool, err error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, false, ErrClosed
		}
		if c.conns == nil {
			c.conns = make(map[string]*clientConn)
		}
		cc := c.conns[endpoint]
		if cc == nil {
			cc = &clientConn{endpoint: endpoint, ready: make(chan struct{}), waiters: make(map[uint64]chan ackResult)}
			c.conns[endpoint] = cc
			c.mu.Unlock()
			cc, err := c.dial(ctx, cc, network, addr)
			return cc, true, err
		}
		c.mu.Unlock()
		select {
		case <-cc.ready:
		case <-ctx.Done():
			return nil, false, fmt.Errorf("%w %s: dial: %w", ErrUnreachable, endpoint, ctx.Err())
		}
		if cc.dialErr != nil {
			return nil, false, fmt.Errorf("%w %s: dial: %w", ErrUnreachable, endpoint, cc.dialErr)
		}
		cc.mu.Lock()
		err := cc.err
		if err == nil && len(cc.waiters) == 0 && time.Since(cc.lastUsed) > c.maxIdle() {
			err = errIdle
			cc.err = err
		}
		cc.mu.Unlock()
		if err == nil {
			return cc, false, nil
		}
		if err == errIdle {
			cc.cut(errIdle)
			c.drain(cc)
		}
		// Broken: drop it (if still current) and dial anew.
		c.mu.Lock()
		if c.conns[endpoint] == cc {
			delete(c.conns, endpoint)
		}
		c.mu.Unlock()
	}
}

// errIdle ends a connection unused for longer than Client.MaxIdle.
var errIdle = errors.New("connection idle for too long")

func (c *Client) maxIdle() time.Duration {
	if c.MaxIdle <= 0 {
		return DefaultMaxIdle
	}
	return c.MaxIdle
}

// dial connects cc.
func (c *Client) dial(ctx context.Context, cc *clientConn, network, addr string) (*clientConn, error) {
	timeout := c.DialTimeout
	if timeout <= 0 {
		timeout = DefaultDialTimeout
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var conn net.Conn
	var err error
	switch {
	case c.Dial != nil:
		conn, err = c.Dial(dctx, network, addr)
	case network == "rdma":
		err = errors.New("rdma endpoints need a Client.Dial from internal/transport/rdma")
	default:
		var d net.Dialer
		conn, err = d.DialContext(dctx, network, addr)
	}
	c.mu.Lock()
	if err == nil && c.closed {
		conn.Close()
		err = ErrClosed
	}
	if err != nil {
		if c.conns[cc.endpoint] == cc {
			delete(c.conns, cc.endpoint)
		}
		c.mu.Unlock()
		cc.dialErr = err
		close(cc.ready)
		if errors.Is(err, ErrClosed) {
			return nil, err
		}
		return nil, fmt.Errorf("%w %s: dial: %w", ErrUnreachable, cc.endpoint, err)
	}
	max := c.MaxPayload
	if max <= 0 {
		max = DefaultMaxAckPayload
	}
	cc.conn, cc.r = conn, frame.NewReader(conn, max)
	cc.turn = make(chan struct{}, 1)
	cc.turn <- struct{}{}
	cc.lastUsed = time.Now()
	c.mu.Unlock()
	close(cc.ready)
	return cc, nil
}

// broken marks cc failed, closes it, fails its waiters and drops it from
// the client so the next Send redials.
func (c *Client) broken(cc *clientConn, err error) {
	cc.mu.Lock()
	if cc.err == nil {
		cc.err = err
	}
	waiters := cc.waiters
	cc.waiters = map[uint64]chan ackResult{}
	cc.mu.Unlock()
	cc.conn.Close()
	for _, ch := range waiters {
		ch <- ackResult{err: err}
	}
	c.mu.Lock()
	if c.conns[cc.endpoint] == cc {
		delete(c.conns, cc.endpoint)
	}
	c.mu.Unlock()
}

// removeSegment removes a segment Send created, off Send's latency path:
// freeing a large tmpfs file costs about as much as writing it (30 ms for
// 256 MiB measured, see docs/benchmarks/route-plane.md), and the receiver
// has either mapped the segment already (an ack) or never will. Close
// waits for the removals.
func (c *Client) removeSegment(name string) {
	c.removing.Add(1)
	go func() {
		defer c.removing.Done()
		_ = shm.Remove(c.ShmDir, name)
	}()
}

// Close closes the client's connections, once it has handed on the acks
// they had received. Pending Sends get the acks already received (each connection is cut as
// when a frame's accept window closes, see Send) or fail with
// ErrUnreachable; later ones fail with ErrClosed. It is idempotent.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	conns := c.conns
	c.conns = nil
	c.mu.Unlock()
	for _, cc := range conns {
		select {
		case <-cc.ready:
			if cc.conn != nil {
				cc.cut(ErrClosed)
				c.drain(cc) // hands on the acks that came, then closes it
			}
		default:
			// Still dialing: dial sees closed and gives up.
		}
	}
	c.removing.Wait()
	c.pool.drain(c.ShmDir)
	return nil
}
