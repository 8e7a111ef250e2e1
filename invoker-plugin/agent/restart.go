package agent

import (
	"context"
	"time"

	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/internal/transport"
)

// An agent's restart (an upgrade, a changed setting) fails no run in
// flight, on either side of it:
//
//   - The stopping agent leaves its instances registered (registrar.Deregister)
//     and drains its relays: it stops reading frames at once (their senders
//     see the connection end and try again, or the next instance), and lets
//     the frames it was relaying finish, for at most relayDrainGrace
//     (drainHandler).
//   - The new agent starts with an empty picture: no table until Consul's
//     first answer, no local instance until each proxy of the previous
//     agent has registered again (within reconnectMax of the proxy's
//     backoff, 1 s). A frame that reaches it meanwhile, a step's result on
//     its way to the entry on another host, or a frame for an instance of
//     this host that is still registered, is not refused for what the agent
//     does not know yet: it waits for it, at most settleGrace, during the
//     restartWindow after the agent started (directory.Lookup,
//     servesNamespace). A refusal there was final for a frame to an entry
//     (its sender has no other instance to try): the run lost its result
//     and ended at its deadline (docs/deploy.md section 9).
const (
	// settleGrace bounds how long one frame waits for the agent to learn
	// what it needs to relay it.
	settleGrace = 2 * time.Second
	// restartWindow is how long after its start the agent waits for what
	// it does not know yet: Consul's first answer, the proxies of the
	// previous agent (registered on this host in the table, not yet here).
	// Past it, an instance of this host in the table that is not
	// registered here is stale, and frames for it are refused at once.
	restartWindow = 15 * time.Second
	// relayDrainGrace bounds how long a stopping agent goes on with the
	// frames it was relaying when it was told to stop. It is
	// transport's ackDrainTimeout: the acks of frames still in flight
	// can be written for that long after the server stops.
	relayDrainGrace = time.Second
)

// notifyLocked wakes whoever waits for the agent's picture to change (a
// new table, an instance registered). a.mu must be held.
func (a *Agent) notifyLocked() {
	if a.changed != nil {
		close(a.changed)
	}
	a.changed = make(chan struct{})
}

// settlingLocked reports whether the agent is within restartWindow of its
// start (a.mu is held).
func (a *Agent) settlingLocked(now time.Time) bool {
	return !a.runStart.IsZero() && now.Sub(a.runStart) < restartWindow
}

// await calls cond with a.mu held, at once and after every change of the
// agent's picture, until it reports true (then await does too), grace has
// passed, or the agent stops.
func (a *Agent) await(grace time.Duration, cond func() bool) bool {
	var stop <-chan struct{}
	if run := a.stopping.Load(); run != nil {
		stop = (*run).Done()
	}
	var timeout <-chan time.Time
	for {
		a.mu.Lock()
		ok := cond()
		if a.changed == nil {
			a.changed = make(chan struct{})
		}
		ch := a.changed
		a.mu.Unlock()
		if ok {
			return true
		}
		if timeout == nil {
			t := time.NewTimer(grace)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-ch:
		case <-timeout:
			return false
		case <-stop:
			return false
		}
	}
}

// lookupLocked finds instance id as directory.Lookup does, and reports
// whether it is worth waiting for, when not found: the agent has just
// started and has not had Consul's first answer, or the table places id
// on this host and its proxy has not registered here again yet, or its
// registration is in progress. a.mu is held.
func (a *Agent) lookupLocked(id string, now time.Time) (inst routetable.Instance, local, ok, wait bool) {
	if li := a.local[id]; li != nil {
		if li.ready {
			return li.inst, true, true, false
		}
		return routetable.Instance{}, false, false, true // registering
	}
	settling := a.settlingLocked(now)
	if !a.tabled {
		return routetable.Instance{}, false, false, settling
	}
	inst, found := a.table[id]
	switch {
	case !found:
		return routetable.Instance{}, false, false, false
	case inst.Host != a.cfg.Host:
		return inst, false, true, false
	}
	// On this host by the table, not registered here: stale, or a proxy of
	// the previous agent on its way back.
	return routetable.Instance{}, false, false, settling
}

// servesLocked reports whether frames of namespace ns are served here: an
// instance of ns is registered through this agent, or, while the agent
// settles after its start, the table places one on this host (its proxy
// registers again in a moment); and whether to wait, when not: the table
// has not come yet. a.mu is held.
func (a *Agent) servesLocked(ns string, now time.Time) (serves, wait bool) {
	for _, li := range a.local {
		if li.inst.Namespace == ns {
			return true, false
		}
	}
	if !a.settlingLocked(now) {
		return false, false
	}
	if !a.tabled {
		return false, true
	}
	for _, inst := range a.table {
		if inst.Host == a.cfg.Host && inst.Namespace == ns {
			return true, false
		}
	}
	return false, false
}

// logSettled logs a frame that waited for what the agent did not know yet
// (what), and whether it came (found) within took. Only frames that reach
// an agent in the moments after its start, or an instance while it
// registers, wait: a few per restart.
func (a *Agent) logSettled(what string, found bool, took time.Duration) {
	if found {
		a.log.Info("agent: a frame waited for what the agent did not know yet, and relayed it", "waited_for", what, "took", took.Round(time.Millisecond))
		return
	}
	a.log.Warn("agent: a frame waited for what the agent did not know yet, in vain", "waited_for", what, "took", took.Round(time.Millisecond))
}

// drainHandler runs a relay's frames in a context that a stopping agent
// does not end at once: the frames being relayed when the agent is told to
// stop are finished, for at most relayDrainGrace after it, and their acks
// go back (the transport.Server writes the acks still due for as long);
// the server reads no new frame meanwhile. A frame whose connection ends
// while the agent runs is cancelled at once, as before: its sender gave up
// on it, and it must not reach its target after that.
type drainHandler struct {
	h transport.Handler
	// run is the agent's Run context; drained ends relayDrainGrace after it.
	run, drained context.Context
}

// HandleFrame implements transport.Handler.
func (h drainHandler) HandleFrame(ctx context.Context, d *transport.Delivery) (frame.Code, string) {
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		if h.run.Err() == nil {
			cancel() // the connection ended, not the agent
			return
		}
		context.AfterFunc(h.drained, cancel)
	})
	defer stop()
	return h.h.HandleFrame(hctx, d)
}

// drainContext returns a context that ends relayDrainGrace after run does,
// and a func that releases its timer.
func drainContext(run context.Context) (context.Context, context.CancelFunc) {
	drained, cancel := context.WithCancel(context.WithoutCancel(run))
	stop := context.AfterFunc(run, func() {
		t := time.AfterFunc(relayDrainGrace, cancel)
		context.AfterFunc(drained, func() { t.Stop() })
	})
	return drained, func() { stop(); cancel() }
}
