//go:build rdma

package rdma

/*
#include <stdlib.h>
#include "rdma_shim.h"
*/
import "C"

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// closeDrain bounds how long Close waits for posted sends (data written before Close,
// and the FIN) to complete before it disconnects.
const closeDrain = 2 * time.Second

// conn is the net.Conn of one reliable-connected QP. Its poller goroutine (started by
// start, stopped by Close) handles completions and CM events; Read and Write wait on
// buffer-1 triggers it fires.
type conn struct {
	id   *C.struct_rdma_cm_id
	ch   *C.struct_rdma_event_channel
	res  *C.struct_wsk_res // C memory: buffers, MRs, CQ, PD
	addr string            // the peer, for errors

	sendBufs, recvBufs [][]byte // views of C memory, valid until free
	local, remote      *Addr

	stopR, stopW int           // stop pipe of the poller
	pollDone     chan struct{} // closed when the poller returned

	life    closer     // Read/Write/flushCredits enter it; Close frees after they leave
	readMu  sync.Mutex // serialises Read calls
	writeMu sync.Mutex // serialises Write calls (a Write's messages stay in order)

	mu              sync.Mutex // guards s, readDL, writeDL
	s               *stream
	readDL, writeDL time.Time

	readWake, writeWake, sendWake chan struct{} // buffer-1 triggers
}

var _ net.Conn = (*conn)(nil)

// newConn allocates the QP and buffers on id. On error id and ch are not freed.
func newConn(ch *C.struct_rdma_event_channel, id *C.struct_rdma_cm_id, addr string) (*conn, error) {
	res := (*C.struct_wsk_res)(C.calloc(1, C.size_t(unsafe.Sizeof(C.struct_wsk_res{}))))
	var step *C.char
	if e := C.wsk_setup(id, res, bufCount, bufSize, &step); e != 0 {
		C.free(unsafe.Pointer(res))
		return nil, &Error{Step: C.GoString(step), Addr: addr, Err: syscall.Errno(e)}
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		C.wsk_teardown(id, res)
		C.free(unsafe.Pointer(res))
		return nil, &Error{Step: "pipe2", Addr: addr, Err: err}
	}
	c := &conn{id: id, ch: ch, res: res, addr: addr, stopR: p[0], stopW: p[1],
		readWake: make(chan struct{}, 1), writeWake: make(chan struct{}, 1), sendWake: make(chan struct{}, 1)}
	sb := unsafe.Slice((*byte)(unsafe.Pointer(res.sbuf)), bufCount*bufSize)
	rb := unsafe.Slice((*byte)(unsafe.Pointer(res.rbuf)), bufCount*bufSize)
	for i := range bufCount {
		c.sendBufs = append(c.sendBufs, sb[i*bufSize:(i+1)*bufSize:(i+1)*bufSize])
		c.recvBufs = append(c.recvBufs, rb[i*bufSize:(i+1)*bufSize:(i+1)*bufSize])
	}
	return c, nil
}

// start begins the connection once established with a peer that announced peer.
func (c *conn) start(peer hello) {
	c.s = newStream(ourHello, peer)
	c.local = goAddr(C.wsk_local(c.id))
	c.remote = goAddr(C.wsk_peer(c.id))
	c.pollDone = make(chan struct{})
	go c.poll()
}

// free releases everything: QP, CQ, MRs, buffers, PD, the cm_id, its channel, the pipe.
// The poller must not be running.
func (c *conn) free() {
	C.wsk_teardown(c.id, c.res)
	C.free(unsafe.Pointer(c.res))
	C.rdma_destroy_id(c.id)
	C.rdma_destroy_event_channel(c.ch)
	unix.Close(c.stopR)
	unix.Close(c.stopW)
	c.sendBufs, c.recvBufs = nil, nil
}

