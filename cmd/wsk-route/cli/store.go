package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"time"

	"github.com/wsk-route/wsk-route/internal/consulstore"
	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/internal/spec"
)

// specStore is where compiled specs and the route table live: a real
// Consul (consulStore) or the API host's wsk-route routes (restStore).
type specStore interface {
	put(ctx context.Context, sp *spec.Spec) (uint64, error)
	// get returns nil, nil when the workflow has no spec.
	get(ctx context.Context, namespace, workflow string) (*spec.Spec, error)
	// del reports false when there was no spec.
	del(ctx context.Context, namespace, workflow string) (bool, error)
	list(ctx context.Context, namespace string) ([]*spec.Spec, error)
	// instances returns the namespace's passing instances (of one action
	// when action is not "").
	instances(ctx context.Context, namespace, action string) ([]routetable.Instance, error)
	close()
}

// errNoStore is what a 404 from the API's workflow store means.
var errNoStore = errors.New("this OpenWhisk has no wsk-route workflow store: pass --consul ADDR, the Consul of your wsk-route agents")

// openStore returns the store the configuration names.
func openStore(a *api) (specStore, error) {
	if a.cfg.Consul == "" {
		return restStore{a}, nil
	}
	s, err := consulstore.New(consulstore.Options{Address: a.cfg.Consul})
	if err != nil {
		return nil, fmt.Errorf("--consul %s: %w", a.cfg.Consul, err)
	}
	return consulStore{s}, nil
}

type consulStore struct{ s *consulstore.Store }

func (c consulStore) put(ctx context.Context, sp *spec.Spec) (uint64, error) {
	return c.s.PutSpec(ctx, sp)
}

func (c consulStore) get(ctx context.Context, ns, wf string) (*spec.Spec, error) {
	return c.s.GetSpec(ctx, ns, wf)
}

func (c consulStore) del(ctx context.Context, ns, wf string) (bool, error) {
	sp, err := c.s.GetSpec(ctx, ns, wf)
	if err != nil || sp == nil {
		return false, err
	}
	return true, c.s.DeleteSpec(ctx, ns, wf)
}

func (c consulStore) list(ctx context.Context, ns string) ([]*spec.Spec, error) {
	all, err := c.s.ListSpecs(ctx, nil)
	if err != nil {
		return nil, err
	}
	var out []*spec.Spec
	for _, sp := range all {
		if sp.Namespace == ns {
			out = append(out, sp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Workflow < out[j].Workflow })
	return out, nil
}

// instances takes the first picture of a watch.
func (c consulStore) instances(ctx context.Context, ns, action string) ([]routetable.Instance, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var snap []routetable.Instance
	got := false
	var last error
	err := c.s.WatchInstances(ctx, func(in []routetable.Instance) {
		if !got {
			snap, got = in, true
			cancel()
		}
	}, func(err error) { last = err })
	if !got {
		if last != nil {
			err = last
		}
		return nil, fmt.Errorf("reading the instances from Consul: %w", err)
	}
	return filterInstances(snap, ns, action), nil
}

func (c consulStore) close() { c.s.Close() }

func filterInstances(all []routetable.Instance, ns, action string) []routetable.Instance {
	out := []routetable.Instance{}
	for _, in := range all {
		if in.Namespace == ns && (action == "" || in.Action == action) {
			out = append(out, in)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Action != out[j].Action {
			return out[i].Action < out[j].Action
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// restStore is the API host's /namespaces/_/wsk-route routes.
type restStore struct{ a *api }

// storedSpec is a spec as the API shows it.
type storedSpec struct {
	*spec.Spec
	Version uint64 `json:"version"`
}

func (s storedSpec) spec() *spec.Spec {
	s.Spec.Version = s.Version
	return s.Spec
}

const workflowsPath = "/namespaces/_/wsk-route/workflows"

// noStore turns a 404 of the store's list into errNoStore.
func (r restStore) noStore(ctx context.Context, err error) error {
	var ae *apiError
	if !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
		return err
	}
	if _, lerr := r.a.do(ctx, http.MethodGet, workflowsPath, nil, nil); lerr != nil {
		if errors.As(lerr, &ae) && ae.Status == http.StatusNotFound {
			return errNoStore
		}
		return lerr
	}
	return nil // the store is there: the 404 was about the workflow
}

func (r restStore) put(ctx context.Context, sp *spec.Spec) (uint64, error) {
	b, err := sp.Marshal()
	if err != nil {
		return 0, err
	}
	var out storedSpec
	_, err = r.a.do(ctx, http.MethodPut, workflowsPath+"/"+url.PathEscape(sp.Workflow), b, &out)
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return 0, errNoStore
	}
	if err != nil {
		return 0, fmt.Errorf("storing the spec of %s: %w", sp.Workflow, err)
	}
	return out.Version, nil
}

func (r restStore) get(ctx context.Context, ns, wf string) (*spec.Spec, error) {
	var out storedSpec
	_, err := r.a.do(ctx, http.MethodGet, workflowsPath+"/"+url.PathEscape(wf), nil, &out)
	if err != nil {
		if err = r.noStore(ctx, err); err != nil {
			return nil, err
		}
		return nil, nil
	}
	if out.Spec == nil {
		return nil, fmt.Errorf("the spec of %s: empty answer", wf)
	}
	return out.spec(), nil
}

func (r restStore) del(ctx context.Context, ns, wf string) (bool, error) {
	_, err := r.a.do(ctx, http.MethodDelete, workflowsPath+"/"+url.PathEscape(wf), nil, nil)
	if err != nil {
		if err = r.noStore(ctx, err); err != nil {
			return false, err
		}
		return false, nil
	}
	return true, nil
}

func (r restStore) list(ctx context.Context, ns string) ([]*spec.Spec, error) {
	var all []storedSpec
	_, err := r.a.do(ctx, http.MethodGet, workflowsPath, nil, &all)
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return nil, errNoStore
	}
	if err != nil {
		return nil, fmt.Errorf("listing the workflows: %w", err)
	}
	var out []*spec.Spec
	for _, s := range all {
		if s.Spec != nil && s.Namespace == ns {
			out = append(out, s.spec())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Workflow < out[j].Workflow })
	return out, nil
}

func (r restStore) instances(ctx context.Context, ns, action string) ([]routetable.Instance, error) {
	p := "/namespaces/_/wsk-route/routes"
	if action != "" {
		p += "?action=" + url.QueryEscape(action)
	}
	var all []routetable.Instance
	_, err := r.a.do(ctx, http.MethodGet, p, nil, &all)
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return nil, errNoStore
	}
	if err != nil {
		return nil, fmt.Errorf("reading the route table: %w", err)
	}
	return filterInstances(all, ns, action), nil
}

func (restStore) close() {}
