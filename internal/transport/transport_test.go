package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/leakcheck"
)

func TestParseEndpoint(t *testing.T) {
	good := []struct{ in, network, addr string }{
		{"unix:/run/x.sock", "unix", "/run/x.sock"},
		{"unix:rel.sock", "unix", "rel.sock"},
		{"tcp:127.0.0.1:80", "tcp", "127.0.0.1:80"},
		{"tcp:[::1]:9000", "tcp", "[::1]:9000"},
		{"tcp:host:0", "tcp", "host:0"},
		{"rdma:10.0.0.2:7471", "rdma", "10.0.0.2:7471"},
	}
	for _, tt := range good {
		t.Run(tt.in, func(t *testing.T) {
			n, a, err := ParseEndpoint(tt.in)
			if err != nil || n != tt.network || a != tt.addr {
				t.Fatalf("ParseEndpoint(%q) = %q, %q, %v; want %q, %q, nil", tt.in, n, a, err, tt.network, tt.addr)
			}
		})
	}
	for _, in := range []string{"", "unix:", "tcp:", "tcp:host", "rdma:host", "udp:1.2.3.4:5", "/run/x.sock", "http://x:1"} {
		t.Run("bad "+in, func(t *testing.T) {
			if _, _, err := ParseEndpoint(in); !errors.Is(err, ErrBadEndpoint) {
				t.Fatalf("ParseEndpoint(%q) error = %v, want ErrBadEndpoint", in, err)
			}
		})
	}
}

// RDMA endpoints parse, but only internal/transport/rdma can listen on or
// dial them: without a Client.Dial a send fails as unreachable, saying so.
func TestRDMAEndpointNeedsItsTransport(t *testing.T) {
	if _, err := Listen("rdma:127.0.0.1:7471"); err == nil || !strings.Contains(err.Error(), "internal/transport/rdma") {
		t.Errorf("Listen rdma: %v", err)
	}
	var c Client
	defer c.Close()
	_, err := c.Send(context.Background(), "rdma:127.0.0.1:7471", &frame.Frame{Kind: frame.KindStep, RunID: "r"}, nil)
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "Client.Dial") {
		t.Errorf("Send to rdma without a Dial: %v, want ErrUnreachable naming Client.Dial", err)
	}
}

