package rdma

import (
	"errors"
	"strings"
)

// ErrNotBuilt is returned by Listen and Dial in a binary built without the rdma tag.
var ErrNotBuilt = errors.New("rdma: built without the rdma tag (go build -tags rdma; needs libibverbs-dev and librdmacm-dev)")

// ErrNoDevice is wrapped by the error Listen and Dial return when ibv_get_device_list
// finds no RDMA device on this host (no NIC, and no Soft-RoCE/rdma_rxe link configured).
var ErrNoDevice = errors.New("rdma: no RDMA device")

// ErrPeerClosed is wrapped by the error Write returns after the peer closed or
// disconnected the connection.
var ErrPeerClosed = errors.New("rdma: connection closed by peer")

// errProtocol is wrapped by errors about messages that break the wire protocol
// (bad header, overrun of posted receives, impossible credit grant).
var errProtocol = errors.New("rdma: protocol violation")

// Error reports a failed step of the transport: the verbs or rdma_cm call (or the
// protocol check) that failed, the address it was working on, and the cause, which is
// a syscall.Errno when the C library reported one (so errors.Is(err, syscall.ENODEV)
// works) or one of this package's sentinel errors.
type Error struct {
	// Step names what failed, usually the C function ("rdma_resolve_addr").
	Step string
	// Addr is the "ip:port" address involved, empty when there is none.
	Addr string
	// Err is the cause.
	Err error
}

// Error returns "rdma: <step> <addr>: <cause>".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("rdma: ")
	b.WriteString(e.Step)
	if e.Addr != "" {
		b.WriteByte(' ')
		b.WriteString(e.Addr)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(strings.TrimPrefix(e.Err.Error(), "rdma: "))
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }
