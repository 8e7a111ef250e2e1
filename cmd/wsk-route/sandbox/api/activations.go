package api

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox/store"
	"github.com/wsk-route/wsk-route/internal/whisk"
)

// activationListEntry is an activation in a listing without docs.
type activationListEntry struct {
	Namespace    string          `json:"namespace"`
	Name         string          `json:"name"`
	Version      string          `json:"version"`
	Subject      string          `json:"subject"`
	ActivationID string          `json:"activationId"`
	Start        int64           `json:"start"`
	End          int64           `json:"end"`
	Duration     int64           `json:"duration"`
	StatusCode   int             `json:"statusCode"`
	Cause        string          `json:"cause,omitempty"`
	Annotations  whisk.KeyValues `json:"annotations"`
	Publish      bool            `json:"publish"`
}

var activationIDRE = regexp.MustCompile(`^[0-9a-fA-F]{32}$`)

// activations serves /namespaces/{ns}/activations[/{id}[/logs|/result]].
func (h *handler) activations(q *request) *apiError {
	if q.r.Method != http.MethodGet {
		return methodNotAllowed(q.w, http.MethodGet)
	}
	rest := q.rest
	if len(rest) == 0 || (len(rest) == 1 && rest[0] == "") {
		return h.listActivations(q)
	}
	id := rest[0]
	if len(id) != 32 {
		return fail(http.StatusBadRequest, fmt.Sprintf("Activation id length is %d but must be 32.", len(id)))
	}
	if !activationIDRE.MatchString(id) {
		return fail(http.StatusBadRequest, msgActivationIDBad)
	}
	sub := ""
	switch {
	case len(rest) == 1 || (len(rest) == 2 && rest[1] == ""):
	case len(rest) == 2 && (rest[1] == "logs" || rest[1] == "result"):
		sub = rest[1]
	default:
		return fail(http.StatusNotFound, msgNotFound)
	}
	a, err := h.cfg.Store.GetActivation(q.ns, id)
	if err != nil {
		return storeError(err)
	}
	rest0 := a.REST()
	switch sub {
	case "logs":
		writeJSON(q.w, http.StatusOK, map[string][]string{"logs": rest0.Logs})
	case "result":
		writeJSON(q.w, http.StatusOK, rest0.Response)
	default:
		writeJSON(q.w, http.StatusOK, rest0)
	}
	return nil
}

func (h *handler) listActivations(q *request) *apiError {
	limit, skip, e := listParams(q.r, "activations")
	if e != nil {
		return e
	}
	docs, e := boolParam(q.r, "docs", false)
	if e != nil {
		return e
	}
	count, e := boolParam(q.r, "count", false)
	if e != nil {
		return e
	}
	qs := q.r.URL.Query()
	f := store.ActivationFilter{Limit: limit, Skip: skip}
	if name := strings.TrimSpace(qs.Get("name")); name != "" {
		parts := strings.Split(strings.Trim(name, "/"), "/")
		if len(parts) > 2 {
			return fail(http.StatusBadRequest, fmt.Sprintf("The query parameter 'name' was malformed:\nParameter may be a 'simple' name or 'package-name/simple' name: %s", qs.Get("name")))
		}
		for _, p := range parts {
			if checkName(p) != nil {
				return fail(http.StatusBadRequest, fmt.Sprintf("The query parameter 'name' was malformed:\nParameter may be a 'simple' name or 'package-name/simple' name: %s", qs.Get("name")))
			}
		}
		f.Name = strings.Join(parts, "/")
	}
	for _, p := range []struct {
		key string
		dst *int64
	}{{"since", &f.Since}, {"upto", &f.Upto}} {
		v := qs.Get(p.key)
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fail(http.StatusBadRequest, fmt.Sprintf("The query parameter '%s' was malformed:\nParameter is not a valid value for epoch seconds: %s", p.key, v))
		}
		*p.dst = n
	}
	if count && docs {
		return fail(http.StatusBadRequest, msgDocsWithCount)
	}
	if count {
		n, err := h.cfg.Store.CountActivations(q.ns, f)
		if err != nil {
			return internal(err)
		}
		writeJSON(q.w, http.StatusOK, map[string]int{"activations": max(n-skip, 0)})
		return nil
	}
	acts, err := h.cfg.Store.ListActivations(q.ns, f)
	if err != nil {
		return internal(err)
	}
	if docs {
		out := make([]whisk.RESTActivation, 0, len(acts))
		for _, a := range acts {
			out = append(out, a.REST())
		}
		writeJSON(q.w, http.StatusOK, out)
		return nil
	}
	out := make([]activationListEntry, 0, len(acts))
	for _, a := range acts {
		r := a.REST()
		out = append(out, activationListEntry{
			Namespace: r.Namespace, Name: r.Name, Version: r.Version, Subject: r.Subject, ActivationID: r.ActivationID,
			Start: r.Start, End: r.End, Duration: r.Duration, StatusCode: r.StatusCode, Cause: r.Cause,
			Annotations: r.Annotations, Publish: r.Publish,
		})
	}
	writeJSON(q.w, http.StatusOK, out)
	return nil
}