func TestListenUnixStaleSocketAndMode(t *testing.T) {
	path := filepath.Join(socketDir(t), "s.sock")
	old, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	old.SetUnlinkOnClose(false)
	old.Close() // leaves a stale socket file
	ln, err := Listen("unix:" + path)
	if err != nil {
		t.Fatalf("Listen over stale socket: %v", err)
	}
	defer ln.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o660 {
		t.Errorf("socket mode = %v, want 0660", got)
	}

	regular := filepath.Join(socketDir(t), "file")
	if err := os.WriteFile(regular, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if ln, err := Listen("unix:" + regular); err == nil {
		ln.Close()
		t.Fatal("Listen over a regular file succeeded")
	}
	if b, err := os.ReadFile(regular); err != nil || string(b) != "keep" {
		t.Fatalf("regular file touched: %q, %v", b, err)
	}
}

// TestRoundTrip sends payloads of several sizes over unix and tcp and checks
// the bytes, the tag, whether shm was used and that segments are removed.
func TestRoundTrip(t *testing.T) {
	leakcheck.Check(t)
	shmDir := t.TempDir()
	for _, network := range []string{"unix", "tcp"} {
		for _, size := range []int{0, 1 << 10, 1 << 20, MaxPooledPayload, MaxPooledPayload + 1} {
			t.Run(fmt.Sprintf("%s/%d", network, size), func(t *testing.T) {
				want := pattern(size, byte(size))
				type seen struct {
					kind frame.PayloadKind
					ref  string
				}
				got := make(chan seen, 1)
				srv := &Server{Keys: testKeys, ShmDir: shmDir, Handler: HandlerFunc(func(ctx context.Context, d *Delivery) (frame.Code, string) {
					got <- seen{d.Frame.PayloadKind, d.Frame.Ref}
					if !d.Frame.Verify(testKey) {
						return frame.CodeBadTag, "tag"
					}
					if !sameBytes(d.Payload(), want) {
						return frame.CodeMalformed, fmt.Sprintf("payload: got %d bytes, want %d (or contents differ)", len(d.Payload()), len(want))
					}
					go d.Release() // the handler owns d and may release it anywhere
					return frame.CodeOK, ""
				})}
				rs := startServer(t, srv, testEndpoint(t, network))
				c := &Client{ShmDir: shmDir}
				defer c.Close()
				f := stepFrame(want)
				ack, err := c.Send(context.Background(), rs.Endpoint, f, testKey)
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
				if ack.Kind != frame.KindAck || ack.Code != frame.CodeOK || ack.Seq != f.Seq {
					t.Fatalf("ack = %v %v %q seq %d; want ack ok seq %d", ack.Kind, ack.Code, ack.Reason, ack.Seq, f.Seq)
				}
				s := <-got
				wantShm := network == "unix" && size > DefaultShmThreshold
				wantKind := frame.PayloadInline
				switch {
				case wantShm && size <= MaxPooledPayload:
					wantKind = frame.PayloadShmPooled
				case wantShm:
					wantKind = frame.PayloadShm
				}
				if s.kind != wantKind {
					t.Errorf("payload kind at receiver = %v, want %v", s.kind, wantKind)
				}
				if wantShm {
					// Close waits for a fresh segment's removal, done off
					// Send's path, and removes the pool's segments.
					c.Close()
					if _, err := os.Stat(filepath.Join(shmDir, s.ref)); !errors.Is(err, fs.ErrNotExist) {
						t.Errorf("segment %s not removed after ack: %v", s.ref, err)
					}
				}
				if f.PayloadKind != frame.PayloadInline || f.Ref != "" || !sameBytes(f.Payload, want) {
					t.Errorf("f not restored after Send: kind %v ref %q, %d bytes", f.PayloadKind, f.Ref, len(f.Payload))
				}
			})
		}
	}
	if left, _ := os.ReadDir(shmDir); len(left) != 0 {
		t.Errorf("shm dir not empty: %v", left)
	}
}

func TestRefusalCodesPassThrough(t *testing.T) {
	leakcheck.Check(t)
	shmDir := t.TempDir()
	var last atomic.Pointer[Delivery]
	var code atomic.Uint32
	srv := &Server{Keys: testKeys, ShmDir: shmDir, Handler: HandlerFunc(func(ctx context.Context, d *Delivery) (frame.Code, string) {
		last.Store(d)
		c := frame.Code(code.Load())
		return c, "because " + c.String()
	})}
	rs := startServer(t, srv, testEndpoint(t, "unix"))
	c := &Client{ShmDir: shmDir, ShmThreshold: 1}
	defer c.Close()
	for _, cd := range []frame.Code{frame.CodeBusy, frame.CodeUnknownStep, frame.CodeBadTag, frame.CodeWrongNamespace,
		frame.CodeExpired, frame.CodeMalformed, frame.CodeUnavailable, frame.CodeDuplicate} {
		t.Run(cd.String(), func(t *testing.T) {
			code.Store(uint32(cd))
			ack, err := c.Send(context.Background(), rs.Endpoint, stepFrame([]byte("payload via shm")), testKey)
			if err != nil {
				t.Fatal(err)
			}
			if ack.Code != cd || ack.Reason != "because "+cd.String() {
				t.Fatalf("ack %v %q, want %v %q", ack.Code, ack.Reason, cd, "because "+cd.String())
			}
			d := last.Load()
			if cd == frame.CodeDuplicate {
				if string(d.Payload()) != "payload via shm" {
					t.Errorf("server released a delivery the handler owns (CodeDuplicate)")
				}
				d.Release()
			} else if d.Payload() != nil {
				t.Errorf("server did not release refused delivery")
			}
		})
	}
}

func TestShmRefused(t *testing.T) {
	leakcheck.Check(t)
	shmDir := t.TempDir()
	called := make(chan struct{}, 10)
	h := HandlerFunc(func(ctx context.Context, d *Delivery) (frame.Code, string) {
		called <- struct{}{}
		d.Release()
		return frame.CodeOK, ""
	})
	noShm := startServer(t, &Server{Keys: testKeys, Handler: h}, testEndpoint(t, "unix"))
	withShm := startServer(t, &Server{Keys: testKeys, Handler: h, ShmDir: shmDir}, testEndpoint(t, "unix"))
	c := &Client{ShmDir: shmDir, ShmThreshold: 1}
	defer c.Close()

	ack, err := c.Send(context.Background(), noShm.Endpoint, stepFrame([]byte("0123456789")), testKey)
	if err != nil || ack.Code != frame.CodeMalformed || !strings.Contains(ack.Reason, "shm segment") {
		t.Errorf("shm frame to a server without ShmDir: ack %v %q, err %v; want malformed \"shm segment ...\"", ack.Code, ack.Reason, err)
	}
	for _, tt := range []struct {
		ref  string
		size uint64
	}{
		{"../../etc/passwd", 10},
		{"100-0123456789abcdef.seg", 10}, // missing
	} {
		f := stepFrame(nil)
		f.PayloadKind, f.Ref, f.Size = frame.PayloadShm, tt.ref, tt.size
		ack, err := c.Send(context.Background(), withShm.Endpoint, signed(f), nil)
		if err != nil || ack.Code != frame.CodeMalformed || !strings.HasPrefix(ack.Reason, "shm segment "+tt.ref+": shm: ") {
			t.Errorf("ref %q: ack %v %q, err %v; want malformed \"shm segment %s: shm: ...\"", tt.ref, ack.Code, ack.Reason, err, tt.ref)
		}
	}
	if len(called) != 0 {
		t.Errorf("handler called for refused shm frames")
	}
}

func TestAckTimeout(t *testing.T) {
	leakcheck.Check(t)
	block := make(chan struct{})
	srv := &Server{Keys: testKeys, Handler: HandlerFunc(func(ctx context.Context, d *Delivery) (frame.Code, string) {
		select {
		case <-block:
		case <-ctx.Done():
		}
		return frame.CodeUnavailable, "stopped"
	})}
	rs := startServer(t, srv, testEndpoint(t, "tcp"))
	t.Cleanup(func() { close(block) }) // before the server stops
	c := &Client{AckTimeout: 200 * time.Millisecond}
	defer c.Close()

	start := time.Now()
	_, err := c.Send(context.Background(), rs.Endpoint, stepFrame([]byte("x")), testKey)
	el := time.Since(start)
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), rs.Endpoint) {
		t.Fatalf("Send error = %v, want ErrTimeout naming %s", err, rs.Endpoint)
	}
	if el < 200*time.Millisecond || el > time.Second {
		t.Errorf("Send took %v, want about AckTimeout (200ms)", el)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	c.AckTimeout = 0
	start = time.Now()
	_, err = c.Send(ctx, rs.Endpoint, stepFrame([]byte("x")), testKey)
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send with ctx deadline: error = %v, want ErrTimeout and DeadlineExceeded", err)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("Send took %v, want about the ctx deadline (100ms)", el)
	}

	cctx, ccancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, ccancel)
	_, err = c.Send(cctx, rs.Endpoint, stepFrame([]byte("x")), testKey)
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
		t.Fatalf("Send with canceled ctx: error = %v, want context.Canceled", err)
	}
}

