package routetest_test

// An unauthenticated peer sends maximum-size frames to every frame listener
// of a real agent and a real proxy, each a separate process: their RSS may
// grow by no more than the documented bound (transport.ServerMemoryBound of
// the listener's connection cap, plus the Go runtime's slack), however
// large the frames announce themselves. So does a proxy sent an oversized
// /init. See docs/route-plane.md, "What an unauthenticated peer can cost".

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/route"
	"github.com/wsk-route/wsk-route/action-proxy/server"
	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/transport"
)

// runtimeSlack is what a Go process's RSS may move by on its own under a
// burst of connections (heap growth before a GC, goroutine stacks, the
// scavenger's lag), over the listeners' documented bound.
const runtimeSlack = 16 << 20

// procMem returns VmRSS and VmHWM (peak RSS) of pid, in bytes.
func procMem(t *testing.T, pid int) (rss, hwm int64) {
	t.Helper()
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			t.Fatalf("%s: %q", k, v)
		}
		if k == "VmRSS" {
			rss = n << 10
		} else {
			hwm = n << 10
		}
	}
	return rss, hwm
}

// resetPeak resets pid's VmHWM to its current RSS (clear_refs 5, Linux
// 4.0+), so that the next VmHWM is the peak from now on.
func resetPeak(t *testing.T, pid int) {
	t.Helper()
	if err := os.WriteFile("/proc/"+strconv.Itoa(pid)+"/clear_refs", []byte("5"), 0); err != nil {
		t.Fatalf("resetting the peak RSS of %d: %v", pid, err)
	}
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return strings.TrimSpace(string(b))
}

// forgedHeader is the header of a step frame of namespace ns announcing an
// inline payload of size bytes, with a tag nobody computed: what a peer
// without the key can send.
func forgedHeader(t *testing.T, ns string, size uint64) []byte {
	t.Helper()
	f := &frame.Frame{Kind: frame.KindStep, RunID: "r", Workflow: "w", Step: "s", Namespace: ns, Target: "h1/p1", Seq: 7}
	for i := range f.Tag {
		f.Tag[i] = byte(i)
	}
	hdr, err := frame.AppendHeader(nil, f)
	if err != nil {
		t.Fatal(err)
	}
	binary.BigEndian.PutUint64(hdr[50:], size) // Size (version 3)
	hdr[58] = 1                                // a digest, as for a real payload
	return hdr
}

// legacyForged is a version 2 frame with a payload of the largest size a
// server reads before it can check the tag, and a wrong tag.
func legacyForged(ns string) []byte {
	payload := bytes.Repeat([]byte{'x'}, frame.MaxLegacyPayload)
	f := &frame.Frame{Kind: frame.KindStep, RunID: "r", Namespace: ns, Seq: 8, Payload: payload, Size: uint64(len(payload))}
	h3, _ := frame.AppendHeader(nil, f)
	h := append(append(append([]byte(nil), h3[:42]...), h3[50:58]...), h3[90:len(h3)-32]...)
	h[7] = frame.LegacyVersion
	binary.BigEndian.PutUint32(h, uint32(len(h)+32))
	return append(append(h, make([]byte, 32)...), payload...)
}

// flood sends hdr on a new connection to network/addr, then as many zeros
// as the server takes, until it closes the connection or 5 s pass.
func flood(network, addr string, hdr []byte) (int64, error) {
	c, err := net.Dial(network, addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(hdr); err != nil {
		return 0, nil
	}
	go io.Copy(io.Discard, c) // the server's refusal
	zeros := make([]byte, 1<<20)
	var sent int64
	for {
		n, err := c.Write(zeros)
		sent += int64(n)
		if err != nil {
			return sent, nil
		}
	}
}

// holdConns opens n connections to network/addr, each sending all but the
// last byte of a largest-size header, and closes them after hold. It
// returns how many it opened.
func holdConns(t *testing.T, network, addr string, n int, hold time.Duration) int {
	t.Helper()
	part := forgedHeader(t, "guest", frame.DefaultMaxPayload)
	hdr := make([]byte, frame.MaxHeader)
	copy(hdr, part[:8])
	binary.BigEndian.PutUint32(hdr, frame.MaxHeader) // announces the largest header
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := net.Dial(network, addr)
		if err != nil {
			break
		}
		conns = append(conns, c)
		c.Write(hdr[:frame.MaxHeader-1]) // all but the last byte: the server waits for it
	}
	time.Sleep(hold)
	return len(conns)
}

