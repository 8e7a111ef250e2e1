//go:build !rdma

package rdma

import (
	"context"
	"net"
)

// Listen would listen on the RDMA CM address addr; this binary was built without the
// rdma tag, so it returns an *Error wrapping ErrNotBuilt.
func Listen(addr string) (net.Listener, error) {
	return nil, &Error{Step: "listen", Addr: addr, Err: ErrNotBuilt}
}

// Dial would connect to the RDMA CM address addr; this binary was built without the
// rdma tag, so it returns an *Error wrapping ErrNotBuilt.
func Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	return nil, &Error{Step: "dial", Addr: addr, Err: ErrNotBuilt}
}
