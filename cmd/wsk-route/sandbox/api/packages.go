package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox/store"
	"github.com/wsk-route/wsk-route/internal/whisk"
)

// OpenWhisk's messages about package bindings (Messages in
// ErrorResponse.scala).
const (
	msgBindingMissing    = "Binding references a package that does not exist."
	msgPackageNotBinding = "Resource is a package and cannot be converted into a binding."
	msgBindingOfBinding  = "Cannot bind to another package binding."
	msgNotOnBinding      = "Operation not permitted on package binding."
)

// binding is a package binding's reference: the bound package.
type binding struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// parseBinding reads a PUT's "binding": nil for none ({} or null), with
// the namespace "_" (or none) made the caller's.
func parseBinding(raw json.RawMessage, userNS string) (*binding, *apiError) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || bytes.Equal(t, []byte("null")) || bytes.Equal(t, []byte("{}")) {
		return nil, nil
	}
	var b binding
	if err := json.Unmarshal(t, &b); err != nil {
		return nil, fail(http.StatusBadRequest, msgMalformed+"binding: "+err.Error())
	}
	b.Namespace = strings.TrimPrefix(b.Namespace, "/")
	if b.Namespace == "" || b.Namespace == "_" {
		b.Namespace = userNS
	}
	if e := checkName(b.Name); e != nil {
		return nil, e
	}
	return &b, nil
}

// bindingOf returns the package a binding refers to; ok is false for an
// ordinary package.
func bindingOf(p whisk.Package) (b binding, ok bool) {
	t := bytes.TrimSpace(p.Binding)
	if len(t) == 0 || json.Unmarshal(t, &b) != nil || b.Name == "" {
		return binding{}, false
	}
	return b, true
}

func isBinding(p whisk.Package) bool {
	_, ok := bindingOf(p)
	return ok
}

// resolveBinding returns the package the binding p refers to.
func (h *handler) resolveBinding(p whisk.Package) (whisk.Package, *apiError) {
	b, _ := bindingOf(p)
	target, err := h.cfg.Store.GetPackage(b.Namespace, b.Name)
	if errors.Is(err, store.ErrNotFound) {
		return whisk.Package{}, fail(http.StatusNotFound, msgNotFound)
	}
	if err != nil {
		return whisk.Package{}, internal(err)
	}
	if isBinding(target) {
		return whisk.Package{}, fail(http.StatusUnprocessableEntity, fmt.Sprintf("Package binding '%s/%s' contains a circular reference.", b.Namespace, b.Name))
	}
	return target, nil
}

// mergeParams returns base with over's parameters (and their init
// flags) in place of base's of the same key, as OpenWhisk's Parameters
// "++" does.
func mergeParams(base, over whisk.KeyValues) whisk.KeyValues {
	merged := append(whisk.KeyValues(nil), base...)
next:
	for _, p := range over {
		for i := range merged {
			if merged[i].Key == p.Key {
				merged[i] = p
				continue next
			}
		}
		merged = append(merged, p)
	}
	return merged
}

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
	path := q.ns + "/" + name
	if b, ok := bindingOf(p); ok {
		// A binding shows itself with the package's parameters under its
		// own, and the package's actions (Packages.mergePackageWithBinding).
		target, e := h.resolveBinding(p)
		if e != nil {
			return e
		}
		p.Parameters = mergeParams(target.Parameters, p.Parameters)
		path = b.Namespace + "/" + b.Name
	}
	acts, err := h.cfg.Store.ListActions(path, -1, 0)
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
	bind, e := parseBinding(put.Binding, q.ns)
	if e != nil {
		return e
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
	if bind != nil {
		// Packages.scala's checkBinding, and a package never becomes a
		// binding.
		if exists && !isBinding(old) {
			return fail(http.StatusConflict, msgPackageNotBinding)
		}
		if bind.Namespace != q.ns {
			// The sandbox has one namespace: no other one's package exists.
			return fail(http.StatusBadRequest, msgBindingMissing)
		}
		target, err := h.cfg.Store.GetPackage(bind.Namespace, bind.Name)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return fail(http.StatusBadRequest, msgBindingMissing)
		case err != nil:
			return internal(err)
		case isBinding(target):
			// This also keeps a binding from referring to itself.
			return fail(http.StatusBadRequest, msgBindingOfBinding)
		}
		raw, err := json.Marshal(bind)
		if err != nil {
			return internal(err)
		}
		p.Binding = raw
	}
	if put.Parameters != nil {
		p.Parameters = *put.Parameters
	}
	if put.Annotations != nil {
		p.Annotations = deleteKey(*put.Annotations, "binding")
	}
	// The controller always sets a binding's "binding" annotation itself.
	p.Annotations = deleteKey(p.Annotations, "binding")
	if b, ok := bindingOf(p); ok {
		p.Annotations = p.Annotations.Set("binding", b)
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
