package relay

import (
	"context"
	"time"

	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/internal/transport"
)

// Directory finds the instance a frame is for.
type Directory interface {
	// Lookup returns the instance with id; local reports that it was
	// registered through this agent; ok is false for an unknown id.
	Lookup(id string) (inst routetable.Instance, local, ok bool)
}

// Sender sends a frame to an endpoint and returns the receiver's ack;
// *transport.Client implements it.
type Sender interface {
	Send(ctx context.Context, endpoint string, f *frame.Frame, key []byte) (frame.Frame, error)
}

var _ Sender = (*transport.Client)(nil)

// Result names how the relay handled a frame, for Observe.
type Result string

// Results passed to Observe.
const (
	ResultOK      Result = "ok"      // the receiver acknowledged CodeOK or CodeDuplicate
	ResultRefused Result = "refused" // the receiver or the relay refused the frame
	ResultUnknown Result = "unknown" // no instance with the frame's target
	ResultFailed  Result = "failed"  // the send failed (unreachable, timeout)
)

// Relay is a transport.Handler that forwards frames to their targets. Its
// fields must not change once it serves.
type Relay struct {
	// Directory finds targets. Required.
	Directory Directory
	// Sender forwards frames. Required.
	Sender Sender
	// Forward allows sending to instances of other hosts through their
	// agents; false delivers to local instances only.
	Forward bool
	// Observe, if set, is called once per frame with how it was handled
	// and its inline payload size.
	Observe func(r Result, bytes int)
}

var _ transport.Handler = (*Relay)(nil)

// HandleFrame implements transport.Handler: it forwards d's frame and
// returns the receiver's ack code and reason.
func (r *Relay) HandleFrame(ctx context.Context, d *transport.Delivery) (frame.Code, string) {
	defer d.Release()
	code, reason, res := r.forward(ctx, d)
	if r.Observe != nil {
		r.Observe(res, len(d.Frame.Payload))
	}
	return code, reason
}

func (r *Relay) forward(ctx context.Context, d *transport.Delivery) (frame.Code, string, Result) {
	f := d.Frame // a copy: the transport owns d.Frame
	if f.PayloadKind != frame.PayloadInline {
		return frame.CodeMalformed, "relay: only inline payloads are relayed, got " + f.PayloadKind.String(), ResultRefused
	}
	inst, local, ok := r.Directory.Lookup(f.Target)
	if !ok {
		return frame.CodeUnknownStep, "relay: no instance " + f.Target, ResultUnknown
	}
	if f.Namespace != inst.Namespace {
		return frame.CodeWrongNamespace, "relay: instance " + f.Target + " is not in namespace " + f.Namespace, ResultRefused
	}
	var endpoint string
	switch {
	case local:
		endpoint = inst.Unix
	case !r.Forward:
		return frame.CodeUnknownStep, "relay: no local instance " + f.Target, ResultUnknown
	case inst.Relay != "":
		endpoint = inst.Relay
	case inst.TCP != "":
		endpoint = inst.TCP
	default:
		return frame.CodeUnavailable, "relay: instance " + f.Target + " has no relay or tcp address", ResultRefused
	}
	if f.Deadline > 0 { // no use waiting for the receiver past the run's deadline
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, time.Unix(0, f.Deadline))
		defer cancel()
	}
	ack, err := r.Sender.Send(ctx, endpoint, &f, nil)
	if err != nil {
		// Unreachable or timed out: the sender tries its next candidate.
		return frame.CodeUnavailable, "relay: " + err.Error(), ResultFailed
	}
	switch ack.Code {
	case frame.CodeOK, frame.CodeDuplicate:
		return ack.Code, ack.Reason, ResultOK
	default:
		return ack.Code, ack.Reason, ResultRefused
	}
}
