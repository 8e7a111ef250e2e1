package netns

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// Options configures New. The zero value makes one host on a random /24 subnet.
type Options struct {
	// Hosts is the number of namespaces to create; zero or negative means 1.
	// At most 200.
	Hosts int
	// Subnet is an IPv4 /24 in CIDR form, such as "10.231.7.0/24". The bridge gets
	// .1 and host i (counting from 1) gets .(i+10). Empty means "10.231.X.0/24"
	// with X chosen at random (0-250) among subnets not already on an interface.
	Subnet string
}

// Net is a set of hosts made by New, joined by a bridge in the root namespace.
type Net struct {
	// BridgeIP is the bridge's address in the root namespace; every host routes
	// through it, and root-namespace listeners on it are reachable from all hosts.
	BridgeIP string
	// Hosts are the namespaces, in order; Hosts[i].Name ends in "h<i+1>".
	Hosts []*Host

	t      testing.TB
	tag    string // unique prefix of every name, such as "wr123-4"
	bridge string
	prefix string // first three octets with a trailing dot, such as "10.231.7."
	fwd    [][]string

	mu     sync.Mutex // guards procs and relays
	procs  []*Proc
	relays map[*Host]*relay
}

// Host is one network namespace of a Net.
type Host struct {
	// Name is the namespace name, unique per test and per machine, such as "wr123-4-h1".
	Name string
	// IP is the host's address on the bridge subnet.
	IP string

	net  *Net
	veth string // root-namespace end of the host's veth pair (bridge port)
}

// hostIf is the name of the host's interface inside its namespace.
const hostIf = "eth0"

var netSeq atomic.Int32

// New creates the bridge and opts.Hosts namespaces, and registers a t.Cleanup that
// kills the processes started through them and deletes everything it created.
// Without root or the ip command it calls t.Skip, or t.Fatal when CI=true.
func New(t testing.TB, opts Options) *Net {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFatal(t, "netns: needs root to create network namespaces (run the tests as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		skipOrFatal(t, "netns: needs the ip command (Debian package iproute2): %v", err)
	}
	if opts.Hosts <= 0 {
		opts.Hosts = 1
	}
	if opts.Hosts > 200 {
		t.Fatalf("netns: %d hosts asked for, at most 200", opts.Hosts)
	}
	prefix, err := subnetPrefix(opts.Subnet)
	if err != nil {
		t.Fatal(err)
	}
	n := &Net{t: t, prefix: prefix, BridgeIP: prefix + "1", relays: map[*Host]*relay{}}
	t.Cleanup(n.cleanup)

	// Claim a unique tag by creating the bridge: "ip link add" fails if the name is
	// taken, by a parallel test binary with the same pid%1000 or a crashed run.
	pid := os.Getpid() % 1000
	for try := 0; ; try++ {
		tag := fmt.Sprintf("wr%d-%d", pid, netSeq.Add(1))
		out, err := runIP("link", "add", tag+"b", "type", "bridge")
		if err == nil {
			n.tag, n.bridge = tag, tag+"b"
			break
		}
		if try < 50 && strings.Contains(out, "File exists") {
			continue
		}
		if strings.Contains(out, "Operation not permitted") {
			skipOrFatal(t, "netns: cannot create a bridge (no CAP_NET_ADMIN?): %v", err)
		}
		t.Fatalf("netns: create bridge: %v", err)
	}
	must := func(args ...string) {
		t.Helper()
		if _, err := runIP(args...); err != nil {
			t.Fatalf("netns: %v", err)
		}
	}
	must("addr", "add", n.BridgeIP+"/24", "dev", n.bridge)
	must("link", "set", n.bridge, "up")
	n.allowForwarding()

	for i := 1; i <= opts.Hosts; i++ {
		h := &Host{
			Name: fmt.Sprintf("%s-h%d", n.tag, i),
			IP:   fmt.Sprintf("%s%d", prefix, i+10),
			net:  n,
			veth: fmt.Sprintf("%sv%d", n.tag, i),
		}
		must("netns", "add", h.Name)
		n.Hosts = append(n.Hosts, h)
		must("-n", h.Name, "link", "set", "lo", "up")
		must("link", "add", h.veth, "type", "veth", "peer", "name", hostIf, "netns", h.Name)
		must("link", "set", h.veth, "master", n.bridge, "up")
		must("-n", h.Name, "addr", "add", h.IP+"/24", "dev", hostIf)
		must("-n", h.Name, "link", "set", hostIf, "up")
		must("-n", h.Name, "route", "add", "default", "via", n.BridgeIP)
	}
	return n
}

