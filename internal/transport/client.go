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
	// the context of Send bounds it too. 0: DefaultAckTimeout.
	AckTimeout time.Duration
	// MaxPayload bounds the payload of a received ack; 0:
	// frame.DefaultMaxPayload.
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
	err     error // non-nil once the connection broke
}

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
func (c *Client) Send(ctx context.Context, endpoint string, f *frame.Frame, key []byte) (frame.Frame, error) {
	network, addr, err := ParseEndpoint(endpoint)
	if err != nil {
		return frame.Frame{}, err
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
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
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
		c.broken(cc, err)
		if cc.forget(f.Seq) {
			waiterPool.Put(ch)
		}
		return frame.Frame{}, fmt.Errorf("%w %s: write: %w", ErrUnreachable, endpoint, err)
	}

	timer := getTimer(time.Until(deadline))
	defer putTimer(timer)
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
	r := frame.NewReader(cc.conn, c.MaxPayload)
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
// Pending Sends fail with ErrUnreachable, later ones with ErrClosed. It is
// idempotent.
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
				cc.conn.Close()
			}
		default:
			// Still dialing: dial sees closed and gives up.
		}
	}
	c.wg.Wait()
	c.removing.Wait()
	return nil
}