func TestDialFailure(t *testing.T) {
	c := &Client{}
	defer c.Close()
	ep := "unix:" + filepath.Join(socketDir(t), "nobody.sock")
	_, err := c.Send(context.Background(), ep, stepFrame(nil), testKey)
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), ep) {
		t.Fatalf("Send to nothing: %v, want ErrUnreachable naming %s", err, ep)
	}
}

// killableListener records the connections it accepts, so a test can cut
// them as if the server process died.
type killableListener struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *killableListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

// kill closes the listener and every accepted connection.
func (l *killableListener) kill() {
	l.Listener.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		c.Close()
	}
}

// TestServerKilledMidFlight cuts the server's connections while a frame
// waits for its ack, then starts a server again on the same endpoint.
func TestServerKilledMidFlight(t *testing.T) {
	leakcheck.Check(t)
	endpoint := testEndpoint(t, "unix")
	ln, err := Listen(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	kl := &killableListener{Listener: ln}
	entered, release := make(chan struct{}, 1), make(chan struct{})
	blocking := &Server{Keys: testKeys, Handler: HandlerFunc(func(ctx context.Context, d *Delivery) (frame.Code, string) {
		entered <- struct{}{}
		<-release
		return frame.CodeOK, ""
	})}
	serveDone := make(chan error, 1)
	go func() { serveDone <- blocking.Serve(context.Background(), kl) }()
	c := &Client{AckTimeout: 10 * time.Second}
	defer c.Close()

	errc := make(chan error, 1)
	go func() {
		_, err := c.Send(context.Background(), endpoint, stepFrame([]byte("x")), testKey)
		errc <- err
	}()
	<-entered
	kl.kill()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), endpoint) {
			t.Fatalf("Send when the server died: %v, want ErrUnreachable naming %s", err, endpoint)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Send did not fail after the server died")
	}
	close(release)
	if err := <-serveDone; err == nil {
		t.Errorf("Serve on a closed listener returned nil, want the accept error")
	}

	ok := &Server{Keys: testKeys, Handler: HandlerFunc(func(ctx context.Context, d *Delivery) (frame.Code, string) {
		d.Release()
		return frame.CodeOK, ""
	})}
	startServer(t, ok, endpoint)
	ack, err := c.Send(context.Background(), endpoint, stepFrame([]byte("y")), testKey)
	if err != nil || ack.Code != frame.CodeOK {
		t.Fatalf("Send after restart: ack %v, err %v; want ok", ack.Code, err)
	}
}

