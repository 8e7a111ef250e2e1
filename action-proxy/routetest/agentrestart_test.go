package routetest_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// An agent that crashes and comes back is not an outage: hops between
// proxies that are already registered need no agent, so runs between warm
// instances go on while it is down and after it is back (the proxies keep
// their key, table, specs and frame sockets, and register again).
func TestAgentRestartKeepsWarmRuns(t *testing.T) {
	s := newSameHost(t)
	for _, m := range []string{"upper", "words", "reverse"} {
		startAction(t, s.h, "p-"+m, m, m)
	}
	s.deploy(t, chainSpec("chain", "upper", "words", "reverse"))
	check := func(when string, i int) {
		t.Helper()
		res, err := s.run(t, "chain", `{"text":"hello route plane"}`, 10*time.Second)
		if err != nil {
			t.Fatalf("%s, run %d: %v", when, i, err)
		}
		var v struct {
			Text string `json:"text"`
		}
		json.Unmarshal(res.Value, &v)
		if v.Text != "ENALP ETUOR OLLEH" {
			t.Fatalf("%s, run %d: result %s", when, i, res.Value)
		}
	}
	check("before", 0)

	s.h.agent.signal(syscall.SIGKILL)
	<-s.h.agent.done
	for i := range 10 {
		check("agent down", i)
	}

	s.h.agent = startProc(t, "agent h1 (restarted)", s.h.cmd(bins.agent, s.h.agentArgs...))
	// Every proxy and the entry register again, each with a new frame
	// socket the new agent made.
	waitFor(t, 30*time.Second, "4 registrations with the restarted agent", func() bool {
		return strings.Count(s.h.agent.output(), "agent: instance registered") >= 4
	})
	for i := range 10 {
		check("agent back", i)
	}
}

// A killed proxy leaves no socket behind: the agent removes the frame
// socket it made for it as soon as the proxy's session breaks. Only the
// agent's own sockets and the live proxies' stay in the run directory.
func TestKilledProxiesLeaveNoSockets(t *testing.T) {
	s := newSameHost(t)
	var procs []*action
	for i := range 6 {
		procs = append(procs, startAction(t, s.h, "p-"+strconv.Itoa(i), "upper", "upper"))
	}
	dir := filepath.Join(s.h.runDir, "proxies")
	count := func() int {
		entries, _ := os.ReadDir(dir)
		return len(entries)
	}
	waitFor(t, 20*time.Second, "7 frame sockets (6 proxies and the entry)", func() bool { return count() == 7 })
	for _, a := range procs[:4] {
		a.proc.signal(syscall.SIGKILL)
	}
	waitFor(t, 10*time.Second, "the killed proxies' sockets removed", func() bool { return count() == 3 })
	for _, a := range procs[4:] {
		if _, err := os.Stat(filepath.Join(dir, a.name+".sock")); err != nil {
			t.Errorf("live proxy %s: %v", a.name, err)
		}
	}
}
