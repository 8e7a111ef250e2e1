package agent_test

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox/registry"
	"github.com/wsk-route/wsk-route/internal/frame"
)

// The agent's relay port and frame socket check a frame's tag with the key
// of its namespace before reading its payload: a frame announcing a 1 GiB
// payload with a forged tag, or naming a namespace with no instance here,
// is refused from its header and its connection closed.
func TestRelayRefusesForgedFramesFromTheirHeader(t *testing.T) {
	h := startBlobHost(t, registry.New(registry.Options{}), "hostA", "127.0.0.1")
	for _, ep := range []struct{ network, addr string }{
		{"tcp", h.relayAddr(t)},
		{"unix", h.FrameEndpoint()[len("unix:"):]},
	} {
		for _, tt := range []struct {
			name, ns string
			key      []byte
			want     frame.Code
		}{
			{"forged tag", "ns1", nil, frame.CodeBadTag},
			{"another namespace's key", "ns1", h.ns2.key, frame.CodeBadTag},
			{"namespace not served here", "ns9", nil, frame.CodeWrongNamespace},
		} {
			t.Run(ep.network+"/"+tt.name, func(t *testing.T) {
				f := &frame.Frame{Kind: frame.KindStep, RunID: "r", Step: "s", Namespace: tt.ns, Target: "hostA/p1"}
				if tt.key != nil {
					f.Sign(tt.key)
				} else {
					f.Tag[0] = 1
				}
				f.Seq = 3
				hdr, err := frame.AppendHeader(nil, f)
				if err != nil {
					t.Fatal(err)
				}
				binary.BigEndian.PutUint64(hdr[50:], frame.DefaultMaxPayload) // Size: 1 GiB announced
				c, err := net.Dial(ep.network, ep.addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := c.Write(append(hdr, make([]byte, 64<<10)...)); err != nil {
					t.Fatal(err)
				}
				r := frame.NewReader(c, 0)
				var ack frame.Frame
				if err := r.Next(&ack); err != nil {
					t.Fatalf("no answer: %v", err)
				}
				if ack.Kind != frame.KindAck || ack.Seq != 3 || ack.Code != tt.want {
					t.Errorf("answer %v seq %d %v %q, want an ack seq 3 %v", ack.Kind, ack.Seq, ack.Code, ack.Reason, tt.want)
				}
				if err := r.Next(&ack); !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
					var ne net.Error
					if !errors.As(err, &ne) || ne.Timeout() {
						t.Errorf("after the refusal: %v, want the connection closed", err)
					}
				}
			})
		}
	}
}

// A frame signed with its namespace's key passes the relay's check and is
// forwarded: here to a proxy that serves no frames, so the relay answers
// that it could not deliver it (not that the frame was bad).
func TestRelayForwardsVerifiedFrames(t *testing.T) {
	h := startBlobHost(t, registry.New(registry.Options{}), "hostA", "127.0.0.1")
	for _, ep := range []struct{ network, addr string }{
		{"tcp", h.relayAddr(t)},
		{"unix", h.FrameEndpoint()[len("unix:"):]},
	} {
		f := &frame.Frame{Kind: frame.KindStep, RunID: "r", Step: "s", Namespace: "ns1", Target: "hostA/nobody", Payload: []byte(`{"x":1}`)}
		f.Size = uint64(len(f.Payload))
		f.Sign(h.ns1.key)
		f.Seq = 4
		b, err := frame.Encode(nil, f)
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.Dial(ep.network, ep.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
		var ack frame.Frame
		if err := frame.NewReader(c, 0).Next(&ack); err != nil {
			t.Fatalf("%s: no answer: %v", ep.network, err)
		}
		if ack.Seq != 4 || ack.Code != frame.CodeUnknownStep {
			t.Errorf("%s: ack seq %d %v %q, want seq 4 %v (verified, then no such instance)", ep.network, ack.Seq, ack.Code, ack.Reason, frame.CodeUnknownStep)
		}
	}
}
