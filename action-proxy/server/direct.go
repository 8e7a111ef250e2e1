package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/child"
	"github.com/wsk-route/wsk-route/action-proxy/logmux"
	"github.com/wsk-route/wsk-route/action-proxy/route"
)

// Router is the route plane as the server sees it: told what the proxy
// runs, and told when the action has died.
type Router interface {
	// Claim registers the action with the agent and waits for its
	// welcome, so that the container is bound to its namespace before the
	// action's code runs (see invoker-plugin's tenancy notes).
	Claim(ctx context.Context, id route.Identity) error
	// Identify tells the router the action's identity, without waiting.
	Identify(route.Identity)
	// Unregister withdraws the instance: the action's process died.
	Unregister(reason string)
	// StartRun runs workflow with input, for an entry action (entry.go).
	StartRun(ctx context.Context, workflow string, input []byte, opts route.RunOptions) (*route.Result, error)
	// RunFallback runs the step of a fallback envelope (an invoker /run's
	// value) with call, which runs one activation on the /run's process.
	RunFallback(ctx context.Context, value []byte, activationID string, call func(ctx context.Context, body io.Reader) ([]byte, error)) ([]byte, error)
	// Slots returns how many activations the action may run at once, as
	// the agent looked up its limits.concurrency; 1 until it said.
	Slots() int
}

// claimTimeout bounds the wait of /init for the agent's welcome.
const claimTimeout = 2 * time.Second

// routeState is the server's side of the route plane: log capture, the
// count of invoker /run requests (which have priority), and the router.
type routeState struct {
	router         Router
	stdout, stderr *logmux.Mux
	invokerWaiting atomic.Int32 // invoker /run requests waiting for or holding the action
	// gate keeps direct runs and invoker /run requests apart: a direct run
	// holds it exclusively (taken with TryLock, so a direct run never
	// waits), an invoker /run holds it shared for its whole life. The
	// processes of a pool share the log multiplexers, which capture one
	// run at a time; and an invoker /run that arrives during a direct run
	// waits for it to end, instead of mixing its logs into the run's.
	gate sync.RWMutex
	// slots keeps an action that runs several activations at once
	// within its concurrency, direct runs and invoker requests together.
	slots    slots
	logLimit int
	switchMu sync.Mutex // one log switch at a time
}

// Concurrency returns how many activations the proxy can run at once: the
// processes of its pool, MaxConcurrent with AllowConcurrent, otherwise 1.
// Its action may allow fewer (Router.Slots).
func (p *Proxy) Concurrency() int {
	if p.cfg.AllowConcurrent {
		return p.cfg.MaxConcurrent
	}
	return 1
}

// concurrency returns how many activations the action runs at once: what
// the agent said of it (Router.Slots), for a proxy that runs a pool of
// processes (__OW_ALLOW_CONCURRENT), at most the pool's size; otherwise 1.
func (rs *routeState) concurrency(pool *child.Pool) int {
	if pool.Max() <= 1 {
		return 1
	}
	return min(rs.router.Slots(), pool.Max())
}

// EnableRoute turns on the route plane: the action's output goes through
// log multiplexers, so that a direct run's logs are captured per run, and
// r learns the action's identity. It must be called before the first
// /init.
func (p *Proxy) EnableRoute(r Router) error {
	out, err := logmux.New(p.cfg.Stdout)
	if err != nil {
		return err
	}
	errMux, err := logmux.New(p.cfg.Stderr)
	if err != nil {
		out.Close()
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.route = &routeState{router: r, stdout: out, stderr: errMux, logLimit: 1 << 20}
	return nil
}

// routeOf returns the route state, or nil in stock mode.
func (p *Proxy) routeOf() *routeState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.route
}

// childOutputs returns the files the child writes its stdout and stderr to.
func (p *Proxy) childOutputs() (stdout, stderr *os.File) {
	if rs := p.routeOf(); rs != nil {
		return rs.stdout.W, rs.stderr.W
	}
	return p.cfg.Stdout, p.cfg.Stderr
}

