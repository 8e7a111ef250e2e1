package route

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/route/flow"
	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/internal/spec"
	"github.com/wsk-route/wsk-route/internal/transport"
)

// Executor runs direct activations on the proxy's action. The proxy's
// server implements it.
type Executor interface {
	// TryReserve reserves the action for one direct run if it can start
	// now: no invoker /run waits for the action, and it has a free slot
	// (one run at a time, or as many as Plane.Slots for an action that
	// runs several at once). It never waits.
	TryReserve(ctx context.Context) (Reservation, bool)
}

// Reservation is the action reserved for one direct run. Exactly one of
// Run and Release is called, once.
type Reservation interface {
	// Run runs one activation with the given /run body, captures the
	// action's logs, and releases the reservation. The result is a JSON
	// object or array; a failure of the action is an error. logs returns
	// the captured logs as OpenWhisk's log lines ("<time> stdout: <text>",
	// whisk.LogLine), once the last of them has come: the action's
	// output crosses a pipe, and the plane asks for them only after it
	// has handed the result on, so that the wait is off the hop's path.
	Run(ctx context.Context, body io.Reader) (result []byte, logs func() []byte, err error)
	// Release gives the action back without running it: the step frame
	// it was reserved for will not run here (its sender gave up on it).
	Release()
}

// Identity is what the proxy runs, as the invoker told it.
type Identity struct {
	Namespace string
	Action    string // fully qualified
	Version   string
	APIKey    string // __OW_API_KEY, passed on to direct runs
}

// Plane is one proxy's route plane. Its methods are safe for concurrent use.
type Plane struct {
	cfg    Config
	exec   Executor
	frames *handedListener // the frame sockets the agent hands over
	stats  *hopStats
	// telemetry queues what the agent gets without anyone waiting: the
	// steps' activation records, the ends of unwatched runs
	// (telemetry.go).
	telemetry telemetry
	// slots is Welcome.Slots of the current registration: how many
	// direct steps the proxy may run at once; 0 before a welcome.
	slots atomic.Int32
	// direct counts the direct steps running here, which the agent hears
	// of (directruns.go).
	direct directRuns

	identified chan struct{} // closed by the first Identify
	identOnce  sync.Once
	reconnect  chan struct{} // buffer 1: skip connectLoop's backoff (Claim)

	mu      sync.Mutex // guards the fields below
	ident   Identity
	welcome *welcomeState
	specs   map[string]*spec.Spec // by workflow
	// previous holds, per workflow, the version the current one replaced:
	// a run keeps the spec version it started with, across one update.
	previous map[string]*spec.Spec
	table    *routetable.Table
	// tableGen counts the updates applied to the table from the agent;
	// tableSynced says one came since the table was made, so that an
	// instance missing from it is gone, not yet to come (entry.go).
	tableGen    uint64
	tableSynced bool
	// listed holds the instances the agent's tables have listed, with the
	// last time they did (Config.Now, ns): an instance missing from the
	// table is gone only if it was listed before. One that never was has
	// just started (its registration is on its way: a fallback's new
	// container runs its step before the agent's next table says so).
	listed   map[string]int64
	seen     flow.Seen
	runs     map[string]*entryRun // runs started here, by run id (entry.go)
	held     map[string]*heldRun  // joins held here for runs started elsewhere, by run id (holder.go)
	stopping bool                 // the plane hands its joins over: it holds no more (holder.go)
	ws       *wsConn              // the current agent session, if any
	unix     string               // this proxy's frame endpoint, "unix:<path>", once the agent made it
	changed  chan struct{}        // closed and replaced when welcome/specs/table change
	// sessions counts the agent sessions (and attempts) that have ended,
	// and sessionErr is why the last one did; Claim watches them.
	sessions uint64
	// welcomes counts the welcomes installed (connectLoop's backoff).
	welcomes   uint64
	sessionErr error

	// ctx is the parent of every step's and send's context: stopSteps
	// ends it when Run returns, so that stopping the plane stops its steps.
	ctx       context.Context
	stopSteps context.CancelFunc

	wg sync.WaitGroup // direct runs and sends in flight
}

// welcomeState is what the agent told the proxy when it registered.
type welcomeState struct {
	instanceID string
	host       string
	relay      string
	shmDir     string
	key        []byte
	client     *transport.Client // sends frames; uses shmDir for large same-host payloads
	// inline sends frames that must carry their payload inline: those to
	// the relay, which forwards them to another host as they are.
	inline *transport.Client
}

// sameAs reports whether w says what o says, but for its clients.
func (w *welcomeState) sameAs(o *welcomeState) bool {
	return w.instanceID == o.instanceID && w.host == o.host && w.relay == o.relay &&
		w.shmDir == o.shmDir && string(w.key) == string(o.key)
}

