package api

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/internal/runevent"
	"github.com/wsk-route/wsk-route/internal/spec"
)

// Workflows is the route registry as the API exposes it: the sandbox's
// embedded registry, or its Consul store. It is the sandbox's stand-in for
// what a real deployment keeps in Consul, so that `wsk-route compose` and
// `wsk-route routes` work against `wsk-route dev` with nothing but its API
// host and key.
//
//	PUT    /api/v1/namespaces/{ns}/wsk-route/workflows/{name}   store a compiled spec (body: its JSON)
//	GET    /api/v1/namespaces/{ns}/wsk-route/workflows[/{name}] list, or one spec with its version
//	DELETE /api/v1/namespaces/{ns}/wsk-route/workflows/{name}
//	GET    /api/v1/namespaces/{ns}/wsk-route/routes[?action=FQN] the namespace's passing instances
//	GET    /api/v1/namespaces/{ns}/wsk-route/runs/{id}/events?after=N&wait=SECONDS
//	                                                             a run's events after index N (RunEventReader)
//	GET    /api/v1/namespaces/{ns}/wsk-route/starts[?action=NAME] the cold starts in progress (Config.ColdStarts)
type Workflows interface {
	PutSpec(ctx context.Context, sp *spec.Spec) (uint64, error)
	GetSpec(ctx context.Context, namespace, workflow string) (*spec.Spec, error)
	DeleteSpec(ctx context.Context, namespace, workflow string) error
	ListSpecs(ctx context.Context, onError func(error)) ([]*spec.Spec, error)
	WatchInstances(ctx context.Context, fn func([]routetable.Instance), onError func(error)) error
}

// maxSpecBytes bounds a spec PUT (a spec holds at most spec.MaxSteps steps).
const maxSpecBytes = 4 << 20

// StoredSpec is a spec as the API shows it: its JSON plus its version.
type StoredSpec struct {
	*spec.Spec
	Version uint64 `json:"version"`
}

func (h *handler) wskRoute(q *request) *apiError {
	if len(q.rest) == 1 && q.rest[0] == "starts" && h.cfg.ColdStarts != nil {
		return h.coldStarts(q)
	}
	if h.cfg.Workflows == nil || len(q.rest) == 0 {
		return fail(http.StatusNotFound, msgNotFound)
	}
	switch q.rest[0] {
	case "workflows":
		q.rest = q.rest[1:]
		if len(q.rest) == 0 || (len(q.rest) == 1 && q.rest[0] == "") {
			if q.r.Method != http.MethodGet {
				return methodNotAllowed(q.w, http.MethodGet)
			}
			return h.listWorkflows(q)
		}
		if len(q.rest) != 1 {
			return fail(http.StatusNotFound, msgNotFound)
		}
		switch q.r.Method {
		case http.MethodPut:
			return h.putWorkflow(q, q.rest[0])
		case http.MethodGet:
			return h.getWorkflow(q, q.rest[0])
		case http.MethodDelete:
			return h.deleteWorkflow(q, q.rest[0])
		}
		return methodNotAllowed(q.w, http.MethodGet, http.MethodPut, http.MethodDelete)
	case "routes":
		if q.r.Method != http.MethodGet {
			return methodNotAllowed(q.w, http.MethodGet)
		}
		return h.routes(q)
	case "runs":
		if len(q.rest) != 3 || q.rest[2] != "events" {
			return fail(http.StatusNotFound, msgNotFound)
		}
		if q.r.Method != http.MethodGet {
			return methodNotAllowed(q.w, http.MethodGet)
		}
		return h.runEvents(q, q.rest[1])
	}
	return fail(http.StatusNotFound, msgNotFound)
}

func (h *handler) putWorkflow(q *request, name string) *apiError {
	body, e := readBody(q.r, maxSpecBytes)
	if e != nil {
		return e
	}
	sp, err := spec.Parse(body)
	if err != nil {
		return fail(http.StatusBadRequest, "The workflow spec is invalid: "+err.Error())
	}
	if sp.Workflow != name {
		return fail(http.StatusBadRequest, "The workflow spec names "+sp.Workflow+", the path "+name+".")
	}
	if sp.Namespace != q.ns {
		return fail(http.StatusForbidden, notAuthorized(sp.Namespace))
	}
	v, err := h.cfg.Workflows.PutSpec(q.r.Context(), sp)
	if err != nil {
		return fail(http.StatusBadRequest, "The workflow spec was refused: "+err.Error())
	}
	writeJSON(q.w, http.StatusOK, StoredSpec{Spec: sp, Version: v})
	return nil
}

func (h *handler) getWorkflow(q *request, name string) *apiError {
	sp, err := h.cfg.Workflows.GetSpec(q.r.Context(), q.ns, name)
	if err != nil {
		return internal(err)
	}
	if sp == nil {
		return fail(http.StatusNotFound, msgNotFound)
	}
	writeJSON(q.w, http.StatusOK, StoredSpec{Spec: sp, Version: sp.Version})
	return nil
}

