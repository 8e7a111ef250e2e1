package invoker

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsk-route/wsk-route/internal/whisk"
)

// Container states as Containers reports them.
const (
	// StateBusy: at least one activation is in flight in the container.
	StateBusy = "busy"
	// StateWarm: no activation is in flight; the container waits for the
	// next one of its action.
	StateWarm = "warm"
	// StatePaused: warm and frozen (docker mode, after the pause grace).
	StatePaused = "paused"
)

// ContainerInfo describes one live container.
type ContainerInfo struct {
	// Name is the container's name (WSK_ROUTE_NAME in its environment).
	Name string
	// Action is the fully qualified name of its action, Revision the
	// action's revision.
	Action, Revision string
	// State is StateBusy, StateWarm or StatePaused.
	State string
	// InFlight is the number of activations the container holds: running,
	// or granted to it and waiting for its start or its resume. It is at
	// most Concurrency; State is StateBusy exactly when it is not 0.
	InFlight int
	// Concurrency is its action's limits.concurrency: how many
	// activations it runs at once.
	Concurrency int
	// PID is the proxy's process id (process mode), DockerID the
	// container's id (docker mode).
	PID      int32
	DockerID string
	// Address is host:port of the proxy's /init and /run.
	Address string
	// MemoryMB is the action's memory limit, what the container takes
	// from the pool (once, whatever its concurrency).
	MemoryMB int
	// Direct says the container's proxy runs direct steps, which are no
	// activations of the invoker (SetDirect): the container is neither
	// evicted nor paused meanwhile, whatever its State.
	Direct bool
}

// container is one proxy process or docker container of the pool. The
// pool creates it when it grants memory for it; the activation it was
// granted for starts it (Invoker.start) and initializes it.
type container struct {
	// Set when the pool creates it.
	fqn, rev string
	memMB    int
	// concurrency is the action's limits.concurrency (at least 1).
	concurrency int
	// ready is closed once the container is started and initialized, or
	// failed to be; failure then holds the response of the activations
	// that waited for it. settle closes it.
	ready   chan struct{}
	settled sync.Once
	failure *whisk.Result

	// Set by Invoker.start before pool.add.
	name           string
	addr           string
	pid            int32
	dockerID       string
	stdout, stderr *lineQueue

	// Guarded by pool.mu.
	active   int // activations granted and not yet released
	lastUsed time.Time
	started  bool // added: listed by Containers, its fields above set
	retiring bool // takes no more activations; destroyed when active is 0
	removed  bool // out of the pool, its memory given back
	direct   bool // its proxy runs direct steps (SetDirect)

	// opMu serializes pause and unpause; paused is written under it.
	opMu   sync.Mutex
	paused atomic.Bool

	// stop kills the container and waits until it is gone, its work dir
	// removed; it is safe to call more than once.
	stop func()
}

// info describes c. pool.mu is held.
func (c *container) info() ContainerInfo {
	st := StateBusy
	if c.active == 0 {
		st = StateWarm
		if c.paused.Load() {
			st = StatePaused
		}
	}
	return ContainerInfo{Name: c.name, Action: c.fqn, Revision: c.rev, State: st, InFlight: c.active, Concurrency: c.concurrency,
		PID: c.pid, DockerID: c.dockerID, Address: c.addr, MemoryMB: c.memMB, Direct: c.direct}
}

// settle records how the container's start and /init ended (failure nil:
// it is ready) and wakes the activations that wait for it. Only the first
// call counts.
func (c *container) settle(failure *whisk.Result) {
	c.settled.Do(func() {
		c.failure = failure
		close(c.ready)
	})
}

// sentinelLogs reports whether the activations of c get their logs from
// its output up to the sentinels. A container running activations
// concurrently interleaves their output, which sentinels cannot
// separate: OpenWhisk runs such actions only with the invoker's log
// collection turned off (LogDriverLogStore, docs/intra-concurrency.md),
// so their records have no logs.
func (c *container) sentinelLogs() bool { return c.concurrency <= 1 }

