package registry

import (
	"context"
	"fmt"
	"time"

	"github.com/wsk-route/wsk-route/internal/runevent"
)

// Run event settings, as consulstore's.
const (
	// DefaultRunRetention is how long a run's events are kept after its
	// first one by default.
	DefaultRunRetention = 10 * time.Minute
	// MaxRunEventWait bounds the wait of one RunEvents call.
	MaxRunEventWait = 5 * time.Minute
	// maxRunEvents bounds the events kept per run; later ones are dropped.
	maxRunEvents = 100000
)

// runLog is the events of one run, in Seq order.
type runLog struct {
	events  []runevent.Event
	expires time.Time // Options.Clock time the run is forgotten at
}

// runKey checks the names and returns the key of a run.
func runKey(namespace, run string) (string, error) {
	if err := checkName("namespace", namespace); err != nil {
		return "", err
	}
	if err := runevent.CheckRun(run); err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadRunEvent, err)
	}
	return namespace + "/" + run, nil
}

// AppendRunEvent keeps ev, an event of run in namespace, in memory until
// Options.RunRetention after the run's first event. An event whose Seq is
// not above the run's last is refused.
func (r *Registry) AppendRunEvent(ctx context.Context, namespace, run string, ev runevent.Event) error {
	key, err := runKey(namespace, run)
	if err != nil {
		return fmt.Errorf("registry: append run event: %w", err)
	}
	if err := ev.Check(); err != nil {
		return fmt.Errorf("registry: append run event: %w: %w", ErrBadRunEvent, err)
	}
	if ev.Run != run {
		return fmt.Errorf("registry: append run event: %w: event of run %q stored as run %q", ErrBadRunEvent, ev.Run, run)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	r.pruneRunsLocked(now)
	l := r.runs[key]
	if l == nil || !now.Before(l.expires) {
		l = &runLog{expires: now.Add(r.runRetention)}
		r.runs[key] = l
	}
	if n := len(l.events); n > 0 && l.events[n-1].Seq >= ev.Seq {
		return fmt.Errorf("registry: append run event %s: %w: seq %d after seq %d", key, ErrBadRunEvent, ev.Seq, l.events[n-1].Seq)
	}
	if len(l.events) >= maxRunEvents {
		return fmt.Errorf("registry: append run event %s: %w: the run has %d events already", key, ErrBadRunEvent, maxRunEvents)
	}
	l.events = append(l.events, ev)
	close(r.runsChanged)
	r.runsChanged = make(chan struct{})
	return nil
}

// pruneRunsLocked forgets expired runs, at most every quarter retention.
// r.mu must be held.
func (r *Registry) pruneRunsLocked(now time.Time) {
	if now.Sub(r.runsPruned) < r.runRetention/4 {
		return
	}
	r.runsPruned = now
	for k, l := range r.runs {
		if !now.Before(l.expires) {
			delete(r.runs, k)
		}
	}
}

// RunEvents returns the events of run in namespace whose Seq is above
// after, in Seq order, and the index to pass as after next time (the last
// Seq returned, or after). When there are none it waits up to wait (at
// most MaxRunEventWait) for one. An unknown or expired run has no events.
func (r *Registry) RunEvents(ctx context.Context, namespace, run string, after uint64, wait time.Duration) ([]runevent.Event, uint64, error) {
	key, err := runKey(namespace, run)
	if err != nil {
		return nil, after, fmt.Errorf("registry: run events: %w", err)
	}
	t := time.NewTimer(min(max(wait, 0), MaxRunEventWait))
	defer t.Stop()
	for {
		r.mu.Lock()
		var out []runevent.Event
		if l := r.runs[key]; l != nil && r.now().Before(l.expires) {
			for _, ev := range l.events {
				if ev.Seq > after {
					out = append(out, ev)
				}
			}
		}
		ch := r.runsChanged
		r.mu.Unlock()
		if len(out) > 0 {
			return out, out[len(out)-1].Seq, nil
		}
		select {
		case <-ch:
		case <-t.C:
			return nil, after, nil
		case <-ctx.Done():
			return nil, after, fmt.Errorf("registry: run events %s: %w", key, ctx.Err())
		}
	}
}
