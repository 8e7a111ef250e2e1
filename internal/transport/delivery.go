package transport

import (
	"bytes"
	"context"
	"sync"

	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/shm"
)

// Delivery is one frame received by a Server. Frame holds the decoded
// fields; for an inline frame Frame.Payload is a slice the delivery owns,
// for a shm frame the payload is the mapped segment (see Payload).
type Delivery struct {
	// Frame is the decoded frame. For a shm frame Frame.Payload is nil and
	// Frame.Ref, Frame.Size name the segment.
	Frame frame.Frame

	seg   *shm.Segment // the mapped segment of a shm frame; nil otherwise
	acked func(bool)   // set by OnAcked

	// pmu guards pooled: the copy of a pooled shm payload (a buffer of
	// recvBufs), until Release gives it back or Detach hands it over.
	pmu    sync.Mutex
	pooled *[]byte
}

// OnAcked sets fn to be called once the Server has written the ack of this
// frame, when the handler accepted it (CodeOK): inTime reports whether the
// ack reached the sender in time, so that the frame may run. Call it from
// HandleFrame, before returning CodeOK; the last call wins, and it is not
// called for any other code.
//
// For a frame with AcceptBy (see frame.Frame), inTime is what the sender
// will conclude: on a unix socket it is true exactly when the ack was
// written without error, and the sender, which gives up on a frame only
// after shutting down its side of the connection and reading every ack
// already written (Client.Send), then saw it; so, for every frame,
// (inTime) == (the sender's Send returned this ack). On TCP, RDMA and
// relayed connections it is true when the ack was written before AcceptBy,
// and the sender waits ClockSkew past AcceptBy for it: agreement there
// assumes clocks within ClockSkew and acks that travel in less. For a
// frame without AcceptBy, inTime is always true (the sender does not give
// up in a way the receiver must honour).
//
// When AcceptBy has passed by the time HandleFrame returns CodeOK with a
// hook set, the Server answers CodeLate instead and calls fn(false).
//
// A handler that returns CodeOK for a frame with AcceptBy must not start
// its work before fn(true), and must not do it at all after fn(false):
// the sender saw a refusal (CodeLate) or no ack, and may send the frame
// elsewhere. Either way the handler owns d and releases it. fn runs
// on the goroutine that wrote the ack, while it holds its connection's
// in-flight slot: it must return quickly (start the work elsewhere).
func (d *Delivery) OnAcked(fn func(inTime bool)) {
	d.acked = fn
}

// Payload returns the frame's payload: the inline bytes, the mapped shm
// segment (read-only: never write to it), or the copy of a pooled shm
// segment (valid until Release, like a segment). The bytes of a segment are valid
// until Release; inline bytes stay valid for as long as they are referenced.
// A blob frame has no payload here (Frame.Ref names the blob).
func (d *Delivery) Payload() []byte {
	if d.seg != nil {
		return d.seg.Bytes()
	}
	if d.Frame.PayloadKind == frame.PayloadShmPooled {
		d.pmu.Lock()
		defer d.pmu.Unlock()
		if d.pooled == nil {
			return nil
		}
		return *d.pooled
	}
	return d.Frame.Payload
}

// Release unmaps the delivery's shm segment, if any; after it Payload of a
// shm frame returns nil. It is idempotent and safe to call from any
// goroutine.
func (d *Delivery) Release() {
	if d.seg != nil {
		_ = d.seg.Close()
	}
	d.pmu.Lock()
	b := d.pooled
	d.pooled = nil
	d.pmu.Unlock()
	if b != nil {
		putRecvBuf(b)
	}
}

// Detach returns the payload as bytes the caller owns for good, and
// releases the delivery: inline bytes as they are, a shm segment copied
// out (its mapping is then gone). For handlers that keep a payload past
// the delivery, such as the results a run collects.
func (d *Delivery) Detach() []byte {
	if d.Frame.PayloadKind == frame.PayloadShmPooled {
		d.pmu.Lock()
		defer d.pmu.Unlock()
		if d.pooled == nil {
			return nil
		}
		b := *d.pooled
		d.pooled = nil // the caller's now: not given back
		return b
	}
	if d.seg == nil {
		return d.Frame.Payload
	}
	b := bytes.Clone(d.seg.Bytes())
	d.Release()
	return b
}

// Handler handles one frame received by a Server and returns the ack code
// and reason to send back.
//
// With CodeOK or CodeDuplicate the handler owns d and must call d.Release
// when done with the payload (it may hand d to another goroutine); with any
// other code the server releases d after HandleFrame returns, and the
// handler must not keep d or its payload.
//
// HandleFrame may be called concurrently, also for frames of one
// connection, and must return quickly (accept or refuse), doing the work
// elsewhere: while it runs its connection's slot is taken (see
// Server.MaxInFlight). ctx ends when the connection closes or the server
// stops.
//
// The Server calls it only for frames whose tag verified with the key of
// their namespace (unless Server.Unverified), and never for a frame whose
// AcceptBy had passed when it arrived (the server refuses those with
// CodeLate). A handler that accepts a frame with AcceptBy must start it
// only once the OnAcked hook it set says inTime (see Delivery.OnAcked).
type Handler interface {
	HandleFrame(ctx context.Context, d *Delivery) (frame.Code, string)
}

// HandlerFunc adapts a function to a Handler.
type HandlerFunc func(ctx context.Context, d *Delivery) (frame.Code, string)

// HandleFrame calls h(ctx, d).
func (h HandlerFunc) HandleFrame(ctx context.Context, d *Delivery) (frame.Code, string) {
	return h(ctx, d)
}

var _ Handler = HandlerFunc(nil)
