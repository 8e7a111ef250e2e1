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
)

// Container states as Containers reports them.
const (
	StateBusy   = "busy"
	StateWarm   = "warm"
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
	// PID is the proxy's process id (process mode), DockerID the
	// container's id (docker mode).
	PID      int32
	DockerID string
	// Address is host:port of the proxy's /init and /run.
	Address string
	// MemoryMB is the action's memory limit, what the container takes
	// from the pool.
	MemoryMB int
}

// container is one proxy process or docker container of the pool.
type container struct {
	name, fqn, rev string
	memMB          int
	addr           string
	pid            int32
	dockerID       string
	stdout, stderr *lineQueue

	// Guarded by pool.mu.
	state    string // StateBusy or StateWarm
	lastUsed time.Time
	removed  bool
	inited   bool

	// opMu serializes pause and unpause; paused is written under it.
	opMu   sync.Mutex
	paused atomic.Bool

	// stop kills the container and waits until it is gone, its work dir
	// removed; it is safe to call more than once.
	stop func()
}

func (c *container) info() ContainerInfo {
	st := c.state
	if st == StateWarm && c.paused.Load() {
		st = StatePaused
	}
	return ContainerInfo{Name: c.name, Action: c.fqn, Revision: c.rev, State: st, PID: c.pid, DockerID: c.dockerID, Address: c.addr, MemoryMB: c.memMB}
}

// grant is what a waiter gets: a warm container, or memory reserved for a
// new one (after the evicted containers, already taken out of the pool,
// are destroyed by the grantee).
type grant struct {
	c       *container
	evicted []*container
}

type waiter struct {
	fqn, rev string
	mem      int
	ch       chan grant
}

// pool accounts the containers and their memory, and queues activations
// that do not fit.
type pool struct {
	mu       sync.Mutex
	capacity int
	used     int
	cs       map[string]*container
	queue    []*waiter
	// starting maps the pids of proxies started but not yet added to the
	// container names they will have: a proxy registers with the agent
	// while it starts, and must be identified then.
	starting map[int32]*container
}

func newPool(capacityMB int) *pool {
	return &pool{capacity: capacityMB, cs: map[string]*container{}, starting: map[int32]*container{}}
}

// tryGrant finds a container for (fqn, rev) or reserves mem. p.mu is held.
func (p *pool) tryGrant(fqn, rev string, mem int) (grant, bool) {
	var best *container
	for _, c := range p.cs {
		if c.state == StateWarm && c.fqn == fqn && c.rev == rev && (best == nil || c.lastUsed.After(best.lastUsed)) {
			best = c
		}
	}
	if best != nil {
		best.state = StateBusy
		return grant{c: best}, true
	}
	if p.used+mem <= p.capacity {
		p.used += mem
		return grant{}, true
	}
	var idle []*container
	free := 0
	for _, c := range p.cs {
		if c.state == StateWarm {
			idle = append(idle, c)
			free += c.memMB
		}
	}
	if p.used-free+mem > p.capacity {
		return grant{}, false
	}
	sort.Slice(idle, func(a, b int) bool { return idle[a].lastUsed.Before(idle[b].lastUsed) })
	var g grant
	for _, c := range idle {
		if p.used+mem <= p.capacity {
			break
		}
		p.drop(c)
		g.evicted = append(g.evicted, c)
	}
	p.used += mem
	return g, true
}

// drop takes c out of the pool. p.mu is held.
func (p *pool) drop(c *container) {
	if c.removed {
		return
	}
	c.removed = true
	delete(p.cs, c.name)
	p.used -= c.memMB
}

// dispatch serves queued waiters in order while they fit. p.mu is held.
func (p *pool) dispatch() {
	for len(p.queue) > 0 {
		w := p.queue[0]
		g, ok := p.tryGrant(w.fqn, w.rev, w.mem)
		if !ok {
			return
		}
		w.ch <- g
		p.queue = p.queue[1:]
	}
}

// acquire returns a grant for (fqn, rev), waiting in order until one
// fits or ctx ends.
func (p *pool) acquire(ctx context.Context, fqn, rev string, mem int) (grant, error) {
	p.mu.Lock()
	if mem > p.capacity {
		p.mu.Unlock()
		return grant{}, fmt.Errorf("the action needs %d MB, more than the invoker's %d MB", mem, p.capacity)
	}
	if len(p.queue) == 0 {
		if g, ok := p.tryGrant(fqn, rev, mem); ok {
			p.mu.Unlock()
			return g, nil
		}
	}
	w := &waiter{fqn: fqn, rev: rev, mem: mem, ch: make(chan grant, 1)}
	p.queue = append(p.queue, w)
	p.mu.Unlock()
	select {
	case g := <-w.ch:
		return g, nil
	case <-ctx.Done():
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, q := range p.queue {
		if q == w {
			p.queue = append(p.queue[:k:k], p.queue[k+1:]...)
			return grant{}, fmt.Errorf("no container became free: %w", ctx.Err())
		}
	}
	// Granted meanwhile: give it back.
	g := <-w.ch
	if g.c != nil {
		g.c.state = StateWarm
	} else {
		p.used -= mem
	}
	p.dispatch()
	return g, fmt.Errorf("no container became free: %w", ctx.Err())
}

// add puts a started container, whose memory was reserved, in the pool.
func (p *pool) add(c *container) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c.state = StateBusy
	c.lastUsed = time.Now()
	p.cs[c.name] = c
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

// unreserve gives back memory reserved for a container that did not start.
func (p *pool) unreserve(mem int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.used -= mem
	p.dispatch()
}

// release ends c's activation: warm for reuse, or taken out of the pool
// (the caller destroys it).
func (p *pool) release(c *container, reuse bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if reuse && !c.removed {
		c.state = StateWarm
		c.lastUsed = time.Now()
	} else {
		p.drop(c)
	}
	p.dispatch()
}

// vanish takes c out of the pool if it is there and warm (its process
// died between activations), reporting whether it did.
func (p *pool) vanish(c *container) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.removed || c.state != StateWarm || p.cs[c.name] != c {
		return false
	}
	p.drop(c)
	p.dispatch()
	return true
}

// idle returns the warm containers idle since before t; with take they are
// taken out of the pool.
func (p *pool) idle(before time.Time, take bool) []*container {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*container
	for _, c := range p.cs {
		if c.state == StateWarm && c.lastUsed.Before(before) {
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

// stillIdle reports whether c is in the pool, warm since before t.
func (p *pool) stillIdle(c *container, before time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !c.removed && c.state == StateWarm && c.lastUsed.Before(before)
}

// all takes every container out of the pool and returns them.
func (p *pool) all() []*container {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*container
	for _, c := range p.cs {
		out = append(out, c)
	}
	for _, c := range out {
		p.drop(c)
	}
	return out
}

// Containers lists the live containers, sorted by name.
func (i *Invoker) Containers() []ContainerInfo {
	p := i.pool
	p.mu.Lock()
	out := make([]ContainerInfo, 0, len(p.cs))
	for _, c := range p.cs {
		out = append(out, c.info())
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
	for _, c := range p.cs {
		if c.pid > 0 {
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
			c.stop()
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
