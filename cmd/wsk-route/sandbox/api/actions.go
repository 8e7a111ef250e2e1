package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox/store"
	"github.com/wsk-route/wsk-route/internal/whisk"
)

func readLimited(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	return io.ReadAll(http.MaxBytesReader(nil, r.Body, limit))
}

// actionRef is the action a request names.
type actionRef struct {
	// pkg is "" for an action directly in the namespace.
	pkg, name string
}

func (a actionRef) path(ns string) string {
	if a.pkg == "" {
		return ns
	}
	return ns + "/" + a.pkg
}

// actions serves /namespaces/{ns}/actions[/...].
func (h *handler) actions(q *request) *apiError {
	rest := q.rest
	switch {
	case len(rest) == 0 || (len(rest) == 1 && rest[0] == ""):
		if q.r.Method != http.MethodGet {
			return methodNotAllowed(q.w, http.MethodGet)
		}
		return h.listActions(q, "")
	case len(rest) == 2 && rest[1] == "":
		if q.r.Method != http.MethodGet {
			return methodNotAllowed(q.w, http.MethodGet)
		}
		if e := checkName(rest[0]); e != nil {
			return e
		}
		p, err := h.cfg.Store.GetPackage(q.ns, rest[0])
		if err != nil {
			return storeError(err)
		}
		if b, ok := bindingOf(p); ok {
			// A binding lists its package's actions (Actions.listPackageActions).
			if _, e := h.resolveBinding(p); e != nil {
				return e
			}
			return h.listActionsIn(q, b.Namespace+"/"+b.Name)
		}
		return h.listActions(q, rest[0])
	case len(rest) == 1 || len(rest) == 2:
		ref := actionRef{name: rest[len(rest)-1]}
		if len(rest) == 2 {
			ref.pkg = rest[0]
			if e := checkName(ref.pkg); e != nil {
				return e
			}
		}
		if e := checkName(ref.name); e != nil {
			return e
		}
		switch q.r.Method {
		case http.MethodGet:
			return h.getAction(q, ref)
		case http.MethodPut:
			return h.putAction(q, ref)
		case http.MethodDelete:
			return h.deleteAction(q, ref)
		case http.MethodPost:
			return h.invoke(q, ref)
		}
		return methodNotAllowed(q.w, http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodPost)
	}
	return fail(http.StatusNotFound, msgNotFound)
}

// storeError maps the store's errors to answers.
func storeError(err error) *apiError {
	var ne *store.NotEmptyError
	switch {
	case errors.As(err, &ne):
		unit := "entities"
		if ne.Entities == 1 {
			unit = "entity"
		}
		return fail(http.StatusConflict, fmt.Sprintf("Package not empty (contains %d %s)", ne.Entities, unit))
	case errors.Is(err, store.ErrNotFound):
		return fail(http.StatusNotFound, msgNotFound)
	case errors.Is(err, store.ErrExists):
		return fail(http.StatusConflict, msgExists)
	}
	return internal(err)
}

// actionListEntry is an action in a listing (OpenWhisk's actions view).
type actionListEntry struct {
	Namespace   string          `json:"namespace"`
	Name        string          `json:"name"`
	Version     string          `json:"version"`
	Annotations whisk.KeyValues `json:"annotations"`
	Limits      whisk.Limits    `json:"limits"`
	Exec        struct {
		Binary bool `json:"binary"`
	} `json:"exec"`
	Publish bool  `json:"publish"`
	Updated int64 `json:"updated"`
}

func (h *handler) listActions(q *request, pkg string) *apiError {
	return h.listActionsIn(q, actionRef{pkg: pkg}.path(q.ns))
}

// listActionsIn lists the actions of the entity path path.
func (h *handler) listActionsIn(q *request, path string) *apiError {
	limit, skip, e := listParams(q.r, "actions")
	if e != nil {
		return e
	}
	if count, e := boolParam(q.r, "count", false); e != nil {
		return e
	} else if count {
		all, err := h.cfg.Store.ListActions(path, -1, 0)
		if err != nil {
			return internal(err)
		}
		writeJSON(q.w, http.StatusOK, map[string]int{"actions": max(len(all)-skip, 0)})
		return nil
	}
	acts, err := h.cfg.Store.ListActions(path, limit, skip)
	if err != nil {
		return internal(err)
	}
	out := make([]actionListEntry, 0, len(acts))
	for _, a := range acts {
		en := actionListEntry{Namespace: a.Namespace, Name: a.Name, Version: a.Version, Annotations: nonNil(a.Annotations), Limits: a.Limits, Publish: a.Publish, Updated: a.Updated}
		en.Exec.Binary = a.Exec.Binary != nil && *a.Exec.Binary
		out = append(out, en)
	}
	writeJSON(q.w, http.StatusOK, out)
	return nil
}

