package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
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
	// Dial opens connections; nil: a net.Dialer. It lets RDMA or tests
	// plug in their own.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)

	seq atomic.Uint64

	mu     sync.Mutex             // guards conns and closed
	conns  map[string]*clientConn // by endpoint
	closed bool
	wg     sync.WaitGroup // reader goroutines

	removing sync.WaitGroup // segment removals in flight
}

// ackResult is what a connection's reader hands a waiting Send.
type ackResult struct {
	ack frame.Frame
	err error
}

// clientConn is one persistent connection to an endpoint.
type clientConn struct {
	endpoint string
	ready    chan struct{} // closed when the dial finished
	dialErr  error         // set before ready is closed
	conn     net.Conn      // set before ready is closed, if dialErr is nil

	wmu sync.Mutex  // serialises writes; held only for one write
	vec net.Buffers // reused header+payload vector; guarded by wmu
	arr [2][]byte   // backing array of vec; guarded by wmu

	mu      sync.Mutex // guards waiters and err
	waiters map[uint64]chan ackResult
	err     error // non-nil once the connection broke, or was cut

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
// A segment Send creates is removed once Send returns, whatever the
// outcome (in the background: Close waits for it), and f's payload fields
// are restored (inline, the original Payload), so f can be sent again to
// another instance; f.Tag keeps the last signature.
//
// A transport failure returns an error wrapping ErrUnreachable (dial,
// write, connection lost) or ErrTimeout (no ack within AckTimeout or the
// ctx deadline), naming the endpoint, so the caller can try the next
// instance. Send does not retry.
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
	f.Seq = c.seq.Add(1)

	ackTimeout := c.AckTimeout
	if ackTimeout <= 0 {
		ackTimeout = DefaultAckTimeout
	}
	deadline := time.Now().Add(ackTimeout)
	ctxBound := false // the ctx deadline comes first
	if !closeAt.IsZero() {
		deadline = closeAt
	} else if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline, ctxBound = d, true
	}

	cc, err := c.connFor(ctx, endpoint, network, addr)
	if err != nil {
		return frame.Frame{}, err
	}

	ch := waiterPool.Get().(chan ackResult)
	cc.mu.Lock()
	if cc.err != nil {
		err := cc.err
		cc.mu.Unlock()
		waiterPool.Put(ch)
		return frame.Frame{}, fmt.Errorf("%w %s: %w", ErrUnreachable, endpoint, err)
	}
	cc.waiters[f.Seq] = ch
	cc.mu.Unlock()

	if err := c.write(cc, f, deadline); err != nil {
		// The connection is out of step. Other frames' acks it has
		// received are still read (a frame with AcceptBy may depend on
		// it) before its reader ends it.
		cc.cut(fmt.Errorf("write: %w", err))
		if cc.forget(f.Seq) {
			waiterPool.Put(ch)
		}
		return frame.Frame{}, fmt.Errorf("%w %s: write: %w", ErrUnreachable, endpoint, err)
	}

	timer := getTimer(time.Until(deadline))
	defer putTimer(timer)
	if !closeAt.IsZero() {
		return c.awaitWindow(ctx, cc, f.Seq, ch, timer, closeAt)
	}
	select {
	case r := <-ch:
		waiterPool.Put(ch)
		if r.err != nil {
			return frame.Frame{}, fmt.Errorf("%w %s: %w", ErrUnreachable, endpoint, r.err)
		}
		return r.ack, nil
	case <-timer.C:
		if cc.forget(f.Seq) {
			waiterPool.Put(ch)
		}
		if ctxBound {
			return frame.Frame{}, fmt.Errorf("%w %s: %w", ErrTimeout, endpoint, context.DeadlineExceeded)
		}
		return frame.Frame{}, fmt.Errorf("%w %s: no ack within %v", ErrTimeout, endpoint, ackTimeout)
	case <-ctx.Done():
		if cc.forget(f.Seq) {
			waiterPool.Put(ch)
		}
		err := ctx.Err()
		if errors.Is(err, context.DeadlineExceeded) {
			return frame.Frame{}, fmt.Errorf("%w %s: %w", ErrTimeout, endpoint, err)
		}
		return frame.Frame{}, fmt.Errorf("transport: send to %s: %w", endpoint, err)
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

// awaitWindow waits for the ack of the frame seq (waiter ch) until closeAt
// on the wall clock, or ctx's end; then it gives up: it cuts the
// connection and takes what its reader finds, the ack or the connection's
// end.
func (c *Client) awaitWindow(ctx context.Context, cc *clientConn, seq uint64, ch chan ackResult, timer *time.Timer, closeAt time.Time) (frame.Frame, error) {
	var cause error
wait:
	for {
		select {
		case r := <-ch:
			waiterPool.Put(ch)
			if r.err != nil {
				return frame.Frame{}, fmt.Errorf("%w %s: %w", ErrUnreachable, cc.endpoint, r.err)
			}
			return r.ack, nil
		case <-timer.C:
			// The timer runs on the monotonic clock, AcceptBy is wall
			// clock time: make sure the window has closed on the latter.
			if d := time.Until(closeAt); d > 0 {
				timer.Reset(d)
				continue
			}
			break wait
		case <-ctx.Done():
			cause = ctx.Err()
			break wait
		}
	}
	// Every ack the receiver wrote before the cut is read before the
	// reader sees the connection end, and answers ch; so does that end.
	cc.cut(errCut)
	r := <-ch
	waiterPool.Put(ch)
	switch {
	case r.err == nil:
		return r.ack, nil
	case errors.Is(cause, context.DeadlineExceeded):
		return frame.Frame{}, fmt.Errorf("%w %s: %w", ErrTimeout, cc.endpoint, cause)
	case cause != nil:
		return frame.Frame{}, fmt.Errorf("transport: send to %s: %w", cc.endpoint, cause)
	}
	return frame.Frame{}, fmt.Errorf("%w %s: no ack before the frame's accept window closed at %s", ErrTimeout, cc.endpoint, closeAt.Format(time.RFC3339Nano))
}

// cut stops cc being used for new frames (Sends get err) and shuts down
// its reading side, so that the receiver's later writes fail and its
// reader, once it has read what was received before, sees the connection
// end (and fails the remaining waiters). A connection without CloseRead
// is closed (what it had received is then lost).
func (cc *clientConn) cut(err error) {
	cc.mu.Lock()
	if cc.err == nil {
		cc.err = err
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

// connFor returns the live connection to endpoint, dialing one if needed.
// Concurrent callers share one dial.
func (c *Client) connFor(ctx context.Context, endpoint, network, addr string) (*clientConn, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, ErrClosed
		}
		if c.conns == nil {
			c.conns = make(map[string]*clientConn)
		}
		cc := c.conns[endpoint]
		if cc == nil {
			cc = &clientConn{endpoint: endpoint, ready: make(chan struct{}), waiters: make(map[uint64]chan ackResult)}
			c.conns[endpoint] = cc
			c.mu.Unlock()
			return c.dial(ctx, cc, network, addr)
		}
		c.mu.Unlock()
		select {
		case <-cc.ready:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w %s: dial: %w", ErrUnreachable, endpoint, ctx.Err())
		}
		if cc.dialErr != nil {
			return nil, fmt.Errorf("%w %s: dial: %w", ErrUnreachable, endpoint, cc.dialErr)
		}
		cc.mu.Lock()
		err := cc.err
		cc.mu.Unlock()
		if err == nil {
			return cc, nil
		}
		// Broken: drop it (if still current) and dial anew.
		c.mu.Lock()
		if c.conns[endpoint] == cc {
			delete(c.conns, endpoint)
		}
		c.mu.Unlock()
	}
}

// dial connects cc and starts its reader.
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
	cc.conn = conn
	c.wg.Add(1)
	c.mu.Unlock()
	close(cc.ready)
	go c.read(cc)
	return cc, nil
}

// read dispatches the acks arriving on cc to their waiters until the
// connection fails.
func (c *Client) read(cc *clientConn) {
	defer c.wg.Done()
	max := c.MaxPayload
	if max <= 0 {
		max = DefaultMaxAckPayload
	}
	r := frame.NewReader(cc.conn, max)
	for {
		var ack frame.Frame
		if err := r.Next(&ack); err != nil {
			c.broken(cc, fmt.Errorf("connection lost: %w", err))
			return
		}
		if ack.Kind != frame.KindAck {
			continue
		}
		cc.mu.Lock()
		ch, ok := cc.waiters[ack.Seq]
		delete(cc.waiters, ack.Seq)
		cc.mu.Unlock()
		if ok {
			ch <- ackResult{ack: ack}
		}
	}
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

// Close closes the client's connections and waits for their goroutines.
// Pending Sends get the acks already received (each connection is cut as
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
				cc.cut(ErrClosed) // its reader closes it once it has read what came
			}
		default:
			// Still dialing: dial sees closed and gives up.
		}
	}
	c.wg.Wait()
	c.removing.Wait()
	return nil
}
