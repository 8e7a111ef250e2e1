package frame_test

import (
	"bytes"
	"fmt"

	"github.com/wsk-route/wsk-route/internal/frame"
)

func Example() {
	key := []byte("the guest namespace's frame key")
	out := frame.Frame{
		Kind: frame.KindStep, RunID: "run-1", Workflow: "/guest/wf", SpecVersion: 3,
		Step: "resize", Namespace: "guest", ReplyTo: "unix:/run/wskr/entry.sock",
		Payload: []byte(`{"w":640}`),
	}
	out.Size = uint64(len(out.Payload))
	out.Sign(key)
	out.Seq = 1 // the transport numbers frames after signing

	var conn bytes.Buffer // stands in for a net.Conn
	hdr, err := frame.AppendHeader(nil, &out)
	if err != nil {
		panic(err)
	}
	conn.Write(hdr) // a transport writes net.Buffers{hdr, out.Payload}
	conn.Write(out.Payload)

	var in frame.Frame
	if err := frame.NewReader(&conn, 0).Next(&in); err != nil {
		panic(err)
	}
	ack := frame.AckFor(&in, frame.CodeOK, "")
	fmt.Println(in.Kind, in.Step, string(in.Payload), in.Verify(key))
	fmt.Println(ack.Kind, ack.Seq, ack.Code)
	// Output:
	// step resize {"w":640} true
	// ack 1 ok
}
