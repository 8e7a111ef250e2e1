package fdpass_test

import (
	"bytes"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/wsk-route/wsk-route/internal/fdpass"
)

// pair returns two connected unix stream sockets.
func pair(t *testing.T) (*net.UnixConn, *net.UnixConn) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan *net.UnixConn, 1)
	go func() {
		c, err := ln.AcceptUnix()
		if err != nil {
			done <- nil
			return
		}
		done <- c
	}()
	a, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	b := <-done
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func TestSendReceiveListener(t *testing.T) {
	a, b := pair(t)
	// The descriptor handed over is a listening socket, as the agent's is.
	path := filepath.Join(t.TempDir(), "frames.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	f, err := ln.File()
	if err != nil {
		t.Fatal(err)
	}
	if err := fdpass.Send(a, []byte("ok"), f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	ln.Close() // the sender's copies are gone; the receiver's keeps the socket

	msg, got, err := fdpass.Receive(b, "frames")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(msg, []byte("ok")) {
		t.Fatalf("message %q", msg)
	}
	rl, err := net.FileListener(got)
	got.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer rl.Close()
	go func() {
		c, err := net.Dial("unix", path)
		if err == nil {
			c.Write([]byte("x"))
			c.Close()
		}
	}()
	c, err := rl.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func TestReceiveWithoutDescriptor(t *testing.T) {
	a, b := pair(t)
	if _, err := a.Write([]byte("no fd")); err != nil {
		t.Fatal(err)
	}
	_, _, err := fdpass.Receive(b, "x")
	if !errors.Is(err, fdpass.ErrNoDescriptor) {
		t.Fatalf("got %v, want ErrNoDescriptor", err)
	}
}

func TestSendRefusesBadMessage(t *testing.T) {
	a, _ := pair(t)
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, msg := range [][]byte{nil, make([]byte, fdpass.MaxMessage+1)} {
		if err := fdpass.Send(a, msg, f); err == nil {
			t.Errorf("Send of %d bytes: no error", len(msg))
		}
	}
}
