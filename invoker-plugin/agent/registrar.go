package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"

	"github.com/wsk-route/wsk-route/internal/agentproto"
	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/invoker-plugin/metrics"
	"github.com/wsk-route/wsk-route/invoker-plugin/proxyconn"
	"github.com/wsk-route/wsk-route/invoker-plugin/relay"
)

// maxNameLen bounds a host, proxy or namespace name.
const maxNameLen = 128

// ErrDuplicate is returned (wrapped) when a proxy registers a name that a
// live session of this agent already holds.
var ErrDuplicate = errors.New("agent: instance already registered")

// ErrBadRegister is returned (wrapped) for a Register whose fields the
// agent refuses.
var ErrBadRegister = errors.New("agent: bad register")

// registrar is the Agent as proxyconn sees it.
type registrar Agent

var _ proxyconn.Registrar = (*registrar)(nil)

// safeName reports whether s can be a path element and a part of an id:
// 1 to maxNameLen bytes, no '/', no spaces or control characters, not "."
// or "..".
func safeName(s string) bool {
	if s == "" || len(s) > maxNameLen || s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		if r == '/' || r == '\\' || unicode.IsSpace(r) || unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// checkRegister refuses a Register the agent must not act on: names that
// would escape their directory or id, an action outside the namespace.
func (r *registrar) checkRegister(reg *agentproto.Register) error {
	switch {
	case !safeName(reg.Namespace):
		return fmt.Errorf("%w: namespace %q", ErrBadRegister, reg.Namespace)
	case !safeName(reg.Name):
		return fmt.Errorf("%w: name %q", ErrBadRegister, reg.Name)
	case !strings.HasPrefix(reg.Action, "/"+reg.Namespace+"/"):
		return fmt.Errorf("%w: action %q is not in namespace %q", ErrBadRegister, reg.Action, reg.Namespace)
	case reg.Concurrency < 0:
		return fmt.Errorf("%w: concurrency %d", ErrBadRegister, reg.Concurrency)
	}
	if reg.TCP != "" && !strings.HasPrefix(reg.TCP, "tcp:") {
		return fmt.Errorf("%w: tcp endpoint %q", ErrBadRegister, reg.TCP)
	}
	return nil
}

// Register implements proxyconn.Registrar.
func (r *registrar) Register(ctx context.Context, peer proxyconn.Peer, reg *agentproto.Register) (agentproto.Welcome, []byte, error) {
	if err := r.checkRegister(reg); err != nil {
		return agentproto.Welcome{}, nil, err
	}
	a := (*Agent)(r)
	if err := a.bindPeer(ctx, peer, reg); err != nil {
		return agentproto.Welcome{}, nil, err
	}
	slots := a.slotsFor(ctx, reg)
	inst := routetable.Instance{
		ID:          a.cfg.Host + "/" + reg.Name,
		Namespace:   reg.Namespace,
		Action:      reg.Action,
		Version:     reg.Version,
		Host:        a.cfg.Host,
		TCP:         reg.TCP,
		Relay:       a.relayEndpoint,
		Concurrency: slots,
	}
	a.mu.Lock()
	if a.local[inst.ID] != nil {
		a.mu.Unlock()
		return agentproto.Welcome{}, nil, fmt.Errorf("%w: %s", ErrDuplicate, inst.ID)
	}
	li := &localInstance{inst: inst, user: reg.User, peer: peer}
	a.local[inst.ID] = li
	a.mu.Unlock()
	fail := func(err error) (agentproto.Welcome, []byte, error) {
		a.sockets.drop(reg.Name)
		a.mu.Lock()
		delete(a.local, inst.ID)
		a.notifyLocked() // a frame waiting for it is refused now
		a.mu.Unlock()
		return agentproto.Welcome{}, nil, err
	}

	// The frame socket is made here, in a directory no container can
	// write; the proxy fetches its descriptor with the token.
	endpoint, token, err := a.sockets.create(reg.Name, time.Now())
	if err != nil {
		return fail(err)
	}
	inst.Unix = endpoint
	li.inst.Unix = endpoint
	welcome, key, err := r.admit(ctx, inst)
	if err != nil {
		return fail(err)
	}
	// Only a proxy that said it can send telemetry is told to: an older
	// one would refuse the field.
	welcome.Telemetry = reg.Telemetry && a.wantsTelemetry()
	if reg.Slots {
		welcome.Slots = slots
	}
	welcome.Direct = reg.Direct && a.cfg.DirectRuns != nil
	welcome.Socket, welcome.Handoff, welcome.Token = endpoint, a.HandoffEndpoint(), token
	a.mu.Lock()
	li.ready = true
	n := len(a.local)
	a.notifyLocked()
	a.mu.Unlock()
	a.metrics.SetProxies(n)
	a.log.Info("agent: instance registered", "instance", inst.ID, "action", inst.Action, "slots", inst.Concurrency)
	return welcome, key, nil
}

// slotsFor returns how many direct steps the proxy that sent reg may run
// at once, as its instance is registered and its Welcome tells it: its
// action's limits.concurrency, looked up in OpenWhisk's entity store (the
// agent's ActionCatalog), at most the processes the proxy can run
// (reg.Concurrency). A proxy's own concurrency is not its action's: a
// deployment that allows concurrency gives every container
// __OW_ALLOW_CONCURRENT, and OpenWhisk's invoker keeps each action to its
// limit. It is 1 (one step at a time, its logs captured) for a proxy that
// did not say Slots or runs one process, without a catalog, and when the
// lookup fails (it is retried for later registrations, actions.go).
func (a *Agent) slotsFor(ctx context.Context, reg *agentproto.Register) int {
	actions := a.records.actions
	if !reg.Slots || reg.Concurrency <= 1 || actions == nil {
		return 1
	}
	info := actions.resolve(ctx, actionKey{namespace: reg.Namespace, action: reg.Action, version: reg.Version})
	if !info.known || info.limits.Concurrency <= 1 {
		return 1
	}
	return min(info.limits.Concurrency, reg.Concurrency, agentproto.MaxSlots)
}

// bindPeer binds peer's cgroup to reg's namespace, or refuses reg if the
// cgroup is bound to another namespace, the peer is unidentified (without
// AllowUnidentifiedPeers) or the binding cannot be saved. A refusal is
// logged and counted; its error is a *proxyconn.Refusal.
func (a *Agent) bindPeer(ctx context.Context, peer proxyconn.Peer, reg *agentproto.Register) error {
	refuse := func(reason, public string, err error) error {
		a.metrics.RegisterRefused(reason)
		a.log.Warn("agent: register refused", "reason", reason, "name", reg.Name, "namespace", reg.Namespace,
			"pid", peer.PID, "cgroup", peer.Cgroup.String(), "err", err)
		return &proxyconn.Refusal{Reason: public, Err: err}
	}
	if peer.Namespace != "" && peer.Namespace != reg.Namespace {
		return refuse(metrics.RefusalNamespaceMismatch, "container is bound to another namespace",
			fmt.Errorf("the container was started for namespace %q, not %q", peer.Namespace, reg.Namespace))
	}
	if errors.Is(peer.Err, proxyconn.ErrUntrustedImage) {
		return refuse(metrics.RefusalUntrustedImage, "container image not trusted", peer.Err)
	}
	if peer.Err != nil {
		if a.cfg.AllowUnidentifiedPeers {
			a.log.Warn("agent: admitting an unidentified peer, unbound (AllowUnidentifiedPeers)", "name", reg.Name, "namespace", reg.Namespace, "err", peer.Err)
			return nil
		}
		return refuse(metrics.RefusalUnidentifiedPeer, "peer unidentified", fmt.Errorf("%w: %w", ErrUnidentifiedPeer, peer.Err))
	}
	gen, err := a.bindings.bind(peer.Cgroup, reg.Namespace)
	if err != nil {
		return refuse(metrics.RefusalNamespaceMismatch, "container is bound to another namespace", err)
	}
	ctx, cancel := context.WithTimeout(ctx, registryTimeout)
	defer cancel()
	if err := a.bindings.waitSaved(ctx, gen); err != nil {
		return refuse(metrics.RefusalStateError, "agent cannot save its state", err)
	}
	return nil
}

// admit prepares the namespace's shm directory, fetches its key and
// registers inst.
func (r *registrar) admit(ctx context.Context, inst routetable.Instance) (agentproto.Welcome, []byte, error) {
	a := (*Agent)(r)
	ctx, cancel := context.WithTimeout(ctx, registryTimeout)
	defer cancel()
	shmDir := filepath.Join(a.cfg.ShmRoot, inst.Namespace)
	if err := os.Mkdir(shmDir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return agentproto.Welcome{}, nil, fmt.Errorf("agent: shm dir: %w", err)
	}
	key, err := a.cfg.Registry.NamespaceKey(ctx, inst.Namespace)
	if err != nil {
		a.metrics.RegistryError()
		return agentproto.Welcome{}, nil, fmt.Errorf("agent: key of %s: %w", inst.Namespace, err)
	}
	if err := a.cfg.Registry.Register(ctx, inst, a.cfg.TTL); err != nil {
		a.metrics.RegistryError()
		return agentproto.Welcome{}, nil, fmt.Errorf("agent: register %s: %w", inst.ID, err)
	}
	return agentproto.Welcome{
		InstanceID: inst.ID,
		Host:       a.cfg.Host,
		Relay:      a.FrameEndpoint(),
		ShmDir:     shmDir,
	}, key, nil
}

// Deregister implements proxyconn.Registrar.
func (r *registrar) Deregister(id, reason string) {
	a := (*Agent)(r)
	a.mu.Lock()
	li, ok := a.local[id]
	delete(a.local, id)
	n := len(a.local)
	direct := ok && li.direct
	a.mu.Unlock()
	if !ok {
		return
	}
	if direct {
		a.cfg.DirectRuns(li.peer, false) // the proxy is gone, or no longer listened to
	}
	a.sockets.drop(strings.TrimPrefix(id, a.cfg.Host+"/"))
	a.metrics.SetProxies(n)
	if run := a.stopping.Load(); run != nil && (*run).Err() != nil {
		// The agent is stopping, not the proxy: it registers again with
		// the next agent, within its TTL (see Run).
		a.log.Info("agent: stopping: instance left registered for the next agent (its TTL check expires otherwise)", "instance", id)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), registryTimeout)
	defer cancel()
	if err := a.cfg.Registry.Deregister(ctx, id); err != nil {
		a.metrics.RegistryError()
		a.log.Warn("agent: deregister failed (its TTL check will expire)", "instance", id, "err", err)
		return
	}
	a.log.Info("agent: instance deregistered", "instance", id, "reason", reason)
}

