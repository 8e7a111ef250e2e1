package faults_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// ackTimeout is the route plane's wait for a frame's ack (route.Config's
// default): the unit of "a failure is reported promptly".
const ackTimeout = 500 * time.Millisecond

// clearWithin is how soon after the fault (or after its start, for a run
// started later) a run that fails must say so: a few ack timeouts.
const clearWithin = 5 * ackTimeout

// livenessWithin is the same bound for a fault that only the agents'
// liveness check can see, a host cut off: its instances leave the tables
// when the agent's pong deadline (3 s) or their TTL (3 s here) passes, and
// the entry hears of it within an ack timeout more.
const livenessWithin = 3*time.Second + 2*ackTimeout

// env is where a scenario runs: the route plane's processes (cluster), or
// the sandbox.
type env interface {
	run(sh *shape, tag string, deadline time.Time) outcome
	snapshot() snapshot
	recorder() *recorder
}

// A scenario is workflow shapes, a fault, and how long the fault lasts.
type scenario struct {
	name   string
	env    string // "host" (one host), "netns" (two network-namespace hosts), "sandbox"
	shapes []string
	// place puts all instances of an action on a host (index), for netns.
	place map[string]int
	// hold is how long the fault lasts before heal.
	hold time.Duration
	// noFail: no run may fail (an agent restart between warm instances).
	noFail bool
	// within bounds how late after the fault a failure may be reported;
	// 0: clearWithin.
	within time.Duration
	// fault prepares the injector: inject makes the fault, says what it
	// hit and when (the moment of the signal, the cut); heal undoes it
	// (restarts what was killed, resumes, heals), or is nil.
	fault func(t testing.TB, e env) (inject injectFunc, heal func())
}

// bound is how late after its fault a failure of sc may be reported.
func (sc scenario) bound() time.Duration {
	if sc.within > 0 {
		return sc.within
	}
	return clearWithin
}

// scenarios is the suite. Each runs in a fresh environment.
var scenarios = []scenario{
	{name: "kill-successor.chain", env: "host", shapes: []string{"chain"}, hold: time.Second, fault: killProxy(busy)},
	{name: "kill-successor.map", env: "host", shapes: []string{"map"}, hold: time.Second, fault: killProxy(busy)},
	{name: "kill-action.chain", env: "host", shapes: []string{"chain"}, hold: time.Second, fault: killAction},
	{name: "kill-holder.fanjoin", env: "host", shapes: []string{"fanjoin"}, hold: time.Second, fault: killProxy(holding)},
	{name: "stop-successor.chain", env: "host", shapes: []string{"chain"}, hold: 4 * ackTimeout, fault: stopProxy(idle)},
	{name: "stop-successor-busy.chain", env: "host", shapes: []string{"chain"}, hold: 4 * ackTimeout, fault: stopProxy(busy)},
	{name: "stop-holder.fanjoin", env: "host", shapes: []string{"fanjoin"}, hold: 4 * ackTimeout, fault: stopProxy(holding)},
	{name: "agent-restart", env: "host", shapes: []string{"chain", "fanjoin", "map"}, hold: time.Second, noFail: true, fault: restartAgent},
	{name: "consul-pause", env: "host", shapes: []string{"chain", "fanjoin", "map"}, hold: 4 * time.Second, fault: pauseConsul},
	{name: "consul-kill", env: "host", shapes: []string{"chain", "fanjoin", "map"}, hold: 4 * time.Second, fault: killConsul},
	{name: "consul-restart-empty", env: "host", shapes: []string{"chain", "fanjoin", "map"}, hold: time.Second, fault: restartConsulEmpty},
	{name: "partition.chain", env: "netns", shapes: []string{"chain"}, place: map[string]int{"fc2": 1}, hold: 3 * time.Second, within: livenessWithin, fault: partition},
	{name: "sandbox-restart.chain", env: "sandbox", shapes: []string{"chain"}, hold: ackTimeout, fault: restartSandbox},
}

