package registry

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wsk-route/wsk-route/internal/routetable"
)

// checkInstanceID reports whether id can be an instance ID: the rules of
// routetable.CheckID, as consulstore's service IDs, so that an instance
// accepted here would be accepted in a cluster too. The error wraps
// ErrBadInstance.
func checkInstanceID(id string) error {
	if err := routetable.CheckID(id); err != nil {
		return fmt.Errorf("%w: %w", ErrBadInstance, err)
	}
	return nil
}

// checkInstance reports the first field of inst that consulstore would
// refuse.
func checkInstance(inst routetable.Instance) error {
	if err := checkInstanceID(inst.ID); err != nil {
		return err
	}
	if inst.Concurrency < 0 {
		return fmt.Errorf("%w: %s: negative concurrency %d", ErrBadInstance, inst.ID, inst.Concurrency)
	}
	for _, f := range []struct {
		name, v  string
		required bool
	}{
		{"namespace", inst.Namespace, true},
		{"action", inst.Action, true},
		{"host", inst.Host, true},
		{"version", inst.Version, false},
		{"unix", inst.Unix, false},
		{"tcp", inst.TCP, false},
		{"relay", inst.Relay, false},
	} {
		if f.required && f.v == "" {
			return fmt.Errorf("%w: %s: empty %s", ErrBadInstance, inst.ID, f.name)
		}
		if len(f.v) > maxFieldLen {
			return fmt.Errorf("%w: %s: %s longer than %d bytes", ErrBadInstance, inst.ID, f.name, maxFieldLen)
		}
	}
	if inst.TCP != "" {
		hostport, ok := strings.CutPrefix(inst.TCP, "tcp:")
		host, p, err := net.SplitHostPort(hostport)
		port, perr := strconv.Atoi(p)
		if !ok || err != nil || perr != nil || host == "" || port < 1 || port > 65535 {
			return fmt.Errorf("%w: %s: TCP endpoint %q is not tcp:host:port", ErrBadInstance, inst.ID, inst.TCP)
		}
	}
	return nil
}

// Register adds inst, or replaces the instance with its ID, with a TTL
// check that starts passing and must be passed (Pass) more often than ttl.
func (r *Registry) Register(ctx context.Context, inst routetable.Instance, ttl time.Duration) error {
	if err := checkInstance(inst); err != nil {
		return fmt.Errorf("registry: register: %w", err)
	}
	if ttl <= 0 {
		return fmt.Errorf("registry: register %s: TTL %v is not positive", inst.ID, ttl)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("registry: register %s: %w", inst.ID, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.insts[inst.ID] = &entry{inst: inst, ttl: ttl, expires: r.now().Add(ttl)}
	r.broadcastLocked()
	return nil
}

// Pass marks the TTL check of instance id passing for another TTL. It
// fails, wrapping ErrNotFound, for an instance that is not registered (or
// was removed after DeregisterAfter without a Pass).
func (r *Registry) Pass(ctx context.Context, id string) error {
	if err := checkInstanceID(id); err != nil {
		return fmt.Errorf("registry: pass: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("registry: pass %s: %w", id, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	r.pruneLocked(now)
	e, ok := r.insts[id]
	if !ok {
		return fmt.Errorf("registry: pass %s: %w", id, ErrNotFound)
	}
	lapsed := !now.Before(e.expires)
	e.expires = now.Add(e.ttl)
	if lapsed { // back in the passing set
		r.broadcastLocked()
	}
	return nil
}

// Deregister removes instance id at once. Removing an instance that is not
// registered is not an error.
func (r *Registry) Deregister(ctx context.Context, id string) error {
	if err := checkInstanceID(id); err != nil {
		return fmt.Errorf("registry: deregister: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("registry: deregister %s: %w", id, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.insts[id]; ok {
		delete(r.insts, id)
		r.broadcastLocked()
	}
	return nil
}

// pruneLocked removes the instances unpassed for DeregisterAfter past
// their TTL. r.mu must be held.
func (r *Registry) pruneLocked(now time.Time) {
	for id, e := range r.insts {
		if !now.Before(e.expires.Add(DeregisterAfter)) {
			delete(r.insts, id)
		}
	}
}

// passingLocked returns the passing instances at now, ordered by ID, and
// the earliest time one of them lapses or a lapsed one is removed (zero if
// none will). r.mu must be held.
func (r *Registry) passingLocked(now time.Time) ([]routetable.Instance, time.Time) {
	r.pruneLocked(now)
	insts := make([]routetable.Instance, 0, len(r.insts))
	var next time.Time
	soonest := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for _, e := range r.insts {
		if now.Before(e.expires) {
			insts = append(insts, e.inst)
			soonest(e.expires)
		} else {
			soonest(e.expires.Add(DeregisterAfter))
		}
	}
	slices.SortFunc(insts, func(a, b routetable.Instance) int { return strings.Compare(a.ID, b.ID) })
	return insts, next
}

// WatchInstances calls fn with every passing instance (ordered by ID) once
// at the start and then each time the passing set changes: a Register, a
// Deregister, a TTL that lapses, a Pass that revives one. fn runs in the
// caller's goroutine, with a slice of its own. onError is never called
// (nothing here can fail) and may be nil. WatchInstances returns ctx.Err()
// when ctx ends.
func (r *Registry) WatchInstances(ctx context.Context, fn func([]routetable.Instance), onError func(error)) error {
	var last []routetable.Instance
	first := true
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		r.mu.Lock()
		insts, next := r.passingLocked(r.now())
		woken := r.changed
		r.mu.Unlock()
		if first || !slices.Equal(insts, last) {
			first = false
			last = insts
			fn(slices.Clone(insts))
		}
		if !next.IsZero() { // wake at the next lapse or removal too
			t := time.NewTimer(max(next.Sub(r.now()), 0))
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-woken:
			case <-t.C:
			}
			t.Stop()
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-woken:
		}
	}
}
