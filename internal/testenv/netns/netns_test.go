package netns_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/testenv/netns"
)

// helperEnv makes the test binary act as a helper process instead of running tests.
const helperEnv = "NETNS_TEST_HELPER"

func TestMain(m *testing.M) {
	if addr := os.Getenv(helperEnv); addr != "" {
		os.Exit(echoServer(addr))
	}
	os.Exit(m.Run())
}

// echoServer listens on addr, prints "listening <addr>" and echoes every connection
// line by line until killed.
func echoServer(addr string) int {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	fmt.Println("listening", l.Addr())
	for {
		c, err := l.Accept()
		if err != nil {
			return 1
		}
		go func() {
			defer c.Close()
			_, _ = io.Copy(c, c)
		}()
	}
}

// startEcho re-executes the test binary as an echo server inside h on port and
// waits until it accepts connections from h itself.
func startEcho(t *testing.T, h *netns.Host, port int) *netns.Proc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort(h.IP, fmt.Sprint(port))
	p := h.Start(t, "env", helperEnv+"="+addr, exe)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.Output(), "listening") {
		select {
		case <-p.Done():
			t.Fatalf("echo helper exited: %v; output:\n%s", p.Wait(), p.Output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("echo helper not listening after 10s; output:\n%s", p.Output())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return p
}

// checkEventually polls h.CheckTCP(addr) until it succeeds or 5s pass.
func checkEventually(t *testing.T, h *netns.Host, addr string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		err := h.CheckTCP(ctx, addr)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s cannot reach %s: %v", h.Name, addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestReach(t *testing.T) {
	n := netns.New(t, netns.Options{Hosts: 2})
	h1, h2 := n.Hosts[0], n.Hosts[1]
	t.Logf("bridge %s, %s=%s, %s=%s", n.BridgeIP, h1.Name, h1.IP, h2.Name, h2.IP)

	t.Run("process in h1, dial from h2", func(t *testing.T) {
		p := startEcho(t, h1, 7001)
		c, err := h2.Dial(context.Background(), "tcp", h1.IP+":7001")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, "hello\n"); err != nil {
			t.Fatal(err)
		}
		got, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || got != "hello\n" {
			t.Fatalf("echo: got %q, %v; want %q", got, err, "hello\n")
		}
		if err := p.Kill(); err == nil {
			t.Errorf("Kill: got nil error from a killed process, want its exit status")
		}
		if !strings.Contains(p.Output(), "listening "+h1.IP+":7001") {
			t.Errorf("Output: got %q, want the helper's listening line", p.Output())
		}
	})

	t.Run("listener in h2, dial from h1", func(t *testing.T) {
		l, err := h2.Listen("tcp", h2.IP+":0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		checkEventually(t, h1, l.Addr().String())
	})

	t.Run("bridge IP from both", func(t *testing.T) {
		l, err := net.Listen("tcp", n.BridgeIP+":0") // root namespace, as Consul would
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() { // ends when l is closed
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		for _, h := range n.Hosts {
			checkEventually(t, h, l.Addr().String())
		}
	})

	t.Run("own namespace only", func(t *testing.T) {
		// A listener on 127.0.0.1 in h1 is invisible from h2's loopback.
		l, err := h1.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		if err := h2.CheckTCP(ctx, l.Addr().String()); err == nil {
			t.Errorf("h2 reached h1's loopback listener %s", l.Addr())
		}
	})

	t.Run("Command", func(t *testing.T) {
		out, err := h1.Command("ip", "-4", "-o", "addr", "show", "dev", "eth0").CombinedOutput()
		if err != nil || !strings.Contains(string(out), h1.IP+"/24") {
			t.Fatalf("ip addr in %s: got %q, %v; want %s/24", h1.Name, out, err, h1.IP)
		}
	})
}

// connectTime returns the fastest of a few TCP connects from h to addr.
func connectTime(t *testing.T, h *netns.Host, addr string) time.Duration {
	t.Helper()
	best := time.Duration(1<<63 - 1)
	for range 5 {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := h.CheckTCP(ctx, addr)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		best = min(best, time.Since(start))
	}
	return best
}

func TestDelay(t *testing.T) {
	n := netns.New(t, netns.Options{Hosts: 2})
	h1, h2 := n.Hosts[0], n.Hosts[1]
	l, err := h2.Listen("tcp", h2.IP+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := l.Addr().String()
	checkEventually(t, h1, addr)

	const d = 80 * time.Millisecond
	base := connectTime(t, h1, addr)
	if err := n.Delay(h1, d); err != nil {
		t.Fatal(err)
	}
	checkEventually(t, h1, addr)
	delayed := connectTime(t, h1, addr)
	t.Logf("connect time %s -> %s: %v without delay, %v with Delay(%v)", h1.Name, h2.Name, base, delayed, d)
	if delayed < d/2 {
		t.Errorf("connect time with Delay(%v): got %v, want more than %v", d, delayed, d/2)
	}
	t.Run("bulk transfer while delayed", func(t *testing.T) {
		bulkTransfer(t, h1, h2, 1<<20)
		bulkTransfer(t, h2, h1, 1<<20)
	})
	if err := n.Delay(h1, 0); err != nil {
		t.Fatal(err)
	}
	checkEventually(t, h1, addr)
	after := connectTime(t, h1, addr)
	t.Logf("connect time after Delay(0): %v", after)
	if after >= d/2 {
		t.Errorf("connect time after Delay(0): got %v, want less than %v", after, d/2)
	}
}

func TestPartition(t *testing.T) {
	n := netns.New(t, netns.Options{Hosts: 2})
	h1, h2 := n.Hosts[0], n.Hosts[1]
	l, err := h2.Listen("tcp", h2.IP+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := l.Addr().String()
	checkEventually(t, h1, addr)

	if err := n.Partition(h1); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	err = h1.CheckTCP(ctx, addr)
	cancel()
	if err == nil {
		t.Fatalf("%s reached %s while partitioned", h1.Name, addr)
	}
	t.Logf("while partitioned: %v", err)
	if err := n.Heal(h1); err != nil {
		t.Fatal(err)
	}
	checkEventually(t, h1, addr)

	other := netns.New(t, netns.Options{Hosts: 1})
	if err := n.Partition(other.Hosts[0]); !errors.Is(err, netns.ErrNotMember) {
		t.Errorf("Partition of another net's host: got %v, want ErrNotMember", err)
	}
}

func TestCleanup(t *testing.T) {
	var names []string
	var bridgeIP string
	t.Run("net", func(t *testing.T) {
		n := netns.New(t, netns.Options{Hosts: 3})
		bridgeIP = n.BridgeIP
		for _, h := range n.Hosts {
			names = append(names, h.Name)
		}
		if err := n.Delay(n.Hosts[0], 10*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		startEcho(t, n.Hosts[1], 7002)
	})
	if len(names) == 0 {
		t.Skip("the net was not made")
	}
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v: %s", err, out)
	}
	for _, name := range names {
		if strings.Contains(string(out), name) {
			t.Errorf("namespace %s left behind; ip netns list:\n%s", name, out)
		}
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if strings.HasPrefix(a.String(), bridgeIP+"/") {
			t.Errorf("bridge address %s left behind", a)
		}
	}
	prefix := strings.TrimSuffix(names[0], "-h1")
	links, _ := exec.Command("ip", "-o", "link").CombinedOutput()
	if strings.Contains(string(links), prefix) {
		t.Errorf("links named %s* left behind:\n%s", prefix, links)
	}
	if rules, err := exec.Command("iptables", "-S", "FORWARD").CombinedOutput(); err == nil && strings.Contains(string(rules), prefix) {
		t.Errorf("iptables rules for %s left behind:\n%s", prefix, rules)
	}
}

func TestSubnetPrefix(t *testing.T) {
	good := []struct{ in, want string }{
		{"10.231.7.0/24", "10.231.7."},
		{"192.168.50.9/24", "192.168.50."},
	}
	for _, tc := range good {
		t.Run(tc.in, func(t *testing.T) {
			got, err := netns.SubnetPrefix(tc.in)
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	t.Run("empty", func(t *testing.T) {
		got, err := netns.SubnetPrefix("")
		if err != nil || !strings.HasPrefix(got, "10.231.") {
			t.Fatalf("got %q, %v; want 10.231.X.", got, err)
		}
	})
	for _, in := range []string{"10.231.7.0/16", "10.231.7.0", "fd00::/24", "nonsense", "10.231.7.0/25"} {
		t.Run("bad "+in, func(t *testing.T) {
			if got, err := netns.SubnetPrefix(in); err == nil {
				t.Fatalf("got %q, nil; want an error", got)
			}
		})
	}
}

// bulkTransfer sends size bytes from a to a listener in b and checks they all arrive.
func bulkTransfer(t *testing.T, a, b *netns.Host, size int) {
	t.Helper()
	l, err := b.Listen("tcp", b.IP+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan int64, 1)
	go func() { // ends after one connection, or when l is closed
		c, err := l.Accept()
		if err != nil {
			got <- -1
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(20 * time.Second))
		nr, _ := io.Copy(io.Discard, c)
		got <- nr
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := a.Dial(ctx, "tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	start := time.Now()
	nw, err := c.Write(make([]byte, size))
	c.Close()
	if err != nil {
		t.Fatalf("write %d bytes %s -> %s: wrote %d: %v", size, a.Name, b.Name, nw, err)
	}
	if nr := <-got; nr != int64(size) {
		t.Fatalf("%s -> %s: received %d bytes, want %d", a.Name, b.Name, nr, size)
	}
	t.Logf("%s -> %s: %d bytes in %v", a.Name, b.Name, size, time.Since(start))
}
