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
	gate     sync.RWMutex
	logLimit int
	switchMu sync.Mutex // one log switch at a time
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

// TryReserve implements route.Executor: the action is reserved only if no
// invoker /run is waiting for it or running, no other direct run is
// reserved (the processes of a pool share the log multiplexers, which
// capture one run at a time), and a process is free.
func (p *Proxy) TryReserve(ctx context.Context) (route.Reservation, bool) {
	rs := p.routeOf()
	pool := p.current()
	if rs == nil || pool == nil || rs.invokerWaiting.Load() > 0 {
		return nil, false
	}
	if !rs.gate.TryLock() {
		return nil, false // an invoker /run or another direct run holds it
	}
	lease, ok, err := pool.TryAcquire(p.life)
	if !ok || err != nil {
		rs.gate.Unlock()
		return nil, false
	}
	return &reservation{p: p, rs: rs, lease: lease}, true
}

type reservation struct {
	p     *Proxy
	rs    *routeState
	lease *child.Lease
}

// Release implements route.Reservation: the step will not run after all.
func (r *reservation) Release() {
	r.lease.Release()
	r.rs.gate.Unlock()
}

// Run implements route.Reservation. The action's output is cut at exact
// points of its pipes by markers (logmux.Mux.Mark), and nothing on the
// way to the result waits for them to cross: every byte it writes for
// this activation follows the first markers (it writes once it has read
// the activation, sent after them), and the markers written once its
// result came end the run's share. logs waits for those to cross.
func (r *reservation) Run(ctx context.Context, body io.Reader) (result []byte, logs func() []byte, err error) {
	p, rs := r.p, r.rs
	buf := &logmux.Buffer{Limit: rs.logLimit}
	rs.markLogs(buf.Stdout(), buf.Stderr())

	result, stray, err := r.lease.Process().Call(ctx, body)
	exited := r.lease.Process().Exited()

	// Switch the logs back before releasing the process: an invoker /run
	// waiting for it starts at once, and its output must not reach buf.
	wait := rs.markLogs(p.cfg.Stdout, p.cfg.Stderr)
	r.lease.Release()
	rs.gate.Unlock()
	logs = func() []byte {
		wait()
		if stray > 0 {
			buf.Note(fmt.Sprintf("[wsk-route: discarded %d line(s) the action wrote on fd 3 after its previous result]", stray))
		}
		return buf.Bytes()
	}
	if exited || errors.Is(err, child.ErrExited) || errors.Is(err, child.ErrNotRunning) {
		rs.router.Unregister("the action's process exited")
	}
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return nil, logs, fmt.Errorf("the action did not answer by the run's deadline and was stopped: %w", ctx.Err())
	case errors.Is(err, child.ErrExited), errors.Is(err, child.ErrNotRunning):
		return nil, logs, errors.New(child.ErrExited.Error())
	default:
		return nil, logs, err
	}
	if !isObjectOrArray(result) {
		return nil, logs, errors.New(msgNotDictArray)
	}
	return result, logs, nil
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
