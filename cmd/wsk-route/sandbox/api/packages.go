package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox/store"
	"github.com/wsk-route/wsk-route/internal/whisk"
)

// packagePut is the body of a package PUT (WhiskPackagePut).
type packagePut struct {
	Parameters  *whisk.KeyValues `json:"parameters"`
	Annotations *whisk.KeyValues `json:"annotations"`
	Publish     *bool            `json:"publish"`
	Binding     json.RawMessage  `json:"binding"`
}

// packageListEntry is a package in a listing (OpenWhisk's packages view).
type packageListEntry struct {
	Namespace   string          `json:"namespace"`
	Name        string          `json:"name"`
	Version     string          `json:"version"`
	Publish     bool            `json:"publish"`
	Annotations whisk.KeyValues `json:"annotations"`
	Binding     json.RawMessage `json:"binding"`
	Updated     int64           `json:"updated"`
}

// packages serves /namespaces/{ns}/packages[/{name}].
func (h *handler) packages(q *request) *apiError {
	rest := q.rest
	switch {
	case len(rest) == 0 || (len(rest) == 1 && rest[0] == ""):
		if q.r.Method != http.MethodGet {
			return methodNotAllowed(q.w, http.MethodGet)
		}
		return h.listPackages(q)
	case len(rest) == 1:
		if e := checkName(rest[0]); e != nil {
			return e
		}
		switch q.r.Method {
		case http.MethodGet:
			return h.getPackage(q, rest[0])
		case http.MethodPut:
			return h.putPackage(q, rest[0])
		case http.MethodDelete:
			p, err := h.cfg.Store.DeletePackage(q.ns, rest[0])
			if err != nil {
				return storeError(err)
			}
			writeJSON(q.w, http.StatusOK, packageView(p))
			return nil
		}
		return methodNotAllowed(q.w, http.MethodGet, http.MethodPut, http.MethodDelete)
	}
	return fail(http.StatusNotFound, msgNotFound)
}

func packageView(p whisk.Package) whisk.Package {
	p.Annotations, p.Parameters = nonNil(p.Annotations), nonNil(p.Parameters)
	if len(p.Binding) == 0 {
		p.Binding = json.RawMessage("{}")
	}
	return p
}

func (h *handler) listPackages(q *request) *apiError {
	limit, skip, e := listParams(q.r, "packages")
	if e != nil {
		return e
	}
	if count, e := boolParam(q.r, "count", false); e != nil {
		return e
	} else if count {
		all, err := h.cfg.Store.ListPackages(q.ns, -1, 0)
		if err != nil {
			return internal(err)
		}
		writeJSON(q.w, http.StatusOK, map[string]int{"packages": max(len(all)-skip, 0)})
		return nil
	}
	ps, err := h.cfg.Store.ListPackages(q.ns, limit, skip)
	if err != nil {
		return internal(err)
	}
	out := make([]packageListEntry, 0, len(ps))
	for _, p := range ps {
		p = packageView(p)
		out = append(out, packageListEntry{Namespace: p.Namespace, Name: p.Name, Version: p.Version, Publish: p.Publish, Annotations: p.Annotations, Binding: p.Binding, Updated: p.Updated})
	}
	writeJSON(q.w, http.StatusOK, out)
	return nil
}

func (h *handler) getPackage(q *request, name string) *apiError {
	p, err := h.cfg.Store.GetPackage(q.ns, name)
	if err != nil {
		return storeError(err)
	}
	acts, err := h.cfg.Store.ListActions(q.ns+"/"+name, -1, 0)
	if err != nil {
		return internal(err)
	}
	p = packageView(p)
	p.Actions = make([]whisk.EntityRef, 0, len(acts))
	for _, a := range acts {
		p.Actions = append(p.Actions, whisk.EntityRef{Name: a.Name, Version: a.Version, Annotations: nonNil(a.Annotations)})
	}
	// Actions has omitempty in whisk.Package; OpenWhisk always shows the list.
	type withActions struct {
		whisk.Package
		Actions []whisk.EntityRef `json:"actions"`
		Feeds   []whisk.EntityRef `json:"feeds"`
	}
	writeJSON(q.w, http.StatusOK, withActions{Package: p, Actions: p.Actions, Feeds: []whisk.EntityRef{}})
	return nil
}

func (h *handler) putPackage(q *request, name string) *apiError {
	if name == "default" {
		return fail(http.StatusBadRequest, fmt.Sprintf("Package name '%s' is reserved.", name))
	}
	overwrite, e := boolParam(q.r, "overwrite", false)
	if e != nil {
		return e
	}
	body, e := readBody(q.r, h.cfg.MaxPayloadBytes)
	if e != nil {
		return e
	}
	var put packagePut
	if e := decodeJSON(body, &put); e != nil {
		return e
	}
	if b := bytes.TrimSpace(put.Binding); len(b) > 0 && !bytes.Equal(b, []byte("{}")) && !bytes.Equal(b, []byte("null")) {
		return fail(http.StatusBadRequest, "Package bindings are not supported by the wsk-route dev sandbox.")
	}
	old, err := h.cfg.Store.GetPackage(q.ns, name)
	exists := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return internal(err)
	}
	if exists && !overwrite {
		return fail(http.StatusConflict, msgExists)
	}
	p := whisk.Package{Namespace: q.ns, Name: name}
	if exists {
		p = old
	}
	if put.Parameters != nil {
		p.Parameters = *put.Parameters
	}
	if put.Annotations != nil {
		p.Annotations = deleteKey(*put.Annotations, "binding")
	}
	if put.Publish != nil {
		p.Publish = *put.Publish
	}
	stored, err := h.cfg.Store.PutPackage(p, overwrite)
	if err != nil {
		return storeError(err)
	}
	writeJSON(q.w, http.StatusOK, packageView(stored))
	return nil
}
