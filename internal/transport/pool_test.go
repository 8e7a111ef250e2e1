package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/leakcheck"
	"github.com/wsk-route/wsk-route/internal/shm"
)

// checkingHandler checks that each payload is the pattern its RunID
// names, and counts what it saw by payload kind.
type checkingHandler struct {
	mu    sync.Mutex
	kinds map[frame.PayloadKind]int
	refs  map[string]bool
}

func (h *checkingHandler) HandleFrame(_ context.Context, d *Delivery) (frame.Code, string) {
	defer d.Release()
	var size int
	var seed byte
	if _, err := fmt.Sscanf(d.Frame.RunID, "%d-%d", &size, &seed); err != nil {
		return frame.CodeMalformed, err.Error()
	}
	if !sameBytes(d.Payload(), pattern(size, seed)) {
		return frame.CodeMalformed, fmt.Sprintf("payload of %s: %d bytes, or other bytes", d.Frame.RunID, len(d.Payload()))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.kinds[d.Frame.PayloadKind]++
	h.refs[d.Frame.Ref] = true
	return frame.CodeOK, ""
}

func patternFrame(size int, seed byte) *frame.Frame {
	f := stepFrame(pattern(size, seed))
	f.RunID = fmt.Sprintf("%d-%d", size, seed)
	return f
}

// Payloads up to MaxPooledPayload go through the client's pool: one
// segment per size class and concurrent send, written again for each
// frame, every payload intact at the receiver.
func TestPooledSegmentsAreReused(t *testing.T) {
	leakcheck.Check(t)
	shmDir := t.TempDir()
	h := &checkingHandler{kinds: map[frame.PayloadKind]int{}, refs: map[string]bool{}}
	rs := startServer(t, &Server{Keys: testKeys, ShmDir: shmDir, Handler: h}, testEndpoint(t, "unix"))
	defer rs.stop(t)
	c := &Client{ShmDir: shmDir}
	for i := range 20 {
		size := 70<<10 + i*1000 // one class (128 KiB)
		if ack, err := c.Send(context.Background(), rs.Endpoint, patternFrame(size, byte(i)), testKey); err != nil || ack.Code != frame.CodeOK {
			t.Fatalf("send %d: %v %v %s", i, err, ack.Code, ack.Reason)
		}
	}
	if n := h.kinds[frame.PayloadShmPooled]; n != 20 || len(h.refs) != 1 {
		t.Fatalf("%d pooled payloads in %d segments, want 20 in 1", n, len(h.refs))
	}
	// Concurrent sends take a segment each.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 10 {
				f := patternFrame(200<<10+j, byte(i*10+j))
				if ack, err := c.Send(context.Background(), rs.Endpoint, f, testKey); err != nil || ack.Code != frame.CodeOK {
					t.Errorf("send %d/%d: %v %v %s", i, j, err, ack.Code, ack.Reason)
				}
			}
		}()
	}
	wg.Wait()
	if len(h.refs) > 1+8 {
		t.Errorf("%d segments for 8 concurrent senders and one before, want at most 9", len(h.refs))
	}
	c.Close()
	if left, _ := os.ReadDir(shmDir); len(left) != 0 {
		t.Errorf("segments left after Close: %v", left)
	}
}

// A segment whose frame got no ack may still be read by its receiver: it
// is removed, never written again.
func TestPooledSegmentDroppedWithoutAck(t *testing.T) {
	leakcheck.Check(t)
	shmDir := t.TempDir()
	endpoint := testEndpoint(t, "unix")
	_, addr, _ := ParseEndpoint(endpoint)
	ln, err := net.Listen("unix", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn) // never read, never acked
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}()
	c := &Client{ShmDir: shmDir, AckTimeout: 100 * time.Millisecond}
	defer c.Close()
	_, err = c.Send(context.Background(), endpoint, patternFrame(100<<10, 1), testKey)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Send = %v, want a timeout", err)
	}
	if left, _ := os.ReadDir(shmDir); len(left) != 0 {
		t.Errorf("the segment of a frame without an ack was kept: %v", left)
	}
	c.pool.mu.Lock()
	defer c.pool.mu.Unlock()
	if c.pool.bytes != 0 {
		t.Errorf("pool holds %d bytes after dropping its only segment", c.pool.bytes)
	}
}