// grant is what a waiter gets: a slot in a container of its action (a
// started one, or one that is starting, fresh when the grantee is to
// start it), and the containers evicted to make room, already taken out
// of the pool, for the grantee to destroy.
type grant struct {
	c       *container
	fresh   bool
	evicted []*container
}

type waiter struct {
	fqn, rev    string
	mem         int
	concurrency int
	ch          chan grant
}

// pool accounts the containers, their activations in flight and their
// memory, and queues activations that do not fit, as OpenWhisk's
// ContainerPool does: an activation goes to a container of its action
// with a free slot (fewer activations in flight than the action's
// concurrency, a started one first, else one that is starting), else to
// a new container if memory allows, else to a new one after evicting
// idle containers, else it waits, in order.
type pool struct {
	mu       sync.Mutex
	capacity int
	used     int
	// cs holds the containers that have memory: started, or starting.
	cs    map[*container]struct{}
	queue []*waiter
	// starting maps the pids of proxies started but not yet added to the
	// container names they will have: a proxy registers with the agent
	// while it starts, and must be identified then.
	starting map[int32]*container
}

func newPool(capacityMB int) *pool {
	return &pool{capacity: capacityMB, cs: map[*container]struct{}{}, starting: map[int32]*container{}}
}

// tryGrant finds a slot for w, or reserves memory for a new container.
// p.mu is held.
func (p *pool) tryGrant(w *waiter) (grant, bool) {
	var best *container
	for c := range p.cs {
		if c.fqn != w.fqn || c.rev != w.rev || c.retiring || c.active >= c.concurrency {
			continue
		}
		// A started container before one that is starting; then the
		// most recently used.
		if best == nil || (c.started && !best.started) || (c.started == best.started && c.lastUsed.After(best.lastUsed)) {
			best = c
		}
	}
	if best != nil {
		best.active++
		best.lastUsed = time.Now()
		return grant{c: best}, true
	}
	if p.used+w.mem <= p.capacity {
		return grant{c: p.reserveLocked(w), fresh: true}, true
	}
	// Only containers with no activation in flight and no direct step
	// may go.
	var idle []*container
	free := 0
	for c := range p.cs {
		if c.started && c.active == 0 && !c.direct {
			idle = append(idle, c)
			free += c.memMB
		}
	}
	if p.used-free+w.mem > p.capacity {
		return grant{}, false
	}
	sort.Slice(idle, func(a, b int) bool { return idle[a].lastUsed.Before(idle[b].lastUsed) })
	var g grant
	for _, c := range idle {
		if p.used+w.mem <= p.capacity {
			break
		}
		p.drop(c)
		g.evicted = append(g.evicted, c)
	}
	g.c, g.fresh = p.reserveLocked(w), true
	return g, true
}

// reserveLocked takes w's memory for a new container of its action and
// returns it, holding w's activation. p.mu is held.
func (p *pool) reserveLocked(w *waiter) *container {
	p.used += w.mem
	c := &container{fqn: w.fqn, rev: w.rev, memMB: w.mem, concurrency: max(w.concurrency, 1),
		ready: make(chan struct{}), active: 1, lastUsed: time.Now()}
	p.cs[c] = struct{}{}
	return c
}

// drop takes c out of the pool and gives back its memory. p.mu is held.
func (p *pool) drop(c *container) {
	if c.removed {
		return
	}
	c.removed = true
	delete(p.cs, c)
	p.used -= c.memMB
}

// dispatch serves queued waiters in order while they fit. p.mu is held.
func (p *pool) dispatch() {
	for len(p.queue) > 0 {
		w := p.queue[0]
		g, ok := p.tryGrant(w)
		if !ok {
			return
		}
		w.ch <- g
		p.queue = p.queue[1:]
	}
}

