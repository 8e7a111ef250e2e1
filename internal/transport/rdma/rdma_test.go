//go:build rdma

package rdma

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestNoDevice(t *testing.T) {
	if n, _ := deviceCount(); n > 0 {
		t.Skipf("this host has %d RDMA device(s), so the no-device errors cannot be seen here", n)
	}
	const addr = "10.0.0.2:7000"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for name, call := range map[string]func() error{
		"Listen": func() error { _, err := Listen(addr); return err },
		"Dial":   func() error { _, err := Dial(ctx, "rdma", addr); return err },
	} {
		t.Run(name, func(t *testing.T) {
			err := call()
			if !errors.Is(err, ErrNoDevice) {
				t.Fatalf("got %v, want an error wrapping ErrNoDevice", err)
			}
			if !strings.Contains(err.Error(), addr) || !strings.HasPrefix(err.Error(), "rdma: ") {
				t.Errorf("error %q does not start with \"rdma: \" and name %s", err, addr)
			}
		})
	}
}

func TestBadArguments(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		call func() error
	}{
		{"dial tcp network", func() error { _, err := Dial(ctx, "tcp", "10.0.0.2:7000"); return err }},
		{"dial no port", func() error { _, err := Dial(ctx, "rdma", "10.0.0.2"); return err }},
		{"dial no host", func() error { _, err := Dial(ctx, "rdma", ":7000"); return err }},
		{"listen bad port", func() error { _, err := Listen("10.0.0.2:x"); return err }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil || !strings.HasPrefix(err.Error(), "rdma: ") {
				t.Errorf("got %v, want an error starting with \"rdma: \"", err)
			}
		})
	}
}

// loopbackAddr returns an IP of a netdev an RDMA device is bound to, setting up
// Soft-RoCE (rdma_rxe) on the first up IPv4 interface if there is no device. It
// tries that once and skips when it does not work.
func loopbackAddr(t *testing.T) string {
	if a := os.Getenv("WSK_RDMA_ADDR"); a != "" {
		return a
	}
	iface, ip := firstIPv4(t)
	if n, _ := deviceCount(); n > 0 {
		return ip
	}
	var why []string
	if os.Geteuid() != 0 {
		why = append(why, "not root")
	} else {
		if out, err := exec.Command("modprobe", "rdma_rxe").CombinedOutput(); err != nil {
			why = append(why, "modprobe rdma_rxe: "+strings.Join(strings.Fields(string(out)+" "+err.Error()), " "))
		}
		out, err := exec.Command("rdma", "link", "add", "wskrxe0", "type", "rxe", "netdev", iface).CombinedOutput()
		if err != nil {
			why = append(why, "rdma link add wskrxe0 type rxe netdev "+iface+": "+strings.Join(strings.Fields(string(out)+" "+err.Error()), " "))
		} else {
			t.Cleanup(func() { exec.Command("rdma", "link", "delete", "wskrxe0").Run() })
		}
	}
	if n, _ := deviceCount(); n == 0 {
		t.Skipf("no RDMA device and Soft-RoCE is unavailable (%s): skipping the loopback round trip. "+
			"This skips under CI too: CI machines have no RDMA device. Set WSK_RDMA_ADDR=ip to use a configured device.",
			strings.Join(why, "; "))
	}
	return ip
}

func firstIPv4(t *testing.T) (string, string) {
	ifaces, _ := net.Interfaces()
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
				return ifc.Name, n.IP.String()
			}
		}
	}
	t.Skip("no up, non-loopback IPv4 interface to bind Soft-RoCE to: skipping the loopback round trip (this skips under CI too)")
	return "", ""
}

// TestLoopback round-trips bytes through a real QP (an RDMA NIC or Soft-RoCE): the
// server echoes, the client writes more than the whole window in one Write.
func TestLoopback(t *testing.T) {
	ip := loopbackAddr(t)
	ln, err := Listen(net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	defer ln.Close()
	served := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer c.Close()
		_, err = io.Copy(c, c)
		served <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := Dial(ctx, "rdma", ln.Addr().String())
	if err != nil {
		t.Fatalf("Dial %s: %v", ln.Addr(), err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	want := make([]byte, 3*bufCount*bufSize+123)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range want {
		want[i] = byte(rng.IntN(256))
	}
	wrote := make(chan error, 1)
	go func() {
		_, err := c.Write(want)
		wrote <- err
	}()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("ReadFull: %v", err)
	}
	if err := <-wrote; err != nil {
		t.Fatalf("Write: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("echoed bytes differ")
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-served; err != nil {
		t.Errorf("server io.Copy: %v", err)
	}
	if _, err := c.Read(got); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read after Close: got %v, want net.ErrClosed", err)
	}
}
