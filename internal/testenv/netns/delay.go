package netns

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Delay makes every packet h sends wait d before it leaves h (so round trips to
// and from h grow by d). d <= 0 removes the delay. It uses tc netem on h's
// interface inside the namespace; when the kernel has no netem it falls back to a
// user-space relay (see the package doc), which the Net stops at cleanup.
func (n *Net) Delay(h *Host, d time.Duration) error {
	if h == nil || h.net != n {
		return ErrNotMember
	}
	n.mu.Lock()
	r := n.relays[h]
	n.mu.Unlock()
	if r != nil {
		if d > 0 {
			r.delay.Store(int64(d))
			return nil
		}
		n.mu.Lock()
		delete(n.relays, h)
		n.mu.Unlock()
		return r.stop()
	}
	if d <= 0 {
		out, err := runIP("netns", "exec", h.Name, "tc", "qdisc", "del", "dev", hostIf, "root")
		if err != nil && !strings.Contains(out, "No such file") && !strings.Contains(out, "Cannot delete qdisc with handle of zero") {
			return fmt.Errorf("netns: delay %s: %w", h.Name, err)
		}
		return nil
	}
	usec := fmt.Sprintf("%dus", d.Microseconds())
	out, err := runIP("netns", "exec", h.Name, "tc", "qdisc", "replace", "dev", hostIf, "root", "netem", "delay", usec)
	if err == nil {
		return nil
	}
	if !strings.Contains(out, "qdisc kind is unknown") && !strings.Contains(out, "executable file not found") &&
		!strings.Contains(out, "No such file or directory") {
		return fmt.Errorf("netns: delay %s: %w", h.Name, err)
	}
	r, err = startRelay(n, h, d)
	if err != nil {
		return fmt.Errorf("netns: delay %s (no netem, relay fallback): %w", h.Name, err)
	}
	n.mu.Lock()
	n.relays[h] = r
	n.mu.Unlock()
	return nil
}

// relay copies Ethernet frames between a host's veth (taken off the bridge) and a
// second veth pair whose far end is a bridge port, delaying frames from the host.
type relay struct {
	n     *Net
	h     *Host
	delay atomic.Int64 // time.Duration added to frames sent by the host

	near, far string // near: relay end of the extra pair; far: its bridge port
	hostFd    int    // packet socket on h.veth
	nearFd    int    // packet socket on near

	quit     chan struct{}
	wg       sync.WaitGroup
	stopOnce sync.Once
	stopErr  error
}

type frame struct {
	due  time.Time
	data []byte
}

func startRelay(n *Net, h *Host, d time.Duration) (*relay, error) {
	idx := strings.TrimPrefix(h.veth, n.tag+"v")
	r := &relay{n: n, h: h, near: n.tag + "d" + idx, far: n.tag + "e" + idx, hostFd: -1, nearFd: -1, quit: make(chan struct{})}
	r.delay.Store(int64(d))
	steps := [][]string{
		{"link", "add", r.near, "type", "veth", "peer", "name", r.far},
		{"link", "set", r.far, "master", n.bridge, "up"},
		{"link", "set", r.near, "up"},
		{"link", "set", h.veth, "nomaster"},
	}
	for _, s := range steps {
		if _, err := runIP(s...); err != nil {
			r.undo()
			return nil, err
		}
	}
	// Frames larger than the MTU (GSO) cannot be sent through a packet socket, so
	// every sender on the bridge is told to segment in software. Connections opened
	// before the relay may keep sending large frames, which the relay drops.
	for _, o := range n.Hosts {
		_, _ = runIP("-n", o.Name, "link", "set", hostIf, "gso_max_segs", "1")
	}
	_, _ = runIP("link", "set", n.bridge, "gso_max_segs", "1")
	var err error
	if r.hostFd, err = packetSocket(h.veth); err == nil {
		r.nearFd, err = packetSocket(r.near)
	}
	if err != nil {
		r.undo()
		return nil, err
	}
	frames := make(chan frame, 4096)
	r.wg.Add(3)
	go r.read(r.hostFd, func(b []byte) {
		f := frame{due: time.Now().Add(time.Duration(r.delay.Load())), data: b}
		select {
		case frames <- f:
		default: // queue full: drop, as a full qdisc would
		}
	})
	go r.read(r.nearFd, func(b []byte) { _, _ = unix.Write(r.hostFd, b) })
	go func() {
		defer r.wg.Done()
		for {
			select {
			case <-r.quit:
				return
			case f := <-frames:
				if w := time.Until(f.due); w > 0 {
					t := time.NewTimer(w)
					select {
					case <-r.quit:
						t.Stop()
						return
					case <-t.C:
					}
				}
				_, _ = unix.Write(r.nearFd, f.data)
			}
		}
	}()
	return r, nil
}

// read receives frames on fd until quit, passing each (a fresh slice) to emit.
func (r *relay) read(fd int, emit func([]byte)) {
	defer r.wg.Done()
	buf := make([]byte, 1<<16)
	for {
		select {
		case <-r.quit:
			return
		default:
		}
		nr, from, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue // receive timeout: check quit
			}
			return
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		b := append([]byte(nil), buf[:nr]...)
		fixChecksum(b)
		emit(b)
	}
}

