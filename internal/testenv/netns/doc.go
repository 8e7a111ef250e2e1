// Package netns is a test-only harness that turns one Linux machine into several
// "hosts" by means of network namespaces, for wsk-route's cross-host tests.
//
// New makes a bridge in the root namespace (holding Net.BridgeIP) and one namespace
// per host, each with lo up, a veth pair to the bridge and a default route via the
// bridge IP. A process in the root namespace that listens on BridgeIP (or on all
// addresses), such as a Consul dev agent, is reachable from every host.
//
// Traffic stays on the bridge: when iptables is present, New inserts two narrow
// FORWARD rules (accept bridge to bridge, drop bridge to anything else) so that a
// docker-style FORWARD DROP policy with br_netfilter does not block host-to-host
// traffic, and nothing is forwarded or NATed to the outside. The rules are removed
// at cleanup.
//
// # Usage
//
//	n := netns.New(t, netns.Options{Hosts: 2})
//	h1, h2 := n.Hosts[0], n.Hosts[1]
//	p := h1.Start(t, agentBinary, "-listen", h1.IP+":9000")
//	if err := h2.CheckTCP(ctx, h1.IP+":9000"); err != nil { ... }
//	_ = n.Partition(h1) // h1 is cut off
//	_ = n.Heal(h1)
//
// The caller's duties:
//
//   - call New only from tests; it needs root and the ip command, and skips the test
//     (t.Skip) when either is missing, or fails it (t.Fatal) when CI=true;
//   - use IP literals with Host.Dial, Host.Listen and Host.CheckTCP (no DNS is done
//     inside a namespace);
//   - not call t.Parallel after New in the same test (cleanup is per test).
//
// Everything New creates (processes started with Host.Start, namespaces, veths, the
// bridge, iptables rules, delay relays) is removed by a t.Cleanup it registers.
//
// # Delay
//
// Net.Delay uses tc netem inside the host's namespace. Kernels built without netem
// (CONFIG_NET_SCH_NETEM unset) get a user-space fallback: the host's veth is taken
// off the bridge and an in-process relay copies Ethernet frames between it and a
// second veth on the bridge, holding frames sent by the host for the delay.
package netns