// Past its bound the pool is not used: payloads go through fresh
// segments; and a payload over MaxPooledPayload never goes through it.
func TestPoolBound(t *testing.T) {
	leakcheck.Check(t)
	shmDir := t.TempDir()
	h := &checkingHandler{kinds: map[frame.PayloadKind]int{}, refs: map[string]bool{}}
	rs := startServer(t, &Server{Keys: testKeys, ShmDir: shmDir, Handler: h, MaxPayload: 64 << 20}, testEndpoint(t, "unix"))
	defer rs.stop(t)
	for _, tc := range []struct {
		name string
		pool int
		size int
		want frame.PayloadKind
	}{
		{"room", 1 << 20, 1 << 20, frame.PayloadShmPooled},
		{"no room", 1 << 20, 1<<20 + 1, frame.PayloadShm},
		{"no pool", -1, 100 << 10, frame.PayloadShm},
		{"over MaxPooledPayload", 1 << 30, MaxPooledPayload + 1, frame.PayloadShm},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Client{ShmDir: shmDir, ShmPoolBytes: tc.pool}
			defer c.Close()
			h.mu.Lock()
			clear(h.kinds)
			h.mu.Unlock()
			if ack, err := c.Send(context.Background(), rs.Endpoint, patternFrame(tc.size, 7), testKey); err != nil || ack.Code != frame.CodeOK {
				t.Fatalf("send: %v %v %s", err, ack.Code, ack.Reason)
			}
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.kinds[tc.want] != 1 {
				t.Errorf("payload kinds %v, want one %v", h.kinds, tc.want)
			}
		})
	}
}

// A Server checks a pooled reference as untrusted input: over the limit,
// a symlink, a missing file, a file shorter than the frame says: refused,
// and the handler never sees it. An empty one is served.
func TestPooledRefusals(t *testing.T) {
	leakcheck.Check(t)
	shmDir := t.TempDir()
	h := &checkingHandler{kinds: map[frame.PayloadKind]int{}, refs: map[string]bool{}}
	rs := startServer(t, &Server{Keys: testKeys, ShmDir: shmDir, Handler: h}, testEndpoint(t, "unix"))
	defer rs.stop(t)
	short := "100-0123456789abcdef.seg"
	if err := os.WriteFile(shmDir+"/"+short, []byte("tiny"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", shmDir+"/100-aaaaaaaaaaaaaaaa.seg"); err != nil {
		t.Fatal(err)
	}
	c := &Client{}
	defer c.Close()
	for _, tc := range []struct {
		name, ref string
		size      uint64
		code      frame.Code
		reason    string
	}{
		{"over the limit", short, MaxPooledPayload + 1, frame.CodeMalformed, "over the limit"},
		{"symlink", "100-aaaaaaaaaaaaaaaa.seg", 4, frame.CodeMalformed, "symbolic links"},
		{"missing", "100-bbbbbbbbbbbbbbbb.seg", 4, frame.CodeMalformed, "no such file"},
		{"shorter than said", short, 5, frame.CodeMalformed, "want at least"},
		{"traversal", "../" + short, 4, frame.CodeMalformed, "bad segment name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := stepFrame(nil)
			f.PayloadKind, f.Ref, f.Size = frame.PayloadShmPooled, tc.ref, tc.size
			f.Sign(testKey)
			ack, err := c.Send(context.Background(), rs.Endpoint, f, nil)
			if err != nil {
				t.Fatal(err)
			}
			if ack.Code != tc.code || !strings.Contains(ack.Reason, tc.reason) {
				t.Errorf("ack %v %q, want %v with %q", ack.Code, ack.Reason, tc.code, tc.reason)
			}
		})
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.kinds) != 0 {
		t.Errorf("the handler saw refused frames: %v", h.kinds)
	}
}

// A Server keeps at most maxViews pooled segments mapped, and a view is
// never unmapped under a copy in progress (run with -race).
func TestSegmentViewsBound(t *testing.T) {
	dir := t.TempDir()
	var names []string
	for i := range maxViews + 10 {
		name, mem, err := shm.CreateMapped(dir, 64<<10, time.Now().Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		copy(mem, pattern(64<<10, byte(i)))
		shm.Unmap(mem)
		names = append(names, name)
	}
	var v segmentViews
	defer v.close()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dst := make([]byte, 64<<10)
			for r := range 3 {
				for i, name := range names {
					if (i+g+r)%2 == 0 {
						continue
					}
					if err := v.copyOut(dir, name, dst); err != nil {
						t.Error(err)
						return
					}
					if !sameBytes(dst, pattern(64<<10, byte(i))) {
						t.Errorf("segment %d: other bytes", i)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.views) > maxViews || v.bytes != len(v.views)*(64<<10) {
		t.Errorf("%d views mapping %d bytes, want at most %d views of 64 KiB each", len(v.views), v.bytes, maxViews)
	}
}
