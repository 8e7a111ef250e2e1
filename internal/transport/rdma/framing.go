package rdma

import (
	"encoding/binary"
	"fmt"
)

// This file holds everything about the connection that needs no device: the message
// header, the connect-time hello, credit accounting, reassembly, and the stream state
// machine that ties them together. It does no I/O; the cgo conn drives it.

const (
	// bufSize is the size of each pre-registered send and receive buffer.
	bufSize = 64 << 10
	// bufCount is how many send and how many receive buffers each side registers.
	bufCount = 16
	// minBufCount and maxBufCount bound the window a hello may announce.
	minBufCount = 4
	maxBufCount = 1024
	// headerLen is the size of the header at the start of every message.
	headerLen = 8
	// helloLen is the size of the hello carried as connect/accept private data.
	helloLen = 12
	// helloMagic is "WSKR".
	helloMagic = 0x57534b52
	// protoVersion is the wire protocol version in the hello.
	protoVersion = 1
	// creditMin is the smallest grant a credit-only message carries. It is 2 so that
	// the one receive a credit-only message uses up at the peer never, by itself,
	// makes the peer answer with another: no credit ping-pong.
	creditMin = 2
)

// msgKind is the first byte of a message.
type msgKind uint8

const (
	kindData   msgKind = 1 // payload bytes of the stream
	kindCredit msgKind = 2 // no payload, only a grant
	kindFin    msgKind = 3 // the sender closed the connection
)

// header is the 8-byte message header: kind, a reserved zero byte, the number of
// receive buffers the sender re-posted since its last grant (big-endian uint16), and
// the payload length (big-endian uint32).
type header struct {
	kind   msgKind
	grant  uint16
	length uint32
}

// encodeMessage writes a message of kind with grant and payload into dst (a send
// buffer) and returns its length. dst must hold headerLen+len(payload) bytes.
func encodeMessage(dst []byte, kind msgKind, grant uint16, payload []byte) int {
	dst[0] = byte(kind)
	dst[1] = 0
	binary.BigEndian.PutUint16(dst[2:4], grant)
	binary.BigEndian.PutUint32(dst[4:8], uint32(len(payload)))
	return headerLen + copy(dst[headerLen:], payload)
}

// parseMessage decodes a received message (b is the receive buffer cut to the
// completion's byte_len). The payload is a subslice of b, valid until the buffer is
// re-posted. maxPayload bounds the payload length.
func parseMessage(b []byte, maxPayload int) (header, []byte, error) {
	if len(b) < headerLen {
		return header{}, nil, fmt.Errorf("%w: message of %d bytes, shorter than its header", errProtocol, len(b))
	}
	h := header{kind: msgKind(b[0]), grant: binary.BigEndian.Uint16(b[2:4]), length: binary.BigEndian.Uint32(b[4:8])}
	if b[1] != 0 {
		return header{}, nil, fmt.Errorf("%w: reserved header byte is %d", errProtocol, b[1])
	}
	if uint64(h.length) != uint64(len(b)-headerLen) {
		return header{}, nil, fmt.Errorf("%w: header says %d payload bytes, message has %d", errProtocol, h.length, len(b)-headerLen)
	}
	if int64(h.length) > int64(maxPayload) {
		return header{}, nil, fmt.Errorf("%w: payload of %d bytes, limit %d", errProtocol, h.length, maxPayload)
	}
	switch h.kind {
	case kindData:
		if h.length == 0 {
			return header{}, nil, fmt.Errorf("%w: empty data message", errProtocol)
		}
	case kindCredit, kindFin:
		if h.length != 0 {
			return header{}, nil, fmt.Errorf("%w: kind %d message with %d payload bytes", errProtocol, h.kind, h.length)
		}
	default:
		return header{}, nil, fmt.Errorf("%w: unknown message kind %d", errProtocol, h.kind)
	}
	return h, b[headerLen:], nil
}

// hello is what each side announces in the rdma_connect/rdma_accept private data:
// how many receive buffers it posted and how big they are.
type hello struct {
	count int
	size  int
}

// encodeHello returns the 12-byte hello: magic, version, a zero byte, count (uint16),
// size (uint32), big-endian.
func encodeHello(h hello) []byte {
	b := make([]byte, helloLen)
	binary.BigEndian.PutUint32(b[0:4], helloMagic)
	b[4] = protoVersion
	binary.BigEndian.PutUint16(b[6:8], uint16(h.count))
	binary.BigEndian.PutUint32(b[8:12], uint32(h.size))
	return b
}

