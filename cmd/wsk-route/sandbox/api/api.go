package api

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox/store"
	"github.com/wsk-route/wsk-route/internal/whisk"
)

// Invoker runs actions; the sandbox's controller implements it.
type Invoker interface {
	// Invoke runs action (its revision rev) for user with params (a JSON
	// object, "{}" when the request had no body). If !blocking it returns
	// at once with the activation id and done=false. If blocking it waits:
	// done=true with the finished activation, or done=false with only the
	// id when the wait ran out.
	Invoke(ctx context.Context, user whisk.Identity, action whisk.Action, rev string, params json.RawMessage, blocking bool) (act whisk.Activation, done bool, err error)
}

// InvokerFunc adapts a function to the Invoker interface.
type InvokerFunc func(ctx context.Context, user whisk.Identity, action whisk.Action, rev string, params json.RawMessage, blocking bool) (whisk.Activation, bool, error)

// Invoke calls f.
func (f InvokerFunc) Invoke(ctx context.Context, user whisk.Identity, action whisk.Action, rev string, params json.RawMessage, blocking bool) (whisk.Activation, bool, error) {
	return f(ctx, user, action, rev, params, blocking)
}

var _ Invoker = InvokerFunc(nil)

// BuildInfo describes the running sandbox in GET /api/v1.
type BuildInfo struct {
	// Version is the wsk-route version ("buildno").
	Version string
	// Date is the build date ("build").
	Date string
}

// Defaults of Config's limits (OpenWhisk's action size and activation
// payload limits, and its actionSequenceLimit).
const (
	DefaultMaxActionBytes  = 48 << 20
	DefaultMaxPayloadBytes = 1 << 20
	DefaultSequenceLimit   = 50
)

// Config configures the handler. Store and Controller are required.
type Config struct {
	// Store holds entities, subjects and activation records.
	Store *store.Store
	// Controller runs actions.
	Controller Invoker
	// Logger receives one line per failed request (5xx at Error, others
	// at Debug). Nil discards.
	Logger *slog.Logger
	// BuildInfo is shown by GET /api/v1.
	BuildInfo BuildInfo
	// Runtimes is the "runtimes" member of GET /api/v1 and GET / (as
	// OpenWhisk shows its runtime manifest); nil shows {}.
	Runtimes any
	// CheckKind, when set, is asked about every exec of an action create
	// or update; an error refuses the action with 400 and the error's text
	// (prefixed with the kind when the text does not name it). Nil accepts
	// every kind.
	CheckKind func(exec whisk.Exec) error
	// CanonicalKind, when set, gives the kind an action is stored with
	// (a "default" version resolved, as OpenWhisk stores its runtime
	// manifest's kind); it is called before CheckKind. Nil keeps the kind
	// as sent (trimmed and lower-cased).
	CanonicalKind func(kind string) string
	// InvokeError, when set, maps an error from Controller.Invoke to the
	// HTTP status and message of the answer (for example the controller's
	// sequence errors to 400 and whisk.MsgSequenceTooLong). Nil, or a
	// status of 0, gives 500 "There was an internal server error.".
	InvokeError func(err error) (status int, message string)
	// Workflows is the route registry behind /namespaces/{ns}/wsk-route
	// (workflows.go): where `wsk-route compose` stores compiled specs and
	// `wsk-route routes` reads the route table. Nil: those routes are 404.
	Workflows Workflows
	// ColdStarts, when set, serves GET .../wsk-route/starts: the
	// containers being started for activations of the namespace
	// (coldstarts.go). Nil: that route is 404.
	ColdStarts ColdStartLister
	// MaxActionBytes bounds the body of an action PUT; 0 means
	// DefaultMaxActionBytes.
	MaxActionBytes int64
	// MaxPayloadBytes bounds the body of an invoke and of a package PUT;
	// 0 means DefaultMaxPayloadBytes.
	MaxPayloadBytes int64
	// SequenceLimit is the largest number of atomic actions a sequence may
	// hold (counting nested sequences inline); 0 means
	// DefaultSequenceLimit.
	SequenceLimit int
	// MaxConcurrency is the largest limits.concurrency an action may ask
	// for, 1 to whisk.ConcurrencyCeiling; 0 means OpenWhisk's default,
	// whisk.MaxConcurrency (one activation per container).
	MaxConcurrency int
}

