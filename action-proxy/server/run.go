package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/child"
	"github.com/wsk-route/wsk-route/action-proxy/route"
	"github.com/wsk-route/wsk-route/action-proxy/runinfo"
	"github.com/wsk-route/wsk-route/internal/jsonscan"
)

func (p *Proxy) serveRun(w http.ResponseWriter, r *http.Request) {
	if wf, c, router := p.entryOf(); wf != "" {
		p.serveEntry(w, r, wf, c, router)
		return
	}
	pool := p.current()
	if pool == nil {
		sendError(w, http.StatusInternalServerError, msgNoActionYet)
		return
	}
	if r.Context().Err() != nil {
		return // the caller is gone before anything started
	}
	if rs := p.routeOf(); rs != nil {
		// Direct runs yield to the invoker: while this request waits or
		// runs, the route plane refuses frames (senders go elsewhere).
		rs.invokerWaiting.Add(1)
		defer rs.invokerWaiting.Add(-1)
		rs.gate.RLock() // waits for a direct run in progress to end
		defer rs.gate.RUnlock()
		// An action that runs several activations at once waits only
		// while direct runs fill its slots.
		if err := rs.slots.takeInvoker(r.Context(), func() int { return rs.concurrency(pool) }); err != nil {
			return // the caller gave up waiting for its turn
		}
		defer rs.slots.putInvoker()
	}
	lease, err := pool.Acquire(r.Context())
	switch {
	case errors.Is(err, child.ErrPoolClosed):
		sendError(w, http.StatusInternalServerError, msgNoActionYet)
		return
	case r.Context().Err() != nil:
		return // the caller gave up waiting for its turn
	case err != nil:
		// Only a pool growing for a concurrent activation starts a child here.
		sendError(w, http.StatusBadGateway, "cannot start action: "+err.Error())
		return
	}
	body := io.Reader(r.Body)
	if rs := p.routeOf(); rs != nil {
		// With the route plane, a /run may bring a fallback envelope
		// instead of the action's own input (route/fallback.go).
		b, err := io.ReadAll(io.LimitReader(r.Body, maxRouteBody+1))
		if err != nil || len(b) > maxRouteBody {
			lease.Release()
			sendError(w, http.StatusBadRequest, "Error reading request body")
			return
		}
		if v, ok := jsonscan.TopLevel(b, "value"); ok && route.IsEnvelope(v) {
			p.serveFallback(w, r, rs, lease, b, v)
			return
		}
		body = bytes.NewReader(b)
	}
	info := newRunInfo(p.routeOf() != nil)
	ctx, cancel := p.activationContext(r.Context(), info)
	defer cancel()
	result, stray, err := lease.Process().Call(ctx, io.TeeReader(body, info))
	// Call closes the child after any failed exchange, and releasing a
	// closed child breaks the pool: later /run requests then get "no
	// action defined yet" from Acquire, as from the stock proxy.
	lease.Release()

	if errors.Is(err, child.ErrNotRunning) {
		// The child died between activations: nothing reached it.
		sendError(w, http.StatusInternalServerError, child.ErrExited.Error())
		return
	}
	if ns, ok := info.field("namespace"); ok {
		name, _ := info.field("action_name")
		version, _ := info.field("action_version")
		key, _ := info.field("api_key")
		p.identify(ns, name, version, key)
	}
	p.drainLogs()
	if stray > 0 {
		fmt.Fprintf(p.cfg.Stderr, "proxy: discarded %d line(s) the action wrote on fd 3 after its previous result\n", stray)
	}
	p.writeSentinels()

	switch {
	case err == nil:
	case errors.Is(err, child.ErrExited):
		sendError(w, http.StatusBadRequest, err.Error())
		return
	case ctx.Err() != nil:
		// The caller left and the activation overran its deadline: the
		// child was killed, its state being unknown.
		return
	case errors.Is(err, child.ErrResultTooLarge):
		sendError(w, http.StatusBadGateway, fmt.Sprintf("The action returned a result larger than %d bytes.", child.DefaultMaxResult))
		return
	default:
		// Reading the request failed midway; the child got a partial line
		// and was stopped.
		sendError(w, http.StatusBadRequest, "Error reading request body: "+err.Error())
		return
	}
	if !isObjectOrArray(result) {
		sendError(w, http.StatusBadGateway, msgNotDictArray)
		return
	}
	send(w, http.StatusOK, append(result, '\n'))
}

// activationContext returns the context an activation runs under. It
// outlives the caller, as in the stock proxy: an invoker that stops waiting
// destroys the container anyway, and a request that was queued while the
// container was paused must still run. But once the caller has gone, the
// activation is not allowed past its deadline (when the body carried one):
// then the child is killed, so that it cannot hold the proxy forever.
func (p *Proxy) activationContext(caller context.Context, info *runInfo) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(caller))
	stop := context.AfterFunc(caller, func() {
		if d, ok := info.deadline(); ok {
			time.AfterFunc(time.Until(d), cancel)
		}
	})
	return ctx, func() { stop(); cancel() }
}

// runInfo watches a /run body stream past for its deadline. Its methods
// may be called from different goroutines.
type runInfo struct {
	mu sync.Mutex // guards s
	s  *runinfo.Scanner
}

// newRunInfo watches for the deadline and, when the route plane needs to
// learn what the proxy runs, the action's identity.
func newRunInfo(identity bool) *runInfo {
	if identity {
		return &runInfo{s: runinfo.NewScanner("deadline", "namespace", "action_name", "action_version", "api_key")}
	}
	return &runInfo{s: runinfo.NewScanner("deadline")}
}

func (ri *runInfo) field(key string) (string, bool) {
	ri.mu.Lock()
	defer ri.mu.Unlock()
	return ri.s.Field(key)
}

func (ri *runInfo) Write(p []byte) (int, error) {
	ri.mu.Lock()
	defer ri.mu.Unlock()
	return ri.s.Write(p)
}

func (ri *runInfo) deadline() (time.Time, bool) {
	ri.mu.Lock()
	defer ri.mu.Unlock()
	return ri.s.Deadline()
}

// isObjectOrArray reports whether b is one valid JSON object or array.
func isObjectOrArray(b []byte) bool {
	i := jsonscan.SkipSpace(b, 0)
	return i < len(b) && (b[i] == '{' || b[i] == '[') && jsonscan.Valid(b[i:])
}