// TestGracefulStopDeliversAcks stops a server while a handler runs: the
// handler's ack still reaches the sender.
func TestGracefulStopDeliversAcks(t *testing.T) {
	leakcheck.Check(t)
	entered := make(chan struct{}, 1)
	srv := &Server{Keys: testKeys, Handler: HandlerFunc(func(ctx context.Context, d *Delivery) (frame.Code, string) {
		entered <- struct{}{}
		<-ctx.Done()
		return frame.CodeUnavailable, "shutting down"
	})}
	rs := startServer(t, srv, testEndpoint(t, "unix"))
	c := &Client{}
	defer c.Close()
	type result struct {
		ack frame.Frame
		err error
	}
	res := make(chan result, 1)
	go func() {
		ack, err := c.Send(context.Background(), rs.Endpoint, stepFrame([]byte("x")), testKey)
		res <- result{ack, err}
	}()
	<-entered
	rs.stop(t)
	r := <-res
	if r.err != nil || r.ack.Code != frame.CodeUnavailable {
		t.Fatalf("Send across a graceful stop: ack %v, err %v; want unavailable", r.ack.Code, r.err)
	}
	if _, err := c.Send(context.Background(), rs.Endpoint, stepFrame(nil), testKey); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Send after stop: %v, want ErrUnreachable", err)
	}
}

