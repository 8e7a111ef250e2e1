package consulstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/wsk-route/wsk-route/internal/runevent"
)

// Run event settings.
const (
	// DefaultRunRetention is how long a run's events are kept by default:
	// twice OpenWhisk's default maximum action time (5 minutes).
	DefaultRunRetention = 10 * time.Minute
	// MinRunRetention is the shortest retention: Consul's shortest
	// session TTL (10 s) invalidates a session after twice that.
	MinRunRetention = 20 * time.Second
	// MaxRunEventWait bounds the wait of one RunEvents call.
	MaxRunEventWait = 5 * time.Minute
)

// ErrBadRunEvent is returned (wrapped) for a run event, run id or index
// the store refuses.
var ErrBadRunEvent = errors.New("consulstore: bad run event")

// runSessions remembers, per run, the Consul session its events are
// written under. Each session has TTL retention/2 and is never renewed:
// Consul invalidates it after twice its TTL and, with behavior "delete",
// removes every key written under it. So a run's events go away about
// retention after its first one, with no sweeper.
type runSessions struct {
	retention time.Duration
	now       func() time.Time

	mu        sync.Mutex // guards the fields below
	byRun     map[string]runSession
	lastPrune time.Time
}

type runSession struct {
	id      string
	created time.Time
}

func newRunSessions(retention time.Duration) *runSessions {
	return &runSessions{retention: retention, now: time.Now, byRun: map[string]runSession{}}
}

// get returns the session for run (a "namespace/run" key) if it is young
// enough to hold another event, and drops sessions past their life.
func (r *runSessions) get(run string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if now.Sub(r.lastPrune) > r.retention/4 {
		for k, s := range r.byRun {
			if now.Sub(s.created) > r.retention/2 {
				delete(r.byRun, k)
			}
		}
		r.lastPrune = now
	}
	s, ok := r.byRun[run]
	if !ok || now.Sub(s.created) > r.retention/2 {
		return "", false
	}
	return s.id, true
}

func (r *runSessions) put(run, id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byRun[run] = runSession{id: id, created: r.now()}
}

func (r *runSessions) drop(run, id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byRun[run].id == id {
		delete(r.byRun, run)
	}
}

// runDir is the KV prefix, with trailing '/', of one run's events.
func (s *Store) runDir(namespace, run string) (string, error) {
	if err := checkName("namespace", namespace); err != nil {
		return "", err
	}
	if err := runevent.CheckRun(run); err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadRunEvent, err)
	}
	return s.prefix + "/runs/" + namespace + "/" + run + "/", nil
}

// AppendRunEvent stores ev, an event of run in namespace, at
// <prefix>/runs/<namespace>/<run>/<seq> (seq zero-padded to 20 digits),
// held by a session of the run that Consul deletes, with the key, about
// Options.RunRetention after the run's first event. One event is one KV
// write; a run's first event (and one after each half retention) also
// creates a session.
func (s *Store) AppendRunEvent(ctx context.Context, namespace, run string, ev runevent.Event) error {
	dir, err := s.runDir(namespace, run)
	if err != nil {
		return fmt.Errorf("consulstore: append run event: %w", err)
	}
	if err := ev.Check(); err != nil {
		return fmt.Errorf("consulstore: append run event: %w: %w", ErrBadRunEvent, err)
	}
	if ev.Run != run {
		return fmt.Errorf("consulstore: append run event: %w: event of run %q stored as run %q", ErrBadRunEvent, ev.Run, run)
	}
	data, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("consulstore: append run event %s: %w", dir, err)
	}
	key := fmt.Sprintf("%s%020d", dir, ev.Seq)
	for attempt := 0; ; attempt++ {
		sess, ok := s.runs.get(dir)
		if !ok {
			if sess, err = s.newRunSession(ctx, dir); err != nil {
				return err
			}
		}
		ok, _, err := s.kv.Acquire(&api.KVPair{Key: key, Value: data, Session: sess}, (&api.WriteOptions{}).WithContext(ctx))
		if err != nil {
			return fmt.Errorf("consulstore: append run event %s: %w", key, err)
		}
		if ok {
			return nil
		}
		// The session is gone (invalidated early, or Consul restarted), or
		// another session holds the key: try once with a new session.
		s.runs.drop(dir, sess)
		if attempt > 0 {
			return fmt.Errorf("consulstore: append run event %s: the key is held by another session", key)
		}
	}
}

func (s *Store) newRunSession(ctx context.Context, dir string) (string, error) {
	ttl := s.runs.retention / 2
	id, _, err := s.session.CreateNoChecks(&api.SessionEntry{
		Name:     "wsk-route run events " + strings.TrimSuffix(dir, "/"),
		TTL:      strconv.Itoa(int(ttl/time.Second)) + "s",
		Behavior: api.SessionBehaviorDelete,
	}, (&api.WriteOptions{}).WithContext(ctx))
	if err != nil {
		return "", fmt.Errorf("consulstore: session for the run events under %s: %w", dir, err)
	}
	s.runs.put(dir, id)
	return id, nil
}

// RunEvents returns the events of run in namespace whose Seq is above
// after, in Seq order, and the index to pass as after next time (the last
// Seq returned, or after). When there are none it waits, with Consul
// blocking queries, up to wait (at most MaxRunEventWait) for one, and
// returns none when the wait ends. An unknown or expired run has no
// events. An entry that does not decode is skipped.
func (s *Store) RunEvents(ctx context.Context, namespace, run string, after uint64, wait time.Duration) ([]runevent.Event, uint64, error) {
	dir, err := s.runDir(namespace, run)
	if err != nil {
		return nil, after, fmt.Errorf("consulstore: run events: %w", err)
	}
	wait = min(max(wait, 0), MaxRunEventWait)
	deadline := time.Now().Add(wait)
	var index uint64
	for {
		q := &api.QueryOptions{}
		if index > 0 {
			left := time.Until(deadline)
			if left <= 0 {
				return nil, after, nil
			}
			q.WaitIndex, q.WaitTime = index, left
		}
		pairs, meta, err := s.kv.List(dir, q.WithContext(ctx))
		if err != nil {
			return nil, after, fmt.Errorf("consulstore: run events %s: %w", dir, err)
		}
		if evs, next := decodeRunEvents(pairs, run, after); len(evs) > 0 {
			return evs, next, nil
		}
		if wait == 0 {
			return nil, after, nil
		}
		index = max(nextIndex(index, meta.LastIndex), 1)
	}
}

// decodeRunEvents returns the events of pairs above after, in Seq order.
func decodeRunEvents(pairs api.KVPairs, run string, after uint64) ([]runevent.Event, uint64) {
	var out []runevent.Event
	next := after
	for _, p := range pairs {
		var ev runevent.Event
		if json.Unmarshal(p.Value, &ev) != nil || ev.Run != run || ev.Seq <= after {
			continue
		}
		out = append(out, ev)
		next = max(next, ev.Seq)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out, next
}
