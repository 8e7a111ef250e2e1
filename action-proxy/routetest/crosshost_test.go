package routetest_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/route"
	"github.com/wsk-route/wsk-route/internal/spec"
	"github.com/wsk-route/wsk-route/internal/testenv"
	"github.com/wsk-route/wsk-route/internal/testenv/netns"
)

// twoHosts is network-namespace hosts (two unless said otherwise), each
// with its agent, Consul in the root namespace on the bridge, and an entry
// attached to h1.
type twoHosts struct {
	net    *netns.Net
	consul string
	h      []*host
	entry  *entry
}

// relayPort is where each agent listens for the other agents' relays.
const relayPort = 7070

func newTwoHosts(t *testing.T) *twoHosts { return newHosts(t, 2, nil, true) }

// newHosts makes n hosts; before anything starts on them, prepare may
// change their network (a delay). With entryTCP the entry advertises a
// routable address; without, replies from other hosts reach it through
// the agents' relay.
func newHosts(t testing.TB, count int, prepare func(*netns.Net), entryTCP bool) *twoHosts {
	needBins(t)
	n := netns.New(t, netns.Options{Hosts: count})
	if prepare != nil {
		prepare(n)
	}
	c := testenv.StartConsul(t, testenv.ConsulOptions{ClientAddr: n.BridgeIP})
	th := &twoHosts{net: n, consul: c.Addr, h: make([]*host, count)}
	for i, nh := range n.Hosts {
		relay := net.JoinHostPort(nh.IP, strconv.Itoa(relayPort))
		h := startHost(t, "h"+strconv.Itoa(i+1), c.Addr, relay, "tcp:"+relay, nh.Command)
		h.dial = nh.Dial
		th.h[i] = h
	}
	// The entry runs in the root namespace, attached to h1's agent; its
	// results come back over TCP to the bridge address, or through the
	// relay.
	if !entryTCP {
		th.entry = startEntry(t, th.h[0], "", "")
		return th
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(n.BridgeIP, "0"))
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	th.entry = startEntry(t, th.h[0], addr, "tcp:"+addr)
	return th
}

// startOn starts an action on host i; direct makes it advertise a
// routable TCP address, otherwise other hosts reach it through the relay.
func (th *twoHosts) startOn(t testing.TB, i int, name, mode string, direct bool) *action {
	var env []string
	if direct {
		addr := net.JoinHostPort(th.net.Hosts[i].IP, strconv.Itoa(7100+len(name)+10*i+int(name[len(name)-1])))
		env = append(env, route.EnvTCPListen+"="+addr, route.EnvTCPAdvertise+"=tcp:"+addr)
	}
	return startAction(t, th.h[i], name, mode, mode, env...)
}

func (th *twoHosts) deploy(t testing.TB, sp *spec.Spec) {
	t.Helper()
	putSpec(t, th.consul, sp)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := th.entry.plane.WaitReady(ctx, sp.Workflow); err != nil {
		t.Fatal(err)
	}
}

func (th *twoHosts) run(t testing.TB, workflow, input string, timeout time.Duration) (*route.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return th.entry.plane.StartRun(ctx, workflow, []byte(input), route.RunOptions{})
}

func TestChainAcrossHosts(t *testing.T) {
	for _, direct := range []bool{true, false} {
		name := map[bool]string{true: "direct-tcp", false: "relayed"}[direct]
		t.Run(name, func(t *testing.T) {
			// Relayed: neither the steps nor the entry have a routable
			// address; every cross-host frame goes through both agents.
			th := newHosts(t, 2, nil, direct)
			th.startOn(t, 0, "upper", "upper", direct)
			th.startOn(t, 1, "words", "words", direct)
			th.startOn(t, 0, "reverse", "reverse", direct)
			th.deploy(t, chainSpec("xchain", "upper", "words", "reverse"))
			for i := 0; i < 3; i++ {
				res, err := th.run(t, "xchain", `{"text":"across two hosts"}`, 15*time.Second)
				if err != nil {
					t.Fatalf("run %d: %v", i, err)
				}
				var v struct {
					Text  string
					Words int
				}
				json.Unmarshal(res.Value, &v)
				if v.Text != "STSOH OWT SSORCA" || v.Words != 3 || len(trail(t, res.Value)) != 3 {
					t.Fatalf("run %d: result %s", i, res.Value)
				}
				hosts := map[string]bool{}
				for _, st := range res.Steps {
					hosts[strings.SplitN(st.Instance, "/", 2)[0]] = true
				}
				if !hosts["h1"] || !hosts["h2"] {
					t.Errorf("steps ran on %v, want both hosts", hosts)
				}
			}
			// A payload larger than one TCP window crosses too.
			text := strings.Repeat("x y ", 1<<18) // 1 MiB
			in, _ := json.Marshal(map[string]string{"text": text})
			res, err := th.run(t, "xchain", string(in), 30*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(res.Value), `"words":524288`) {
				t.Fatalf("1 MiB run: result does not count 524288 words (%d bytes)", len(res.Value))
			}
		})
	}
}