// detachAfter is how long a client waits for a run before it starts the
// next one: a run is stuck by then (it is still judged when it ends), and
// traffic goes on while the fault lasts.
const detachAfter = 2 * ackTimeout

// failedThink is a client's pause after a failed run (the sandbox refuses
// connections at once while it is down).
const failedThink = 100 * time.Millisecond

// injectFunc makes a fault and says what it hit and when.
type injectFunc func() (what string, at time.Time)

// timing is the shape of a scenario's traffic.
type timing struct {
	clients  int
	think    time.Duration // a client's pause between its runs
	deadline time.Duration // each run's deadline
	before   time.Duration // runs before the fault, in each cycle
	settle   time.Duration // after the heal, before the recovery phase
	recovery time.Duration // runs that must all complete
	cycles   int
	soak     bool
}

// shortTiming is the form `make test` runs: one fault cycle per scenario,
// a few dozen runs each.
var shortTiming = timing{clients: 2, think: 50 * time.Millisecond, deadline: 8 * time.Second,
	before: time.Second, settle: 1500 * time.Millisecond, recovery: 1500 * time.Millisecond, cycles: 1}

// soakTiming is the soak form: WSK_ROUTE_SOAK_CYCLES cycles (default 20,
// at least 2) per scenario, clients with short pauses: thousands of runs
// per scenario.
func soakTiming() timing {
	n, err := strconv.Atoi(os.Getenv("WSK_ROUTE_SOAK_CYCLES"))
	if err != nil || n < 2 {
		n = 20
	}
	return timing{clients: 2, think: 10 * time.Millisecond, deadline: 8 * time.Second, before: 2 * time.Second, settle: 3 * time.Second,
		recovery: 3 * time.Second, cycles: n, soak: true}
}

// TestFaults is the short form of the fault suite (see doc.go).
func TestFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("the fault suite takes minutes: not with -short")
	}
	runSuite(t, shortTiming)
}

// TestFaultsSoak is the soak form: WSK_ROUTE_SOAK=1 (see doc.go).
func TestFaultsSoak(t *testing.T) {
	if os.Getenv("WSK_ROUTE_SOAK") != "1" {
		t.Skip("the soak form runs with WSK_ROUTE_SOAK=1 (see docs/faults.md)")
	}
	runSuite(t, soakTiming())
}

func runSuite(t *testing.T, tm timing) {
	var results []*result
	for _, sc := range scenarios {
		r := newResult(sc.name, sc.env, strings.Join(sc.shapes, "+"), sc.noFail)
		ran := false
		ok := t.Run(sc.name, func(t *testing.T) {
			ran = true
			defer func() {
				if t.Skipped() {
					r.skipped = "see the log"
				}
			}()
			runScenario(t, sc, tm, r)
			t.Log(r.summary() + "\n" + r.details())
			if v := r.violations(); len(v) > 0 {
				t.Errorf("%s: %s", sc.name, strings.Join(v, "; "))
			}
		})
		if !ran {
			continue // not selected by -run
		}
		if !ok && r.runs == 0 && r.skipped == "" {
			r.skipped = "the environment failed"
		}
		results = append(results, r)
	}
	var table strings.Builder
	table.WriteString(tableHeader)
	for _, r := range results {
		table.WriteString(r.row())
	}
	t.Logf("fault suite (%d cycle(s) per scenario):\n%s", tm.cycles, table.String())
	for _, r := range results {
		t.Log(r.summary())
	}
	if path := os.Getenv("WSK_ROUTE_FAULTS_REPORT"); path != "" {
		var b strings.Builder
		fmt.Fprintf(&b, "Fault suite, %s form, %d cycle(s) per scenario, %s, commit %s.\n\n", map[bool]string{true: "soak", false: "short"}[tm.soak],
			tm.cycles, time.Now().UTC().Format("2006-01-02 15:04 UTC"), os.Getenv("WSK_ROUTE_FAULTS_COMMIT"))
		b.WriteString(table.String())
		for _, r := range results {
			fmt.Fprintf(&b, "\n- %s\n", r.summary())
			for _, line := range strings.Split(strings.TrimRight(r.details(), "\n"), "\n") {
				if line != "" {
					fmt.Fprintf(&b, "  %s\n", strings.TrimSpace(line))
				}
			}
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Errorf("writing the report: %v", err)
		}
	}
}

