package consulstore

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/consul/api"

	"github.com/wsk-route/wsk-route/internal/spec"
)

// specsDir is the KV prefix, with trailing '/', that holds every spec.
func (s *Store) specsDir() string { return s.prefix + "/specs/" }

// specKey is the KV key of one spec.
func (s *Store) specKey(namespace, workflow string) (string, error) {
	if err := checkName("namespace", namespace); err != nil {
		return "", err
	}
	if err := checkName("workflow", workflow); err != nil {
		return "", err
	}
	return s.specsDir() + namespace + "/" + workflow, nil
}

// PutSpec validates sp and stores it (sp.Marshal) at
// <prefix>/specs/<namespace>/<workflow>, replacing any earlier version. It
// returns the new version, the key's ModifyIndex; sp itself is not changed.
func (s *Store) PutSpec(ctx context.Context, sp *spec.Spec) (version uint64, err error) {
	if sp == nil {
		return 0, errors.New("consulstore: put spec: nil spec")
	}
	if err := sp.Validate(); err != nil {
		return 0, fmt.Errorf("consulstore: put spec: %w", err)
	}
	key, err := s.specKey(sp.Namespace, sp.Workflow)
	if err != nil {
		return 0, fmt.Errorf("consulstore: put spec: %w", err)
	}
	data, err := sp.Marshal()
	if err != nil {
		return 0, fmt.Errorf("consulstore: put spec %s: %w", key, err)
	}
	// A one-operation transaction returns the entry it wrote, with its
	// ModifyIndex, which a plain Put does not.
	ops := api.TxnOps{{KV: &api.KVTxnOp{Verb: api.KVSet, Key: key, Value: data}}}
	ok, resp, _, err := s.txn.Txn(ops, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return 0, fmt.Errorf("consulstore: put spec %s: %w", key, err)
	}
	if !ok || resp == nil || len(resp.Results) != 1 || resp.Results[0].KV == nil {
		return 0, fmt.Errorf("consulstore: put spec %s: transaction failed: %v", key, txnErrors(resp))
	}
	return resp.Results[0].KV.ModifyIndex, nil
}

// CreateSpec stores sp as PutSpec does, but only if no spec of that
// namespace and workflow is stored (a check-and-set on index 0): what
// registry recovery puts back never replaces a spec composed meanwhile. It
// reports whether sp was stored.
func (s *Store) CreateSpec(ctx context.Context, sp *spec.Spec) (created bool, err error) {
	if sp == nil {
		return false, errors.New("consulstore: create spec: nil spec")
	}
	if err := sp.Validate(); err != nil {
		return false, fmt.Errorf("consulstore: create spec: %w", err)
	}
	key, err := s.specKey(sp.Namespace, sp.Workflow)
	if err != nil {
		return false, fmt.Errorf("consulstore: create spec: %w", err)
	}
	data, err := sp.Marshal()
	if err != nil {
		return false, fmt.Errorf("consulstore: create spec %s: %w", key, err)
	}
	ok, _, err := s.kv.CAS(&api.KVPair{Key: key, Value: data, ModifyIndex: 0}, (&api.WriteOptions{}).WithContext(ctx))
	if err != nil {
		return false, fmt.Errorf("consulstore: create spec %s: %w", key, err)
	}
	return ok, nil
}

func txnErrors(resp *api.TxnResponse) string {
	if resp == nil || len(resp.Errors) == 0 {
		return "no result"
	}
	var b strings.Builder
	for i, e := range resp.Errors {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(e.What)
	}
	return b.String()
}

// GetSpec returns the stored spec of namespace/workflow, with Version set,
// or nil and no error when there is none.
func (s *Store) GetSpec(ctx context.Context, namespace, workflow string) (*spec.Spec, error) {
	key, err := s.specKey(namespace, workflow)
	if err != nil {
		return nil, fmt.Errorf("consulstore: get spec: %w", err)
	}
	pair, _, err := s.kv.Get(key, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("consulstore: get spec %s: %w", key, err)
	}
	if pair == nil {
		return nil, nil
	}
	return s.decodeSpec(pair)
}

// DeleteSpec removes the spec of namespace/workflow. Removing a spec that
// is not there is not an error.
func (s *Store) DeleteSpec(ctx context.Context, namespace, workflow string) error {
	key, err := s.specKey(namespace, workflow)
	if err != nil {
		return fmt.Errorf("consulstore: delete spec: %w", err)
	}
	if _, err := s.kv.Delete(key, (&api.WriteOptions{}).WithContext(ctx)); err != nil {
		return fmt.Errorf("consulstore: delete spec %s: %w", key, err)
	}
	return nil
}

// ListSpecs returns every stored spec of every namespace, Version set,
// ordered by namespace and workflow. An entry that does not decode is
// skipped and reported to onError (which may be nil).
func (s *Store) ListSpecs(ctx context.Context, onError func(error)) ([]*spec.Spec, error) {
	pairs, _, err := s.kv.List(s.specsDir(), (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("consulstore: list specs: %w", err)
	}
	return s.decodeSpecs(pairs, onError), nil
}

// WatchSpecs calls fn with every spec of every namespace (Version set,
// ordered by namespace and workflow) once at the start and then each time
// anything under <prefix>/specs/ changes, using blocking queries. A spec
// that does not decode is skipped and reported to onError, as are failed
// queries, which are retried; onError may be nil. fn and onError run in
// the caller's goroutine. WatchSpecs returns ctx.Err() when ctx ends.
func (s *Store) WatchSpecs(ctx context.Context, fn func([]*spec.Spec), onError func(error)) error {
	dir := s.specsDir()
	query := func(q *api.QueryOptions) (api.KVPairs, *api.QueryMeta, error) {
		pairs, meta, err := s.kv.List(dir, q)
		if err != nil {
			return nil, nil, fmt.Errorf("consulstore: watch specs: %w", err)
		}
		return pairs, meta, nil
	}
	deliver := func(pairs api.KVPairs) { fn(s.decodeSpecs(pairs, onError)) }
	return watch(ctx, query, deliver, onError)
}

func (s *Store) decodeSpecs(pairs api.KVPairs, onError func(error)) []*spec.Spec {
	specs := make([]*spec.Spec, 0, len(pairs))
	for _, p := range pairs {
		sp, err := s.decodeSpec(p)
		if err != nil {
			if onError != nil {
				onError(err)
			}
			continue
		}
		specs = append(specs, sp)
	}
	sort.Slice(specs, func(i, j int) bool { return specs[i].Key() < specs[j].Key() })
	return specs
}

// decodeSpec parses a KV entry under specsDir into a spec whose namespace
// and workflow match its key, and sets its Version.
func (s *Store) decodeSpec(p *api.KVPair) (*spec.Spec, error) {
	rest, ok := strings.CutPrefix(p.Key, s.specsDir())
	ns, wf, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || checkName("namespace", ns) != nil || checkName("workflow", wf) != nil {
		return nil, fmt.Errorf("consulstore: spec key %q is not %snamespace/workflow", p.Key, s.specsDir())
	}
	sp, err := spec.Parse(p.Value)
	if err != nil {
		return nil, fmt.Errorf("consulstore: spec %s: %w", p.Key, err)
	}
	if sp.Namespace != ns || sp.Workflow != wf {
		return nil, fmt.Errorf("consulstore: spec %s names %s/%s", p.Key, sp.Namespace, sp.Workflow)
	}
	sp.Version = p.ModifyIndex
	return sp, nil
}
