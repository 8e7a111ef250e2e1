package rdma

import (
	"fmt"
	"net"
	"strconv"
)

// Addr is the address of an RDMA CM endpoint: an IP address (of the netdev the RDMA
// device is bound to) and an RDMA_PS_TCP port.
type Addr struct {
	// IP is the address; nil or unspecified means any local address.
	IP net.IP
	// Port is the RDMA_PS_TCP port.
	Port int
}

var _ net.Addr = (*Addr)(nil)

// Network returns "rdma".
func (a *Addr) Network() string { return "rdma" }

// String returns "ip:port" ("[ip]:port" for IPv6).
func (a *Addr) String() string {
	if a == nil {
		return "<nil>"
	}
	host := ""
	if a.IP != nil {
		host = a.IP.String()
	}
	return net.JoinHostPort(host, strconv.Itoa(a.Port))
}

// splitAddr splits "host:port" and checks the port. An empty host is allowed
// (any address, for Listen).
func splitAddr(addr string) (host string, port int, err error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("rdma: address %q: %w", addr, err)
	}
	port, err = strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("rdma: address %q: bad port %q", addr, p)
	}
	return host, port, nil
}