func trigger(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (c *conn) wakeAll() {
	trigger(c.readWake)
	trigger(c.writeWake)
	trigger(c.sendWake)
}

// fail records a fatal error and wakes every waiter.
func (c *conn) fail(err error) {
	c.mu.Lock()
	c.s.fail(err)
	c.mu.Unlock()
	c.wakeAll()
}

// wait blocks until ch fires or deadline (zero: none) passes.
func (c *conn) wait(ch chan struct{}, deadline time.Time, op string) error {
	if deadline.IsZero() {
		<-ch
		return nil
	}
	d := time.Until(deadline)
	if d <= 0 {
		return c.timeout(op)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-t.C:
		return c.timeout(op)
	}
}

func (c *conn) timeout(op string) error {
	return &net.OpError{Op: op, Net: "rdma", Source: c.local, Addr: c.remote, Err: os.ErrDeadlineExceeded}
}

func (c *conn) closedErr(op string) error {
	return &Error{Step: op, Addr: c.addr, Err: net.ErrClosed}
}

// Read reads stream bytes, waiting for a message when none are buffered. It returns
// io.EOF after the peer closed and every byte it sent was read.
func (c *conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if !c.life.enter() {
		return 0, c.closedErr("read")
	}
	defer c.life.leave()
	c.readMu.Lock()
	defer c.readMu.Unlock()
	for {
		c.mu.Lock()
		if c.s.closed {
			c.mu.Unlock()
			return 0, c.closedErr("read")
		}
		if c.s.rq.buffered() > 0 {
			var scratch [bufCount]int
			n, freed := c.s.rq.read(p, scratch[:0])
			c.mu.Unlock()
			c.repost(freed)
			c.flushCredits()
			return n, nil
		}
		s, dl := c.s, c.readDL
		if s.err != nil {
			c.mu.Unlock()
			return 0, s.err
		}
		if s.peerFin || s.peerGone {
			c.mu.Unlock()
			return 0, io.EOF
		}
		c.mu.Unlock()
		if err := c.wait(c.readWake, dl, "read"); err != nil {
			return 0, err
		}
	}
}

// repost posts receive buffers again and counts them as owed credits.
func (c *conn) repost(idx []int) {
	n := 0
	for _, i := range idx {
		if e := C.wsk_post_recv(c.id, c.res, C.int(i)); e != 0 {
			c.fail(&Error{Step: "ibv_post_recv", Addr: c.addr, Err: syscall.Errno(e)})
			break
		}
		n++
	}
	if n > 0 {
		c.mu.Lock()
		c.s.cr.reposted(n)
		c.mu.Unlock()
	}
}

// post encodes a message into send buffer idx and posts it.
func (c *conn) post(idx int, kind msgKind, grant uint16, payload []byte) error {
	n := encodeMessage(c.sendBufs[idx], kind, grant, payload)
	if e := C.wsk_post_send(c.id, c.res, C.int(idx), C.int(n)); e != 0 {
		err := &Error{Step: "ibv_post_send", Addr: c.addr, Err: syscall.Errno(e)}
		c.fail(err)
		return err
	}
	return nil
}

// flushCredits sends a credit-only message when the stream asks for one.
func (c *conn) flushCredits() {
	c.mu.Lock()
	if c.s.closed {
		c.mu.Unlock()
		return
	}
	idx, grant, ok := c.s.beginSend(kindCredit)
	c.mu.Unlock()
	if ok {
		c.post(idx, kindCredit, grant, nil)
	}
}

// Write sends p as one or more messages (each at most a buffer), waiting for a free
// send buffer and a credit for each. It returns after the last message is posted; the
// bytes are in registered memory by then, so p may be reused.
func (c *conn) Write(p []byte) (int, error) {
	if !c.life.enter() {
		return 0, c.closedErr("write")
	}
	defer c.life.leave()
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	total := 0
	for len(p) > 0 {
		c.mu.Lock()
		if c.s.closed {
			c.mu.Unlock()
			return total, c.closedErr("write")
		}
		if err := c.s.broken(); err != nil {
			c.mu.Unlock()
			if errors.Is(err, ErrPeerClosed) {
				err = &Error{Step: "write", Addr: c.addr, Err: err}
			}
			return total, err
		}
		idx, grant, ok := c.s.beginSend(kindData)
		maxPayload, dl := c.s.maxPayload, c.writeDL
		c.mu.Unlock()
		if !ok {
			if err := c.wait(c.writeWake, dl, "write"); err != nil {
				return total, err
			}
			continue
		}
		chunk, rest := nextChunk(p, maxPayload)
		if err := c.post(idx, kindData, grant, chunk); err != nil {
			return total, err
		}
		total += len(chunk)
		p = rest
	}
	return total, nil
}

// Close sends a FIN (best effort), waits up to closeDrain for posted sends to
// complete, disconnects (rdma_disconnect), stops the poller and frees the QP, CQ, MRs,
// buffers and cm_id. Blocked Reads and Writes return net.ErrClosed. Idempotent.
func (c *conn) Close() error {
	c.life.close(c.shutdown, c.free)
	return nil
}

// shutdown is the part of Close that runs before the calls in progress have left.
func (c *conn) shutdown() {
	c.mu.Lock()
	c.s.closed = true
	idx, grant, fin := c.s.beginSend(kindFin)
	c.mu.Unlock()
	c.wakeAll()
	if fin {
		c.post(idx, kindFin, grant, nil)
	}
	t := time.NewTimer(closeDrain)
	defer t.Stop()
	for done := false; !done; {
		c.mu.Lock()
		done = c.s.sendsIdle() || c.s.err != nil || c.s.peerGone
		c.mu.Unlock()
		if !done {
			select {
			case <-c.sendWake:
			case <-t.C:
				done = true
			}
		}
	}
	C.rdma_disconnect(c.id)
	unix.Write(c.stopW, []byte{1})
	<-c.pollDone
	c.wakeAll()
}

// poll is the connection's goroutine: it waits on the completion channel, the CM
// event channel and the stop pipe, and handles what arrives.
func (c *conn) poll() {
	defer close(c.pollDone)
	fds := []unix.PollFd{
		{Fd: int32(C.wsk_comp_fd(c.res)), Events: unix.POLLIN},
		{Fd: int32(C.wsk_channel_fd(c.ch)), Events: unix.POLLIN},
		{Fd: int32(c.stopR), Events: unix.POLLIN},
	}
	var wcs [32]C.struct_wsk_wc
	for {
		if _, err := unix.Poll(fds, -1); err != nil {
			if err == unix.EINTR {
				continue
			}
			c.fail(&Error{Step: "poll", Addr: c.addr, Err: err})
			return
		}
		if fds[2].Revents != 0 {
			return
		}
		if fds[0].Revents != 0 {
			c.drainCQ(wcs[:])
		}
		if fds[1].Revents != 0 {
			c.drainCM()
		}
	}
}

// drainCQ takes the completion-channel events, re-arms the CQ and handles every
// completion.
func (c *conn) drainCQ(wcs []C.struct_wsk_wc) {
	for {
		r := C.wsk_cq_event(c.res)
		if r == 0 {
			break
		}
		if r < 0 {
			c.fail(&Error{Step: "ibv_get_cq_event", Addr: c.addr, Err: syscall.Errno(-r)})
			return
		}
	}
	var reposts []int
	for {
		n := int(C.wsk_poll(c.res, &wcs[0], C.int(len(wcs))))
		if n < 0 {
			c.fail(&Error{Step: "ibv_poll_cq", Addr: c.addr, Err: syscall.Errno(-n)})
			return
		}
		c.mu.Lock()
		for _, wc := range wcs[:n] {
			reposts = c.completeLocked(wc, reposts)
		}
		c.mu.Unlock()
		if n < len(wcs) {
			break
		}
	}
	c.wakeAll()
	c.repost(reposts)
	c.flushCredits()
}

// completeLocked handles one work completion; c.mu is held. It appends receive
// buffers to re-post at once to reposts.
func (c *conn) completeLocked(wc C.struct_wsk_wc, reposts []int) []int {
	idx := int(wc.wr_id & 0xffffffff)
	isSend := wc.wr_id>>32 == 1
	if idx >= bufCount {
		c.s.fail(&Error{Step: "ibv_poll_cq", Addr: c.addr, Err: errors.New("unknown wr_id")})
		return reposts
	}
	if isSend {
		c.s.sendDone(idx)
	}
	if wc.status != C.IBV_WC_SUCCESS {
		if wc.status == C.IBV_WC_WR_FLUSH_ERR {
			c.s.peerGone = true // the QP went to the error state: disconnected
			return reposts
		}
		c.s.fail(&Error{Step: "ibv_poll_cq", Addr: c.addr,
			Err: errors.New(C.GoString(C.ibv_wc_status_str(uint32(wc.status))))})
		return reposts
	}
	if isSend {
		return reposts
	}
	repost, err := c.s.received(idx, c.recvBufs[idx][:min(int(wc.byte_len), bufSize)])
	if err != nil {
		c.s.fail(&Error{Step: "receive", Addr: c.addr, Err: err})
		return reposts
	}
	if repost {
		reposts = append(reposts, idx)
	}
	return reposts
}

// drainCM handles CM events; a disconnect ends the stream like a FIN.
func (c *conn) drainCM() {
	for {
		var ev C.struct_wsk_event
		r := C.wsk_get_event(c.ch, &ev)
		if r <= 0 {
			return
		}
		if ev._type == C.RDMA_CM_EVENT_DISCONNECTED || ev._type == C.RDMA_CM_EVENT_DEVICE_REMOVAL {
			c.mu.Lock()
			c.s.peerGone = true
			c.mu.Unlock()
			c.wakeAll()
		}
	}
}

// LocalAddr returns the local RDMA CM address.
func (c *conn) LocalAddr() net.Addr { return c.local }

// RemoteAddr returns the peer's RDMA CM address.
func (c *conn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline sets the read and write deadlines.
func (c *conn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.readDL, c.writeDL = t, t
	c.mu.Unlock()
	c.wakeAll()
	return nil
}

// SetReadDeadline sets the deadline for Read calls, including one in progress.
func (c *conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.readDL = t
	c.mu.Unlock()
	trigger(c.readWake)
	return nil
}

// SetWriteDeadline sets the deadline for Write calls, including one in progress.
func (c *conn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.writeDL = t
	c.mu.Unlock()
	trigger(c.writeWake)
	return nil
}