func nonNil(kv whisk.KeyValues) whisk.KeyValues {
	if kv == nil {
		return whisk.KeyValues{}
	}
	return kv
}

// view returns the action as the REST API shows it.
func view(a whisk.Action, withCode bool) whisk.Action {
	a.Annotations, a.Parameters = nonNil(a.Annotations), nonNil(a.Parameters)
	if !withCode {
		a.Exec.Code = nil
	}
	return a
}

// fetchAction reads the action ref names, with its package's parameters
// merged under its own (as OpenWhisk resolves a packaged action).
// A packaged action reached through a package binding is the bound
// package's action, with the package's parameters under the binding's
// under its own (WhiskAction.resolveActionAndMergeParameters).
func (h *handler) fetchAction(ns string, ref actionRef) (whisk.Action, string, *apiError) {
	var pkgParams whisk.KeyValues
	path := ref.path(ns)
	if ref.pkg != "" {
		p, err := h.cfg.Store.GetPackage(ns, ref.pkg)
		if err != nil {
			return whisk.Action{}, "", storeError(err)
		}
		pkgParams = p.Parameters
		if b, ok := bindingOf(p); ok {
			target, e := h.resolveBinding(p)
			if e != nil {
				return whisk.Action{}, "", e
			}
			pkgParams = mergeParams(target.Parameters, p.Parameters)
			path = b.Namespace + "/" + b.Name
		}
	}
	a, rev, err := h.cfg.Store.GetAction(path, ref.name)
	if err != nil {
		return whisk.Action{}, "", storeError(err)
	}
	if len(pkgParams) > 0 {
		a.Parameters = mergeParams(pkgParams, a.Parameters)
	}
	return a, rev, nil
}

// packageFor checks that the package of an action's PUT or DELETE exists
// and is not a binding (OpenWhisk: "Operation not permitted on package
// binding.").
func (h *handler) packageFor(ns, pkg string) *apiError {
	if pkg == "" {
		return nil
	}
	p, err := h.cfg.Store.GetPackage(ns, pkg)
	if err != nil {
		return storeError(err)
	}
	if isBinding(p) {
		return fail(http.StatusBadRequest, msgNotOnBinding)
	}
	return nil
}

func (h *handler) getAction(q *request, ref actionRef) *apiError {
	code, e := boolParam(q.r, "code", true)
	if e != nil {
		return e
	}
	a, _, e := h.fetchAction(q.ns, ref)
	if e != nil {
		return e
	}
	writeJSON(q.w, http.StatusOK, view(a, code))
	return nil
}

func (h *handler) deleteAction(q *request, ref actionRef) *apiError {
	if e := h.packageFor(q.ns, ref.pkg); e != nil {
		return e
	}
	a, err := h.cfg.Store.DeleteAction(ref.path(q.ns), ref.name)
	if err != nil {
		return storeError(err)
	}
	writeJSON(q.w, http.StatusOK, view(a, true))
	return nil
}

// limitsPut are the limits of a PUT body; absent fields keep their value.
type limitsPut struct {
	Timeout     *int `json:"timeout"`
	Memory      *int `json:"memory"`
	Logs        *int `json:"logs"`
	Concurrency *int `json:"concurrency"`
}

// actionPut is the body of an action PUT (WhiskActionPut).
type actionPut struct {
	Exec           *whisk.Exec      `json:"exec"`
	Parameters     *whisk.KeyValues `json:"parameters"`
	Annotations    *whisk.KeyValues `json:"annotations"`
	DelAnnotations []string         `json:"delAnnotations"`
	Limits         *limitsPut       `json:"limits"`
	Version        *string          `json:"version"`
	Publish        *bool            `json:"publish"`
}

func (l *limitsPut) apply(to whisk.Limits) whisk.Limits {
	if l == nil {
		return to
	}
	set := func(dst *int, v *int) {
		if v != nil {
			*dst = *v
		}
	}
	set(&to.Timeout, l.Timeout)
	set(&to.Memory, l.Memory)
	set(&to.Logs, l.Logs)
	set(&to.Concurrency, l.Concurrency)
	return to
}