// TestMultiplexing runs many Sends over one connection and forces acks out
// of order.
func TestMultiplexing(t *testing.T) {
	leakcheck.Check(t)
	for _, network := range []string{"unix", "tcp"} {
		t.Run(network, func(t *testing.T) {
			gate := make(chan struct{})
			srv := &Server{Keys: testKeys, MaxInFlight: 8, Handler: HandlerFunc(func(ctx context.Context, d *Delivery) (frame.Code, string) {
				defer d.Release()
				if string(d.Payload()) == "first" {
					<-gate
				}
				return frame.CodeOK, string(d.Payload())
			})}
			rs := startServer(t, srv, testEndpoint(t, network))
			var dials atomic.Int32
			c := &Client{Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
				dials.Add(1)
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			}}
			defer c.Close()
			ctx := context.Background()

			firstDone := make(chan error, 1)
			go func() {
				ack, err := c.Send(ctx, rs.Endpoint, stepFrame([]byte("first")), testKey)
				if err == nil && ack.Reason != "first" {
					err = fmt.Errorf("ack reason %q, want first", ack.Reason)
				}
				firstDone <- err
			}()
			const n = 200
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					p := fmt.Sprintf("frame-%d", i)
					ack, err := c.Send(ctx, rs.Endpoint, stepFrame([]byte(p)), testKey)
					if err == nil && (ack.Code != frame.CodeOK || ack.Reason != p) {
						err = fmt.Errorf("ack %v %q for %q", ack.Code, ack.Reason, p)
					}
					if err != nil {
						errs <- err
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			select {
			case err := <-firstDone:
				t.Fatalf("first frame acked before its handler was released: %v", err)
			default:
			}
			close(gate)
			if err := <-firstDone; err != nil {
				t.Fatal(err)
			}
			if got := dials.Load(); got != 1 {
				t.Errorf("%d dials, want 1 (one multiplexed connection)", got)
			}
		})
	}
}

// TestMalformedInput sends garbage to a server: that connection is closed,
// other connections keep working.
func TestMalformedInput(t *testing.T) {
	leakcheck.Check(t)
	srv := &Server{Keys: testKeys, Handler: HandlerFunc(func(ctx context.Context, d *Delivery) (frame.Code, string) {
		d.Release()
		return frame.CodeOK, ""
	})}
	rs := startServer(t, srv, testEndpoint(t, "tcp"))
	c := &Client{}
	defer c.Close()
	if _, err := c.Send(context.Background(), rs.Endpoint, stepFrame([]byte("before")), testKey); err != nil {
		t.Fatal(err)
	}

	valid, err := frame.Encode(nil, signed(stepFrame([]byte("ok"))))
	if err != nil {
		t.Fatal(err)
	}
	badKind := append([]byte(nil), valid...)
	badKind[8] = 99
	for name, garbage := range map[string][]byte{
		"text":     []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		"bad kind": badKind,
		"too long": append([]byte{0xff, 0xff, 0xff, 0xff}, valid[4:]...),
	} {
		t.Run(name, func(t *testing.T) {
			_, addr, _ := ParseEndpoint(rs.Endpoint)
			raw, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			if _, err := raw.Write(garbage); err != nil {
				t.Fatal(err)
			}
			raw.SetReadDeadline(time.Now().Add(5 * time.Second))
			// Whatever the server answers (an ack when it could read the
			// Seq), it must then close the connection.
			r := frame.NewReader(raw, 0)
			for {
				var f frame.Frame
				err := r.Next(&f)
				if err == nil {
					if f.Kind != frame.KindAck || f.Code != frame.CodeMalformed {
						t.Fatalf("got %v %v, want only a malformed ack", f.Kind, f.Code)
					}
					continue
				}
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !isReset(err) {
					t.Fatalf("read after garbage: %v, want the connection closed", err)
				}
				break
			}
			ack, err := c.Send(context.Background(), rs.Endpoint, stepFrame([]byte("after")), testKey)
			if err != nil || ack.Code != frame.CodeOK {
				t.Fatalf("Send after garbage on another connection: %v %v", ack.Code, err)
			}
		})
	}
}

func isReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && !ne.Timeout()
}

func TestServerIgnoresAcks(t *testing.T) {
	leakcheck.Check(t)
	var calls atomic.Int32
	srv := &Server{Keys: testKeys, Handler: HandlerFunc(func(ctx context.Context, d *Delivery) (frame.Code, string) {
		calls.Add(1)
		d.Release()
		return frame.CodeOK, ""
	})}
	rs := startServer(t, srv, testEndpoint(t, "unix"))
	c := &Client{AckTimeout: 100 * time.Millisecond}
	defer c.Close()
	ack := frame.AckFor(stepFrame(nil), frame.CodeOK, "")
	if _, err := c.Send(context.Background(), rs.Endpoint, &ack, nil); !errors.Is(err, ErrTimeout) {
		t.Fatalf("ack sent to a server: %v, want ErrTimeout (ignored)", err)
	}
	if _, err := c.Send(context.Background(), rs.Endpoint, signed(stepFrame(nil)), nil); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 1 {
		t.Fatalf("handler called %d times, want 1", calls.Load())
	}
}