// allowForwarding inserts the FORWARD rules described in the package doc, when
// iptables is installed; without it, traffic is left to the kernel's defaults.
func (n *Net) allowForwarding() {
	if _, err := exec.LookPath("iptables"); err != nil {
		n.t.Logf("netns: iptables not found, not adding FORWARD rules for %s "+
			"(host-to-host traffic fails if a FORWARD DROP policy applies to bridged traffic)", n.bridge)
		return
	}
	// Inserted in reverse, so the accept rule ends up first.
	rules := [][]string{
		{"FORWARD", "-i", n.bridge, "!", "-o", n.bridge, "-j", "DROP"},
		{"FORWARD", "-i", n.bridge, "-o", n.bridge, "-j", "ACCEPT"},
	}
	for _, r := range rules {
		args := append([]string{"-w", "5", "-I"}, r...)
		if out, err := exec.Command("iptables", args...).CombinedOutput(); err != nil {
			n.t.Fatalf("netns: iptables %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
		}
		n.fwd = append(n.fwd, r)
	}
}

// cleanup kills processes, stops relays and deletes namespaces, veths, the bridge
// and iptables rules. It reports failures with t.Errorf and goes on.
func (n *Net) cleanup() {
	n.mu.Lock()
	procs := n.procs
	n.procs = nil
	relays := n.relays
	n.relays = map[*Host]*relay{}
	n.mu.Unlock()
	for _, p := range procs {
		p.Kill()
	}
	for _, r := range relays {
		r.stop()
	}
	for _, h := range n.Hosts {
		// Deleting the namespace deletes its veth end, and so the pair.
		if _, err := runIP("netns", "del", h.Name); err != nil {
			n.t.Errorf("netns: cleanup: %v", err)
		}
		// The kernel removes the pair asynchronously; it may vanish between
		// the check and the delete.
		if linkExists(h.veth) {
			if _, err := runIP("link", "del", h.veth); err != nil && linkExists(h.veth) {
				n.t.Errorf("netns: cleanup: %v", err)
			}
		}
	}
	for i := len(n.fwd) - 1; i >= 0; i-- {
		args := append([]string{"-w", "5", "-D"}, n.fwd[i]...)
		if out, err := exec.Command("iptables", args...).CombinedOutput(); err != nil {
			n.t.Errorf("netns: cleanup: iptables %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
		}
	}
	if n.bridge != "" {
		if _, err := runIP("link", "del", n.bridge); err != nil {
			n.t.Errorf("netns: cleanup: %v", err)
		}
	}
}

// Partition cuts h off from the bridge (and so from every other host and from
// BridgeIP) by setting the bridge side of its veth down. Heal undoes it.
func (n *Net) Partition(h *Host) error {
	if h == nil || h.net != n {
		return ErrNotMember
	}
	if _, err := runIP("link", "set", h.veth, "down"); err != nil {
		return fmt.Errorf("netns: partition %s: %w", h.Name, err)
	}
	return nil
}

// Heal reconnects a host cut off by Partition. Healing a connected host is a no-op.
func (n *Net) Heal(h *Host) error {
	if h == nil || h.net != n {
		return ErrNotMember
	}
	if _, err := runIP("link", "set", h.veth, "up"); err != nil {
		return fmt.Errorf("netns: heal %s: %w", h.Name, err)
	}
	return nil
}

func (n *Net) addProc(p *Proc) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.procs = append(n.procs, p)
}

// runIP runs ip with args and returns its combined output; the error names the
// command and includes the output.
func runIP(args ...string) (string, error) {
	out, err := exec.Command("ip", args...).CombinedOutput()
	s := string(bytes.TrimSpace(out))
	if err != nil {
		return s, fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, s)
	}
	return s, nil
}

func linkExists(name string) bool {
	_, err := net.InterfaceByName(name)
	return err == nil
}

// subnetPrefix validates subnet (an IPv4 /24) and returns its first three octets
// with a trailing dot; an empty subnet gets a random unused 10.231.X.0/24.
func subnetPrefix(subnet string) (string, error) {
	if subnet == "" {
		used := usedPrefixes()
		for range 64 {
			p := fmt.Sprintf("10.231.%d.", rand.IntN(251))
			if !used[p] {
				return p, nil
			}
		}
		return "", errors.New("netns: no free 10.231.X.0/24 subnet found")
	}
	ip, ipnet, err := net.ParseCIDR(subnet)
	if err != nil {
		return "", fmt.Errorf("netns: subnet: %w", err)
	}
	ones, bits := ipnet.Mask.Size()
	ip4 := ip.To4()
	if ip4 == nil || bits != 32 || ones != 24 {
		return "", fmt.Errorf("netns: subnet %q: want an IPv4 /24", subnet)
	}
	return fmt.Sprintf("%d.%d.%d.", ip4[0], ip4[1], ip4[2]), nil
}

// usedPrefixes returns the /24 prefixes of the root namespace's IPv4 addresses.
func usedPrefixes() map[string]bool {
	used := map[string]bool{}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return used
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if ip4 := ipn.IP.To4(); ip4 != nil {
				used[fmt.Sprintf("%d.%d.%d.", ip4[0], ip4[1], ip4[2])] = true
			}
		}
	}
	return used
}

// skipOrFatal skips the test, or fails it when CI=true.
func skipOrFatal(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format+" (CI=true, so failing instead of skipping)", args...)
	}
	t.Skipf(format, args...)
}