// check refuses limits outside OpenWhisk's default system range (with
// maxConcurrency as the largest concurrency), in the order and with the
// messages of OpenWhisk's controller
// (Actions.checkActionLimits: memory, timeout, logs, concurrency; each
// Messages.*AllowedThreshold behind Scala's "requirement failed: "),
// answered with 400.
func (l *limitsPut) check(maxConcurrency int) *apiError {
	if l == nil {
		return nil
	}
	bad := func(msg string) *apiError { return fail(http.StatusBadRequest, "requirement failed: "+msg) }
	if v := l.Memory; v != nil {
		switch {
		case *v > whisk.MaxMemoryMB:
			return bad(fmt.Sprintf("memory size %d MB exceeds allowed threshold of %d MB", *v, whisk.MaxMemoryMB))
		case *v < whisk.MinMemoryMB:
			return bad(fmt.Sprintf("memory size %d MB below allowed threshold of %d MB", *v, whisk.MinMemoryMB))
		}
	}
	if v := l.Timeout; v != nil {
		switch {
		case *v > whisk.MaxTimeoutMS:
			return bad(fmt.Sprintf("duration %d milliseconds exceeds allowed threshold of %d milliseconds", *v, whisk.MaxTimeoutMS))
		case *v < whisk.MinTimeoutMS:
			return bad(fmt.Sprintf("duration %d milliseconds below allowed threshold of %d milliseconds", *v, whisk.MinTimeoutMS))
		}
	}
	if v := l.Logs; v != nil {
		switch {
		case *v > whisk.MaxLogsMB:
			return bad(fmt.Sprintf("log size %d MB exceeds allowed threshold of %d MB", *v, whisk.MaxLogsMB))
		case *v < 0:
			return bad(fmt.Sprintf("log size %d MB below allowed threshold of %d MB", *v, 0))
		}
	}
	if v := l.Concurrency; v != nil {
		switch {
		case *v > maxConcurrency:
			return bad(fmt.Sprintf("concurrency %d exceeds allowed threshold of %d", *v, maxConcurrency))
		case *v < 1:
			return bad(fmt.Sprintf("concurrency %d below allowed threshold of %d", *v, 1))
		}
	}
	return nil
}

// decodeJSON decodes body into v; the error is OpenWhisk's malformed
// content answer.
func decodeJSON(body []byte, v any) *apiError {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fail(http.StatusBadRequest, msgMalformed+err.Error())
	}
	return nil
}

func (h *handler) putAction(q *request, ref actionRef) *apiError {
	overwrite, e := boolParam(q.r, "overwrite", false)
	if e != nil {
		return e
	}
	body, e := readBody(q.r, h.cfg.MaxActionBytes)
	if e != nil {
		return e
	}
	var put actionPut
	if e := decodeJSON(body, &put); e != nil {
		return e
	}
	if e := h.packageFor(q.ns, ref.pkg); e != nil {
		return e
	}
	path := ref.path(q.ns)
	old, _, err := h.cfg.Store.GetAction(path, ref.name)
	exists := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return internal(err)
	}
	if exists && !overwrite {
		return fail(http.StatusConflict, msgExists)
	}
	var a whisk.Action
	if exists {
		a = old
	} else {
		if put.Exec == nil {
			return fail(http.StatusBadRequest, "exec undefined")
		}
		a = whisk.Action{Namespace: path, Name: ref.name, Limits: whisk.DefaultLimits()}
	}
	if put.Exec != nil {
		ex, e := h.checkExec(q, *put.Exec, whisk.Action{Namespace: path, Name: ref.name})
		if e != nil {
			return e
		}
		a.Exec = ex
	}
	if e := put.Limits.check(h.cfg.MaxConcurrency); e != nil {
		return e
	}
	a.Limits = put.Limits.apply(a.Limits)
	// A log limit of 0 MB is OpenWhisk's minimum, not "unset".
	logs := a.Limits.Logs
	a.Limits = a.Limits.WithDefaults()
	a.Limits.Logs = logs
	if err := a.Limits.Validate(); err != nil {
		return fail(http.StatusBadRequest, msgMalformed+"requirement failed: "+err.Error())
	}
	switch {
	case a.Exec.IsSequence():
		// OpenWhisk keeps a sequence's components as its "_actions" parameter.
		comps := make([]string, len(a.Exec.Components))
		copy(comps, a.Exec.Components)
		a.Parameters = whisk.KeyValues{}.Set("_actions", comps)
	case put.Parameters != nil:
		a.Parameters = *put.Parameters
	case exists && old.Exec.IsSequence():
		a.Parameters = whisk.KeyValues{}
	}
	if put.Annotations != nil {
		a.Annotations = *put.Annotations
	}
	for _, k := range put.DelAnnotations {
		a.Annotations = deleteKey(a.Annotations, k)
	}
	a.Annotations = nonNil(a.Annotations).Set("exec", a.Exec.Kind)
	if put.Publish != nil {
		a.Publish = *put.Publish
	}
	stored, _, err := h.cfg.Store.PutAction(a, overwrite)
	if err != nil {
		return storeError(err)
	}
	writeJSON(q.w, http.StatusOK, view(stored, true))
	return nil
}

