package transport

import (
	"fmt"
	"net"
	"os"
	"strings"
)

// ParseEndpoint splits an endpoint "unix:/path/to.sock", "tcp:host:port" or
// "rdma:host:port" into the network ("unix", "tcp" or "rdma") and the
// address. net.Dial takes the first two; "rdma" needs a Client.Dial and a
// listener from internal/transport/rdma (built with -tags rdma).
func ParseEndpoint(s string) (network, address string, err error) {
	scheme, addr, ok := strings.Cut(s, ":")
	if !ok || addr == "" {
		return "", "", fmt.Errorf("%w %q: want unix:/path, tcp:host:port or rdma:host:port", ErrBadEndpoint, s)
	}
	switch scheme {
	case "unix":
		return "unix", addr, nil
	case "tcp", "rdma":
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return "", "", fmt.Errorf("%w %q: %w", ErrBadEndpoint, s, err)
		}
		return scheme, addr, nil
	}
	return "", "", fmt.Errorf("%w %q: unknown scheme %q", ErrBadEndpoint, s, scheme)
}

// Listen opens a listener for endpoint. For "unix:" it first removes a stale
// socket file at the path (only a socket, never another kind of file) and
// makes the new socket mode 0660; for "tcp:" it listens on host:port (port 0
// picks a free port; see the listener's Addr).
func Listen(endpoint string) (net.Listener, error) {
	network, addr, err := ParseEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	if network == "rdma" {
		return nil, fmt.Errorf("transport: listen %s: rdma listeners come from internal/transport/rdma", endpoint)
	}
	if network == "unix" {
		if fi, err := os.Lstat(addr); err == nil && fi.Mode()&os.ModeSocket != 0 {
			if err := os.Remove(addr); err != nil {
				return nil, fmt.Errorf("transport: remove stale socket: %w", err)
			}
		}
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		return nil, fmt.Errorf("transport: listen %s: %w", endpoint, err)
	}
	if network == "unix" {
		if err := os.Chmod(addr, 0o660); err != nil {
			ln.Close()
			return nil, fmt.Errorf("transport: chmod socket: %w", err)
		}
	}
	return ln, nil
}
