//go:build !linux

package proxyconn

import (
	"fmt"
	"net"
)

// LookupPeer is the default PeerFunc; peer credentials are read only on
// Linux, so here it always fails.
func LookupPeer(net.Conn) (Peer, error) {
	return Peer{}, fmt.Errorf("%w: peer credentials are read only on Linux", ErrUnidentified)
}
