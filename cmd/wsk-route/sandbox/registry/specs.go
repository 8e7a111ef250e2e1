package registry

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/wsk-route/wsk-route/internal/spec"
)

// specKey is the map key of namespace/workflow, checking both names.
func specKey(namespace, workflow string) (string, error) {
	if err := checkName("namespace", namespace); err != nil {
		return "", err
	}
	if err := checkName("workflow", workflow); err != nil {
		return "", err
	}
	return namespace + "/" + workflow, nil
}

// PutSpec validates sp and stores a copy of it (sp.Marshal) as
// namespace/workflow, replacing any earlier version. It returns the new
// version, higher than every version handed out before (with Open, also
// before a restart); sp itself is not changed. With Open, the spec is in
// the state file before PutSpec returns.
func (r *Registry) PutSpec(ctx context.Context, sp *spec.Spec) (version uint64, err error) {
	key, data, err := encodeSpec(ctx, "put spec", sp)
	if err != nil {
		return 0, err
	}
	err = r.update(func(st *state) (bool, error) {
		st.index++
		st.specs[key] = storedSpec{data: data, version: st.index}
		version = st.index
		return true, nil
	})
	if err != nil {
		return 0, fmt.Errorf("registry: put spec %s: %w", key, err)
	}
	return version, nil
}

// CreateSpec stores sp as PutSpec does, but only if no spec of that
// namespace and workflow is stored: what registry recovery puts back never
// replaces a spec composed meanwhile. It reports whether sp was stored.
func (r *Registry) CreateSpec(ctx context.Context, sp *spec.Spec) (created bool, err error) {
	key, data, err := encodeSpec(ctx, "create spec", sp)
	if err != nil {
		return false, err
	}
	err = r.update(func(st *state) (bool, error) {
		if _, ok := st.specs[key]; ok {
			return false, nil
		}
		st.index++
		st.specs[key] = storedSpec{data: data, version: st.index}
		created = true
		return true, nil
	})
	if err != nil {
		return false, fmt.Errorf("registry: create spec %s: %w", key, err)
	}
	return created, nil
}

// encodeSpec validates sp and returns its key and JSON; errors start with
// "registry: <op>".
func encodeSpec(ctx context.Context, op string, sp *spec.Spec) (key string, data []byte, err error) {
	if sp == nil {
		return "", nil, fmt.Errorf("registry: %s: nil spec", op)
	}
	if err := sp.Validate(); err != nil {
		return "", nil, fmt.Errorf("registry: %s: %w", op, err)
	}
	if key, err = specKey(sp.Namespace, sp.Workflow); err != nil {
		return "", nil, fmt.Errorf("registry: %s: %w", op, err)
	}
	if data, err = sp.Marshal(); err != nil {
		return "", nil, fmt.Errorf("registry: %s %s: %w", op, key, err)
	}
	if err := ctx.Err(); err != nil {
		return "", nil, fmt.Errorf("registry: %s %s: %w", op, key, err)
	}
	return key, data, nil
}

// GetSpec returns the stored spec of namespace/workflow, with Version set,
// or nil and no error when there is none.
func (r *Registry) GetSpec(ctx context.Context, namespace, workflow string) (*spec.Spec, error) {
	key, err := specKey(namespace, workflow)
	if err != nil {
		return nil, fmt.Errorf("registry: get spec: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("registry: get spec %s: %w", key, err)
	}
	r.mu.Lock()
	st, ok := r.st.specs[key]
	r.mu.Unlock()
	if !ok {
		return nil, nil
	}
	return decode(key, st)
}

// DeleteSpec removes the spec of namespace/workflow. Removing a spec that
// is not there is not an error.
func (r *Registry) DeleteSpec(ctx context.Context, namespace, workflow string) error {
	key, err := specKey(namespace, workflow)
	if err != nil {
		return fmt.Errorf("registry: delete spec: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("registry: delete spec %s: %w", key, err)
	}
	err = r.update(func(st *state) (bool, error) {
		if _, ok := st.specs[key]; !ok {
			return false, nil
		}
		delete(st.specs, key)
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("registry: delete spec %s: %w", key, err)
	}
	return nil
}

// ListSpecs returns every stored spec, Version set, ordered by namespace
// and workflow. A spec that does not decode (it cannot happen: each was
// validated when stored) is skipped and reported to onError, which may be
// nil; the parameter keeps the signature of consulstore's.
func (r *Registry) ListSpecs(ctx context.Context, onError func(error)) ([]*spec.Spec, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("registry: list specs: %w", err)
	}
	r.mu.Lock()
	snap := r.snapshotLocked()
	r.mu.Unlock()
	return decodeAll(snap, onError), nil
}

// versioned is one entry of a spec snapshot.
type versioned struct {
	key string
	storedSpec
}

// snapshotLocked returns the stored specs ordered by key. r.mu must be held.
func (r *Registry) snapshotLocked() []versioned {
	snap := make([]versioned, 0, len(r.st.specs))
	for k, st := range r.st.specs {
		snap = append(snap, versioned{k, st})
	}
	slices.SortFunc(snap, func(a, b versioned) int { return strings.Compare(a.key, b.key) })
	return snap
}

func decode(key string, st storedSpec) (*spec.Spec, error) {
	sp, err := spec.Parse(st.data)
	if err != nil {
		return nil, fmt.Errorf("registry: spec %s: %w", key, err)
	}
	sp.Version = st.version
	return sp, nil
}

func decodeAll(snap []versioned, onError func(error)) []*spec.Spec {
	specs := make([]*spec.Spec, 0, len(snap))
	for _, v := range snap {
		sp, err := decode(v.key, v.storedSpec)
		if err != nil {
			if onError != nil {
				onError(err)
			}
			continue
		}
		specs = append(specs, sp)
	}
	return specs
}

// sameSpecs reports whether two snapshots hold the same keys at the same
// versions.
func sameSpecs(a, b []versioned) bool {
	return slices.EqualFunc(a, b, func(x, y versioned) bool { return x.key == y.key && x.version == y.version })
}

// WatchSpecs calls fn with every spec (Version set, ordered by namespace
// and workflow) once at the start and then each time a spec is put or
// deleted. fn and onError run in the caller's goroutine; the specs are
// decoded afresh for each call and are fn's to keep. onError may be nil.
// WatchSpecs returns ctx.Err() when ctx ends.
func (r *Registry) WatchSpecs(ctx context.Context, fn func([]*spec.Spec), onError func(error)) error {
	var last []versioned
	first := true
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		r.mu.Lock()
		snap := r.snapshotLocked()
		woken := r.changed
		r.mu.Unlock()
		if first || !sameSpecs(snap, last) {
			first = false
			last = snap
			fn(decodeAll(snap, onError))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-woken:
		}
	}
}
