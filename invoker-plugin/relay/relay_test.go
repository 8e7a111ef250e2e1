package relay_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/internal/transport"
	"github.com/wsk-route/wsk-route/invoker-plugin/relay"
)

// dir is a fixed directory: local instances and remote ones.
type dir struct {
	local, remote map[string]routetable.Instance
}

func (d dir) Lookup(id string) (routetable.Instance, bool, bool) {
	if in, ok := d.local[id]; ok {
		return in, true, true
	}
	in, ok := d.remote[id]
	return in, false, ok
}

// sender records where frames go and answers with code, or err.
type sender struct {
	code     frame.Code
	err      error
	endpoint string
	key      []byte
	payload  string
}

func (s *sender) Send(_ context.Context, endpoint string, f *frame.Frame, key []byte) (frame.Frame, error) {
	s.endpoint, s.key, s.payload = endpoint, key, string(f.Payload)
	if s.err != nil {
		return frame.Frame{}, s.err
	}
	return frame.AckFor(f, s.code, "from receiver"), nil
}

func TestHandleFrame(t *testing.T) {
	d := dir{
		local: map[string]routetable.Instance{
			"h1/a": {ID: "h1/a", Namespace: "ns1", Unix: "unix:/run/wsk-route/a.sock"},
		},
		remote: map[string]routetable.Instance{
			"h2/b": {ID: "h2/b", Namespace: "ns1", Unix: "unix:/run/wsk-route/b.sock", Relay: "tcp:10.0.0.2:7070"},
			"h3/c": {ID: "h3/c", Namespace: "ns1", TCP: "tcp:10.0.0.3:9000"},
			"h4/d": {ID: "h4/d", Namespace: "ns1"},
		},
	}
	unreachable := fmt.Errorf("dial: %w", transport.ErrUnreachable)
	tests := []struct {
		name         string
		target, ns   string
		kind         frame.PayloadKind
		forward      bool
		code         frame.Code // the receiver's answer
		err          error      // the send's error
		wantCode     frame.Code
		wantEndpoint string
		wantResult   relay.Result
	}{
		{name: "local", target: "h1/a", ns: "ns1", forward: true, wantCode: frame.CodeOK, wantEndpoint: "unix:/run/wsk-route/a.sock", wantResult: relay.ResultOK},
		{name: "local without forward", target: "h1/a", ns: "ns1", wantCode: frame.CodeOK, wantEndpoint: "unix:/run/wsk-route/a.sock", wantResult: relay.ResultOK},
		{name: "remote via its agent", target: "h2/b", ns: "ns1", forward: true, wantCode: frame.CodeOK, wantEndpoint: "tcp:10.0.0.2:7070", wantResult: relay.ResultOK},
		{name: "remote via its tcp", target: "h3/c", ns: "ns1", forward: true, wantCode: frame.CodeOK, wantEndpoint: "tcp:10.0.0.3:9000", wantResult: relay.ResultOK},
		{name: "remote without forward", target: "h2/b", ns: "ns1", wantCode: frame.CodeUnknownStep, wantResult: relay.ResultUnknown},
		{name: "remote without address", target: "h4/d", ns: "ns1", forward: true, wantCode: frame.CodeUnavailable, wantResult: relay.ResultRefused},
		{name: "unknown", target: "h9/z", ns: "ns1", forward: true, wantCode: frame.CodeUnknownStep, wantResult: relay.ResultUnknown},
		{name: "wrong namespace", target: "h1/a", ns: "ns2", forward: true, wantCode: frame.CodeWrongNamespace, wantResult: relay.ResultRefused},
		{name: "shm payload", target: "h1/a", ns: "ns1", kind: frame.PayloadShm, forward: true, wantCode: frame.CodeMalformed, wantResult: relay.ResultRefused},
		{name: "receiver busy", target: "h1/a", ns: "ns1", code: frame.CodeBusy, wantCode: frame.CodeBusy, wantEndpoint: "unix:/run/wsk-route/a.sock", wantResult: relay.ResultRefused},
		{name: "receiver duplicate", target: "h1/a", ns: "ns1", code: frame.CodeDuplicate, wantCode: frame.CodeDuplicate, wantEndpoint: "unix:/run/wsk-route/a.sock", wantResult: relay.ResultOK},
		{name: "unreachable", target: "h2/b", ns: "ns1", forward: true, err: unreachable, wantCode: frame.CodeUnavailable, wantEndpoint: "tcp:10.0.0.2:7070", wantResult: relay.ResultFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &sender{code: tt.code, err: tt.err}
			var got relay.Result
			r := &relay.Relay{Directory: d, Sender: s, Forward: tt.forward, Observe: func(res relay.Result, _ int) { got = res }}
			dl := &transport.Delivery{Frame: frame.Frame{Kind: frame.KindStep, Target: tt.target, Namespace: tt.ns, PayloadKind: tt.kind, Payload: []byte("hi")}}
			if tt.kind != frame.PayloadInline {
				dl.Frame.Payload, dl.Frame.Ref = nil, "x"
			}
			code, reason := r.HandleFrame(context.Background(), dl)
			if code != tt.wantCode {
				t.Errorf("code %v (%q), want %v", code, reason, tt.wantCode)
			}
			if s.endpoint != tt.wantEndpoint {
				t.Errorf("sent to %q, want %q", s.endpoint, tt.wantEndpoint)
			}
			if s.endpoint != "" && (s.key != nil || s.payload != "hi") {
				t.Errorf("sent key %v payload %q, want nil key (never re-sign) and payload %q", s.key, s.payload, "hi")
			}
			if got != tt.wantResult {
				t.Errorf("observed %q, want %q", got, tt.wantResult)
			}
		})
	}
}