func TestFanOutAcrossHosts(t *testing.T) {
	th := newTwoHosts(t)
	th.startOn(t, 0, "upper", "upper", false)
	th.startOn(t, 1, "words", "words", false)
	th.startOn(t, 1, "reverse", "reverse", true)
	sp := &spec.Spec{Workflow: "xfan", Namespace: "guest", Start: []string{"upper"}, Steps: map[string]spec.Step{
		"upper":   {Action: "/guest/upper", Next: []string{"words", "reverse"}},
		"words":   {Action: "/guest/words"},
		"reverse": {Action: "/guest/reverse"},
	}}
	th.deploy(t, sp)
	res, err := th.run(t, "xfan", `{"text":"fan across"}`, 15*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var v []map[string]any
	if err := json.Unmarshal(res.Value, &v); err != nil || len(v) != 2 || v[0]["words"] != float64(2) || v[1]["text"] != "SSORCA NAF" {
		t.Fatalf("result %s (%v)", res.Value, err)
	}
}

// A host cut off from the network: its instances cannot be reached; the
// run reports the step it could not deliver, by its deadline; after the
// partition heals, runs go through again.
func TestPartitionedHost(t *testing.T) {
	th := newTwoHosts(t)
	th.startOn(t, 0, "upper", "upper", true)
	th.startOn(t, 1, "words", "words", true)
	th.deploy(t, chainSpec("xpart", "upper", "words"))
	if _, err := th.run(t, "xpart", `{"text":"a b"}`, 10*time.Second); err != nil {
		t.Fatalf("before the partition: %v", err)
	}
	if err := th.net.Partition(th.net.Hosts[1]); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := th.run(t, "xpart", `{"text":"a b"}`, 4*time.Second)
	var re *route.RunError
	if !errors.As(err, &re) || re.Step != "words" {
		t.Fatalf("during the partition: %v, want a RunError naming step words", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("error after %v, want it by the 4 s deadline", took)
	}
	t.Logf("during the partition, after %v: %v", time.Since(start), err)
	if err := th.net.Heal(th.net.Hosts[1]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "runs to go through after the partition heals", func() bool {
		_, err := th.run(t, "xpart", `{"text":"a b"}`, 4*time.Second)
		return err == nil
	})
}

// Among remote instances, the sender prefers the one it has seen answer
// faster: with one of two hosts 30 ms further away, the hops settle on the
// near one.
func TestSlowerHostIsAvoided(t *testing.T) {
	const delay = 30 * time.Millisecond
	th := newHosts(t, 3, func(n *netns.Net) {
		if err := n.Delay(n.Hosts[2], delay); err != nil {
			t.Fatal(err)
		}
	}, true)
	th.startOn(t, 0, "upper", "upper", true)
	th.startOn(t, 1, "words", "words", true)
	th.startOn(t, 2, "words", "words", true)
	th.deploy(t, chainSpec("xslow", "upper", "words"))
	waitFor(t, 20*time.Second, "both words instances in the table", func() bool {
		return len(th.entry.plane.Instances("/guest/words")) == 2
	})
	ranOn := map[string]int{}
	for i := 0; i < 30; i++ {
		res, err := th.run(t, "xslow", `{"text":"near or far"}`, 15*time.Second)
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		for _, st := range res.Steps {
			if st.Step == "words" && i >= 10 {
				ranOn[strings.SplitN(st.Instance, "/", 2)[0]]++
			}
		}
	}
	t.Logf("words ran, in runs 10-29: %v", ranOn)
	if ranOn["h2"] < 18 {
		t.Errorf("words ran on the near host h2 %d times of the last 20, want at least 18 (%v)", ranOn["h2"], ranOn)
	}
}

// joinAcross deploys, on two hosts with the entry on h1 and every action
// on h2, a fork into words and reverse whose object join goes on to sum:
// workflow "xjoin" forks in "upper" (which holds the join), "xjoin-entry"
// in "upper-ej" (WSK_ROUTE_ENTRY_JOINS=1: the entry holds it, so each
// slot and the merge cross between the hosts). delay is added to every
// packet h2 sends.
func joinAcross(t testing.TB, delay time.Duration) *twoHosts {
	th := newHosts(t, 2, func(n *netns.Net) {
		if delay > 0 {
			if err := n.Delay(n.Hosts[1], delay); err != nil {
				t.Fatal(err)
			}
		}
	}, false)
	th.startOn(t, 1, "upper", "upper", false)
	startAction(t, th.h[1], "upper-ej", "upper-ej", "upper", route.EnvEntryJoins+"=1")
	th.startOn(t, 1, "words", "words", false)
	th.startOn(t, 1, "reverse", "reverse", false)
	th.startOn(t, 1, "sum", "sum", false)
	for wf, fork := range map[string]string{"xjoin": "upper", "xjoin-entry": "upper-ej"} {
		th.deploy(t, &spec.Spec{Workflow: wf, Namespace: "guest", Start: []string{"split"}, Steps: map[string]spec.Step{
			"split": {Action: "/guest/" + fork, Fork: "j", Next: []string{"w", "r"}},
			"w":     {Action: "/guest/words", In: "j", Next: []string{"j"}},
			"r":     {Action: "/guest/reverse", In: "j", Next: []string{"j"}},
			"j":     {Join: &spec.Join{Merge: spec.MergeObject, Names: []string{"counted", "reversed"}}, Next: []string{"sum"}},
			"sum":   {Action: "/guest/sum"},
		}})
	}
	return th
}

// TestJoinAcrossHosts: a join held where it forks, on another host than
// the entry, and the same join held by the entry, give the same result.
func TestJoinAcrossHosts(t *testing.T) {
	th := joinAcross(t, 0)
	for _, wf := range []string{"xjoin", "xjoin-entry"} {
		res, err := th.run(t, wf, `{"text":"join across"}`, 15*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", wf, err)
		}
		var v struct {
			Counted  struct{ Words int }
			Reversed struct{ Text string }
			Sum      *float64
		}
		if err := json.Unmarshal(res.Value, &v); err != nil || v.Counted.Words != 2 || v.Reversed.Text != "SSORCA NIOJ" || v.Sum == nil {
			t.Errorf("%s: result %s (%v); want both branches merged and summed", wf, res.Value, err)
		}
	}
}