// newEnv starts the scenario's environment.
func newEnv(t testing.TB, sc scenario) env {
	var shs []*shape
	for _, n := range sc.shapes {
		shs = append(shs, shapes[n])
	}
	switch sc.env {
	case "sandbox":
		return newSandboxEnv(t, shs[0])
	case "netns":
		return newCluster(t, clusterOptions{hosts: 2, shapes: shs, place: sc.place})
	default:
		return newCluster(t, clusterOptions{shapes: shs})
	}
}

// runScenario starts the environment, warms it up, drives the clients
// through tm.cycles fault cycles (before, the fault for sc.hold, heal,
// settle, recovery), and tallies every run into r.
func runScenario(t *testing.T, sc scenario, tm timing, r *result) {
	e := newEnv(t, sc)
	var shs []*shape
	for _, n := range sc.shapes {
		shs = append(shs, shapes[n])
	}
	// Warm-up: every shape completes, else the environment is broken.
	for _, sh := range shs {
		for i := range 2 {
			tag := fmt.Sprintf("warm-%s-%d", sh.name, i)
			o := e.run(sh, tag, time.Now().Add(tm.deadline))
			o.shape, o.tag = sh, tag
			if c, _, why := classify(o, time.Time{}, tm.deadline); c != classOK {
				t.Fatalf("warm-up run %d of %s: %s: %s", i, sh.name, c, why)
			}
		}
	}
	// Soak: what the shm and run directories hold when quiet (quiet0,
	// quiet1), and the processes at the end of the middle cycle and of the
	// last one, under the same traffic (busy0, busy1): growth between those
	// is what the cycles leaked, not the connections the first runs open.
	var quiet0, busy0, busy1 snapshot
	if tm.soak {
		quiet0 = e.snapshot()
	}
	inject, heal := sc.fault(t, e)

	var (
		ph       atomic.Int32
		seq      atomic.Int64
		mu       sync.Mutex // guards outcomes
		outcomes []outcome
		wg       sync.WaitGroup
		stop     = make(chan struct{})
		stopOnce sync.Once
	)
	// A fatal error in an injector must not leave the clients running.
	defer func() {
		stopOnce.Do(func() { close(stop) })
		wg.Wait()
	}()
	for cl := range tm.clients {
		wg.Add(1)
		go func() { // a client: one run after the other until stop
			defer wg.Done()
			for i := cl; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				sh := shs[i%len(shs)]
				tag := "r" + strconv.FormatInt(seq.Add(1), 10)
				p := phase(ph.Load())
				done := make(chan struct{})
				var got outcome // read only after done is closed
				wg.Add(1)
				go func() { // the run, which may outlive the client's wait
					defer wg.Done()
					defer close(done)
					o := e.run(sh, tag, time.Now().Add(tm.deadline))
					o.shape, o.tag, o.phase = sh, tag, p
					got = o
					mu.Lock()
					outcomes = append(outcomes, o)
					mu.Unlock()
				}()
				think := tm.think
				select {
				case <-done:
					if got.err != "" {
						think = max(think, failedThink) // a client that failed waits a little
					}
				case <-time.After(detachAfter):
				case <-stop:
					return
				}
				select {
				case <-stop:
					return
				case <-time.After(think):
				}
			}
		}()
	}
	var faults []time.Time
	for cycle := range tm.cycles {
		ph.Store(int32(phaseBefore))
		time.Sleep(tm.before)
		what, at := inject()
		faults = append(faults, at)
		ph.Store(int32(phaseDuring))
		t.Logf("cycle %d: %s at %s", cycle+1, what, at.Format("15:04:05.000"))
		time.Sleep(sc.hold)
		if heal != nil {
			heal()
		}
		ph.Store(int32(phaseAfter))
		time.Sleep(tm.settle)
		ph.Store(int32(phaseRecovery))
		time.Sleep(tm.recovery)
		if tm.soak && cycle == max(tm.cycles/2, 1)-1 {
			busy0 = e.snapshot()
		}
		if tm.soak && cycle == tm.cycles-1 {
			busy1 = e.snapshot()
		}
	}
	stopOnce.Do(func() { close(stop) })
	wg.Wait()

	counts, bad := e.recorder().counts()
	for _, b := range bad {
		t.Errorf("record: %s", b)
	}
	for _, o := range outcomes {
		var faultAt time.Time
		for _, f := range faults {
			if !f.After(o.end) {
				faultAt = f
			}
		}
		r.add(o, faultAt, sc.bound(), counts[o.tag])
	}
	if tm.soak {
		// Killed instances leave the tables 3 s after their last pong; the
		// shm sweeper removes what nobody read 30 s after its deadline.
		time.Sleep(5 * time.Second)
		r.resources, r.leaks = compare(busy0, busy1, quiet0, e.snapshot())
	}
}