func deleteKey(kv whisk.KeyValues, key string) whisk.KeyValues {
	out := kv[:0:0]
	for _, e := range kv {
		if e.Key != key {
			out = append(out, e)
		}
	}
	return out
}

// checkExec validates an exec of a PUT for the action self and
// normalises it.
func (h *handler) checkExec(q *request, ex whisk.Exec, self whisk.Action) (whisk.Exec, *apiError) {
	// OpenWhisk's Exec.serdes: the kind is trimmed and lower-cased, and
	// whether code is binary is computed from the code (Exec.isBinaryCode),
	// whatever "binary" the client sent: `wsk action create X a.zip
	// --docker IMG` (or --native) sends the zip's base64 without "binary",
	// and an /init with binary false would make the proxy write the
	// base64 text as the executable ("cannot start action: command
	// exited").
	ex.Kind = strings.ToLower(strings.TrimSpace(ex.Kind))
	if !ex.IsSequence() && ex.Code != nil {
		b := isBinaryCode(*ex.Code)
		ex.Binary = &b
	}
	switch {
	case ex.Kind == "":
		return ex, fail(http.StatusBadRequest, msgMalformed+"kind not specified")
	case ex.IsSequence():
		comps, e := h.checkSequence(q, ex.Components, self)
		if e != nil {
			return ex, e
		}
		ex = whisk.Exec{Kind: whisk.KindSequence, Components: comps}
	case ex.Kind == whisk.KindBlackbox:
		if strings.TrimSpace(ex.Image) == "" {
			return ex, fail(http.StatusBadRequest, msgMalformed+"'image' must be a string defined in 'exec' for 'blackbox' actions")
		}
		ex.Image = strings.TrimSpace(ex.Image)
		if ex.Code != nil && strings.TrimSpace(*ex.Code) == "" {
			// A blank code is no code (OpenWhisk keeps None).
			ex.Code = nil
			ex.Binary = nil
		}
	default:
		if ex.Code == nil {
			return ex, fail(http.StatusBadRequest, msgMalformed+fmt.Sprintf("'code' must be a string or attachment object defined in 'exec' for '%s' actions", ex.Kind))
		}
	}
	if !ex.IsSequence() && ex.Binary == nil {
		b := false
		ex.Binary = &b
	}
	if h.cfg.CanonicalKind != nil && !ex.IsSequence() {
		ex.Kind = h.cfg.CanonicalKind(ex.Kind)
	}
	if h.cfg.CheckKind != nil {
		if err := h.cfg.CheckKind(ex); err != nil {
			msg := err.Error()
			if !strings.Contains(msg, ex.Kind) {
				msg = fmt.Sprintf("The action kind '%s' is not supported by this sandbox: %s", ex.Kind, msg)
			}
			return ex, fail(http.StatusBadRequest, msg)
		}
	}
	return ex, nil
}

// isBinaryCode is OpenWhisk's Exec.isBinaryCode: the trimmed code is
// non-empty, its length a multiple of 4, and it is base64 (standard
// alphabet, padded).
func isBinaryCode(code string) bool {
	t := strings.TrimSpace(code)
	if len(t) == 0 || len(t)%4 != 0 {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/':
		case c == '=' && (i == len(t)-1 || (i == len(t)-2 && t[len(t)-1] == '=')):
		default:
			return false
		}
	}
	return true
}

// resolveComponent turns a sequence component into "/ns/[pkg/]name", with
// "_" as the caller's namespace.
func resolveComponent(c, userNS string) (string, actionRef, string, *apiError) {
	if !strings.HasPrefix(c, "/") {
		c = "/" + c
	}
	ns, pkg, name, err := whisk.ParseName(c)
	if err != nil {
		return "", actionRef{}, "", fail(http.StatusBadRequest, msgMalformed+"requirement failed: The fully qualified name of the entity must contain at least the namespace and the name of the entity.")
	}
	if ns == "_" {
		ns = userNS
	}
	ref := actionRef{pkg: pkg, name: name}
	return "/" + ref.path(ns) + "/" + name, ref, ns, nil
}

