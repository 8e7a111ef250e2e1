package api

import (
	"net/http"
	"strings"
	"time"
)

// ColdStart is an activation waiting for a new container, as
// GET /api/v1/namespaces/{ns}/wsk-route/starts shows it: while a first
// call's container starts and its code compiles (10–20 s for a Go action
// on a machine whose Go build cache is cold), `wsk-route invoke` and
// --watch read this route to say "starting a container for X,
// compiling…" instead of printing nothing.
type ColdStart struct {
	// ActivationID is the activation the container is started for.
	ActivationID string `json:"activationId"`
	// Action is the action's fully qualified name ("/guest/hello").
	Action string `json:"action"`
	// Kind is the action's exec kind.
	Kind string `json:"kind"`
	// Phase is "starting" (the container), "compiling" (its /init builds
	// the code) or "initializing" (its /init loads code that needs no
	// compiler).
	Phase string `json:"phase"`
	// Start is when the cold start began and PhaseStart when its phase
	// did, in epoch milliseconds.
	Start      int64 `json:"start"`
	PhaseStart int64 `json:"phaseStart"`
	// ElapsedMs is how long it has taken so far, at the answer (free of
	// clock differences between the sandbox and the client).
	ElapsedMs int64 `json:"elapsedMs"`
}

// ColdStartLister lists the cold starts in progress of a namespace
// (namespace is the invoking subject's), oldest first; the sandbox's
// invoker is behind it.
type ColdStartLister interface {
	ColdStarts(namespace string) []ColdStart
}

// ColdStartListerFunc adapts a function to ColdStartLister.
type ColdStartListerFunc func(namespace string) []ColdStart

// ColdStarts calls f.
func (f ColdStartListerFunc) ColdStarts(namespace string) []ColdStart { return f(namespace) }

var _ ColdStartLister = ColdStartListerFunc(nil)

// coldStarts serves GET .../wsk-route/starts[?action=NAME]: the cold
// starts of the namespace, or of one action (its name, "pkg/name" or its
// fully qualified name), each with its age.
func (h *handler) coldStarts(q *request) *apiError {
	if q.r.Method != http.MethodGet {
		return methodNotAllowed(q.w, http.MethodGet)
	}
	want := ""
	if a := strings.TrimSpace(q.r.URL.Query().Get("action")); a != "" {
		if !strings.HasPrefix(a, "/") {
			a = "/" + q.ns + "/" + a // "name" or "pkg/name"
		}
		fqn, _, _, e := resolveComponent(a, q.ns)
		if e != nil {
			return e
		}
		want = fqn
	}
	now := time.Now().UnixMilli()
	out := []ColdStart{}
	for _, c := range h.cfg.ColdStarts.ColdStarts(q.ns) {
		if want != "" && c.Action != want {
			continue
		}
		c.ElapsedMs = max(now-c.Start, 0)
		out = append(out, c)
	}
	writeJSON(q.w, http.StatusOK, out)
	return nil
}