// drainLogs makes sure every byte the action wrote so far has reached the
// proxy's own streams (in route mode the output crosses a pipe), before
// the sentinels are written.
func (p *Proxy) drainLogs() {
	rs := p.routeOf()
	if rs == nil {
		return
	}
	rs.switchLogs(p.cfg.Stdout, p.cfg.Stderr)
}

// drainTimeout bounds the wait for the action's output to cross its pipe.
const drainTimeout = time.Second

// switchLogs makes the action's stdout go to out and its stderr to errw
// from now on, once what it wrote before has reached the old sinks: the
// two streams switch at once (each switch is a round trip through its
// pipe); it waits at most drainTimeout.
func (rs *routeState) switchLogs(out, errw io.Writer) {
	rs.markLogs(out, errw)()
}

// markLogs makes the action's stdout go to out and its stderr to errw from
// what it writes next (logmux.Mux.Mark), and returns a function that
// waits, at most drainTimeout, until what it wrote before has reached the
// old sinks.
func (rs *routeState) markLogs(out, errw io.Writer) (wait func()) {
	rs.switchMu.Lock()
	defer rs.switchMu.Unlock()
	waitErr, errErr := rs.stderr.Mark(errw)
	waitOut, outErr := rs.stdout.Mark(out)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
		defer cancel()
		if errErr == nil {
			waitErr(ctx)
		}
		if outErr == nil {
			waitOut(ctx)
		}
	}
}

// TryReserve implements route.Executor. An action that runs one
// activation at a time is reserved only if no invoker /run is waiting for
// it or running, no other direct run is reserved (its output is captured
// for one run at a time), and its process is free. An action that runs
// several at once (its limits.concurrency, Router.Slots, with a pool of
// processes) is reserved when it runs fewer than that many activations
// and no invoker /run waits for a slot: such runs share the container as
// OpenWhisk's concurrent activations do, their output not captured per
// run (concurrentRun).
func (p *Proxy) TryReserve(ctx context.Context) (route.Reservation, bool) {
	rs := p.routeOf()
	pool := p.current()
	if rs == nil || pool == nil {
		return nil, false
	}
	n := rs.concurrency(pool)
	// A refusal allocates nothing: a busy instance refuses many frames.
	r := reservation{p: p, rs: rs, concurrent: n > 1}
	if !r.concurrent && (rs.invokerWaiting.Load() > 0 || !rs.gate.TryLock()) {
		return nil, false // an invoker /run or another direct run has the action
	}
	if !rs.slots.tryDirect(n) {
		r.unlock()
		return nil, false
	}
	lease, ok, err := pool.TryAcquire(p.life)
	if !ok || err != nil {
		rs.slots.putDirect()
		r.unlock()
		return nil, false
	}
	r.lease = lease
	return &r, true
}

type reservation struct {
	p     *Proxy
	rs    *routeState
	lease *child.Lease
	// concurrent: one of several runs the action runs at once; the gate
	// is not held and the output not captured.
	concurrent bool
}

// unlock releases the gate, which a reservation of an action that runs
// one activation at a time holds.
func (r *reservation) unlock() {
	if !r.concurrent {
		r.rs.gate.Unlock()
	}
}

// end gives the process, the slot and the gate back.
func (r *reservation) end() {
	r.lease.Release()
	r.rs.slots.putDirect()
	r.unlock()
}

// Release implements route.Reservation: the step will not run after all.
func (r *reservation) Release() { r.end() }

// concurrentLogs is the one line of a direct run's logs when its action
// runs several activations at once.
const concurrentLogs = "[wsk-route: logs are not captured per activation for an action that runs several at once (limits.concurrency above 1); OpenWhisk does not collect them either: they are in the container's output]"