// New returns a Plane that runs direct activations on exec (which may be
// nil for a plane that only starts runs).
func New(cfg Config, exec Executor) (*Plane, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	p := &Plane{
		cfg:        cfg,
		exec:       exec,
		frames:     newHandedListener(),
		stats:      newHopStats(),
		identified: make(chan struct{}),
		reconnect:  make(chan struct{}, 1),
		specs:      map[string]*spec.Spec{},
		previous:   map[string]*spec.Spec{},
		runs:       map[string]*entryRun{},
		held:       map[string]*heldRun{},
		changed:    make(chan struct{}),
		direct:     directRuns{wake: make(chan struct{}, 1)},
	}
	p.ctx, p.stopSteps = context.WithCancel(context.Background())
	return p, nil
}

// Identify tells the plane what the proxy runs. The first call registers
// the instance with the agent; later calls with another identity are
// ignored (an OpenWhisk container runs one action for life).
func (p *Plane) Identify(id Identity) {
	if id.Namespace == "" || id.Action == "" {
		return
	}
	p.identOnce.Do(func() {
		p.mu.Lock()
		p.ident = id
		p.mu.Unlock()
		close(p.identified)
	})
}

// ErrClaimConflict is returned (wrapped) by Claim when the plane already
// runs another identity.
var ErrClaimConflict = errors.New("route: the proxy is already identified as another action")

// Claim identifies the proxy as id (see Identify) and waits until the
// agent has welcomed its registration, which binds this container to
// id.Namespace. Call it before the action's code starts: code that could
// reach the agent first could claim another namespace for the container.
// It returns an error if ctx ends first, if an agent session (or connection
// attempt) ends after the registration was sent without a welcome (the
// agent is down, or refused it), or if the plane runs another identity.
// Run must be running for the registration to be sent.
func (p *Plane) Claim(ctx context.Context, id Identity) error {
	if id.Namespace == "" || id.Action == "" {
		return errors.New("route: claim: the identity needs a namespace and an action")
	}
	p.mu.Lock()
	ended := p.sessions
	p.mu.Unlock()
	p.Identify(id)
	if cur, _, _ := p.snapshot(); cur.Namespace != id.Namespace || cur.Action != id.Action {
		return fmt.Errorf("%w: %s, not %s", ErrClaimConflict, cur.Action, id.Action)
	}
	select { // do not wait for the reconnect backoff
	case p.reconnect <- struct{}{}:
	default:
	}
	var welcomed bool
	var serr error
	p.await(ctx, 0, func() bool {
		welcomed, serr = p.welcome != nil, p.sessionErr
		return welcomed || p.sessions > ended
	})
	switch {
	case welcomed:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("route: claim of %s: no welcome from the agent: %w", id.Namespace, ctx.Err())
	}
	return fmt.Errorf("route: claim of %s: the agent did not welcome the registration: %w", id.Namespace, serr)
}

// Endpoint returns the proxy's frame endpoint on its host, "" until the
// agent has welcomed it.
func (p *Plane) Endpoint() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.unix
}

// Run serves frames and keeps the agent connection up until ctx ends. It
// returns nil after ctx ends, or the error that prevented it from
// listening.
//
// A plane that stops hands the joins it holds over to their entries,
// stops taking frames, and lets the direct steps it took run to their end
// (at most Config.DrainTimeout) before it leaves its agent: the agent would
// otherwise drop its instance from the tables under those steps, and their
// runs would fail as lost. A container evicted with SIGTERM (wsk-route
// dev's invoker, a Kubernetes pod deleted with a grace period) loses no step.
func (p *Plane) Run(ctx context.Context) error {
	// The unix frame socket is the agent's to make: it comes with each
	// welcome (session.go) and p.frames serves whichever is current.
	listeners := []net.Listener{p.frames}
	if p.cfg.TCPListen != "" {
		tln, err := transport.Listen("tcp:" + p.cfg.TCPListen)
		if err != nil {
			p.frames.Close()
			return fmt.Errorf("route: tcp frame listener: %w", err)
		}
		listeners = append(listeners, tln)
	}
	// The agent session, and what goes on it, outlive the frame servers.
	sessCtx, endSession := context.WithCancel(context.WithoutCancel(ctx))
	var wg, serving sync.WaitGroup
	defer func() {
		// The joins held here go to their entries while frames can still
		// be sent (holder.go).
		p.handOverAll(context.WithoutCancel(ctx))
		serving.Wait() // the servers stopped with ctx: no step is taken now
		p.drain()
		endSession()
		p.stopSteps()
		wg.Wait()
		p.wg.Wait()
		p.setWelcome(nil)
	}()
	for _, run := range []func(context.Context){p.sendTelemetry, p.reportDirect, p.flushStats, p.connectLoop} {
		wg.Go(func() { run(sessCtx) })
	}
	// Frames are served once the agent has said where shm segments live;
	// until then connections wait in the listeners' backlogs (nobody knows
	// the instance before it is registered anyway).
	serving.Add(1)
	go func() {
		defer serving.Done()
		shmDir, ok := p.awaitWelcome(ctx)
		if !ok {
			for _, l := range listeners {
				l.Close()
			}
			return
		}
		// Inline: a frame is handled on its connection's reading goroutine,
		// which saves a goroutine start and a wake-up per frame
		// (docs/benchmarks/hop-processes.md). HandleFrame answers at once:
		// steps start in OnAcked hooks, slots and handovers go out from
		// goroutines of their own. A step served at once can report
		// before the entry's send returns; the entry expects the steps it
		// sends itself (flow.Run), so it still waits for their reports.
		srv := &transport.Server{Handler: transport.HandlerFunc(p.HandleFrame), ShmDir: shmDir, Keys: p.frameKey, Inline: true}
		var swg sync.WaitGroup
		for _, l := range listeners {
			swg.Add(1)
			go func() {
				defer swg.Done()
				if err := srv.Serve(ctx, l); err != nil && ctx.Err() == nil {
					p.cfg.Logger.Error("route: frame server stopped", "endpoint", l.Addr().String(), "err", err)
				}
			}()
		}
		swg.Wait()
	}()
	<-ctx.Done()
	return nil
}

