package fdpass

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// MaxMessage bounds the message sent beside a descriptor.
const MaxMessage = 4096

// ErrNoDescriptor is returned (wrapped) by Receive when the message came
// without exactly one descriptor.
var ErrNoDescriptor = errors.New("fdpass: no descriptor in the message")

// Send writes msg (1 to MaxMessage bytes) and the descriptor of f on c in
// one message. f stays open in the sender; the receiver gets a descriptor
// of its own for the same open file.
func Send(c *net.UnixConn, msg []byte, f *os.File) error {
	if len(msg) == 0 || len(msg) > MaxMessage {
		return fmt.Errorf("fdpass: message of %d bytes, want 1 to %d", len(msg), MaxMessage)
	}
	n, oobn, err := c.WriteMsgUnix(msg, unix.UnixRights(int(f.Fd())), nil)
	if err != nil {
		return fmt.Errorf("fdpass: send: %w", err)
	}
	if n != len(msg) || oobn == 0 {
		return fmt.Errorf("fdpass: send: short write (%d of %d bytes)", n, len(msg))
	}
	return nil
}

// Receive reads one message sent by Send and returns its bytes and the
// descriptor that came with it, as an *os.File named name. Descriptors
// beyond the first, or sent with a message that is not one, are closed.
func Receive(c *net.UnixConn, name string) ([]byte, *os.File, error) {
	buf := make([]byte, MaxMessage)
	oob := make([]byte, unix.CmsgSpace(4*4)) // room for a few, so extras are seen and closed
	n, oobn, flags, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, nil, fmt.Errorf("fdpass: receive: %w", err)
	}
	fds, perr := parseRights(oob[:oobn])
	if perr != nil || flags&unix.MSG_CTRUNC != 0 || len(fds) != 1 || n == 0 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		if perr != nil {
			return nil, nil, fmt.Errorf("fdpass: receive: %w", perr)
		}
		// The other side says why in the message, when it sent one.
		return nil, nil, fmt.Errorf("%w (%d descriptors): %q", ErrNoDescriptor, len(fds), buf[:min(n, 512)])
	}
	return buf[:n], os.NewFile(uintptr(fds[0]), name), nil
}

// parseRights returns the descriptors of every SCM_RIGHTS message in oob.
func parseRights(oob []byte) ([]int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var fds []int
	for i := range msgs {
		if msgs[i].Header.Level != unix.SOL_SOCKET || msgs[i].Header.Type != unix.SCM_RIGHTS {
			continue
		}
		got, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			for _, fd := range fds {
				unix.Close(fd)
			}
			return nil, err
		}
		fds = append(fds, got...)
	}
	return fds, nil
}

// Fetch connects to the unix socket at path, writes request and returns
// the message and descriptor the other side answers with (by Send). ctx
// bounds the whole exchange.
func Fetch(ctx context.Context, path string, request []byte, name string) ([]byte, *os.File, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, nil, fmt.Errorf("fdpass: %w", err)
	}
	defer c.Close()
	uc := c.(*net.UnixConn)
	if dl, ok := ctx.Deadline(); ok {
		uc.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { uc.SetDeadline(time.Now()) })
	defer stop()
	if _, err := uc.Write(request); err != nil {
		return nil, nil, fmt.Errorf("fdpass: %w", err)
	}
	return Receive(uc, name)
}