// Direct implements proxyconn.DirectSink: it tells Config.DirectRuns
// when the container of instance id starts or stops running direct
// steps. Only a change is passed on.
func (r *registrar) Direct(id string, running bool) {
	a := (*Agent)(r)
	if a.cfg.DirectRuns == nil {
		return // never asked for (Welcome.Direct)
	}
	a.mu.Lock()
	li := a.local[id]
	changed := li != nil && li.direct != running
	if changed {
		li.direct = running
	}
	a.mu.Unlock()
	if changed {
		a.cfg.DirectRuns(li.peer, running)
	}
}

// Stats implements proxyconn.Registrar: the hops are counted on the
// edges from the action the proxy registered (not one it names).
func (r *registrar) Stats(id string, st *agentproto.Stats) {
	a := (*Agent)(r)
	a.mu.Lock()
	li := a.local[id]
	a.mu.Unlock()
	from := ""
	if li != nil {
		from = li.inst.Action
	}
	r.metrics.AddStats(from, st)
}

// directory is the Agent as the relay sees it.
type directory Agent

var _ relay.Directory = (*directory)(nil)

// Lookup implements relay.Directory: instances registered through this
// agent are local; other instances come from the table, except those the
// table places on this host (stale: this agent does not hold them). What
// the agent does not know yet, it waits for, at most settleGrace: an
// instance whose registration is in progress, and, within restartWindow of
// the agent's start, Consul's first answer and the instances of this host
// whose proxies register again with this agent (restart.go).
func (d *directory) Lookup(id string) (inst routetable.Instance, local, ok bool) {
	a := (*Agent)(d)
	start := time.Now()
	waited := false
	a.await(settleGrace, func() bool {
		var wait bool
		inst, local, ok, wait = a.lookupLocked(id, time.Now())
		waited = waited || wait
		return ok || !wait
	})
	if waited {
		a.logSettled("instance "+id, ok, time.Since(start))
	}
	return inst, local, ok
}
