package transport

import (
	"context"
	"io"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/internal/frame"
)

var benchSizes = []struct {
	name string
	n    int
}{{"1KiB", 1 << 10}, {"64KiB", 64 << 10}, {"1MiB", 1 << 20}, {"64MiB", 64 << 20}}

// benchShmDir is a tmpfs directory when /dev/shm is usable, else a temp dir.
func benchShmDir(b *testing.B) string {
	if d, err := os.MkdirTemp("/dev/shm", "wsk-tr-bench-"); err == nil {
		b.Cleanup(func() { os.RemoveAll(d) })
		return d
	}
	return b.TempDir()
}

var benchSink byte

// touchHandler reads one byte per page of the payload, then releases it.
var touchHandler = HandlerFunc(func(ctx context.Context, d *Delivery) (frame.Code, string) {
	p := d.Payload()
	var s byte
	for i := 0; i < len(p); i += 4096 {
		s += p[i]
	}
	benchSink = s
	d.Release()
	return frame.CodeOK, ""
})

// BenchmarkHop is one hop: Send, the handler touches the payload and
// releases it, the ack comes back. Compare with BenchmarkRawPingPong.
func BenchmarkHop(b *testing.B) {
	for _, mode := range []string{"unix", "unix-shm", "tcp"} {
		b.Run(mode, func(b *testing.B) {
			shmDir := benchShmDir(b)
			network := strings.TrimSuffix(mode, "-shm")
			rs := startServer(b, &Server{Keys: testKeys, ShmDir: shmDir, Handler: touchHandler, MaxPayload: 128 << 20}, testEndpoint(b, network))
			c := &Client{ShmDir: shmDir, ShmThreshold: -1, AckTimeout: 0}
			if mode == "unix-shm" {
				c.ShmThreshold = 1
			}
			defer c.Close()
			for _, sz := range benchSizes {
				b.Run(sz.name, func(b *testing.B) {
					f := stepFrame(pattern(sz.n, 1))
					ctx := context.Background()
					if _, err := c.Send(ctx, rs.Endpoint, f, testKey); err != nil {
						b.Fatal(err)
					}
					b.SetBytes(int64(sz.n))
					b.ReportAllocs()
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						ack, err := c.Send(ctx, rs.Endpoint, f, testKey)
						if err != nil || ack.Code != frame.CodeOK {
							b.Fatalf("Send: %v %v %q", err, ack.Code, ack.Reason)
						}
					}
				})
			}
		})
	}
}

// BenchmarkRawPingPong is the baseline for BenchmarkHop: plain sockets,
// write N bytes, read a 1-byte ack.
func BenchmarkRawPingPong(b *testing.B) {
	for _, network := range []string{"unix", "tcp"} {
		b.Run(network, func(b *testing.B) {
			for _, sz := range benchSizes {
				b.Run(sz.name, func(b *testing.B) {
					_, addr, _ := ParseEndpoint(testEndpoint(b, network))
					ln, err := net.Listen(network, addr)
					if err != nil {
						b.Fatal(err)
					}
					done := make(chan struct{})
					go func() {
						defer close(done)
						c, err := ln.Accept()
						if err != nil {
							return
						}
						defer c.Close()
						buf := make([]byte, sz.n)
						ack := []byte{1}
						for {
							if _, err := io.ReadFull(c, buf); err != nil {
								return
							}
							if _, err := c.Write(ack); err != nil {
								return
							}
						}
					}()
					defer func() { ln.Close(); <-done }()
					conn, err := net.Dial(network, ln.Addr().String())
					if err != nil {
						b.Fatal(err)
					}
					defer conn.Close()
					data := pattern(sz.n, 1)
					var ack [1]byte
					b.SetBytes(int64(sz.n))
					b.ReportAllocs()
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						if _, err := conn.Write(data); err != nil {
							b.Fatal(err)
						}
						if _, err := io.ReadFull(conn, ack[:]); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}

// TestHopAllocs is the allocation budget of a small unix hop (client and
// server together, the Reader's payload and string copies included).
func TestHopAllocs(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("allocation counts mean nothing under -race or -cover")
	}
	rs := startServer(t, &Server{Keys: testKeys, Handler: touchHandler}, testEndpoint(t, "unix"))
	c := &Client{}
	defer c.Close()
	f := stepFrame(pattern(1<<10, 1))
	ctx := context.Background()
	if _, err := c.Send(ctx, rs.Endpoint, f, testKey); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := c.Send(ctx, rs.Endpoint, f, testKey); err != nil {
			t.Fatal(err)
		}
	})
	// 5 measured (12 before the client's Sends read their own acks,
	// without a reader goroutine's hand-off per ack).
	const budget = 6
	if allocs > budget {
		t.Errorf("%v allocations per hop, budget %d", allocs, budget)
	}
	t.Logf("%v allocations per hop", allocs)
}