// checkSequence resolves components, checks that they exist, that the
// sequence does not contain itself and that its atomic actions are at
// most Config.SequenceLimit.
func (h *handler) checkSequence(q *request, comps []string, self whisk.Action) ([]string, *apiError) {
	if len(comps) == 0 {
		return nil, fail(http.StatusBadRequest, msgSeqNoComponent)
	}
	if len(comps) > h.cfg.SequenceLimit {
		return nil, fail(http.StatusBadRequest, whisk.MsgSequenceTooLong)
	}
	out := make([]string, len(comps))
	for i, c := range comps {
		fqn, _, _, e := resolveComponent(c, q.ns)
		if e != nil {
			return nil, e
		}
		out[i] = fqn
	}
	n, e := h.countAtomic(out, self.FQN(), q.ns, 0)
	if e != nil {
		return nil, e
	}
	if n > h.cfg.SequenceLimit {
		return nil, fail(http.StatusBadRequest, whisk.MsgSequenceTooLong)
	}
	return out, nil
}

// countAtomic counts the atomic actions of comps, inlining sequences, and
// fails when one of them is self or missing.
func (h *handler) countAtomic(comps []string, self, userNS string, depth int) (int, *apiError) {
	if depth > h.cfg.SequenceLimit {
		return 0, fail(http.StatusBadRequest, whisk.MsgSequenceTooLong)
	}
	n := 0
	for _, c := range comps {
		fqn, ref, ns, e := resolveComponent(c, userNS)
		if e != nil {
			return 0, e
		}
		if fqn == self {
			return 0, fail(http.StatusBadRequest, msgSeqCyclic)
		}
		a, _, err := h.cfg.Store.GetAction(ref.path(ns), ref.name)
		if errors.Is(err, store.ErrNotFound) {
			return 0, fail(http.StatusBadRequest, msgSeqNotFound)
		}
		if err != nil {
			return 0, internal(err)
		}
		if a.Exec.IsSequence() {
			m, e := h.countAtomic(a.Exec.Components, self, userNS, depth+1)
			if e != nil {
				return 0, e
			}
			n += m
		} else {
			n++
		}
		if n > h.cfg.SequenceLimit {
			return n, nil
		}
	}
	return n, nil
}

// invoke serves POST on an action.
func (h *handler) invoke(q *request, ref actionRef) *apiError {
	blocking, e := boolParam(q.r, "blocking", false)
	if e != nil {
		return e
	}
	result, e := boolParam(q.r, "result", false)
	if e != nil {
		return e
	}
	body, e := readBody(q.r, h.cfg.MaxPayloadBytes)
	if e != nil {
		return e
	}
	a, rev, e := h.fetchAction(q.ns, ref)
	if e != nil {
		return e
	}
	params := json.RawMessage("{}")
	var obj map[string]json.RawMessage
	if t := bytes.TrimSpace(body); len(t) > 0 {
		if err := json.Unmarshal(t, &obj); err != nil || obj == nil {
			msg := "the request body must be a JSON object"
			if err != nil {
				msg = err.Error()
			}
			return fail(http.StatusBadRequest, msgMalformed+msg)
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, t); err != nil {
			return fail(http.StatusBadRequest, msgMalformed+err.Error())
		}
		params = buf.Bytes()
	}
	if a.Annotations.Truthy("final") {
		for _, p := range a.Parameters {
			if _, ok := obj[p.Key]; ok && string(bytes.TrimSpace(p.Value)) != "null" {
				return fail(http.StatusBadRequest, msgParamsNotAllowed)
			}
		}
	}
	act, done, err := h.cfg.Controller.Invoke(q.r.Context(), q.user, a, rev, params, blocking)
	if err != nil {
		status, msg := 0, ""
		if h.cfg.InvokeError != nil {
			status, msg = h.cfg.InvokeError(err)
		}
		if status == 0 {
			return internal(err)
		}
		if msg == "" {
			msg = http.StatusText(status)
		}
		return &apiError{status: status, msg: msg, cause: err}
	}
	if act.ActivationID != "" {
		q.w.Header().Set(activationIDHeader, act.ActivationID)
	}
	if !done {
		writeJSON(q.w, http.StatusAccepted, map[string]string{"activationId": act.ActivationID})
		return nil
	}
	status := http.StatusOK
	switch act.Response.StatusCode {
	case whisk.StatusSuccess:
	case whisk.StatusApplicationError, whisk.StatusDeveloperError:
		status = http.StatusBadGateway
	default:
		status = http.StatusInternalServerError
	}
	if result {
		res := act.Response.Result
		if len(res) == 0 {
			res = json.RawMessage("{}")
		}
		writeJSON(q.w, status, res)
		return nil
	}
	writeJSON(q.w, status, act.REST())
	return nil
}