// Run implements route.Reservation. The action's output is cut at exact
// points of its pipes by markers (logmux.Mux.Mark), and nothing on the
// way to the result waits for them to cross: every byte it writes for
// this activation follows the first markers (it writes once it has read
// the activation, sent after them), and the markers written once its
// result came end the run's share. logs waits for those to cross.
func (r *reservation) Run(ctx context.Context, body io.Reader) (result []byte, logs func() []byte, err error) {
	if r.concurrent {
		return r.concurrentRun(ctx, body)
	}
	p, rs := r.p, r.rs
	buf := &logmux.Buffer{Limit: rs.logLimit}
	rs.markLogs(buf.Stdout(), buf.Stderr())

	result, stray, err := r.lease.Process().Call(ctx, body)
	exited := r.lease.Process().Exited()

	// Switch the logs back before releasing the process: an invoker /run
	// waiting for it starts at once, and its output must not reach buf.
	wait := rs.markLogs(p.cfg.Stdout, p.cfg.Stderr)
	r.end()
	logs = func() []byte {
		wait()
		if stray > 0 {
			buf.Note(fmt.Sprintf("[wsk-route: discarded %d line(s) the action wrote on fd 3 after its previous result]", stray))
		}
		return buf.Bytes()
	}
	result, err = r.outcome(ctx, result, err, exited)
	return result, logs, err
}

// concurrentRun is Run for one of several runs at once: the action's
// output goes to the proxy's own streams, as that of its concurrent
// invoker activations does, and the run's logs say so.
func (r *reservation) concurrentRun(ctx context.Context, body io.Reader) (result []byte, logs func() []byte, err error) {
	result, stray, err := r.lease.Process().Call(ctx, body)
	exited := r.lease.Process().Exited()
	r.end()
	if stray > 0 {
		fmt.Fprintf(r.p.cfg.Stderr, "proxy: discarded %d line(s) the action wrote on fd 3 after its previous result\n", stray)
	}
	buf := &logmux.Buffer{Limit: r.rs.logLimit}
	buf.Note(concurrentLogs)
	result, err = r.outcome(ctx, result, err, exited)
	return result, buf.Bytes, err
}

// outcome turns the answer of a direct run's call into its result or
// error, as the invoker would classify it, and withdraws the instance
// when the action's process exited.
func (r *reservation) outcome(ctx context.Context, result []byte, err error, exited bool) ([]byte, error) {
	if exited || errors.Is(err, child.ErrExited) || errors.Is(err, child.ErrNotRunning) {
		r.rs.router.Unregister("the action's process exited")
	}
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return nil, fmt.Errorf("the action did not answer by the run's deadline and was stopped: %w", ctx.Err())
	case errors.Is(err, child.ErrExited), errors.Is(err, child.ErrNotRunning):
		return nil, errors.New(child.ErrExited.Error())
	default:
		return nil, err
	}
	if !isObjectOrArray(result) {
		return nil, errors.New(msgNotDictArray)
	}
	return result, nil
}

// claim registers the action named by an init env with the agent and
// waits (at most claimTimeout) for the welcome, so that the container is
// bound to its namespace before the action's code runs. Without route mode,
// or without a namespace and action in env, it does nothing. A failure is
// logged in debug mode only: the action starts anyway.
func (p *Proxy) claim(ctx context.Context, env map[string]string) {
	rs := p.routeOf()
	if rs == nil || env["__OW_NAMESPACE"] == "" || env["__OW_ACTION_NAME"] == "" {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, claimTimeout)
	defer cancel()
	id := route.Identity{Namespace: env["__OW_NAMESPACE"], Action: env["__OW_ACTION_NAME"],
		Version: env["__OW_ACTION_VERSION"], APIKey: env["__OW_API_KEY"]}
	if err := rs.router.Claim(ctx, id); err != nil {
		p.debugf("init: claiming namespace %s with the agent: %v", id.Namespace, err)
	}
}

// identify tells the router what the action is, from an init env or a
// /run body's fields.
func (p *Proxy) identify(namespace, action, version, apiKey string) {
	if rs := p.routeOf(); rs != nil && namespace != "" && action != "" {
		rs.router.Identify(route.Identity{Namespace: namespace, Action: action, Version: version, APIKey: apiKey})
	}
}
