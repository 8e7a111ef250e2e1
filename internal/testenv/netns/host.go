package netns

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// Command returns an exec.Cmd that runs name with args inside h's namespace, as
// `ip netns exec <h.Name> name args...`. The caller starts and waits for it; Start
// is the variant whose process is logged and killed at cleanup.
func (h *Host) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", h.Name, name}, args...)...)
}

// Dial connects to address (an IP literal and port) from inside h's namespace.
func (h *Host) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	var c net.Conn
	err := h.do(func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, network, address)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netns: %s: dial %s: %w", h.Name, address, err)
	}
	return c, nil
}

// Listen announces on address (an IP literal or empty host, and a port) inside h's
// namespace. Connections it accepts belong to that namespace too.
func (h *Host) Listen(network, address string) (net.Listener, error) {
	var l net.Listener
	err := h.do(func() error {
		var err error
		l, err = net.Listen(network, address)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netns: %s: listen %s: %w", h.Name, address, err)
	}
	return l, nil
}

// CheckTCP reports whether a TCP connection to address can be opened from h within
// ctx (or 2 seconds when ctx has no deadline); the connection is closed at once.
func (h *Host) CheckTCP(ctx context.Context, address string) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
	}
	c, err := h.Dial(ctx, "tcp", address)
	if err != nil {
		return err
	}
	return c.Close()
}

// do runs f on an OS thread switched into h's namespace. Sockets f creates stay in
// that namespace. The thread is thrown away if it cannot be switched back.
func (h *Host) do(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		self, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open own netns: %w", err)
			return
		}
		defer unix.Close(self)
		target, err := unix.Open("/run/netns/"+h.Name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open netns %s: %w", h.Name, err)
			return
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns %s: %w", h.Name, err)
			return
		}
		ferr := f()
		if err := unix.Setns(self, unix.CLONE_NEWNET); err != nil {
			// Stay locked: the runtime ends the thread when this goroutine returns.
			errc <- fmt.Errorf("setns back from %s: %w", h.Name, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}