func (h *handler) deleteWorkflow(q *request, name string) *apiError {
	sp, err := h.cfg.Workflows.GetSpec(q.r.Context(), q.ns, name)
	if err != nil {
		return internal(err)
	}
	if sp == nil {
		return fail(http.StatusNotFound, msgNotFound)
	}
	if err := h.cfg.Workflows.DeleteSpec(q.r.Context(), q.ns, name); err != nil {
		return internal(err)
	}
	writeJSON(q.w, http.StatusOK, StoredSpec{Spec: sp, Version: sp.Version})
	return nil
}

func (h *handler) listWorkflows(q *request) *apiError {
	all, err := h.cfg.Workflows.ListSpecs(q.r.Context(), nil)
	if err != nil {
		return internal(err)
	}
	out := []StoredSpec{}
	for _, sp := range all {
		if sp.Namespace == q.ns {
			out = append(out, StoredSpec{Spec: sp, Version: sp.Version})
		}
	}
	writeJSON(q.w, http.StatusOK, out)
	return nil
}

// routes answers the passing instances of the caller's namespace (of one
// action with ?action=), from one snapshot of the registry's watch.
func (h *handler) routes(q *request) *apiError {
	ctx, cancel := context.WithTimeout(q.r.Context(), 5*time.Second)
	defer cancel()
	var snap []routetable.Instance
	got := false
	err := h.cfg.Workflows.WatchInstances(ctx, func(in []routetable.Instance) {
		if !got {
			snap, got = in, true
			cancel() // one picture is all this needs
		}
	}, nil)
	if !got {
		if err == nil {
			err = ctx.Err()
		}
		return internal(err)
	}
	action := q.r.URL.Query().Get("action")
	out := []routetable.Instance{}
	for _, in := range snap {
		if in.Namespace == q.ns && (action == "" || in.Action == action) {
			out = append(out, in)
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return internal(err)
	}
	q.w.Header().Set("Content-Type", "application/json")
	q.w.WriteHeader(http.StatusOK)
	q.w.Write(b)
	return nil
}

// RunEventReader reads the events of runs, for `wsk-route invoke
// --watch`; a Workflows that implements it (the embedded registry,
// *consulstore.Store) serves /wsk-route/runs/{id}/events.
type RunEventReader interface {
	// RunEvents returns the events of run in namespace after index after,
	// waiting up to wait for one, and the index to ask after next.
	RunEvents(ctx context.Context, namespace, run string, after uint64, wait time.Duration) ([]runevent.Event, uint64, error)
}

// MaxRunEventWait bounds the wait of one events request.
const MaxRunEventWait = 60 * time.Second

// RunEventsPage is the answer of GET .../wsk-route/runs/{id}/events:
// the run's events after the asked index, in order, and the index to ask
// after next.
type RunEventsPage struct {
	Events []runevent.Event `json:"events"`
	Next   uint64           `json:"next"`
}

// runEvents answers the events of run id in the caller's namespace after
// ?after= (default 0), waiting up to ?wait= seconds (default 0, at most
// MaxRunEventWait) when there are none yet.
func (h *handler) runEvents(q *request, id string) *apiError {
	rd, ok := h.cfg.Workflows.(RunEventReader)
	if !ok {
		return fail(http.StatusNotFound, msgNotFound)
	}
	if err := runevent.CheckRun(id); err != nil {
		return fail(http.StatusBadRequest, "The run id is invalid: "+err.Error())
	}
	qv := q.r.URL.Query()
	var after uint64
	if s := qv.Get("after"); s != "" {
		var err error
		if after, err = strconv.ParseUint(s, 10, 64); err != nil {
			return fail(http.StatusBadRequest, "The query parameter after must be an event index (a non-negative integer), not "+strconv.Quote(s)+".")
		}
	}
	var wait time.Duration
	if s := qv.Get("wait"); s != "" {
		secs, err := strconv.ParseFloat(s, 64)
		if err != nil || secs < 0 || math.IsNaN(secs) || math.IsInf(secs, 0) {
			return fail(http.StatusBadRequest, "The query parameter wait must be a number of seconds, not "+strconv.Quote(s)+".")
		}
		wait = MaxRunEventWait
		if secs < MaxRunEventWait.Seconds() {
			wait = time.Duration(secs * float64(time.Second))
		}
	}
	evs, next, err := rd.RunEvents(q.r.Context(), q.ns, id, after, wait)
	if err != nil {
		if q.r.Context().Err() != nil {
			return nil // the client went away
		}
		return internal(err)
	}
	if evs == nil {
		evs = []runevent.Event{}
	}
	writeJSON(q.w, http.StatusOK, RunEventsPage{Events: evs, Next: next})
	return nil
}