// parseHello decodes a hello from private data (which may be padded by the fabric).
func parseHello(b []byte) (hello, error) {
	if len(b) < helloLen {
		return hello{}, fmt.Errorf("%w: hello of %d bytes, want %d", errProtocol, len(b), helloLen)
	}
	if m := binary.BigEndian.Uint32(b[0:4]); m != helloMagic {
		return hello{}, fmt.Errorf("%w: hello magic %#x, want %#x", errProtocol, m, helloMagic)
	}
	if b[4] != protoVersion || b[5] != 0 {
		return hello{}, fmt.Errorf("%w: hello version %d.%d, want %d.0", errProtocol, b[4], b[5], protoVersion)
	}
	h := hello{count: int(binary.BigEndian.Uint16(b[6:8])), size: int(binary.BigEndian.Uint32(b[8:12]))}
	if h.count < minBufCount || h.count > maxBufCount {
		return hello{}, fmt.Errorf("%w: hello announces %d receive buffers, want %d..%d", errProtocol, h.count, minBufCount, maxBufCount)
	}
	if h.size <= headerLen || h.size > 16<<20 {
		return hello{}, fmt.Errorf("%w: hello announces %d-byte buffers, want %d..%d", errProtocol, h.size, headerLen+1, 16<<20)
	}
	return h, nil
}

// credits is the send-credit accounting of one side. A credit is one receive buffer
// the peer has posted and not yet been sent into, so a sender that spends only
// credits never overruns the peer's posted receives (no RNR). Rules:
//   - every message spends one credit;
//   - the last credit may only be spent by a message that grants at least one credit
//     back (so two sides can never both sit at zero credits);
//   - a credit-only message grants at least creditMin and is sent only when the peer
//     is running low or a half window is owed.
type credits struct {
	avail     int // credits we may spend now
	owed      int // receives we re-posted and not yet granted
	peerAvail int // upper bound on the peer's credits: our posted receives it may use
	peerMax   int // the peer's window (its receive buffer count)
	localMax  int // our window (our receive buffer count)
}

// newCredits starts the accounting of a side with local receive buffers posted
// whose peer posted peer.
func newCredits(local, peer int) credits {
	return credits{avail: peer, peerAvail: local, peerMax: peer, localMax: local}
}

// take spends a credit for a message of kind and returns the grant it carries.
func (c *credits) take(kind msgKind) (grant uint16, ok bool) {
	switch {
	case c.avail == 0:
		return 0, false
	case kind == kindCredit && !c.needUpdate():
		return 0, false
	case kind == kindData && c.avail == 1 && c.owed == 0:
		return 0, false // the last credit needs a grant
	}
	c.avail--
	grant = uint16(c.owed)
	c.peerAvail += c.owed
	c.owed = 0
	return grant, true
}

// needUpdate reports whether a credit-only message should be sent.
func (c *credits) needUpdate() bool {
	return c.owed >= creditMin && (c.peerAvail <= c.localMax/4 || c.owed >= c.localMax/2)
}

// received accounts for a message from the peer carrying grant.
func (c *credits) received(grant uint16) error {
	if c.peerAvail == 0 {
		return fmt.Errorf("%w: peer sent beyond its credits", errProtocol)
	}
	c.peerAvail--
	if c.avail+int(grant) > c.peerMax {
		return fmt.Errorf("%w: grant of %d would give %d credits, window is %d", errProtocol, grant, c.avail+int(grant), c.peerMax)
	}
	c.avail += int(grant)
	return nil
}

// reposted accounts for n receive buffers posted again.
func (c *credits) reposted(n int) { c.owed += n }

// segment is received payload waiting to be read: a subslice of receive buffer idx.
type segment struct {
	buf []byte
	idx int
}

// reassembler queues received payloads in arrival order and hands them out as a byte
// stream. It holds at most one segment per receive buffer.
type reassembler struct {
	ring  []segment
	head  int
	count int
	bytes int
}

func newReassembler(n int) reassembler { return reassembler{ring: make([]segment, n)} }

// push queues payload (a view of receive buffer idx, not copied).
func (r *reassembler) push(idx int, payload []byte) {
	r.ring[(r.head+r.count)%len(r.ring)] = segment{buf: payload, idx: idx}
	r.count++
	r.bytes += len(payload)
}