// handler is the API.
type handler struct {
	cfg Config
	log *slog.Logger
}

// New returns the API handler for cfg.
func New(cfg Config) (http.Handler, error) {
	if cfg.Store == nil {
		return nil, errors.New("api: Config.Store is nil")
	}
	if cfg.Controller == nil {
		return nil, errors.New("api: Config.Controller is nil")
	}
	if cfg.MaxActionBytes <= 0 {
		cfg.MaxActionBytes = DefaultMaxActionBytes
	}
	if cfg.MaxPayloadBytes <= 0 {
		cfg.MaxPayloadBytes = DefaultMaxPayloadBytes
	}
	if cfg.SequenceLimit <= 0 {
		cfg.SequenceLimit = DefaultSequenceLimit
	}
	switch {
	case cfg.MaxConcurrency <= 0:
		cfg.MaxConcurrency = whisk.MaxConcurrency
	case cfg.MaxConcurrency > whisk.ConcurrencyCeiling:
		return nil, fmt.Errorf("api: Config.MaxConcurrency %d is over %d", cfg.MaxConcurrency, whisk.ConcurrencyCeiling)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &handler{cfg: cfg, log: log}, nil
}

// OpenWhisk's messages (common/scala/.../http/ErrorResponse.scala and
// akka-http's defaults, which OpenWhisk wraps in its error JSON).
const (
	msgAuthMissing       = "The resource requires authentication, which was not supplied with the request"
	msgAuthInvalid       = "The supplied authentication is invalid"
	msgNotFound          = "The requested resource does not exist."
	msgExists            = "resource already exists"
	msgMalformed         = "The request content was malformed:\n"
	msgInternal          = "There was an internal server error."
	msgEntityNameIllegal = "The name of the entity contains illegal characters."
	msgSeqNoComponent    = "No component specified for the sequence."
	msgSeqCyclic         = "Sequence may not refer to itself."
	msgSeqNotFound       = "Sequence component does not exist."
	msgParamsNotAllowed  = "Request defines parameters that are not allowed (e.g., reserved properties)."
	msgDocsWithCount     = "The parameter 'docs' is not permitted with 'count'."
	msgActivationIDBad   = "The activation id is not valid."
	maxListLimit         = 200
	defaultListLimit     = 30
	basicRealm           = `Basic realm="whisk rest service"`
	activationIDHeader   = "x-openwhisk-activation-id"
)

func notAuthorized(ns string) string {
	return fmt.Sprintf("The supplied authentication is not authorized to access '%s'.", ns)
}

// apiError is an answer that is not 2xx.
type apiError struct {
	status int
	msg    string
	cause  error
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s", e.status, e.msg) }

func fail(status int, msg string) *apiError { return &apiError{status: status, msg: msg} }

func internal(err error) *apiError {
	return &apiError{status: http.StatusInternalServerError, msg: msgInternal, cause: err}
}

// newCode returns a 32-character id for an error's "code".
func newCode() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return strings.Repeat("0", 32)
	}
	return hex.EncodeToString(b[:])
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(map[string]string{"error": msgInternal, "code": newCode()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (h *handler) writeError(w http.ResponseWriter, r *http.Request, e *apiError) {
	code := newCode()
	lvl := slog.LevelDebug
	if e.status >= 500 {
		lvl = slog.LevelError
	}
	attrs := []any{"method", r.Method, "path", r.URL.Path, "status", e.status, "message", e.msg, "code", code}
	if e.cause != nil {
		attrs = append(attrs, "err", e.cause)
	}
	h.log.Log(r.Context(), lvl, "api: request failed", attrs...)
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", basicRealm)
	}
	writeJSON(w, e.status, map[string]string{"error": e.msg, "code": code})
}

// ServeHTTP routes a request.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if e := h.route(w, r); e != nil {
		h.writeError(w, r, e)
	}
}

