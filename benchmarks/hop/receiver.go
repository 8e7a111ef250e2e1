package hop

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"sync/atomic"

	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/transport"
)

// The receiving ends of every path, shared by the in-process benchmarks and
// the receiver process (./peer), so that both run the same code.

// Names the benchmark frames carry; the relays route on TargetID.
const (
	Namespace = "guest"
	TargetID  = "host-2/c1"
)

// Key is the namespace key benchmark frames are signed and verified with.
// It is a fixed test key, not a secret.
var Key = []byte("0123456789abcdef0123456789abcdef")

// Keys is the receivers' and relays' transport.Server.Keys: Namespace's key
// is Key, and no other namespace is served.
func Keys(ns string) ([]byte, bool) { return Key, ns == Namespace }

// touchSink keeps the handler's reads from being optimised away.
var touchSink atomic.Uint64

// Touch reads the last byte and one byte per 4 KiB page of p, as a receiver
// that looks at its payload does.
func Touch(p []byte) uint64 {
	var s uint64
	for i := 0; i < len(p); i += 4096 {
		s += uint64(p[i])
	}
	if len(p) > 0 {
		s += uint64(p[len(p)-1])
	}
	return s
}

// Receiver is the handler at the end of every hop path: it checks the tag
// as the proxy does (the Server has checked it already with Keys; the proxy
// checks again), touches one byte per page of the payload and releases it.
var Receiver transport.Handler = transport.HandlerFunc(func(ctx context.Context, d *transport.Delivery) (frame.Code, string) {
	defer d.Release()
	if !d.Frame.Verify(Key) {
		return frame.CodeBadTag, "hop: bad tag"
	}
	touchSink.Store(Touch(d.Payload()))
	return frame.CodeOK, ""
})

// MaxRawPayload bounds the payload RawEcho reads.
const MaxRawPayload = 1 << 30

// RawEcho serves one raw baseline connection until it fails: it reads an
// 8-byte little-endian length and that many payload bytes into one reused
// buffer, and answers each payload with one byte. It is the floor of a hop
// on the same kind of socket: no framing, no tag, no goroutine hand-off.
func RawEcho(c net.Conn) {
	var hdr [8]byte
	var buf []byte
	ack := []byte{1}
	for {
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return
		}
		n := binary.LittleEndian.Uint64(hdr[:])
		if n > MaxRawPayload {
			return
		}
		if uint64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		if _, err := io.ReadFull(c, buf[:n]); err != nil {
			return
		}
		if _, err := c.Write(ack); err != nil {
			return
		}
	}
}

// MaxFramePayload bounds the inline payload SyncFrames reads.
const MaxFramePayload = 1 << 30

// SyncFrames serves one connection of transport frames until it fails,
// with no goroutine but the caller's: it reads each frame, checks its tag
// with Keys, reads its inline payload, verifies and touches it as Receiver
// does, and writes its ack, all on one goroutine; a shm frame is refused.
// It is not the transport (no concurrent frames, no shm, no accept
// windows): it is a what-if that shows what the goroutine hand-offs of
// transport.Server and transport.Client cost a hop between processes.
func SyncFrames(c net.Conn) {
	r := frame.NewReader(c, MaxFramePayload)
	var buf []byte
	for {
		var f frame.Frame
		if err := r.NextHeader(&f); err != nil {
			return
		}
		code, reason := frame.CodeOK, ""
		key, ok := Keys(f.Namespace)
		switch {
		case f.Kind == frame.KindAck:
			if f.Size != 0 {
				return
			}
			continue
		case !ok:
			code, reason = frame.CodeWrongNamespace, "hop: namespace not served"
		case !f.Verify(key):
			code, reason = frame.CodeBadTag, "hop: bad tag"
		case f.PayloadKind != frame.PayloadInline:
			code, reason = frame.CodeMalformed, "hop: SyncFrames takes inline payloads only"
		}
		if code != frame.CodeOK {
			ack := frame.AckFor(&f, code, reason)
			if b, err := frame.Encode(buf[:0], &ack); err == nil {
				c.Write(b)
			}
			return
		}
		if err := r.ReadPayload(&f); err != nil {
			return
		}
		if !f.Verify(Key) {
			code, reason = frame.CodeBadTag, "hop: bad tag"
		} else {
			touchSink.Store(Touch(f.Payload))
		}
		ack := frame.AckFor(&f, code, reason)
		b, err := frame.Encode(buf[:0], &ack)
		if err != nil {
			return
		}
		buf = b
		if _, err := c.Write(b); err != nil {
			return
		}
	}
}
