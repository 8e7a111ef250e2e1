package hop

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/internal/testenv/netns"
	"github.com/wsk-route/wsk-route/internal/transport"
	"github.com/wsk-route/wsk-route/invoker-plugin/relay"
)

// ackTimeout bounds one hop; a 256 MiB relayed hop takes seconds.
const ackTimeout = 2 * time.Minute

// roundTripper moves one payload to a receiver and waits for its ack.
type roundTripper interface {
	roundTrip(ctx context.Context, payload []byte) error
}

// hopPath sends step frames through a transport.Client. It is safe for
// concurrent use.
type hopPath struct {
	c        *transport.Client
	endpoint string
	key      []byte
}

// stepFrame is the frame every hop path sends: a step of a run, carrying
// payload inline.
func stepFrame(payload []byte) *frame.Frame {
	return &frame.Frame{
		Kind:      frame.KindStep,
		RunID:     "run-1",
		Workflow:  "wf",
		Step:      "b",
		Namespace: Namespace,
		Target:    TargetID,
		Payload:   payload,
		Size:      uint64(len(payload)),
	}
}

func (h *hopPath) roundTrip(ctx context.Context, payload []byte) error {
	ack, err := h.c.Send(ctx, h.endpoint, stepFrame(payload), h.key)
	if err != nil {
		return err
	}
	if ack.Code != frame.CodeOK {
		return fmt.Errorf("hop: %s refused the frame: %v: %s", h.endpoint, ack.Code, ack.Reason)
	}
	return nil
}

// newClient returns a client closed at cleanup.
func newClient(tb testing.TB, c *transport.Client) *transport.Client {
	c.AckTimeout = ackTimeout
	tb.Cleanup(func() { c.Close() })
	return c
}

// serve runs s on ln until the test's cleanup, which waits for it.
func serve(tb testing.TB, s *transport.Server, ln net.Listener) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("hop: Serve: %v", err)
		}
	})
}

