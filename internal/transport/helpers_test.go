package transport

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/frame"
)

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// socketDir returns a short temporary directory for unix sockets (their
// paths are limited to about 100 bytes, too short for t.TempDir under long
// test names).
func socketDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "wsktr")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// testEndpoint returns a fresh endpoint of network ("unix" or "tcp").
func testEndpoint(t testing.TB, network string) string {
	if network == "unix" {
		return "unix:" + filepath.Join(socketDir(t), "s.sock")
	}
	return "tcp:127.0.0.1:0"
}

// runningServer is a Server serving in the background.
type runningServer struct {
	Endpoint string
	cancel   context.CancelFunc
	done     chan error
}

// startServer serves s on endpoint until stop or the test's cleanup. A tcp
// endpoint with port 0 is replaced by the bound address.
func startServer(t testing.TB, s *Server, endpoint string) *runningServer {
	t.Helper()
	ln, err := Listen(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(endpoint, "tcp:") {
		endpoint = "tcp:" + ln.Addr().String()
	}
	ctx, cancel := context.WithCancel(context.Background())
	rs := &runningServer{Endpoint: endpoint, cancel: cancel, done: make(chan error, 1)}
	go func() { rs.done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() { rs.stop(t) })
	return rs
}

// stop cancels Serve and checks that it returns nil promptly. Idempotent.
func (rs *runningServer) stop(t testing.TB) {
	t.Helper()
	if rs.cancel == nil {
		return
	}
	rs.cancel()
	rs.cancel = nil
	select {
	case err := <-rs.done:
		if err != nil {
			t.Errorf("Serve returned %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("Serve did not return within 5s of cancel")
	}
}

// pattern returns n deterministic bytes that differ from offset to offset.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i) ^ byte(i>>9) ^ seed
	}
	return b
}

// stepFrame returns a step frame carrying payload.
func stepFrame(payload []byte) *frame.Frame {
	return &frame.Frame{
		Kind:      frame.KindStep,
		RunID:     "run-1",
		Workflow:  "wf",
		Step:      "b",
		Namespace: "ns",
		Payload:   payload,
		Size:      uint64(len(payload)),
	}
}

var testKey = []byte("0123456789abcdef0123456789abcdef")

// testKeys serves namespace "ns" (stepFrame's) with testKey.
func testKeys(ns string) ([]byte, bool) {
	if ns == "ns" {
		return testKey, true
	}
	return nil, false
}

// legacyEncode encodes f as a version 2 sender did, signed with key: the
// version 3 header without AcceptBy and Digest, and a tag over the header
// and the payload's SHA-256.
func legacyEncode(t testing.TB, f *frame.Frame, key []byte) []byte {
	t.Helper()
	g := *f
	g.Digest, g.AcceptBy, g.Size = [32]byte{}, 0, uint64(len(g.Payload))
	h3, err := frame.AppendHeader(nil, &g)
	if err != nil {
		t.Fatal(err)
	}
	h := append(append(append([]byte(nil), h3[:42]...), h3[50:58]...), h3[90:len(h3)-32]...)
	h[7] = frame.LegacyVersion
	binary.BigEndian.PutUint32(h, uint32(len(h)+32))
	digest := sha256.Sum256(g.Payload)
	m := hmac.New(sha256.New, key)
	m.Write(h[4:12])
	m.Write(h[20:])
	m.Write(digest[:])
	return append(m.Sum(h), g.Payload...)
}

// signed signs f with testKey, for frames sent with key nil.
func signed(f *frame.Frame) *frame.Frame {
	f.Sign(testKey)
	return f
}

func sameBytes(a, b []byte) bool { return bytes.Equal(a, b) }