// acquire returns a grant for an activation of (fqn, rev), whose action
// takes mem MB and runs concurrency activations at once in a container,
// waiting in order until one fits or ctx ends.
func (p *pool) acquire(ctx context.Context, fqn, rev string, mem, concurrency int) (grant, error) {
	w := &waiter{fqn: fqn, rev: rev, mem: mem, concurrency: concurrency, ch: make(chan grant, 1)}
	p.mu.Lock()
	if mem > p.capacity {
		p.mu.Unlock()
		return grant{}, fmt.Errorf("the action needs %d MB, more than the invoker's %d MB", mem, p.capacity)
	}
	if len(p.queue) == 0 {
		if g, ok := p.tryGrant(w); ok {
			p.mu.Unlock()
			return g, nil
		}
	}
	p.queue = append(p.queue, w)
	p.mu.Unlock()
	select {
	case g := <-w.ch:
		return g, nil
	case <-ctx.Done():
	}
	p.mu.Lock()
	for k, q := range p.queue {
		if q == w {
			p.queue = append(p.queue[:k:k], p.queue[k+1:]...)
			p.mu.Unlock()
			return grant{}, fmt.Errorf("no container became free: %w", ctx.Err())
		}
	}
	// Granted meanwhile: give it back. The evicted containers stay
	// evicted (they are out of the pool already) and go now.
	g := <-w.ch
	gone := g.evicted
	if g.fresh {
		p.abandonLocked(g.c)
	} else if p.releaseLocked(g.c, true) {
		gone = append(gone, g.c)
	}
	p.dispatch()
	p.mu.Unlock()
	for _, c := range gone {
		c.stop()
	}
	return grant{}, fmt.Errorf("no container became free: %w", ctx.Err())
}

// add lists c, started by the activation it was reserved for.
func (p *pool) add(c *container) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c.started = true
	c.lastUsed = time.Now()
	delete(p.starting, c.pid)
}

// markStarting records a started proxy's pid until add (or its exit).
func (p *pool) markStarting(pid int32, c *container) {
	p.mu.Lock()
	p.starting[pid] = c
	p.mu.Unlock()
}

// unmarkStarting forgets a proxy's pid when it exits.
func (p *pool) unmarkStarting(pid int32) {
	p.mu.Lock()
	delete(p.starting, pid)
	p.mu.Unlock()
}

// abandon gives back the memory of c, which did not start, and fails the
// activations that joined it while it started (OpenWhisk's ContainerProxy
// aborts the activations buffered for a container that could not be
// started with "The action did not produce a valid response and exited
// unexpectedly.", a whisk error).
func (p *pool) abandon(c *container) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.abandonLocked(c)
	p.dispatch()
}

// abandonLocked is abandon without the dispatch. p.mu is held.
func (p *pool) abandonLocked(c *container) {
	c.active--
	c.retiring = true
	p.drop(c)
	r := whisk.ErrorResult(whisk.StatusWhiskError, whisk.MsgAbnormalRun)
	c.settle(&r)
}

// release ends one activation of c. With reuse false c retires: it takes
// no more activations. It reports whether the caller must destroy c: it
// is retired (or already out of the pool) and this was its last
// activation in flight.
func (p *pool) release(c *container, reuse bool) (destroy bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	destroy = p.releaseLocked(c, reuse)
	p.dispatch()
	return destroy
}

// releaseLocked is release without the dispatch. p.mu is held.
func (p *pool) releaseLocked(c *container, reuse bool) (destroy bool) {
	c.active--
	if !reuse {
		c.retiring = true
	}
	if c.retiring || c.removed {
		if c.active == 0 && c.started {
			p.drop(c)
			destroy = true
		}
	} else {
		c.lastUsed = time.Now()
	}
	return destroy
}

// vanish takes c out of the pool if it is there with no activation in
// flight (its process died between activations), reporting whether it
// did. With activations in flight, their failures retire it.
func (p *pool) vanish(c *container) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.removed || !c.started || c.active > 0 {
		return false
	}
	p.drop(c)
	p.dispatch()
	return true
}

// idleLocked reports whether c is started, has no activation in flight
// nor direct step, and was last used before t. p.mu is held.
func (c *container) idleLocked(before time.Time) bool {
	return !c.removed && c.started && c.active == 0 && !c.direct && c.lastUsed.Before(before)
}

// idle returns the containers with no activation in flight, idle since
// before t; with take they are taken out of the pool.
func (p *pool) idle(before time.Time, take bool) []*container {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*container
	for c := range p.cs {
		if c.idleLocked(before) {
			out = append(out, c)
		}
	}
	if take && len(out) > 0 {
		for _, c := range out {
			p.drop(c)
		}
		p.dispatch()
	}
	return out
}