// tempDir makes a directory under parent ("" for the default), removed at
// cleanup; unix socket paths must stay short, so t.TempDir is not used.
func tempDir(tb testing.TB, parent, pattern string) string {
	d, err := os.MkdirTemp(parent, pattern)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// shmDir is a tmpfs directory under /dev/shm, else a temporary one.
func shmDir(tb testing.TB) string {
	if d, err := os.MkdirTemp("/dev/shm", "wsk-hop-"); err == nil {
		tb.Cleanup(func() { os.RemoveAll(d) })
		return d
	}
	return tempDir(tb, "", "wsk-hop-shm-")
}

// listenUnix opens a transport listener on a fresh unix socket.
func listenUnix(tb testing.TB, name string) (net.Listener, string) {
	ep := "unix:" + filepath.Join(tempDir(tb, "", "wskhop"), name)
	ln, err := transport.Listen(ep)
	if err != nil {
		tb.Fatal(err)
	}
	return ln, ep
}

// sameHost is a receiver on a unix socket that accepts shm segments.
type sameHost struct {
	endpoint string
	shmDir   string
}

// startSameHost starts the same-host receiver.
func startSameHost(tb testing.TB) sameHost {
	dir := shmDir(tb)
	ln, ep := listenUnix(tb, "recv.sock")
	serve(tb, &transport.Server{Keys: Keys, Handler: Receiver, ShmDir: dir}, ln)
	return sameHost{endpoint: ep, shmDir: dir}
}

// path returns a new client (its own connection) to the receiver, moving
// payloads above transport.DefaultShmThreshold through shm segments.
func (s sameHost) path(tb testing.TB) *hopPath { return s.pathWith(tb, 0) }

// pathWith is path with the client's ShmThreshold set to threshold (1:
// always shm, -1: never).
func (s sameHost) pathWith(tb testing.TB, threshold int) *hopPath {
	c := &transport.Client{ShmDir: s.shmDir, ShmThreshold: threshold}
	return &hopPath{c: newClient(tb, c), endpoint: s.endpoint, key: Key}
}

// crossHost starts a receiver on TCP inside h2 and returns a path to it
// from h1.
func crossHost(tb testing.TB, h1, h2 *netns.Host) *hopPath {
	ln, err := h2.Listen("tcp", h2.IP+":0")
	if err != nil {
		tb.Fatal(err)
	}
	serve(tb, &transport.Server{Keys: Keys, Handler: Receiver}, ln)
	return &hopPath{c: newClient(tb, &transport.Client{Dial: h1.Dial}), endpoint: "tcp:" + ln.Addr().String(), key: Key}
}

// directory is a fixed relay.Directory.
type directory map[string]struct {
	inst  routetable.Instance
	local bool
}

func (d directory) Lookup(id string) (routetable.Instance, bool, bool) {
	e, ok := d[id]
	return e.inst, e.local, ok
}

// relayed starts the receiver on a unix socket "on" h2, h2's agent relay
// on TCP inside h2 (Forward false: local delivery only), h1's agent frame
// socket (Forward true) on a unix socket, and returns a path from h1's
// client to the receiver through both agents, as the proxy sends a frame
// to an instance without a routable address. Payloads stay inline (the
// relay forwards inline frames only, never re-signing them).
func relayed(tb testing.TB, h1, h2 *netns.Host) *hopPath {
	recvLn, recvEP := listenUnix(tb, "recv.sock")
	serve(tb, &transport.Server{Keys: Keys, Handler: Receiver}, recvLn)

	relayLn, err := h2.Listen("tcp", h2.IP+":0")
	if err != nil {
		tb.Fatal(err)
	}
	inst := routetable.Instance{
		ID: TargetID, Namespace: Namespace, Action: "/guest/b", Host: "host-2",
		Unix: recvEP, Relay: "tcp:" + relayLn.Addr().String(),
	}
	agent2 := &relay.Relay{
		Directory: directory{TargetID: {inst: inst, local: true}},
		Sender:    newClient(tb, &transport.Client{}),
	}
	serve(tb, &transport.Server{Keys: Keys, Handler: agent2, MaxInFlight: 1024}, relayLn)

	framesLn, framesEP := listenUnix(tb, "frames.sock")
	agent1 := &relay.Relay{
		Directory: directory{TargetID: {inst: inst, local: false}},
		Sender:    newClient(tb, &transport.Client{Dial: h1.Dial}),
		Forward:   true,
	}
	serve(tb, &transport.Server{Keys: Keys, Handler: agent1, MaxInFlight: 1024}, framesLn)

	return &hopPath{c: newClient(tb, &transport.Client{ShmThreshold: -1}), endpoint: framesEP, key: Key}
}

// rawPath writes an 8-byte length and the payload in one vectored write
// and reads a 1-byte ack: the floor of a hop on the same kind of socket.
// It is not safe for concurrent use.
type rawPath struct {
	conn net.Conn
	hdr  [8]byte
	ack  [1]byte
}

func (r *rawPath) roundTrip(ctx context.Context, payload []byte) error {
	binary.LittleEndian.PutUint64(r.hdr[:], uint64(len(payload)))
	bufs := net.Buffers{r.hdr[:], payload}
	if _, err := bufs.WriteTo(r.conn); err != nil {
		return fmt.Errorf("hop: raw write: %w", err)
	}
	if _, err := io.ReadFull(r.conn, r.ack[:]); err != nil {
		return fmt.Errorf("hop: raw ack: %w", err)
	}
	return nil
}

// rawServe accepts connections on ln until cleanup; each reads length-
// prefixed payloads into one reused buffer and answers each with one byte.
func rawServe(tb testing.TB, ln net.Listener) {
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex // guards conns and closed
		conns  []net.Conn
		closed bool
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if closed {
				mu.Unlock()
				c.Close()
				return
			}
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				RawEcho(c)
			}()
		}
	}()
	tb.Cleanup(func() {
		ln.Close()
		mu.Lock()
		closed = true
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
}

// rawUnix is a raw path over a unix socket.
func rawUnix(tb testing.TB) *rawPath {
	path := filepath.Join(tempDir(tb, "", "wskhop"), "raw.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		tb.Fatal(err)
	}
	rawServe(tb, ln)
	c, err := net.Dial("unix", path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return &rawPath{conn: c}
}

// rawTCP is a raw path over TCP from h1 to a listener inside h2.
func rawTCP(tb testing.TB, h1, h2 *netns.Host) *rawPath {
	ln, err := h2.Listen("tcp", h2.IP+":0")
	if err != nil {
		tb.Fatal(err)
	}
	rawServe(tb, ln)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := h1.Dial(ctx, "tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return &rawPath{conn: c}
}