// buffered returns the number of bytes waiting.
func (r *reassembler) buffered() int { return r.bytes }

// read copies waiting bytes into p and appends to freed the receive buffers it
// emptied, which the caller must re-post.
func (r *reassembler) read(p []byte, freed []int) (int, []int) {
	n := 0
	for n < len(p) && r.count > 0 {
		s := &r.ring[r.head]
		k := copy(p[n:], s.buf)
		n += k
		s.buf = s.buf[k:]
		if len(s.buf) == 0 {
			freed = append(freed, s.idx)
			*s = segment{}
			r.head = (r.head + 1) % len(r.ring)
			r.count--
		}
	}
	r.bytes -= n
	return n, freed
}

// nextChunk splits the next message payload off p.
func nextChunk(p []byte, maxPayload int) (chunk, rest []byte) {
	if len(p) > maxPayload {
		return p[:maxPayload], p[maxPayload:]
	}
	return p, nil
}

// stream is the state of one connection: credits, free send buffers, received data,
// and how it ended. It makes every decision and does no I/O; it is not safe for
// concurrent use (conn guards it with its mutex). Send and receive buffers are named
// by index; recvBufs are the views parseMessage payloads point into.
type stream struct {
	cr         credits
	freeSend   []int
	rq         reassembler
	maxPayload int // largest payload we may send (the peer's buffer size minus the header)
	recvMax    int // largest payload we accept
	sendCount  int // number of send buffers

	closed   bool  // Close was called
	peerFin  bool  // the peer sent kindFin
	peerGone bool  // the peer disconnected (or the QP was flushed)
	err      error // first fatal error
}

// newStream starts a connection with local (our) and peer windows and buffer sizes.
// We have local.count send buffers and local.count receive buffers of local.size.
func newStream(local, peer hello) *stream {
	s := &stream{
		cr:         newCredits(local.count, peer.count),
		rq:         newReassembler(local.count),
		maxPayload: min(local.size, peer.size) - headerLen,
		recvMax:    local.size - headerLen,
		sendCount:  local.count,
	}
	for i := range local.count {
		s.freeSend = append(s.freeSend, i)
	}
	return s
}

// broken returns the error that stops sending, or nil.
func (s *stream) broken() error {
	switch {
	case s.err != nil:
		return s.err
	case s.peerFin || s.peerGone:
		return ErrPeerClosed
	}
	return nil
}

// beginSend picks a free send buffer and spends a credit for a message of kind. The
// caller encodes the message with grant into buffer idx and posts it, then calls
// sendDone(idx) when its completion arrives.
func (s *stream) beginSend(kind msgKind) (idx int, grant uint16, ok bool) {
	if len(s.freeSend) == 0 || s.broken() != nil {
		return 0, 0, false
	}
	if kind == kindFin {
		// Nothing follows a FIN, so it may spend the last credit without a grant.
		if s.cr.avail == 0 {
			return 0, 0, false
		}
		s.cr.avail--
		grant = uint16(s.cr.owed)
		s.cr.peerAvail += s.cr.owed
		s.cr.owed = 0
	} else if grant, ok = s.cr.take(kind); !ok {
		return 0, 0, false
	}
	return s.popSend(), grant, true
}

func (s *stream) popSend() int {
	idx := s.freeSend[len(s.freeSend)-1]
	s.freeSend = s.freeSend[:len(s.freeSend)-1]
	return idx
}

// sendDone returns send buffer idx after its completion.
func (s *stream) sendDone(idx int) { s.freeSend = append(s.freeSend, idx) }

// sendsIdle reports whether every send buffer is back (nothing is in flight).
func (s *stream) sendsIdle() bool { return len(s.freeSend) == s.sendCount }

// received handles a message that arrived in receive buffer idx (buf cut to the
// completion's length). repost means the buffer is free again at once (no payload to
// read); data messages keep it until read empties it.
func (s *stream) received(idx int, buf []byte) (repost bool, err error) {
	h, payload, err := parseMessage(buf, s.recvMax)
	if err != nil {
		return false, err
	}
	if err := s.cr.received(h.grant); err != nil {
		return false, err
	}
	switch h.kind {
	case kindData:
		s.rq.push(idx, payload)
		return false, nil
	case kindFin:
		s.peerFin = true
	}
	return true, nil
}

// fail records the first fatal error.
func (s *stream) fail(err error) {
	if s.err == nil {
		s.err = err
	}
}