// stop ends the relay goroutines, deletes the extra veth pair and puts the host's
// veth back on the bridge. It is idempotent.
func (r *relay) stop() error {
	r.stopOnce.Do(func() {
		close(r.quit)
		r.wg.Wait()
		r.stopErr = r.undo()
	})
	return r.stopErr
}

func (r *relay) undo() error {
	var errs []error
	for _, fd := range []int{r.hostFd, r.nearFd} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	r.hostFd, r.nearFd = -1, -1
	if linkExists(r.near) {
		if _, err := runIP("link", "del", r.near); err != nil {
			errs = append(errs, err)
		}
	}
	if linkExists(r.h.veth) {
		if _, err := runIP("link", "set", r.h.veth, "master", r.n.bridge); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// packetSocket opens an AF_PACKET socket bound to ifname that sees every frame
// (promiscuous), ignores frames it sends, and times out receives every 100ms.
func packetSocket(ifname string) (int, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return -1, err
	}
	proto := htons(unix.ETH_P_ALL)
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(proto))
	if err != nil {
		return -1, fmt.Errorf("packet socket: %w", err)
	}
	fail := func(what string, err error) (int, error) {
		unix.Close(fd)
		return -1, fmt.Errorf("packet socket on %s: %s: %w", ifname, what, err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index}); err != nil {
		return fail("bind", err)
	}
	mreq := unix.PacketMreq{Ifindex: int32(ifi.Index), Type: unix.PACKET_MR_PROMISC}
	if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
		return fail("promiscuous", err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
	tv := unix.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fail("receive timeout", err)
	}
	return fd, nil
}

func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}

// fixChecksum fills in the TCP or UDP checksum of an IPv4 frame. Frames taken from
// a veth by a packet socket may carry only the pseudo-header sum (checksum offload),
// which the receiver would reject once the frame is re-sent as raw bytes.
func fixChecksum(b []byte) {
	const eth = 14
	if len(b) < eth+20 || binary.BigEndian.Uint16(b[12:14]) != 0x0800 || b[eth]>>4 != 4 {
		return
	}
	ihl := int(b[eth]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[eth+2 : eth+4]))
	if ihl < 20 || total < ihl || eth+total > len(b) {
		return
	}
	if binary.BigEndian.Uint16(b[eth+6:eth+8])&0x3fff != 0 { // a fragment
		return
	}
	ip := b[eth : eth+total]
	l4 := ip[ihl:]
	var off int
	switch ip[9] {
	case 6: // TCP
		off = 16
	case 17: // UDP
		off = 6
	default:
		return
	}
	if len(l4) < off+2 {
		return
	}
	l4[off], l4[off+1] = 0, 0
	var sum uint32
	add := func(p []byte) {
		for len(p) >= 2 {
			sum += uint32(binary.BigEndian.Uint16(p))
			p = p[2:]
		}
		if len(p) == 1 {
			sum += uint32(p[0]) << 8
		}
	}
	add(ip[12:20]) // source and destination addresses
	sum += uint32(ip[9]) + uint32(len(l4))
	add(l4)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	c := ^uint16(sum)
	if c == 0 && ip[9] == 17 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(l4[off:], c)
}
