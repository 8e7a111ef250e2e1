package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/leakcheck"
)

// windowFrame is a step frame named id with an accept window of d.
func windowFrame(id string, d time.Duration) *frame.Frame {
	f := stepFrame([]byte(`{"id":"` + id + `"}`))
	f.RunID = id
	f.AcceptBy = time.Now().Add(d).UnixNano()
	return f
}

// hookHandler accepts every frame, with an OnAcked hook that records, by
// run id, whether the frame would run; wait, if set, runs before the
// handler returns.
type hookHandler struct {
	mu   sync.Mutex
	ran  map[string]bool
	wait func(f *frame.Frame)
}

func (h *hookHandler) HandleFrame(_ context.Context, d *Delivery) (frame.Code, string) {
	id := d.Frame.RunID
	if h.wait != nil {
		h.wait(&d.Frame)
	}
	d.OnAcked(func(inTime bool) {
		h.mu.Lock()
		h.ran[id] = inTime
		h.mu.Unlock()
		d.Release()
	})
	return frame.CodeOK, ""
}

func (h *hookHandler) result(id string) (ran, seen bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ran, seen = h.ran[id]
	return ran, seen
}

// A frame whose AcceptBy has passed when it arrives is refused with
// CodeLate, never handed to the handler, and its payload skipped: the
// connection goes on.
func TestLateOnArrival(t *testing.T) {
	leakcheck.Check(t)
	h := &hookHandler{ran: map[string]bool{}}
	rs := startServer(t, &Server{Keys: testKeys, Handler: h}, testEndpoint(t, "unix"))
	_, addr, _ := ParseEndpoint(rs.Endpoint)
	conn, err := net.Dial("unix", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	late := windowFrame("late", -time.Millisecond)
	late.Payload = pattern(1<<20, 1)
	late.Size = uint64(len(late.Payload))
	late.Seq = 1
	ok := windowFrame("ok", time.Minute)
	ok.Seq = 2
	for _, f := range []*frame.Frame{late, ok} {
		b, err := frame.Encode(nil, signed(f))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	r := frame.NewReader(conn, 0)
	for _, want := range []struct {
		seq  uint64
		code frame.Code
	}{{1, frame.CodeLate}, {2, frame.CodeOK}} {
		var ack frame.Frame
		if err := r.Next(&ack); err != nil {
			t.Fatal(err)
		}
		if ack.Seq != want.seq || ack.Code != want.code {
			t.Errorf("ack seq %d %v %q, want seq %d %v", ack.Seq, ack.Code, ack.Reason, want.seq, want.code)
		}
	}
	waitFor(t, "the hook of the frame in time", 5*time.Second, func() bool { _, seen := h.result("ok"); return seen })
	if ran, _ := h.result("ok"); !ran {
		t.Error("frame acked in time: hook said not in time")
	}
	if _, seen := h.result("late"); seen {
		t.Error("the late frame reached the handler")
	}

	c := &Client{}
	defer c.Close()
	if _, err := c.Send(context.Background(), rs.Endpoint, windowFrame("closed", -time.Second), testKey); !errors.Is(err, ErrTimeout) {
		t.Errorf("Send of a frame whose window has closed: %v, want ErrTimeout without sending", err)
	}
}

// The hook of an accepted frame says whether its ack reached the sender:
// yes when it was written in time (and for frames without AcceptBy); no
// when the handler took past AcceptBy (the sender then gets CodeLate or
// nothing and gives up).
func TestOnAcked(t *testing.T) {
	leakcheck.Check(t)
	for _, tc := range []struct {
		network string
		inline  bool
	}{{"unix", false}, {"tcp", false}, {"unix", true}, {"tcp", true}} {
		t.Run(fmt.Sprintf("%s inline=%v", tc.network, tc.inline), func(t *testing.T) {
			h := &hookHandler{ran: map[string]bool{}, wait: func(f *frame.Frame) {
				if strings.HasPrefix(f.RunID, "slow") {
					time.Sleep(time.Until(time.Unix(0, f.AcceptBy)) + 20*time.Millisecond)
				}
			}}
			rs := startServer(t, &Server{Keys: testKeys, Handler: h, Inline: tc.inline}, testEndpoint(t, tc.network))
			c := &Client{ClockSkew: 100 * time.Millisecond}
			defer c.Close()
			for _, tt := range []struct {
				id     string
				window time.Duration
				ran    bool
			}{
				{"fast", time.Second, true},
				{"no window", 0, true},
				{"slow", 100 * time.Millisecond, false},
				{"fast again", time.Second, true},
			} {
				f := windowFrame(tt.id, tt.window)
				if tt.window == 0 {
					f.AcceptBy = 0
				}
				ack, err := c.Send(context.Background(), rs.Endpoint, f, testKey)
				saw := err == nil && ack.Code == frame.CodeOK
				waitFor(t, "the hook of "+tt.id, 5*time.Second, func() bool { _, seen := h.result(tt.id); return seen })
				ran, _ := h.result(tt.id)
				if ran != tt.ran || saw != tt.ran {
					t.Errorf("%s: ran %v, sender saw the ack %v (%v %v); want both %v", tt.id, ran, saw, ack.Code, err, tt.ran)
				}
			}
		})
	}
}

// On a unix socket a sender gives up on a frame only after it has cut the
// connection and read what was written before: for every frame, the
// receiver runs it exactly when the sender saw its ack, whenever the
// receiver stalls (before reading, between reading and acking, between
// writing the ack and calling the hook) and whatever the windows.
func TestWindowInvariant(t *testing.T) {
	for _, inline := range []bool{false, true} {
		t.Run(fmt.Sprintf("inline=%v", inline), func(t *testing.T) { testWindowInvariant(t, inline) })
	}
}

func testWindowInvariant(t *testing.T, inline bool) {
	leakcheck.Check(t)
	rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	var rmu sync.Mutex
	jitter := func(max time.Duration) time.Duration {
		rmu.Lock()
		defer rmu.Unlock()
		if rng.IntN(3) == 0 {
			return 0
		}
		return time.Duration(rng.Int64N(int64(max)))
	}
	h := &hookHandler{ran: map[string]bool{}, wait: func(*frame.Frame) { time.Sleep(jitter(8 * time.Millisecond)) }}
	srv := &Server{Keys: testKeys, Handler: h, MaxInFlight: 4, Inline: inline}
	endpoint := testEndpoint(t, "unix")
	ln, err := Listen(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, &stallListener{Listener: ln, jitter: jitter}) }()

	c := &Client{}
	defer c.Close()
	iterations := 600
	if testing.Short() {
		iterations = 100
	}
	saw := make(map[string]bool, iterations)
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i := range iterations {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			id := fmt.Sprintf("f%d", i)
			ack, err := c.Send(context.Background(), endpoint, windowFrame(id, jitter(16*time.Millisecond)+time.Millisecond), testKey)
			mu.Lock()
			saw[id] = err == nil && ack.Code == frame.CodeOK
			mu.Unlock()
		}()
	}
	wg.Wait()
	// Stopping the server waits for the handlers still running: every
	// hook has been called when Serve returns.
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	accepted := 0
	for id, s := range saw {
		ran, _ := h.result(id)
		if ran != s {
			t.Errorf("%s: receiver ran it %v, sender saw its ack %v", id, ran, s)
		}
		if s {
			accepted++
		}
	}
	t.Logf("%d frames: %d acked and run, %d not accepted and not run", iterations, accepted, iterations-accepted)
}