// DefaultDrainTimeout is Config.DrainTimeout's default: a stopping plane
// waits this long for the direct steps it took. wsk-route dev's invoker
// gives an evicted container a little more before it kills it.
const DefaultDrainTimeout = 10 * time.Second

// drain waits until the direct steps this plane took have ended, at most
// Config.DrainTimeout.
func (p *Plane) drain() {
	n := p.direct.n.Load()
	if n == 0 {
		return
	}
	p.cfg.Logger.Info("route: stopping: waiting for the direct steps taken", "steps", n, "at-most", p.cfg.DrainTimeout)
	deadline := p.cfg.Now().Add(p.cfg.DrainTimeout)
	for p.direct.n.Load() > 0 {
		if p.cfg.Now().After(deadline) {
			p.cfg.Logger.Warn("route: stopping with direct steps still running: they are stopped", "steps", p.direct.n.Load(), "waited", p.cfg.DrainTimeout)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// frameKey is the frame servers' Keys: the key of the proxy's namespace,
// once the agent has welcomed it; the servers check each frame's tag with
// it before reading the frame's payload.
func (p *Plane) frameKey(ns string) ([]byte, bool) {
	id, w, _ := p.snapshot()
	if w == nil || ns != id.Namespace || len(w.key) == 0 {
		return nil, false
	}
	return w.key, true
}

// awaitWelcome waits for the first welcome and returns its shm directory.
func (p *Plane) awaitWelcome(ctx context.Context) (string, bool) {
	var shmDir string
	ok := p.await(ctx, 0, func() bool {
		if p.welcome != nil {
			shmDir = p.welcome.shmDir
		}
		return p.welcome != nil
	})
	return shmDir, ok
}

// connectLoop keeps a session with the agent, reconnecting with backoff:
// 50 ms, doubling to reconnectMax, and back to 50 ms after every session
// that was welcomed. A restarted agent thus sees every warm proxy again
// within reconnectMax, before their instances' health checks (TTL, 5 s by
// default) run out.
func (p *Plane) connectLoop(ctx context.Context) {
	backoff := reconnectMin
	for ctx.Err() == nil {
		p.mu.Lock()
		welcomes := p.welcomes
		p.mu.Unlock()
		err := p.session(ctx)
		if ctx.Err() != nil {
			return
		}
		p.sessionEnded(err)
		p.cfg.Logger.Warn("route: agent session ended", "err", err)
		p.mu.Lock()
		if p.welcomes != welcomes {
			backoff = reconnectMin
		}
		p.mu.Unlock()
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-p.reconnect:
			t.Stop()
		}
		backoff = min(backoff*2, reconnectMax)
	}
}

// Bounds of connectLoop's backoff.
const (
	reconnectMin = 50 * time.Millisecond
	reconnectMax = time.Second
)

// state returns what routing needs, under the lock.
func (p *Plane) snapshot() (Identity, *welcomeState, *routetable.Table) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ident, p.welcome, p.table
}

// specGrace is how long specFor waits for a workflow it does not know.
// The agent pushes a new spec to the proxies of a namespace one session
// at a time, so a frame of a run that a proxy which already had it
// started can reach a proxy whose copy is a few milliseconds behind.
const specGrace = 250 * time.Millisecond

// specFor returns the spec of workflow at version (0: the current one).
// A run started under the version before the current one keeps it; an
// unknown version gets the current spec. A workflow this proxy does not
// know yet is waited for, at most specGrace, while the plane is
// registered.
func (p *Plane) specFor(ctx context.Context, workflow string, version uint64) *spec.Spec {
	var sp *spec.Spec
	p.await(ctx, specGrace, func() bool {
		sp = p.specAt(workflow, version)
		return sp != nil || p.welcome == nil
	})
	return sp
}

// specAt returns the spec of workflow at version, as specFor does, without
// waiting (p.mu is held).
func (p *Plane) specAt(workflow string, version uint64) *spec.Spec {
	sp := p.specs[workflow]
	if prev := p.previous[workflow]; sp != nil && version != 0 && sp.Version != version && prev != nil && prev.Version == version {
		sp = prev
	}
	return sp
}

// instance returns the table's instance id, waiting up to specGrace for
// it: an entry that just registered may reach a proxy's table a few
// milliseconds after its first frame does.
func (p *Plane) instance(ctx context.Context, id string) (inst routetable.Instance, ok bool) {
	p.await(ctx, specGrace, func() bool {
		if p.table != nil {
			inst, ok = p.table.Get(id)
		}
		return ok
	})
	return inst, ok
}

// await calls done with p.mu held, at once and after every change of the
// plane, until it reports true (then await does too), ctx ends, or grace
// (when positive) has passed since the first miss.
func (p *Plane) await(ctx context.Context, grace time.Duration, done func() bool) bool {
	var timeout <-chan time.Time // armed on the first miss only
	for {
		p.mu.Lock()
		ok, ch := done(), p.changed
		p.mu.Unlock()
		if ok {
			return true
		}
		if grace > 0 && timeout == nil {
			t := time.NewTimer(grace)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-ch:
		case <-timeout:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// notifyLocked wakes whoever waits for a change. p.mu must be held.
func (p *Plane) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// sessionEnded counts a session that ended with err, waking Claim. The
// plane keeps what the agent told it (key, table, specs, its frame
// socket): hops between warm proxies need no agent, so runs go on while
// the agent restarts, and the next session's welcome and snapshots
// replace it all.
func (p *Plane) sessionEnded(err error) {
	p.mu.Lock()
	p.sessions++
	p.sessionErr = err
	p.notifyLocked()
	p.mu.Unlock()
}

// setWelcome installs what a session's welcome and key said (nil: the
// plane stops). A welcome that says what the last one did keeps the
// route table and the connections; the table snapshot that follows
// every welcome brings the table up to date.
func (p *Plane) setWelcome(w *welcomeState) {
	p.mu.Lock()
	old := p.welcome
	if w != nil && old != nil && old.sameAs(w) && p.table != nil {
		w.client, w.inline = old.client, old.inline
		old = nil // nothing to close
	} else if w != nil {
		p.table = routetable.New(routetable.Config{Host: w.host, Now: p.cfg.Now})
		p.tableSynced = false // until the snapshot that follows the welcome
	}
	p.welcome = w
	if w != nil {
		p.welcomes++
	}
	p.notifyLocked()
	p.mu.Unlock()
	if old != nil && old.client != nil {
		// Sends in flight on the old clients fail and try the next
		// candidate. Closed by the caller, the session (or Run, at the
		// end), outside the lock: no goroutine outlives the plane.
		old.client.Close()
		old.inline.Close()
	}
}

// WaitReady blocks until the plane is registered, knows workflow's spec,
// and its table holds at least one instance of every action the spec
// names, or ctx ends. Tests and the entry use it before the first run.
func (p *Plane) WaitReady(ctx context.Context, workflow string) error {
	var missing string
	if p.await(ctx, 0, func() bool {
		var ready bool
		ready, missing = p.readyLocked(workflow)
		return ready
	}) {
		return nil
	}
	return fmt.Errorf("route: not ready for workflow %q: %s: %w", workflow, missing, ctx.Err())
}

func (p *Plane) readyLocked(workflow string) (bool, string) {
	if p.welcome == nil {
		return false, "not registered with the agent"
	}
	sp := p.specs[workflow]
	if sp == nil {
		return false, "spec unknown"
	}
	for _, id := range sp.StepIDs() {
		if sp.Kind(id) != spec.KindAction {
			continue // routed, or held by the entry
		}
		if _, ok := p.table.Best(sp.Steps[id].Action, nil); !ok {
			return false, "no instance of " + sp.Steps[id].Action
		}
	}
	return true, ""
}

// Instances returns the route table as this proxy sees it: the instances
// of action, or of every action when action is empty, sorted by id.
func (p *Plane) Instances(action string) []routetable.Instance {
	_, _, table := p.snapshot()
	if table == nil {
		return nil
	}
	all := table.Snapshot()
	if action == "" {
		return all
	}
	out := all[:0]
	for _, in := range all {
		if in.Action == action {
			out = append(out, in)
		}
	}
	return out
}