// segments splits an escaped path into unescaped segments; a trailing
// slash gives a last empty segment.
func segments(escaped string) ([]string, error) {
	parts := strings.Split(strings.TrimPrefix(escaped, "/"), "/")
	for i, p := range parts {
		u, err := url.PathUnescape(p)
		if err != nil {
			return nil, err
		}
		parts[i] = u
	}
	return parts, nil
}

func methodNotAllowed(w http.ResponseWriter, allowed ...string) *apiError {
	w.Header().Set("Allow", strings.Join(allowed, ", "))
	return fail(http.StatusMethodNotAllowed, "HTTP method not allowed, supported methods: "+strings.Join(allowed, ", "))
}

func (h *handler) route(w http.ResponseWriter, r *http.Request) *apiError {
	seg, err := segments(r.URL.EscapedPath())
	if err != nil {
		return fail(http.StatusBadRequest, "The request path is malformed: "+err.Error())
	}
	switch {
	case len(seg) == 1 && seg[0] == "":
		if r.Method != http.MethodGet {
			return methodNotAllowed(w, http.MethodGet)
		}
		h.info(w)
		return nil
	case len(seg) == 1 && seg[0] == "ping":
		if r.Method != http.MethodGet {
			return methodNotAllowed(w, http.MethodGet)
		}
		w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
		_, _ = w.Write([]byte("pong"))
		return nil
	case len(seg) < 2 || seg[0] != "api" || seg[1] != "v1":
		return fail(http.StatusNotFound, msgNotFound)
	}
	seg = seg[2:]
	if len(seg) == 0 || (len(seg) == 1 && seg[0] == "") {
		if r.Method != http.MethodGet {
			return methodNotAllowed(w, http.MethodGet)
		}
		h.info(w)
		return nil
	}
	if seg[0] != "namespaces" {
		return fail(http.StatusNotFound, msgNotFound)
	}
	user, e := h.authenticate(r)
	if e != nil {
		return e
	}
	seg = seg[1:]
	if len(seg) == 0 || (len(seg) == 1 && seg[0] == "") {
		if r.Method != http.MethodGet {
			return methodNotAllowed(w, http.MethodGet)
		}
		writeJSON(w, http.StatusOK, []string{user.Namespace.Name})
		return nil
	}
	ns := seg[0]
	if ns == "_" {
		ns = user.Namespace.Name
	}
	if ns != user.Namespace.Name {
		return fail(http.StatusForbidden, notAuthorized(ns))
	}
	if len(seg) == 1 || (len(seg) == 2 && seg[1] == "") {
		return fail(http.StatusNotFound, msgNotFound)
	}
	req := &request{w: w, r: r, user: user, ns: ns, rest: seg[2:]}
	switch seg[1] {
	case "actions":
		return h.actions(req)
	case "packages":
		return h.packages(req)
	case "activations":
		return h.activations(req)
	case "wsk-route":
		return h.wskRoute(req)
	case "triggers", "rules":
		// The sandbox has neither; list them empty so that `wsk list` works.
		if len(req.rest) == 0 || (len(req.rest) == 1 && req.rest[0] == "") {
			if r.Method != http.MethodGet {
				return methodNotAllowed(w, http.MethodGet)
			}
			writeJSON(w, http.StatusOK, []any{})
			return nil
		}
		return fail(http.StatusNotFound, msgNotFound)
	}
	return fail(http.StatusNotFound, msgNotFound)
}

// request is one authenticated request below /api/v1/namespaces/{ns}/{collection}.
type request struct {
	w    http.ResponseWriter
	r    *http.Request
	user whisk.Identity
	// ns is the caller's namespace name.
	ns string
	// rest are the segments after the collection.
	rest []string
}

func (h *handler) info(w http.ResponseWriter) {
	rt := h.cfg.Runtimes
	if rt == nil {
		rt = map[string]any{}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"description":      "wsk-route dev sandbox (not a production OpenWhisk)",
		"api_paths":        []string{"/api/v1"},
		"api_version":      "1.0.0",
		"api_version_path": "v1",
		"build":            h.cfg.BuildInfo.Date,
		"buildno":          h.cfg.BuildInfo.Version,
		"runtimes":         rt,
	})
}

