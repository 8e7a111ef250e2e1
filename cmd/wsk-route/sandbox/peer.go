package sandbox

import (
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox/invoker"
	"github.com/wsk-route/wsk-route/invoker-plugin/proxyconn"
)

// peerGrace is how long an unknown peer pid is looked up again.
const peerGrace = 2 * time.Second

// peerController is the cgroup controller of the identities that
// peerByContainer gives process-mode peers.
const peerController = "wsk-route-dev"

// namespaceOf returns the namespace of a fully qualified action name.
func namespaceOf(fqn string) string {
	ns, _, _ := strings.Cut(strings.TrimPrefix(fqn, "/"), "/")
	return ns
}

// peerByContainer identifies the proxies of process mode. They all share
// the sandbox's cgroup, so the agent's usual identity (the peer's cgroup)
// would bind every container to the first namespace that registers.
// Instead the kernel's peer pid (SO_PEERCRED) is looked up among the
// invoker's containers, and each container gets an identity of its own,
// and the namespace of the action it was started for (the agent refuses
// a claim of any other namespace): the tenancy rules of a real invoker host hold between the sandbox's
// containers too. The sandbox's own process (where tests, benchmarks and
// in-process entries run route planes) is the peer "sandbox"; any other
// peer is refused.
func peerByContainer(inv *invoker.Invoker) proxyconn.PeerFunc {
	self := int32(os.Getpid())
	return func(conn net.Conn) (proxyconn.Peer, error) {
		p, err := proxyconn.LookupPeer(conn)
		if err != nil {
			return proxyconn.Peer{}, err
		}
		if p.PID == self {
			return proxyconn.Peer{PID: p.PID, Cgroup: proxyconn.Cgroup{Controller: peerController, Path: "/sandbox"}}, nil
		}
		name, action, ok := inv.ContainerOfPID(p.PID)
		// The invoker records a proxy's pid right after starting it; a
		// proxy quick to connect (or an invoker goroutine slow to run, on
		// a loaded machine) can beat it. An unknown pid is looked up again
		// for a moment before it is refused.
		for deadline := time.Now().Add(peerGrace); !ok && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
			name, action, ok = inv.ContainerOfPID(p.PID)
		}
		if !ok {
			return proxyconn.Peer{}, fmt.Errorf("%w: pid %d is not a container of the sandbox's invoker", proxyconn.ErrUnidentified, p.PID)
		}
		return proxyconn.Peer{PID: p.PID, Cgroup: proxyconn.Cgroup{Controller: peerController, Path: "/" + name},
			Namespace: namespaceOf(action)}, nil
	}
}

// directRuns passes the agent's word that a container's proxy runs direct
// steps (agent.Config.DirectRuns) on to the invoker, which then does not
// take it for idle. The container is the peer's: in process mode the
// identity peerByContainer gave it, in docker mode the container whose id
// its cgroup names.
func directRuns(inv *invoker.Invoker) func(proxyconn.Peer, bool) {
	return func(peer proxyconn.Peer, running bool) {
		if peer.Cgroup.Controller == peerController {
			inv.SetDirect(strings.TrimPrefix(peer.Cgroup.Path, "/"), running)
			return
		}
		for _, c := range inv.Containers() {
			if c.DockerID != "" && strings.Contains(peer.Cgroup.Path, c.DockerID) {
				inv.SetDirect(c.Name, running)
				return
			}
		}
	}
}