// attackFrames runs the attacks on one listener: rounds of concurrent
// frames announcing the largest payload with a forged tag (of the served
// namespace and of another), version 2 frames read before their tag is
// checked, and more connections than the cap, each holding a header.
func attackFrames(t *testing.T, network, addr string, maxConns int) {
	t.Helper()
	const concurrent, rounds = 8, 3
	var wg sync.WaitGroup
	var mu sync.Mutex
	var sent int64
	for r := range rounds {
		for i := range concurrent {
			ns := "guest"
			if i%2 == 1 {
				ns = "elsewhere"
			}
			hdr := forgedHeader(t, ns, frame.DefaultMaxPayload)
			if r == rounds-1 && i%4 == 3 {
				hdr = legacyForged("guest")
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, err := flood(network, addr, hdr)
				if err != nil {
					t.Errorf("%s %s: %v", network, addr, err)
				}
				mu.Lock()
				sent += n
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	held := holdConns(t, network, addr, maxConns+maxConns/8, 2*time.Second)
	t.Logf("%s %s: %d frames announcing %d MiB each; %d MiB of payload got into socket buffers; then %d connections opened at once, each sending most of a 16 KiB header (cap %d: the rest are closed as they come)",
		network, addr, concurrent*rounds, frame.DefaultMaxPayload>>20, sent>>20, held, maxConns)
}

// TestUnauthenticatedFramesRSS: maximum-size frames and connection floods
// from a peer without the key move the RSS of a real agent (relay port,
// frame socket) and a real proxy (TCP frame listener) by less than the
// documented bound.
func TestUnauthenticatedFramesRSS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Consul, an agent and a proxy, and floods them")
	}
	consul := startConsul(t)
	relayAddr := "127.0.0.1:" + strconv.Itoa(freePort(t, nil))
	h := startHost(t, "h1", consul, relayAddr, "", nil)
	tcpAddr := "127.0.0.1:" + strconv.Itoa(freePort(t, nil))
	a := startAction(t, h, "p1", "memattack", "upper", route.EnvTCPListen+"="+tcpAddr)
	waitFor(t, 20*time.Second, "the proxy's TCP frame listener", func() bool {
		c, err := net.Dial("tcp", tcpAddr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	time.Sleep(time.Second) // let start-up settle

	for _, tt := range []struct {
		name, network, addr string
		pid, maxConns       int
	}{
		{"agent relay port", "tcp", relayAddr, h.agent.cmd.Process.Pid, agentRelayMaxConns},
		{"agent frame socket", "unix", filepath.Join(h.runDir, "agent-frames.sock"), h.agent.cmd.Process.Pid, agentRelayMaxConns},
		{"proxy tcp frame listener", "tcp", tcpAddr, a.proc.cmd.Process.Pid, transport.DefaultMaxConns},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resetPeak(t, tt.pid)
			rss0, _ := procMem(t, tt.pid)
			attackFrames(t, tt.network, tt.addr, tt.maxConns)
			rss1, peak := procMem(t, tt.pid)
			bound := int64(transport.ServerMemoryBound(tt.maxConns) + runtimeSlack)
			grew := max(rss1, peak) - rss0
			t.Logf("%s: RSS %.1f MiB before, %.1f MiB after, peak %.1f MiB: grew by %.1f MiB; bound %.1f MiB; load average %s",
				tt.name, mib(rss0), mib(rss1), mib(peak), mib(grew), mib(bound), loadavg())
			if grew > bound {
				t.Errorf("%s: RSS grew by %d bytes, over the bound of %d", tt.name, grew, bound)
			}
		})
	}

	t.Run("proxy /init", func(t *testing.T) {
		// A proxy not initialised yet (an initialised one refuses a second
		// /init before reading it), in stock mode.
		addr := "127.0.0.1:" + strconv.Itoa(freePort(t, nil))
		cmd := h.cmd(bins.proxy, "-listen", addr)
		cmd.Dir = t.TempDir()
		p := startProc(t, "proxy for /init", cmd)
		waitFor(t, 20*time.Second, "the proxy's /init port", func() bool {
			c, err := net.Dial("tcp", addr)
			if err == nil {
				c.Close()
			}
			return err == nil
		})
		time.Sleep(500 * time.Millisecond)
		pid := p.cmd.Process.Pid
		const size = 300 << 20
		for _, announced := range []bool{true, false} {
			resetPeak(t, pid)
			rss0, _ := procMem(t, pid)
			body := io.LimitReader(zeroReader{}, size)
			req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/init", body)
			if err != nil {
				t.Fatal(err)
			}
			if announced {
				req.ContentLength = size
			}
			resp, err := http.DefaultClient.Do(req)
			status := 0
			if err == nil {
				status = resp.StatusCode
				resp.Body.Close()
			}
			rss1, peak := procMem(t, pid)
			grew := max(rss1, peak) - rss0
			// Over the bound, at most the bound is read, in chunks, before
			// the refusal, and given back to the OS after it.
			bound := int64(runtimeSlack)
			if !announced {
				bound += server.DefaultMaxInitBytes
			}
			t.Logf("/init of %d MiB (length announced %v): %d; RSS %.1f MiB before, peak %.1f MiB, %.1f MiB after: grew by %.1f MiB; bound %.0f MiB; load average %s",
				size>>20, announced, status, mib(rss0), mib(peak), mib(rss1), mib(grew), mib(bound), loadavg())
			// Over twice the bound the proxy does not wait for the rest of
			// the body: the client may see its connection reset instead.
			if err == nil && status != http.StatusRequestEntityTooLarge {
				t.Errorf("/init of %d MiB: status %d; want 413", size>>20, status)
			}
			if grew > bound {
				t.Errorf("/init of %d MiB (announced %v): RSS grew by %d MiB, over %d MiB", size>>20, announced, grew>>20, bound>>20)
			}
		}
	})
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// agentRelayMaxConns is the agent's connection cap per frame listener
// (invoker-plugin/agent relayMaxConns).
const agentRelayMaxConns = 512
