package route

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/wsk-route/wsk-route/internal/agentproto"
)

// The invoker does not see direct steps: a container that runs them and no
// invoker activation is idle in its eyes, and may be evicted for another
// action's container (or paused) under a step, which loses the step and its
// run. The proxy tells its agent when direct steps run here
// (agentproto.TypeDirect), if the agent asked (Welcome.Direct): the agent's
// host passes it on to an invoker that can listen (the dev sandbox's).
//
// The count changes on the hot path with atomics only. A reporter goroutine
// tells the agent when the first step starts (woken at once), and that none
// runs once none has run for directHold (it looks every directHold/2 while
// it said running): a chain of steps through the container costs two
// reports, not two per step.

// directHold is how long after its last direct step a container is still
// reported running them.
const directHold = 250 * time.Millisecond

// directRuns counts the direct steps running in this proxy.
type directRuns struct {
	n    atomic.Int32
	last atomic.Int64  // Config.Now of the last step's end, unix ns
	want atomic.Bool   // the current agent asked for reports (Welcome.Direct)
	wake chan struct{} // buffer 1: a first step started, or the agent asked
}

// directBegan counts a direct step that starts here.
func (p *Plane) directBegan() {
	if p.direct.n.Add(1) == 1 && p.direct.want.Load() {
		p.direct.poke()
	}
}

// directEnded counts the end of a step directBegan counted; the clock is
// read only for an agent that asked for reports.
func (p *Plane) directEnded() {
	if p.direct.want.Load() {
		p.direct.last.Store(p.cfg.Now().UnixNano())
	}
	p.direct.n.Add(-1)
}

// poke wakes the reporter without waiting.
func (d *directRuns) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// reportDirect tells the agent of each session whether direct steps run
// here, until ctx ends.
func (p *Plane) reportDirect(ctx context.Context) {
	d := &p.direct
	var told *wsConn // the session told "running", nil: none is
	poll := time.NewTimer(directHold / 2)
	poll.Stop()
	defer poll.Stop()
	for {
		var tick <-chan time.Time
		if told != nil {
			poll.Reset(directHold / 2)
			tick = poll.C
		}
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		case <-tick:
		}
		p.mu.Lock()
		ws := p.ws
		p.mu.Unlock()
		if ws != told {
			told = nil // a new session starts from "not running"; the old one's end said so
		}
		running := d.n.Load() > 0 || p.cfg.Now().UnixNano()-d.last.Load() < int64(directHold)
		switch {
		case running && told == nil && ws != nil && d.want.Load():
			if err := ws.send(&agentproto.Message{Type: agentproto.TypeDirect, Direct: &agentproto.Direct{Running: true}}); err == nil {
				told = ws
			}
		case !running && told != nil:
			ws.send(&agentproto.Message{Type: agentproto.TypeDirect, Direct: &agentproto.Direct{}})
			told = nil
		}
	}
}