// authenticate checks the request's Basic credentials.
func (h *handler) authenticate(r *http.Request) (whisk.Identity, *apiError) {
	hdr := r.Header.Get("Authorization")
	scheme, cred, ok := strings.Cut(hdr, " ")
	if hdr == "" || !ok || !strings.EqualFold(scheme, "basic") {
		return whisk.Identity{}, fail(http.StatusUnauthorized, msgAuthMissing)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return whisk.Identity{}, fail(http.StatusUnauthorized, msgAuthInvalid)
	}
	uuid, key, ok := strings.Cut(string(raw), ":")
	if !ok || uuid == "" {
		return whisk.Identity{}, fail(http.StatusUnauthorized, msgAuthInvalid)
	}
	id, err := h.cfg.Store.Authenticate(uuid, key)
	if errors.Is(err, store.ErrNotFound) {
		return whisk.Identity{}, fail(http.StatusUnauthorized, msgAuthInvalid)
	}
	if err != nil {
		return whisk.Identity{}, internal(err)
	}
	return id, nil
}

// entityNameRE is OpenWhisk's EntityName.REGEX.
var entityNameRE = regexp.MustCompile(`^([\w]|[\w][\w@ .-]*[\w@.-]+)$`)

func checkName(s string) *apiError {
	if len(s) > 256 {
		return fail(http.StatusBadRequest, fmt.Sprintf("Name segement longer than allowed: %d > 256.", len(s)))
	}
	if !entityNameRE.MatchString(s) {
		return fail(http.StatusBadRequest, msgEntityNameIllegal)
	}
	return nil
}

// boolParam reads a boolean query parameter.
func boolParam(r *http.Request, name string, def bool) (bool, *apiError) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fail(http.StatusBadRequest, fmt.Sprintf("The query parameter '%s' was malformed:\n'%s' is not a valid Boolean value", name, v))
	}
	return b, nil
}

// listParams reads limit and skip the way OpenWhisk's RestApiCommons
// does: no limit → 30, limit 0 → 200, above 200 or negative → 400.
func listParams(r *http.Request, collection string) (limit, skip int, e *apiError) {
	q := r.URL.Query()
	limit, skip = defaultListLimit, 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil:
			return 0, 0, fail(http.StatusBadRequest, fmt.Sprintf("The query parameter 'limit' was malformed:\nThe value '%s' is not an integer for %s.", v, collection))
		case n == 0:
			limit = maxListLimit
		case n < 0 || n > maxListLimit:
			return 0, 0, fail(http.StatusBadRequest, fmt.Sprintf("The query parameter 'limit' was malformed:\nThe value '%d' is not in the range of 0 to %d for %s.", n, maxListLimit, collection))
		default:
			limit = n
		}
	}
	if v := q.Get("skip"); v != "" {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil:
			return 0, 0, fail(http.StatusBadRequest, fmt.Sprintf("The query parameter 'skip' was malformed:\nThe value '%s' is not an integer for %s.", v, collection))
		case n < 0:
			return 0, 0, fail(http.StatusBadRequest, fmt.Sprintf("The query parameter 'skip' was malformed:\nThe value '%d' is not greater than or equal to 0 for %s.", n, collection))
		default:
			skip = n
		}
	}
	return limit, skip, nil
}

// readBody reads at most limit bytes of the request body; a larger body
// is a 413 with OpenWhisk's entityTooBig message.
func readBody(r *http.Request, limit int64) ([]byte, *apiError) {
	tooBig := func(n int64) *apiError {
		return fail(http.StatusRequestEntityTooLarge, fmt.Sprintf("Request larger than allowed: %d > %d bytes.", n, limit))
	}
	if r.ContentLength > limit {
		return nil, tooBig(r.ContentLength)
	}
	body, err := readLimited(r, limit)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooBig(limit + 1)
		}
		return nil, fail(http.StatusBadRequest, msgMalformed+err.Error())
	}
	return body, nil
}