// moment is when a fault hits its victim.
type moment int

const (
	busy    moment = iota // while it runs a step
	holding               // while it holds a join's slot and waits for the other
	idle                  // while it runs nothing: frames sent to it then wait in its socket
)

func (m moment) String() string {
	return [...]string{"while it ran a step", "while it held a slot of a join", "while it was idle"}[m]
}

// victim picks the instance of the shape's faulted action that the fault
// hits: the first one found at moment m within 3 s, else the oldest. It
// says which moment it found.
func victim(t testing.TB, c *cluster, m moment) (*instance, string) {
	action := c.shapes[0].faulted
	var found *instance
	err := poll(3*time.Second, func() bool {
		ins := c.instancesOf(action)
		if len(ins) == 0 {
			t.Fatalf("no live instance of %s", action)
		}
		pids := make([]int, len(ins))
		for i, in := range ins {
			pids[i] = in.actionPid()
		}
		if m == idle {
			for i, in := range ins {
				if c.rec.busy(pids[i:i+1], false) == 0 {
					found = in
					return true
				}
			}
			return false
		}
		if p := c.rec.busy(pids, m == holding); p != 0 {
			for i, in := range ins {
				if pids[i] == p {
					found = in
					return true
				}
			}
		}
		return false
	})
	if err != nil {
		return c.instancesOf(action)[0], "(" + m.String() + ": not seen within 3 s)"
	}
	return found, m.String()
}

// killProxy kills (SIGKILL) a container of the faulted step, its proxy
// and action process, at moment m. The heal starts a new container of the
// action.
func killProxy(m moment) func(testing.TB, env) (injectFunc, func()) {
	return func(t testing.TB, e env) (injectFunc, func()) {
		c := e.(*cluster)
		var killed *instance
		inject := func() (string, time.Time) {
			in, when := victim(t, c, m)
			pids := []int{in.actionPid()}
			at := time.Now()
			in.p.kill9(t)
			c.rec.forget(pids)
			killed = in
			return fmt.Sprintf("kill -9 of %s %s", in.id(), when), at
		}
		return inject, func() { c.replace(killed) }
	}
}

// killAction kills (SIGKILL) only the action process of a container of the
// faulted step, while it runs a step; the proxy lives on. The heal
// discards that container (as the invoker does after a failed run) and
// starts a new one.
func killAction(t testing.TB, e env) (injectFunc, func()) {
	c := e.(*cluster)
	var hit *instance
	inject := func() (string, time.Time) {
		in, when := victim(t, c, busy)
		pid := in.actionPid()
		at := time.Now()
		syscall.Kill(pid, syscall.SIGKILL)
		c.rec.forget([]int{pid})
		hit = in
		return fmt.Sprintf("kill -9 of the action process %d of %s %s", pid, in.id(), when), at
	}
	return inject, func() {
		hit.p.kill9(t)
		c.replace(hit)
	}
}

