package transport

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/leakcheck"
)

// okHandler accepts every frame and counts the calls.
func okHandler(calls *atomic.Int32) Handler {
	return HandlerFunc(func(ctx context.Context, d *Delivery) (frame.Code, string) {
		calls.Add(1)
		d.Release()
		return frame.CodeOK, ""
	})
}

func TestServeNeedsKeysOrUnverified(t *testing.T) {
	ln, err := Listen("tcp:127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = (&Server{Handler: okHandler(new(atomic.Int32))}).Serve(context.Background(), ln)
	if err == nil || !strings.Contains(err.Error(), "Keys") {
		t.Fatalf("Serve without Keys = %v, want an error naming Keys", err)
	}
}

// hugeHeader returns the header of a step frame announcing an inline
// payload of size bytes, signed with key (nil: a wrong tag), in namespace ns.
func hugeHeader(t testing.TB, ns string, size uint64, key []byte) []byte {
	t.Helper()
	f := stepFrame(nil)
	f.Namespace = ns
	if key != nil {
		f.Sign(key)
	} else {
		f.Tag[0] = 1
	}
	f.Seq = 9
	hdr, err := frame.AppendHeader(nil, f)
	if err != nil {
		t.Fatal(err)
	}
	binary.BigEndian.PutUint64(hdr[50:], size) // Size (version 3 layout)
	hdr[58] = 1                                // a digest: the payload is "not empty"
	return hdr
}

// attack writes hdr then zeros until the server closes the connection; it
// returns the ack the server sent, if any, and how many payload bytes it
// managed to write.
func attack(t *testing.T, addr string, hdr []byte) (frame.Frame, int64) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(hdr); err != nil {
		t.Fatal(err)
	}
	var written atomic.Int64
	go func() {
		zeros := make([]byte, 64<<10)
		for {
			n, err := conn.Write(zeros)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := frame.NewReader(conn, 0)
	var ack frame.Frame
	if err := r.Next(&ack); err != nil {
		t.Fatalf("no ack before the connection ended: %v", err)
	}
	if err := r.Next(new(frame.Frame)); !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !isReset(err) {
		t.Fatalf("after the refusal: %v, want the connection closed", err)
	}
	return ack, written.Load()
}

// A frame announcing a 1 GiB payload from a peer that does not hold the
// namespace's key is refused from its header: the server answers and
// closes the connection without reading the payload, and never calls the
// handler.
func TestRefusedBeforePayload(t *testing.T) {
	leakcheck.Check(t)
	var calls atomic.Int32
	rs := startServer(t, &Server{Keys: testKeys, Handler: okHandler(&calls)}, testEndpoint(t, "tcp"))
	_, addr, _ := ParseEndpoint(rs.Endpoint)
	for _, tt := range []struct {
		name, ns string
		key      []byte
		want     frame.Code
	}{
		{"bad tag", "ns", nil, frame.CodeBadTag},
		{"another namespace's key", "ns", []byte("another namespace's key........."), frame.CodeBadTag},
		{"unknown namespace", "elsewhere", testKey, frame.CodeWrongNamespace},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ack, written := attack(t, addr, hugeHeader(t, tt.ns, frame.DefaultMaxPayload, tt.key))
			if ack.Kind != frame.KindAck || ack.Code != tt.want || ack.Seq != 9 {
				t.Errorf("answer %v %v %q seq %d, want ack %v seq 9", ack.Kind, ack.Code, ack.Reason, ack.Seq, tt.want)
			}
			t.Logf("%d payload bytes written before the close (socket buffers)", written)
		})
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("handler called %d times", n)
	}
}