func TestServeStopsWithoutLeaks(t *testing.T) {
	leakcheck.Check(t)
	srv := &Server{Keys: testKeys, Handler: HandlerFunc(func(ctx context.Context, d *Delivery) (frame.Code, string) {
		d.Release()
		return frame.CodeOK, ""
	})}
	rsU := startServer(t, srv, testEndpoint(t, "unix"))
	rsT := startServer(t, srv, testEndpoint(t, "tcp"))
	clients := []*Client{{}, {}, {}}
	for _, c := range clients {
		for _, rs := range []*runningServer{rsU, rsT} {
			if _, err := c.Send(context.Background(), rs.Endpoint, stepFrame([]byte("x")), testKey); err != nil {
				t.Fatal(err)
			}
		}
	}
	rsU.stop(t)
	rsT.stop(t)
	for _, c := range clients {
		if _, err := c.Send(context.Background(), rsT.Endpoint, stepFrame(nil), testKey); !errors.Is(err, ErrUnreachable) {
			t.Errorf("Send to a stopped server: %v, want ErrUnreachable", err)
		}
		c.Close()
		c.Close()
		if _, err := c.Send(context.Background(), rsT.Endpoint, stepFrame(nil), testKey); !errors.Is(err, ErrClosed) {
			t.Errorf("Send after Close: %v, want ErrClosed", err)
		}
	}
}

func TestServeListenerFails(t *testing.T) {
	leakcheck.Check(t)
	ln, err := Listen("tcp:127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &Server{Keys: testKeys, Handler: HandlerFunc(func(ctx context.Context, d *Delivery) (frame.Code, string) { return frame.CodeBusy, "" })}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background(), ln) }()
	ln.Close()
	select {
	case err := <-done:
		if err == nil || !strings.HasPrefix(err.Error(), "transport: accept") {
			t.Fatalf("Serve after listener closed = %v, want accept error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return when its listener failed")
	}
}

// FuzzServerConn feeds arbitrary bytes to a server connection: it must not
// panic, must answer only with acks and must close the connection.
func FuzzServerConn(f *testing.F) {
	valid, _ := frame.Encode(nil, signed(stepFrame([]byte("ok"))))
	f.Add(valid)
	f.Add(append(append([]byte(nil), valid...), valid...))
	f.Add(valid[:10])
	f.Add([]byte("garbage"))
	shmFrame := stepFrame(nil)
	shmFrame.PayloadKind, shmFrame.Ref, shmFrame.Size = frame.PayloadShm, "../x", 1
	if b, err := frame.Encode(nil, signed(shmFrame)); err == nil {
		f.Add(b)
	}
	late := stepFrame([]byte("late"))
	late.AcceptBy = 1
	if b, err := frame.Encode(nil, signed(late)); err == nil {
		f.Add(append(b, valid...))
	}
	f.Add(legacyEncode(f, stepFrame([]byte("version 2")), testKey))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, in []byte) {
		srv := &Server{Keys: testKeys, ShmDir: dir, MaxPayload: 1 << 16, Handler: HandlerFunc(func(ctx context.Context, d *Delivery) (frame.Code, string) {
			return frame.CodeBusy, "no"
		})}
		a, b := net.Pipe()
		done := make(chan struct{})
		cfg := srv.config()
		go func() {
			defer close(done)
			srv.serveConn(context.Background(), a, &cfg)
		}()
		drained := make(chan struct{})
		go func() {
			defer close(drained)
			r := frame.NewReader(b, 0)
			for {
				var f frame.Frame
				if err := r.Next(&f); err != nil {
					return
				}
				if f.Kind != frame.KindAck {
					t.Errorf("server sent a %v", f.Kind)
				}
			}
		}()
		b.Write(in) // returns once the server has read it all, or closed
		b.Close()
		<-done
		<-drained
	})
}