// stopProxy stops (SIGSTOP, as docker pause freezes a container) a
// container of the faulted step at moment m, for the scenario's hold
// (longer than the ack timeout), then resumes it.
func stopProxy(m moment) func(testing.TB, env) (injectFunc, func()) {
	return func(t testing.TB, e env) (injectFunc, func()) {
		c := e.(*cluster)
		var stopped *instance
		inject := func() (string, time.Time) {
			in, when := victim(t, c, m)
			at := time.Now()
			in.p.pause(t)
			stopped = in
			return fmt.Sprintf("SIGSTOP of %s %s", in.id(), when), at
		}
		return inject, func() { stopped.p.signal(syscall.SIGCONT) }
	}
}

// restartAgent kills the host agent with SIGKILL and starts it again at
// once, with the same flags and state directory.
func restartAgent(t testing.TB, e env) (injectFunc, func()) {
	c := e.(*cluster)
	return func() (string, time.Time) {
		h := c.hosts[0]
		old := h.agent.pid()
		at := time.Now()
		h.agent.kill9(t)
		h.startAgent()
		return fmt.Sprintf("kill -9 of the agent %d of %s, restarted as %d in %v", old, h.name, h.agent.pid(),
			time.Since(at).Round(time.Millisecond)), at
	}, nil
}

func pauseConsul(t testing.TB, e env) (injectFunc, func()) {
	c := e.(*cluster)
	return func() (string, time.Time) {
		at := time.Now()
		c.consul.pause()
		return "SIGSTOP of Consul", at
	}, c.consul.resume
}

// killConsul kills Consul with SIGKILL for the hold; the heal starts it
// again, empty (a dev agent keeps nothing).
func killConsul(t testing.TB, e env) (injectFunc, func()) {
	c := e.(*cluster)
	return func() (string, time.Time) {
		at := time.Now()
		c.consul.kill()
		return "kill -9 of Consul", at
	}, c.consul.restartEmpty
}

// restartConsulEmpty replaces Consul with an empty one on the same address
// at once: no instances, no specs, no namespace keys.
func restartConsulEmpty(t testing.TB, e env) (injectFunc, func()) {
	c := e.(*cluster)
	return func() (string, time.Time) {
		at := time.Now()
		c.consul.restartEmpty()
		return fmt.Sprintf("Consul restarted empty in %v", time.Since(at).Round(time.Millisecond)), at
	}, nil
}

// partition cuts the second host (the chain's middle step runs there
// only) off the network while one of its instances runs a step, and heals
// it after the hold.
func partition(t testing.TB, e env) (injectFunc, func()) {
	c := e.(*cluster)
	h := c.net.Hosts[1]
	return func() (string, time.Time) {
			var pids []int
			for _, in := range c.instancesOf(c.shapes[0].faulted) {
				pids = append(pids, in.actionPid())
			}
			when := "while it ran a step"
			if poll(3*time.Second, func() bool { return c.rec.busy(pids, false) != 0 }) != nil {
				when = "(while it ran a step: not seen within 3 s)"
			}
			at := time.Now()
			if err := c.net.Partition(h); err != nil {
				t.Fatal(err)
			}
			return "partition of " + c.hosts[1].name + " " + when, at
		}, func() {
			if err := c.net.Heal(h); err != nil {
				t.Fatal(err)
			}
		}
}

// restartSandbox kills `wsk-route dev` with SIGKILL and starts it again on
// the same --data-dir and port.
func restartSandbox(t testing.TB, e env) (injectFunc, func()) {
	s := e.(*sandboxEnv)
	return func() (string, time.Time) {
		old := s.p.pid()
		at := time.Now()
		s.kill()
		return fmt.Sprintf("kill -9 of wsk-route dev %d", old), at
	}, s.start
}