// At most MaxConns connections are served: one more is closed at once,
// and once one goes, a new one is served.
func TestMaxConns(t *testing.T) {
	leakcheck.Check(t)
	var calls atomic.Int32
	rs := startServer(t, &Server{Keys: testKeys, Handler: okHandler(&calls), MaxConns: 2}, testEndpoint(t, "unix"))
	_, addr, _ := ParseEndpoint(rs.Endpoint)
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("unix", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	// The server counts a connection once it has accepted it: the third
	// is closed at once, which a read sees.
	waitFor(t, "the third connection to be closed", 5*time.Second, func() bool {
		c, err := net.Dial("unix", addr)
		if err != nil {
			return false
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		_, err = c.Read(make([]byte, 1))
		return errors.Is(err, io.EOF)
	})
	held[0].Close()
	c := &Client{}
	defer c.Close()
	waitFor(t, "a send once a slot is free", 5*time.Second, func() bool {
		ack, err := c.Send(context.Background(), rs.Endpoint, stepFrame([]byte("x")), testKey)
		return err == nil && ack.Code == frame.CodeOK
	})
}

// A peer that connects and sends nothing, or part of a header, or stalls
// inside a verified frame's payload, is dropped after ReadTimeout; a
// verified connection left idle is dropped after IdleTimeout, and the
// client redials.
func TestReadAndIdleTimeouts(t *testing.T) {
	leakcheck.Check(t)
	var calls atomic.Int32
	srv := &Server{Keys: testKeys, Handler: okHandler(&calls), ReadTimeout: 150 * time.Millisecond, IdleTimeout: 400 * time.Millisecond}
	rs := startServer(t, srv, testEndpoint(t, "tcp"))
	_, addr, _ := ParseEndpoint(rs.Endpoint)
	big := stepFrame(make([]byte, 1<<20))
	big.Sign(testKey)
	signedHdr, _ := frame.AppendHeader(nil, big)
	for _, tt := range []struct {
		name string
		send []byte
	}{
		{"nothing", nil},
		{"part of a header", signedHdr[:20]},
		{"a verified header, then part of its payload", append(append([]byte(nil), signedHdr...), make([]byte, 1000)...)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// The server's ReadTimeout runs from the moment it accepted,
			// which may be well before Dial returns here on a loaded
			// machine: time from before the dial.
			start := time.Now()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.Write(tt.send)
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err = io.ReadAll(conn)
			if el := time.Since(start); err != nil || el < 150*time.Millisecond || el > 3*time.Second {
				t.Errorf("connection closed after %v (%v), want after about ReadTimeout (150ms)", el, err)
			}
		})
	}

	t.Run("acks only, never a verified frame", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ack := frame.AckFor(stepFrame(nil), frame.CodeOK, "")
		b, _ := frame.Encode(nil, &ack)
		start := time.Now()
		for time.Since(start) < 2*time.Second {
			if _, err := conn.Write(b); err != nil {
				break // closed
			}
			time.Sleep(30 * time.Millisecond)
		}
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = io.ReadAll(conn)
		if el := time.Since(start); el > 1500*time.Millisecond {
			t.Errorf("a peer sending only acks was served for %v (%v), want dropped after about ReadTimeout (150ms)", el, err)
		}
	})

	c := &Client{}
	defer c.Close()
	var dials atomic.Int32
	c.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	for i := range 3 {
		if ack, err := c.Send(context.Background(), rs.Endpoint, stepFrame([]byte("x")), testKey); err != nil || ack.Code != frame.CodeOK {
			t.Fatalf("send %d: %v %v", i, ack.Code, err)
		}
		if i == 0 {
			// Within the idle timeout (but past the read timeout): kept.
			time.Sleep(250 * time.Millisecond)
		}
		if i == 1 {
			if n := dials.Load(); n != 1 {
				t.Fatalf("%d dials for two sends within the idle timeout, want 1", n)
			}
			// The server closes the idle connection. Nothing reads it on
			// the client's side until the next send, which finds it
			// closed before anything came back, and sends once more on a
			// new connection: the send succeeds.
			time.Sleep(900 * time.Millisecond)
		}
	}
	if n := dials.Load(); n != 2 {
		t.Errorf("%d dials, want 2 (one redial after the idle timeout)", n)
	}
}

// Version 2 frames are still served: verified once their payload (at most
// frame.MaxLegacyPayload) is read, and acknowledged in version 2.
func TestLegacyFramesServed(t *testing.T) {
	leakcheck.Check(t)
	var calls atomic.Int32
	rs := startServer(t, &Server{Keys: testKeys, Handler: okHandler(&calls)}, testEndpoint(t, "unix"))
	_, addr, _ := ParseEndpoint(rs.Endpoint)
	conn, err := net.Dial("unix", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := frame.NewReader(conn, 0)
	for _, tt := range []struct {
		name    string
		payload int
		key     []byte
		want    frame.Code
	}{
		{"small", 100, testKey, frame.CodeOK},
		{"at the bound", frame.MaxLegacyPayload, testKey, frame.CodeOK},
		{"wrong key", 100, []byte("k"), frame.CodeBadTag},
	} {
		f := stepFrame(pattern(tt.payload, 3))
		f.Seq = 5
		if _, err := conn.Write(legacyEncode(t, f, tt.key)); err != nil {
			t.Fatal(err)
		}
		var ack frame.Frame
		if err := r.Next(&ack); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if ack.Code != tt.want || ack.Seq != 5 || ack.WireVersion() != frame.LegacyVersion {
			t.Errorf("%s: ack %v %q seq %d version %d, want %v seq 5 version 2", tt.name, ack.Code, ack.Reason, ack.Seq, ack.WireVersion(), tt.want)
		}
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("handler called %d times, want 2", n)
	}

	// Over the bound: refused as malformed from its header.
	conn2, err := net.Dial("unix", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	over := stepFrame(pattern(frame.MaxLegacyPayload+1, 1))
	over.Seq = 6
	conn2.Write(legacyEncode(t, over, testKey)[:200])
	var ack frame.Frame
	if err := frame.NewReader(conn2, 0).Next(&ack); err != nil || ack.Code != frame.CodeMalformed || !strings.Contains(ack.Reason, "size") {
		t.Errorf("version 2 payload over the bound: %v %q, %v; want malformed (size)", ack.Code, ack.Reason, err)
	}

	// A version 2 frame a relay forwards with key nil goes out as it came.
	var old frame.Frame
	if _, err := frame.Decode(legacyEncode(t, stepFrame([]byte("relayed")), testKey), &old, 0); err != nil {
		t.Fatal(err)
	}
	c := &Client{}
	defer c.Close()
	if ack, err := c.Send(context.Background(), rs.Endpoint, &old, nil); err != nil || ack.Code != frame.CodeOK {
		t.Errorf("forwarded version 2 frame: %v %q, %v", ack.Code, ack.Reason, err)
	}
}

// An unsigned server (Unverified) hands frames over as before.
func TestUnverified(t *testing.T) {
	leakcheck.Check(t)
	var calls atomic.Int32
	rs := startServer(t, &Server{Unverified: true, Handler: okHandler(&calls)}, testEndpoint(t, "unix"))
	c := &Client{}
	defer c.Close()
	f := stepFrame([]byte("unsigned"))
	f.Namespace = "anything"
	if ack, err := c.Send(context.Background(), rs.Endpoint, f, nil); err != nil || ack.Code != frame.CodeOK || calls.Load() != 1 {
		t.Fatalf("unsigned frame to an Unverified server: %v %v, %d calls", ack.Code, err, calls.Load())
	}
}