// stallListener stalls its connections at random: before each read, and
// after each write has returned (between the ack write and the hook).
type stallListener struct {
	net.Listener
	jitter func(max time.Duration) time.Duration
}

func (l *stallListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &stallConn{Conn: c, jitter: l.jitter}, nil
}

type stallConn struct {
	net.Conn
	jitter func(max time.Duration) time.Duration
}

func (c *stallConn) Read(p []byte) (int, error) {
	time.Sleep(c.jitter(4 * time.Millisecond))
	return c.Conn.Read(p)
}

func (c *stallConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	time.Sleep(c.jitter(4 * time.Millisecond))
	return n, err
}

// envReceiver makes the test binary a receiver process (see
// TestWindowReceiverProcess) serving on the unix socket it names.
const envReceiver = "WSK_TRANSPORT_TEST_RECEIVER"

// TestWindowReceiverProcess is the receiver of TestWindowSIGSTOP when run
// with envReceiver set: it serves frames on a unix socket, accepting every
// one, and prints "ran <run id>" when a frame's hook says it runs. It
// stops on SIGTERM, once every handler is done.
func TestWindowReceiverProcess(t *testing.T) {
	sock := os.Getenv(envReceiver)
	if sock == "" {
		t.Skip("the receiver of TestWindowSIGSTOP")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	var mu sync.Mutex
	w := bufio.NewWriter(os.Stdout)
	h := HandlerFunc(func(_ context.Context, d *Delivery) (frame.Code, string) {
		id := d.Frame.RunID
		d.OnAcked(func(inTime bool) {
			d.Release()
			if inTime {
				mu.Lock()
				fmt.Fprintf(w, "ran %s\n", id)
				mu.Unlock()
			}
		})
		return frame.CodeOK, ""
	})
	ln, err := Listen("unix:" + sock)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("listening")
	if err := (&Server{Keys: testKeys, Handler: h, MaxInFlight: 1024}).Serve(ctx, ln); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	w.Flush()
	mu.Unlock()
}

// TestWindowSIGSTOP freezes a receiver process (SIGSTOP, SIGCONT) at
// random moments while frames with short accept windows stream to it:
// for every frame, the receiver ran it exactly when the sender saw its ack.
func TestWindowSIGSTOP(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a receiver process and freezes it for seconds")
	}
	sock := filepath.Join(socketDir(t), "r.sock")
	cmd := exec.Command(os.Args[0], "-test.run=^TestWindowReceiverProcess$", "-test.v=false")
	cmd.Env = append(os.Environ(), envReceiver+"="+sock)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || lines.Text() != "listening" {
		t.Fatalf("receiver did not start: %q", lines.Text())
	}

	// Freeze the receiver at random for 0-15 ms, every 0-15 ms.
	rng := rand.New(rand.NewPCG(2, uint64(time.Now().UnixNano())))
	var rmu sync.Mutex
	rnd := func(max time.Duration) time.Duration {
		rmu.Lock()
		defer rmu.Unlock()
		return time.Duration(rng.Int64N(int64(max)))
	}
	stopFreezing := make(chan struct{})
	frozeDone := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stopFreezing:
				cmd.Process.Signal(syscall.SIGCONT)
				frozeDone <- n
				return
			case <-time.After(rnd(15 * time.Millisecond)):
			}
			cmd.Process.Signal(syscall.SIGSTOP)
			n++
			time.Sleep(rnd(15 * time.Millisecond))
			cmd.Process.Signal(syscall.SIGCONT)
		}
	}()

	c := &Client{}
	defer c.Close()
	const n = 3000
	saw := make(map[string]bool, n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	var errs atomic.Int32
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			id := fmt.Sprintf("f%d", i)
			time.Sleep(rnd(8 * time.Millisecond))
			ack, err := c.Send(context.Background(), "unix:"+sock, windowFrame(id, rnd(20*time.Millisecond)+time.Millisecond), testKey)
			if err != nil {
				errs.Add(1)
			}
			mu.Lock()
			saw[id] = err == nil && ack.Code == frame.CodeOK
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(stopFreezing)
	freezes := <-frozeDone
	cmd.Process.Signal(syscall.SIGTERM)
	ran := map[string]bool{}
	for lines.Scan() {
		if id, ok := strings.CutPrefix(lines.Text(), "ran "); ok {
			ran[id] = true
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("receiver: %v", err)
	}
	accepted := 0
	for id, s := range saw {
		if s != ran[id] {
			t.Errorf("%s: receiver ran it %v, sender saw its ack %v", id, ran[id], s)
		}
		if s {
			accepted++
		}
	}
	for id := range ran {
		if _, ok := saw[id]; !ok {
			t.Errorf("%s: ran, but never sent", id)
		}
	}
	t.Logf("%d frames, %d freezes: %d acked and run, %d not accepted (%d send errors)", n, freezes, accepted, n-accepted, errs.Load())
}

// A unix endpoint is the receiver itself, on the sender's clock: no skew,
// unless the client's endpoints may be relays.
func TestClockSkew(t *testing.T) {
	for _, tt := range []struct {
		skew    time.Duration
		relayed bool
		network string
		want    time.Duration
	}{
		{0, false, "unix", 0},
		{0, false, "tcp", DefaultClockSkew},
		{0, false, "rdma", DefaultClockSkew},
		{0, true, "unix", DefaultClockSkew},
		{time.Second, false, "tcp", time.Second},
		{-1, false, "tcp", 0},
	} {
		c := &Client{ClockSkew: tt.skew, Relayed: tt.relayed}
		if got := c.skew(tt.network); got != tt.want {
			t.Errorf("Client{ClockSkew: %v, Relayed: %v}.skew(%s) = %v, want %v", tt.skew, tt.relayed, tt.network, got, tt.want)
		}
	}
}

// A Send whose write fails cuts the connection. A frame that another Send
// had written on it before, when it lay idle, must not then be sent again
// as if the peer had closed an idle connection: the receiver read it and
// may answer it. Sent once, it runs at most once, and with an accept
// window its sender and receiver agree that it did not run.
func TestCutIsNotAPeerClose(t *testing.T) {
	leakcheck.Check(t)
	for _, window := range []bool{true, false} {
		t.Run(fmt.Sprintf("window=%v", window), func(t *testing.T) {
			held, release := make(chan struct{}, 2), make(chan struct{})
			var deliveries atomic.Int32
			h := &hookHandler{ran: map[string]bool{}, wait: func(f *frame.Frame) {
				if f.RunID == "held" {
					deliveries.Add(1)
					held <- struct{}{}
					<-release
				}
			}}
			rs := startServer(t, &Server{Keys: testKeys, Handler: h}, testEndpoint(t, "unix"))
			var conn atomic.Pointer[failingConn]
			c := &Client{Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
				var d net.Dialer
				nc, err := d.DialContext(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				fc := &failingConn{Conn: nc, uc: nc.(*net.UnixConn)}
				conn.Store(fc)
				return fc, nil
			}}
			defer c.Close()
			frameFor := func(id string) *frame.Frame {
				if window {
					return windowFrame(id, 10*time.Second)
				}
				f := stepFrame(nil)
				f.RunID = id
				return f
			}
			if _, err := c.Send(context.Background(), rs.Endpoint, frameFor("warm"), testKey); err != nil {
				t.Fatal(err)
			}
			errc := make(chan error, 1)
			go func() {
				_, err := c.Send(context.Background(), rs.Endpoint, frameFor("held"), testKey)
				errc <- err
			}()
			<-held
			conn.Load().failWrites.Store(true)
			if _, err := c.Send(context.Background(), rs.Endpoint, frameFor("failed"), testKey); !errors.Is(err, ErrUnreachable) {
				t.Fatalf("Send on a failing write: %v, want ErrUnreachable", err)
			}
			close(release)
			select {
			case err := <-errc:
				if !errors.Is(err, ErrUnreachable) {
					t.Errorf("Send of the frame on the cut connection: %v, want ErrUnreachable", err)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("Send of the frame on the cut connection did not return")
			}
			waitFor(t, "the hook of the held frame", 5*time.Second, func() bool { _, seen := h.result("held"); return seen })
			if n := deliveries.Load(); n != 1 {
				t.Errorf("the receiver got the frame %d times, want once", n)
			}
			if ran, _ := h.result("held"); window && ran {
				t.Error("the receiver ran the frame its sender saw fail")
			}
		})
	}
}

// A write that fails because the peer has gone (EPIPE: a receiver that
// restarted while the connection lay idle) is the peer's end, not a cut
// of the client's: the frame, which the peer cannot have read, goes again
// on a new connection.
func TestWriteToGonePeerIsSentAgain(t *testing.T) {
	leakcheck.Check(t)
	h := &hookHandler{ran: map[string]bool{}}
	rs := startServer(t, &Server{Keys: testKeys, Handler: h}, testEndpoint(t, "unix"))
	var conn atomic.Pointer[failingConn]
	dials := 0
	c := &Client{Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		nc, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		dials++
		fc := &failingConn{Conn: nc, uc: nc.(*net.UnixConn), writeErr: fmt.Errorf("write unix: %w", syscall.EPIPE)}
		conn.Store(fc)
		return fc, nil
	}}
	defer c.Close()
	if _, err := c.Send(context.Background(), rs.Endpoint, windowFrame("warm", 10*time.Second), testKey); err != nil {
		t.Fatal(err)
	}
	conn.Load().failWrites.Store(true)
	ack, err := c.Send(context.Background(), rs.Endpoint, windowFrame("again", 10*time.Second), testKey)
	if err != nil || ack.Code != frame.CodeOK || dials != 2 {
		t.Fatalf("Send after the peer went: %v %v after %d dials; want its ack, on a second connection", ack.Code, err, dials)
	}
	waitFor(t, "the hook of the frame sent again", 5*time.Second, func() bool { _, seen := h.result("again"); return seen })
	if ran, _ := h.result("again"); !ran {
		t.Error("the frame sent again did not run")
	}
}

// failingConn is a client's unix connection whose writes fail, writing
// nothing, once failWrites is set: with writeErr, or an error of its own.
type failingConn struct {
	net.Conn
	uc         *net.UnixConn
	writeErr   error
	failWrites atomic.Bool
}

func (c *failingConn) Write(p []byte) (int, error) {
	if c.failWrites.Load() {
		if c.writeErr != nil {
			return 0, c.writeErr
		}
		return 0, errors.New("injected write failure")
	}
	return c.Conn.Write(p)
}

func (c *failingConn) CloseRead() error { return c.uc.CloseRead() }
