package agent

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/internal/whisk"
)

// ActionCatalog is the optional method set of an ActivationStore that can
// tell what OpenWhisk knows of the actions whose records it stores, as
// OpenWhisk's entity store does (internal/activationdb's Store, the
// sandbox's store). The agent gives each direct step's record the "kind"
// and "limits" annotations and its user event the kind and memory
// OpenWhisk's invoker would: a proxy cannot tell them (OpenWhisk's /init
// carries neither). A store without it gets records without those
// annotations and user events of kind UnknownKind, memory 0.
type ActionCatalog interface {
	// LookupAction returns the runtime kind and the limits of the
	// version of action (fully qualified, "/ns/[pkg/]name") that a proxy
	// of namespace registered with; version "" is whatever version the
	// catalog has. It returns an error when the action is not there at
	// that version or cannot be read, soon after ctx ends.
	LookupAction(ctx context.Context, namespace, action, version string) (kind string, limits whisk.Limits, err error)
}

// ActionCatalogFunc adapts a function to ActionCatalog.
type ActionCatalogFunc func(ctx context.Context, namespace, action, version string) (string, whisk.Limits, error)

// LookupAction implements ActionCatalog.
func (f ActionCatalogFunc) LookupAction(ctx context.Context, namespace, action, version string) (string, whisk.Limits, error) {
	return f(ctx, namespace, action, version)
}

var _ ActionCatalog = ActionCatalogFunc(nil)

const (
	// actionCacheSize bounds the action versions the agent remembers;
	// past it an arbitrary one is forgotten (and looked up again when a
	// record needs it).
	actionCacheSize = 4096
	// lookupTimeout bounds one lookup, which holds up the record writer.
	lookupTimeout = 2 * time.Second
	// lookupRetry is the wait before an action version whose lookup
	// failed is looked up again; it doubles with each failure in a row,
	// up to lookupRetryMax. Records in between get no kind and limits.
	lookupRetry    = 30 * time.Second
	lookupRetryMax = 10 * time.Minute
)

// actionKey names an action version as a proxy registered it.
type actionKey struct{ namespace, action, version string }

func instanceAction(inst routetable.Instance) actionKey {
	return actionKey{namespace: inst.Namespace, action: inst.Action, version: inst.Version}
}

// actionInfo is what the agent knows of an action version.
type actionInfo struct {
	known  bool // false: not looked up, or the lookup failed
	kind   string
	limits whisk.Limits
}

// actionEntry is a cached lookup.
type actionEntry struct {
	info actionInfo
	// retryAt is when to look up again an action version whose lookup
	// failed, and backoff the wait after its next failure.
	retryAt time.Time
	backoff time.Duration
}

// actionCache remembers the kind and limits of action versions, looked up
// in catalog, at most actionCacheSize of them. Lookups run on the record
// writer's goroutine (resolve), and in a Register of a proxy that runs a
// pool (slotsFor: once per action version, within lookupTimeout, before
// the proxy's welcome); the proxies' session readers otherwise only read
// what is cached (cached), and never wait. Two lookups of one version at
// once both ask the catalog; the answers are the same.
type actionCache struct {
	catalog  ActionCatalog
	log      *slog.Logger
	now      func() time.Time // time.Now; tests step it
	failures atomic.Uint64    // lookups that failed

	mu      sync.Mutex // guards entries
	entries map[actionKey]*actionEntry
}

func newActionCache(catalog ActionCatalog, log *slog.Logger) *actionCache {
	return &actionCache{catalog: catalog, log: log, now: time.Now, entries: make(map[actionKey]*actionEntry)}
}

// cached returns what is known of k, and whether that is all there is to
// know for now: false when k must be looked up (it never was, or its last
// lookup failed and its retry time has come).
func (c *actionCache) cached(k actionKey) (actionInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok {
		return actionInfo{}, false
	}
	if !e.info.known && !c.now().Before(e.retryAt) {
		return actionInfo{}, false
	}
	return e.info, true
}

// resolve returns what is known of k, looking it up first (within
// lookupTimeout) when it must be. A failed lookup is counted and logged,
// and k is not looked up again before its retry time; meanwhile resolve
// returns an unknown actionInfo.
func (c *actionCache) resolve(ctx context.Context, k actionKey) actionInfo {
	if info, ok := c.cached(k); ok {
		return info
	}
	lctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	kind, limits, err := c.catalog.LookupAction(lctx, k.namespace, k.action, k.version)
	cancel()
	if err == nil && kind == "" {
		err = errors.New("agent: the catalog gave no kind")
	}
	if err == nil {
		info := actionInfo{known: true, kind: kind, limits: limits}
		c.mu.Lock()
		c.putLocked(k, &actionEntry{info: info})
		c.mu.Unlock()
		return info
	}
	c.mu.Lock()
	backoff := lookupRetry
	if e, ok := c.entries[k]; ok && e.backoff > 0 {
		backoff = e.backoff
	}
	c.putLocked(k, &actionEntry{retryAt: c.now().Add(backoff), backoff: min(2*backoff, lookupRetryMax)})
	c.mu.Unlock()
	c.failures.Add(1)
	c.log.Warn("agent: looking up an action's kind and limits failed; its steps' records and user events go without them until it is retried",
		"namespace", k.namespace, "action", k.action, "version", k.version, "retry_in", backoff, "failures", c.failures.Load(), "err", err)
	return actionInfo{}
}

// putLocked caches e for k, forgetting another entry when the cache is
// full. c.mu must be held.
func (c *actionCache) putLocked(k actionKey, e *actionEntry) {
	if _, ok := c.entries[k]; !ok && len(c.entries) >= actionCacheSize {
		for old := range c.entries {
			delete(c.entries, old)
			break
		}
	}
	c.entries[k] = e
}
