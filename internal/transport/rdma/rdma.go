//go:build rdma

package rdma

/*
#cgo LDFLAGS: -lrdmacm -libverbs
#include <stdlib.h>
#include "rdma_shim.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	// handshakeTimeout bounds an accepted connection's wait for ESTABLISHED.
	handshakeTimeout = 10 * time.Second
	// resolveTimeout bounds address and route resolution when ctx has no deadline.
	resolveTimeout = 5 * time.Second
	// pollSlice is how often a wait for a CM event rechecks ctx.
	pollSlice = 100 * time.Millisecond
)

// ourHello is what this build announces; a peer must announce the same.
var ourHello = hello{count: bufCount, size: bufSize}

// deviceCount returns the number of RDMA devices (ibv_get_device_list).
func deviceCount() (int, error) {
	n, err := C.wsk_device_count()
	if n < 0 {
		return 0, errnoOf(err)
	}
	return int(n), nil
}

// checkDevice returns an *Error wrapping ErrNoDevice when there is no RDMA device.
func checkDevice(addr string) error {
	n, err := deviceCount()
	if errors.Is(err, syscall.ENOSYS) {
		return &Error{Step: "ibv_get_device_list", Addr: addr, Err: fmt.Errorf("%w (%w: the kernel has no RDMA support)", ErrNoDevice, err)}
	}
	if err != nil {
		return &Error{Step: "ibv_get_device_list", Addr: addr, Err: fmt.Errorf("%w (%w)", ErrNoDevice, err)}
	}
	if n == 0 {
		return &Error{Step: "ibv_get_device_list", Addr: addr, Err: fmt.Errorf("%w (no NIC, no rdma_rxe link)", ErrNoDevice)}
	}
	return nil
}

// errnoOf returns err as a syscall.Errno (EIO when the C call set none).
func errnoOf(err error) error {
	var e syscall.Errno
	if errors.As(err, &e) && e != 0 {
		return e
	}
	return syscall.EIO
}

// resolveIP turns host (an IP literal, a name, or empty for any) into IP bytes.
func resolveIP(ctx context.Context, host string) (net.IP, error) {
	if host == "" {
		return nil, nil
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip, nil
	}
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, err
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("no address for %s", host)
	}
	return ips[0].IP, nil
}

// sockaddr builds a struct sockaddr_storage for ip and port.
func sockaddr(ip net.IP, port int) *C.struct_sockaddr_storage {
	ss := (*C.struct_sockaddr_storage)(C.calloc(1, C.size_t(unsafe.Sizeof(C.struct_sockaddr_storage{}))))
	var b []byte
	if ip4 := ip.To4(); ip4 != nil {
		b = ip4
	} else if ip != nil {
		b = ip.To16()
	}
	var p *C.uchar
	if len(b) > 0 {
		p = (*C.uchar)(C.CBytes(b))
		defer C.free(unsafe.Pointer(p))
	}
	C.wsk_sockaddr(ss, p, C.int(len(b)), C.int(port))
	return ss
}

// goAddr converts a struct sockaddr to *Addr.
func goAddr(sa *C.struct_sockaddr) *Addr {
	var ip [16]C.uchar
	var port C.int
	n := C.wsk_addr(sa, &ip[0], &port)
	if n == 0 {
		return &Addr{}
	}
	return &Addr{IP: net.IP(C.GoBytes(unsafe.Pointer(&ip[0]), n)), Port: int(port)}
}

// newChannel makes a non-blocking rdma_cm event channel.
func newChannel(addr string) (*C.struct_rdma_event_channel, error) {
	ch, err := C.rdma_create_event_channel()
	if ch == nil {
		return nil, &Error{Step: "rdma_create_event_channel", Addr: addr, Err: errnoOf(err)}
	}
	if r, err := C.wsk_nonblock(C.wsk_channel_fd(ch)); r != 0 {
		C.rdma_destroy_event_channel(ch)
		return nil, &Error{Step: "fcntl O_NONBLOCK", Addr: addr, Err: errnoOf(err)}
	}
	return ch, nil
}

// cmEvent is a copied, already acked rdma_cm event.
type cmEvent struct {
	typ    C.int
	status int
	id     *C.struct_rdma_cm_id
	priv   []byte
}

// waitEvent waits for the next event on ch until deadline (zero: none) or ctx ends
// or stopFD (if >= 0) becomes readable.
func waitEvent(ctx context.Context, ch *C.struct_rdma_event_channel, deadline time.Time, stopFD int) (cmEvent, error) {
	fds := []unix.PollFd{{Fd: int32(C.wsk_channel_fd(ch)), Events: unix.POLLIN}}
	if stopFD >= 0 {
		fds = append(fds, unix.PollFd{Fd: int32(stopFD), Events: unix.POLLIN})
	}
	for {
		var ev C.struct_wsk_event
		r, err := C.wsk_get_event(ch, &ev)
		if r < 0 {
			return cmEvent{}, &Error{Step: "rdma_get_cm_event", Err: errnoOf(err)}
		}
		if r == 1 {
			return cmEvent{typ: C.int(ev._type), status: int(ev.status), id: ev.id,
				priv: C.GoBytes(unsafe.Pointer(&ev.priv[0]), ev.priv_len)}, nil
		}
		if err := ctx.Err(); err != nil {
			return cmEvent{}, err
		}
		wait := pollSlice
		if !deadline.IsZero() {
			left := time.Until(deadline)
			if left <= 0 {
				return cmEvent{}, context.DeadlineExceeded
			}
			wait = min(wait, left)
		}
		if _, err := unix.Poll(fds, int(wait/time.Millisecond)+1); err != nil && err != unix.EINTR {
			return cmEvent{}, &Error{Step: "poll", Err: err}
		}
		if stopFD >= 0 && fds[1].Revents != 0 {
			return cmEvent{}, net.ErrClosed
		}
	}
}

// expect waits for event want on ch, turning any other event into an error of step.
func expect(ctx context.Context, ch *C.struct_rdma_event_channel, deadline time.Time, stopFD int, want C.int, step, addr string) (cmEvent, error) {
	ev, err := waitEvent(ctx, ch, deadline, stopFD)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.Addr = addr
			return ev, e
		}
		return ev, &Error{Step: step, Addr: addr, Err: err}
	}
	if ev.typ != want {
		cause := fmt.Errorf("got event %s (status %d), want %s", C.GoString(C.rdma_event_str(uint32(ev.typ))), ev.status,
			C.GoString(C.rdma_event_str(uint32(want))))
		if ev.status < 0 {
			cause = fmt.Errorf("%s: %w", cause.Error(), syscall.Errno(-ev.status))
		}
		return ev, &Error{Step: step, Addr: addr, Err: cause}
	}
	return ev, nil
}

// timeoutMs is the resolve timeout for ctx, in milliseconds.
func timeoutMs(ctx context.Context) C.int {
	d := resolveTimeout
	if dl, ok := ctx.Deadline(); ok {
		d = min(d, time.Until(dl))
	}
	return C.int(max(d/time.Millisecond, 1))
}

// Dial connects to the RDMA CM address addr ("ip:port"; network must be "rdma"):
// rdma_resolve_addr, rdma_resolve_route, QP and buffer setup, rdma_connect. ctx bounds
// the whole handshake. Errors are *Error naming the failed step and addr; with no RDMA
// device the error wraps ErrNoDevice.
func Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if network != "rdma" {
		return nil, &Error{Step: "dial", Addr: addr, Err: fmt.Errorf("network %q, want \"rdma\"", network)}
	}
	host, port, err := splitAddr(addr)
	if err != nil {
		return nil, err
	}
	if host == "" {
		return nil, &Error{Step: "dial", Addr: addr, Err: errors.New("missing host")}
	}
	if err := checkDevice(addr); err != nil {
		return nil, err
	}
	ip, err := resolveIP(ctx, host)
	if err != nil {
		return nil, &Error{Step: "resolve", Addr: addr, Err: err}
	}
	ch, err := newChannel(addr)
	if err != nil {
		return nil, err
	}
	var id *C.struct_rdma_cm_id
	if r, err := C.rdma_create_id(ch, &id, nil, C.RDMA_PS_TCP); r != 0 {
		C.rdma_destroy_event_channel(ch)
		return nil, &Error{Step: "rdma_create_id", Addr: addr, Err: errnoOf(err)}
	}
	c, err := dialID(ctx, ch, id, ip, port, addr)
	if err != nil {
		return nil, err // dialID freed everything
	}
	return c, nil
}

// dialID runs the active side of the handshake on id. On error it has freed id and ch.
func dialID(ctx context.Context, ch *C.struct_rdma_event_channel, id *C.struct_rdma_cm_id, ip net.IP, port int, addr string) (*conn, error) {
	cleanup := func(err error) (*conn, error) {
		C.rdma_destroy_id(id)
		C.rdma_destroy_event_channel(ch)
		return nil, err
	}
	dl, _ := ctx.Deadline()
	dst := sockaddr(ip, port)
	defer C.free(unsafe.Pointer(dst))
	if r, err := C.rdma_resolve_addr(id, nil, (*C.struct_sockaddr)(unsafe.Pointer(dst)), timeoutMs(ctx)); r != 0 {
		return cleanup(&Error{Step: "rdma_resolve_addr", Addr: addr, Err: errnoOf(err)})
	}
	if _, err := expect(ctx, ch, dl, -1, C.RDMA_CM_EVENT_ADDR_RESOLVED, "rdma_resolve_addr", addr); err != nil {
		return cleanup(err)
	}
	if r, err := C.rdma_resolve_route(id, timeoutMs(ctx)); r != 0 {
		return cleanup(&Error{Step: "rdma_resolve_route", Addr: addr, Err: errnoOf(err)})
	}
	if _, err := expect(ctx, ch, dl, -1, C.RDMA_CM_EVENT_ROUTE_RESOLVED, "rdma_resolve_route", addr); err != nil {
		return cleanup(err)
	}
	c, err := newConn(ch, id, addr)
	if err != nil {
		return cleanup(err)
	}
	// From here c.free releases id and ch too.
	hb := C.CBytes(encodeHello(ourHello))
	defer C.free(hb)
	if r, err := C.wsk_connect(id, hb, helloLen); r != 0 {
		c.free()
		return nil, &Error{Step: "rdma_connect", Addr: addr, Err: errnoOf(err)}
	}
	if _, err := expect(ctx, ch, dl, -1, C.RDMA_CM_EVENT_ESTABLISHED, "rdma_connect", addr); err != nil {
		c.free()
		return nil, err
	}
	c.start(ourHello)
	return c, nil
}

// listener is the net.Listener Listen returns.
type listener struct {
	ch     *C.struct_rdma_event_channel
	id     *C.struct_rdma_cm_id
	addr   *Addr
	stopR  int // read end of the stop pipe; readable once Close ran
	stopW  int
	closer closer
}

var _ net.Listener = (*listener)(nil)

// Listen listens on the RDMA CM address addr ("ip:port"; an empty ip means any,
// port 0 picks one): rdma_create_id with RDMA_PS_TCP, rdma_bind_addr, rdma_listen.
// Errors are *Error naming the failed step and addr; with no RDMA device the error
// wraps ErrNoDevice.
func Listen(addr string) (net.Listener, error) {
	host, port, err := splitAddr(addr)
	if err != nil {
		return nil, err
	}
	if err := checkDevice(addr); err != nil {
		return nil, err
	}
	ip, err := resolveIP(context.Background(), host)
	if err != nil {
		return nil, &Error{Step: "resolve", Addr: addr, Err: err}
	}
	ch, err := newChannel(addr)
	if err != nil {
		return nil, err
	}
	l := &listener{ch: ch, stopR: -1, stopW: -1}
	fail := func(e error) (net.Listener, error) {
		if l.id != nil {
			C.rdma_destroy_id(l.id)
		}
		C.rdma_destroy_event_channel(ch)
		if l.stopR >= 0 {
			unix.Close(l.stopR)
			unix.Close(l.stopW)
		}
		return nil, e
	}
	if r, err := C.rdma_create_id(ch, &l.id, nil, C.RDMA_PS_TCP); r != 0 {
		l.id = nil
		return fail(&Error{Step: "rdma_create_id", Addr: addr, Err: errnoOf(err)})
	}
	sa := sockaddr(ip, port)
	defer C.free(unsafe.Pointer(sa))
	if r, err := C.rdma_bind_addr(l.id, (*C.struct_sockaddr)(unsafe.Pointer(sa))); r != 0 {
		return fail(&Error{Step: "rdma_bind_addr", Addr: addr, Err: errnoOf(err)})
	}
	if r, err := C.rdma_listen(l.id, 64); r != 0 {
		return fail(&Error{Step: "rdma_listen", Addr: addr, Err: errnoOf(err)})
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		return fail(&Error{Step: "pipe2", Addr: addr, Err: err})
	}
	l.stopR, l.stopW = p[0], p[1]
	l.addr = goAddr(C.wsk_local(l.id))
	return l, nil
}

// Addr returns the bound address (with the chosen port).
func (l *listener) Addr() net.Addr { return l.addr }

// Accept waits for a connection request, sets up its QP and buffers, accepts it and
// returns the established connection. A request that fails its handshake is rejected
// and dropped; Accept then waits for the next. After Close it returns net.ErrClosed.
func (l *listener) Accept() (net.Conn, error) {
	if !l.closer.enter() {
		return nil, &Error{Step: "accept", Addr: l.addr.String(), Err: net.ErrClosed}
	}
	defer l.closer.leave()
	for {
		ev, err := waitEvent(context.Background(), l.ch, time.Time{}, l.stopR)
		if err != nil {
			if e := (*Error)(nil); errors.As(err, &e) {
				e.Addr = l.addr.String()
				return nil, e
			}
			return nil, &Error{Step: "accept", Addr: l.addr.String(), Err: err}
		}
		if ev.typ != C.RDMA_CM_EVENT_CONNECT_REQUEST {
			continue
		}
		if c, err := l.accept(ev); err == nil {
			return c, nil
		} else if errors.Is(err, net.ErrClosed) {
			return nil, &Error{Step: "accept", Addr: l.addr.String(), Err: err}
		}
	}
}

// accept runs the passive side of one handshake.
func (l *listener) accept(ev cmEvent) (*conn, error) {
	id := ev.id
	peer := goAddr(C.wsk_peer(id)).String()
	if h, err := parseHello(ev.priv); err != nil || h != ourHello {
		C.rdma_reject(id, nil, 0)
		C.rdma_destroy_id(id)
		return nil, &Error{Step: "hello", Addr: peer, Err: errProtocol}
	}
	ch, err := newChannel(peer)
	if err != nil {
		C.rdma_reject(id, nil, 0)
		C.rdma_destroy_id(id)
		return nil, err
	}
	if r, err := C.rdma_migrate_id(id, ch); r != 0 {
		C.rdma_reject(id, nil, 0)
		C.rdma_destroy_id(id)
		C.rdma_destroy_event_channel(ch)
		return nil, &Error{Step: "rdma_migrate_id", Addr: peer, Err: errnoOf(err)}
	}
	c, err := newConn(ch, id, peer)
	if err != nil {
		C.rdma_reject(id, nil, 0)
		C.rdma_destroy_id(id)
		C.rdma_destroy_event_channel(ch)
		return nil, err
	}
	hb := C.CBytes(encodeHello(ourHello))
	defer C.free(hb)
	if r, err := C.wsk_accept(id, hb, helloLen); r != 0 {
		c.free()
		return nil, &Error{Step: "rdma_accept", Addr: peer, Err: errnoOf(err)}
	}
	if _, err := expect(context.Background(), ch, time.Now().Add(handshakeTimeout), l.stopR,
		C.RDMA_CM_EVENT_ESTABLISHED, "rdma_accept", peer); err != nil {
		c.free()
		return nil, err
	}
	c.start(ourHello)
	return c, nil
}

// Close stops the listener: pending and later Accept calls return net.ErrClosed.
// Established connections stay open. Close is idempotent.
func (l *listener) Close() error {
	l.closer.close(func() { unix.Write(l.stopW, []byte{1}) }, func() {
		C.rdma_destroy_id(l.id)
		C.rdma_destroy_event_channel(l.ch)
		unix.Close(l.stopR)
		unix.Close(l.stopW)
	})
	return nil
}