// stillIdle reports whether c is in the pool with no activation in
// flight, idle since before t.
func (p *pool) stillIdle(c *container, before time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return c.idleLocked(before)
}

// all takes every container out of the pool and returns those started
// (the others are stopped by the activations starting them).
func (p *pool) all() []*container {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*container
	for c := range p.cs {
		if c.started {
			out = append(out, c)
		}
	}
	for _, c := range out {
		p.drop(c)
	}
	return out
}

// SetDirect says whether the proxy of the container named name runs
// direct steps: the route plane's work, which is no activation of the
// invoker. While it does, the container is not idle: it is neither evicted
// to make room for another nor paused, as OpenWhisk never removes a
// container with an activation in flight. When it stops, the container
// counts as used then. Unknown names are ignored (a container already
// gone). The host agent calls it (agent.Config.DirectRuns).
func (i *Invoker) SetDirect(name string, running bool) {
	p := i.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.cs {
		if c.name != name {
			continue
		}
		c.direct = running
		if !running {
			c.lastUsed = time.Now()
			p.dispatch() // a waiter may fit now, by evicting it
		}
		return
	}
}

// Containers lists the live containers, sorted by name.
func (i *Invoker) Containers() []ContainerInfo {
	p := i.pool
	p.mu.Lock()
	out := make([]ContainerInfo, 0, len(p.cs))
	for c := range p.cs {
		if c.started {
			out = append(out, c.info())
		}
	}
	p.mu.Unlock()
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out
}

// ContainerOfPID returns the name of the container whose proxy process is
// pid, or a descendant of it, and the fully qualified name of the action
// it was started for.
func (i *Invoker) ContainerOfPID(pid int32) (name, action string, ok bool) {
	p := i.pool
	byPID := map[int32]*container{}
	p.mu.Lock()
	for c := range p.cs {
		if c.started && c.pid > 0 {
			byPID[c.pid] = c
		}
	}
	for pid, c := range p.starting {
		byPID[pid] = c
	}
	p.mu.Unlock()
	for range 8 {
		if c, ok := byPID[pid]; ok {
			return c.name, c.fqn, true
		}
		pp, ok := parentPID(pid)
		if !ok || pp <= 1 {
			return "", "", false
		}
		pid = pp
	}
	return "", "", false
}

// parentPID reads pid's parent from /proc (Linux); ok is false elsewhere.
func parentPID(pid int32) (int32, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(int(pid)) + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(b)
	k := strings.LastIndexByte(s, ')')
	if k < 0 {
		return 0, false
	}
	f := strings.Fields(s[k+1:])
	if len(f) < 2 {
		return 0, false
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		return 0, false
	}
	return int32(n), true
}

// reap removes containers idle past IdleTimeout and, in docker mode,
// pauses those idle past PauseGrace, until ctx ends.
func (i *Invoker) reap(ctx context.Context) {
	tick := time.Second
	if i.cfg.IdleTimeout/2 < tick {
		tick = max(i.cfg.IdleTimeout/2, 10*time.Millisecond)
	}
	if d := i.cfg.Docker; d != nil && d.PauseGrace/2 < tick {
		tick = max(d.PauseGrace/2, 10*time.Millisecond)
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, c := range i.pool.idle(time.Now().Add(-i.cfg.IdleTimeout), true) {
			i.log.Info("removing idle container", "container", c.name, "action", c.fqn)
			i.evict(c)
		}
		if d := i.cfg.Docker; d != nil {
			for _, c := range i.pool.idle(time.Now().Add(-d.PauseGrace), false) {
				if ctx.Err() != nil {
					return
				}
				if !c.paused.Load() {
					i.pause(ctx, c, d.PauseGrace)
				}
			}
		}
	}
}

// removeAll stops every container.
func (i *Invoker) removeAll() {
	var wg sync.WaitGroup
	for _, c := range i.pool.all() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.stop()
		}()
	}
	wg.Wait()
}
