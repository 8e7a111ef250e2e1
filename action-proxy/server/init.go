package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/build"
	"github.com/wsk-route/wsk-route/action-proxy/child"
)

// initRequest is the body of POST /init.
type initRequest struct {
	Value struct {
		Code   string                     `json:"code,omitempty"`
		Binary bool                       `json:"binary,omitempty"`
		Main   string                     `json:"main,omitempty"`
		Env    map[string]json.RawMessage `json:"env,omitempty"`
	} `json:"value,omitempty"`
}

// Init error texts shown by the stock proxy when OW_LOG_INIT_ERROR is set.
const (
	msgReinit       = "Cannot initialize the action more than once."
	msgNoCode       = "Missing main/no code to execute."
	msgBuildFailed  = "The action failed to generate or locate a binary. See logs for details."
	msgStartFailed  = "Cannot start action. Check logs for details."
	msgNoActionYet  = "no action defined yet"
	msgNotDictArray = "The action did not return a dictionary or array."
)

// initSpec is a decoded /init request.
type initSpec struct {
	main    string            // entry point, "main" by default
	env     map[string]string // the init env, as strings
	payload []byte            // the code, base64-decoded when binary
}

// DefaultMaxInitBytes bounds the body of an /init when OW_MAX_INIT_BYTES
// is not set: OpenWhisk's default action size limit (48 MB of code, base64
// for a binary action, as the controller stores it) plus 2 MiB for the
// init env (parameters are limited to 1 MB) and the JSON around them. The
// body is read whole and decoded twice, so this bounds what a caller of
// /init can make the proxy hold.
const DefaultMaxInitBytes = 50 << 20

// EnvMaxInitBytes names the variable that sets the bound on an /init body,
// in bytes, for deployments that raised OpenWhisk's action size limit.
const EnvMaxInitBytes = "OW_MAX_INIT_BYTES"

// maxInitBytes returns the bound on an /init body: EnvMaxInitBytes in
// environ when it is a positive integer, else DefaultMaxInitBytes.
func maxInitBytes(environ []string) int64 {
	if v, ok := lookup(environ, EnvMaxInitBytes); ok {
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n > 0 {
			return n
		}
	}
	return DefaultMaxInitBytes
}

// tooLarge is the error message of an /init body over limit bytes.
func tooLarge(limit int64) string {
	return fmt.Sprintf("The action's code is too large: the /init request is over %d bytes (%s).", limit, EnvMaxInitBytes)
}

// initChunk is the unit in which an /init body of unknown length is read:
// memory is committed as bytes arrive, and never copied while it grows.
const initChunk = 1 << 20

// readInit reads an /init body of at most limit bytes; size, when known
// (Content-Length, which the server enforces), is read into a buffer of
// exactly that size. It returns the status and error message of a body it
// cannot read: 413 over the limit, before reading it when size says so.
func readInit(body io.Reader, size, limit int64) ([]byte, int, string) {
	if size > limit {
		return nil, http.StatusRequestEntityTooLarge, tooLarge(limit)
	}
	if size >= 0 {
		data := make([]byte, size)
		if _, err := io.ReadFull(body, data); err != nil {
			return nil, http.StatusBadRequest, err.Error()
		}
		return data, http.StatusOK, ""
	}
	var chunks [][]byte
	var total int64
	for {
		c := make([]byte, min(initChunk, limit+1-total))
		n, err := io.ReadFull(body, c)
		total += int64(n)
		if total > limit {
			return nil, http.StatusRequestEntityTooLarge, tooLarge(limit)
		}
		chunks = append(chunks, c[:n])
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return nil, http.StatusBadRequest, err.Error()
		}
	}
	if len(chunks) == 1 {
		return chunks[0], http.StatusOK, ""
	}
	data := make([]byte, 0, total)
	for i, c := range chunks {
		data = append(data, c...)
		chunks[i] = nil // each chunk can go as soon as it is copied
	}
	return data, http.StatusOK, ""
}

// parseInit decodes an /init body. When it cannot, it returns the status and
// error message the stock proxy answers with.
func parseInit(body io.Reader) (initSpec, int, string) {
	data, err := io.ReadAll(body)
	if err != nil {
		return initSpec{}, http.StatusBadRequest, err.Error()
	}
	return decodeInit(data)
}

// decodeInit decodes an /init body read whole.
func decodeInit(data []byte) (initSpec, int, string) {
	var err error
	// Unmarshal, not a Decoder: the error texts are the stock proxy's.
	var req initRequest
	if err := json.Unmarshal(data, &req); err != nil {
		return initSpec{}, http.StatusBadRequest, "Error unmarshaling request: " + err.Error()
	}
	if req.Value.Code == "" {
		return initSpec{}, http.StatusForbidden, msgNoCode
	}
	spec := initSpec{main: req.Value.Main, payload: []byte(req.Value.Code)}
	if spec.main == "" {
		spec.main = "main"
	}
	if spec.env, err = InitEnv(req.Value.Env); err != nil {
		return initSpec{}, http.StatusBadRequest, "Error unmarshaling request: " + err.Error()
	}
	if req.Value.Binary {
		if spec.payload, err = base64.StdEncoding.DecodeString(req.Value.Code); err != nil {
			return initSpec{}, http.StatusBadRequest, "cannot decode the request: " + err.Error()
		}
	}
	return spec, http.StatusOK, ""
}

func (p *Proxy) serveInit(w http.ResponseWriter, r *http.Request) {
	p.initMu.Lock()
	defer p.initMu.Unlock()

	p.mu.Lock()
	initialized := p.initialized
	p.mu.Unlock()
	if initialized && !p.cfg.Debug {
		sendError(w, http.StatusForbidden, msgReinit)
		p.cfg.Stderr.WriteString(msgReinit + "\n")
		return
	}

	// The body is bounded as OpenWhisk bounds an action's size: a caller
	// of /init cannot make the proxy hold more.
	limit := maxInitBytes(p.cfg.Environ)
	data, status, msg := readInit(r.Body, r.ContentLength, limit)
	if status == http.StatusRequestEntityTooLarge {
		p.refuseInit(w, r, limit, msg)
		return
	}
	if status != http.StatusOK {
		sendError(w, status, msg)
		return
	}
	spec, status, msg := decodeInit(data)
	if status != http.StatusOK {
		sendError(w, status, msg)
		return
	}
	main, env, payload := spec.main, spec.env, spec.payload
	if m, ok := parseEntry(payload); ok {
		p.initEntry(w, r, m, env)
		return
	}

	n := p.nextDir
	p.nextDir++
	dir := p.actionDir(n)
	childEnv := childEnv(p.cfg, env)
	p.debugf("init: building action %d (main %q, %d bytes)", n, main, len(payload))

	execPath, err := builder(p.cfg, childEnv).Build(r.Context(), payload, main, dir)
	if err != nil {
		p.removeFailed(dir)
		p.initFailed(w, err.Error(), err.Error(), msgBuildFailed)
		return
	}

	// Bind the container to its namespace before the action's code can
	// reach the agent (see claim). An init env without the namespace
	// leaves the registration to the first /run, after the code started.
	p.claim(r.Context(), env)
	pool, err := p.start(execPath, childEnv, env)
	if err != nil {
		p.removeFailed(dir)
		p.initFailed(w, "cannot start action: "+err.Error(), err.Error(), msgStartFailed)
		return
	}

	p.mu.Lock()
	if p.life.Err() != nil { // closed while starting
		p.mu.Unlock()
		pool.Close()
		sendError(w, http.StatusInternalServerError, "cannot start action: the proxy is shutting down")
		return
	}
	old := p.pool
	p.pool = pool
	p.initialized = true
	p.mu.Unlock()
	if old != nil {
		old.Close()
	}
	send(w, http.StatusOK, okBody)
	p.identify(env["__OW_NAMESPACE"], env["__OW_ACTION_NAME"], env["__OW_ACTION_VERSION"], env["__OW_API_KEY"])
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	// The payload (often megabytes, decoded twice) is garbage now. Hand
	// the memory back, after answering: the proxy's RSS counts against the
	// action's memory limit.
	debug.FreeOSMemory()
}

// initDrainTimeout bounds the time refuseInit spends discarding the rest of
// an /init body over the limit.
const initDrainTimeout = 10 * time.Second

// refuseInit answers an /init body over limit with 413. So that the caller,
// still sending, sees the answer and not a reset connection, it first
// discards what is left of a body of up to twice the limit (nothing is
// kept; at most initDrainTimeout), then closes the connection. The memory
// a chunked body took before it went over the limit goes back to the OS.
func (p *Proxy) refuseInit(w http.ResponseWriter, r *http.Request, limit int64, msg string) {
	if r.ContentLength <= 2*limit {
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Now().Add(initDrainTimeout))
		_, _ = io.CopyN(io.Discard, r.Body, limit)
	}
	w.Header().Set("Connection", "close")
	sendError(w, http.StatusRequestEntityTooLarge, msg)
	if r.ContentLength < 0 {
		debug.FreeOSMemory() // up to limit bytes were read
	}
}

// initFailed answers a failed build or start: the detailed message in the
// response, or, with OW_LOG_INIT_ERROR, in the logs followed by sentinels
// and a generic response.
func (p *Proxy) initFailed(w http.ResponseWriter, detailed, logged, generic string) {
	if !p.cfg.LogInitError {
		sendError(w, http.StatusBadGateway, detailed)
		return
	}
	p.cfg.Stderr.WriteString(logged + "\n")
	p.writeSentinels()
	sendError(w, http.StatusBadGateway, generic)
}

func (p *Proxy) removeFailed(dir string) {
	if !p.cfg.Debug {
		os.RemoveAll(dir)
	}
}

// start checks the execution environment and starts the action's first
// child, which answers the /run requests to come.
func (p *Proxy) start(execPath string, childEnv []string, initEnv map[string]string) (*child.Pool, error) {
	if err := build.CheckExecEnv(filepath.Dir(execPath), p.cfg.ExecutionEnv); err != nil {
		var mismatch *build.MismatchError
		if errors.As(err, &mismatch) {
			p.cfg.Stdout.WriteString(mismatch.Detail())
		}
		return nil, err
	}
	os.Chmod(execPath, 0o755)
	abs, err := filepath.Abs(execPath)
	if err != nil {
		return nil, err
	}
	max := p.Concurrency()
	path, args := abs, []string(nil)
	if p.cfg.Skeleton {
		// The proxy's own binary, as the ActionLoop process that runs the
		// dockerskeleton executable once per activation. It gets the
		// container's environment, as dockerskeleton's actions do, less the
		// proxy's own settings.
		path = p.cfg.SkeletonRunner
		if path == "" {
			if path, err = os.Executable(); err != nil {
				return nil, fmt.Errorf("finding the proxy's own executable to run a dockerskeleton action: %w", err)
			}
		}
		args = []string{"proxy", "-skeleton", abs}
		childEnv = append(containerEnv(p.cfg.Environ), childEnv...)
	}
	stdout, stderr := p.childOutputs()
	pool := child.NewPool(child.Config{
		Path:        path,
		Args:        args,
		Env:         childEnv,
		Stdout:      stdout,
		Stderr:      stderr,
		WaitForAck:  p.cfg.WaitForAck,
		AckTimeout:  ackTimeout(p.cfg.AckTimeout, initEnv["__OW_DEADLINE"], time.Now()),
		StartWindow: p.cfg.StartWindow,
	}, max)
	// The start ends with the proxy (Close), not with the /init request:
	// the invoker gives up on a slow init by destroying the container.
	if err := pool.Start(p.life); err != nil {
		return nil, err
	}
	return pool, nil
}

// ackTimeout shortens limit to the time left before the first
// activation's deadline (epoch milliseconds), but to no less than
// minAckTimeout: a deadline already past, or skewed, must not fail a start
// that is merely slow.
func ackTimeout(limit time.Duration, deadline string, now time.Time) time.Duration {
	ms, err := strconv.ParseInt(deadline, 10, 64)
	if err != nil {
		return limit
	}
	left := max(time.UnixMilli(ms).Sub(now), minAckTimeout)
	return min(left, limit)
}

// minAckTimeout is the shortest ack wait a deadline can impose.
const minAckTimeout = time.Second

// InitEnv turns an init "env" object into strings: strings as they are,
// anything else as compact JSON (so null is "null"), as the stock proxy does.
func InitEnv(raw map[string]json.RawMessage) (map[string]string, error) {
	env := make(map[string]string, len(raw))
	for k, v := range raw {
		var s string
		if err := json.Unmarshal(v, &s); err == nil {
			env[k] = s
			continue
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, v); err != nil {
			return nil, fmt.Errorf("env %q: %w", k, err)
		}
		env[k] = buf.String()
	}
	return env, nil
}

// Builder returns the build.Builder that /init uses for cfg, given the
// action's init env: the offline -compile mode builds with the same one.
func Builder(cfg Config, initEnv map[string]string) build.Builder {
	return builder(cfg.withDefaults(), childEnv(cfg.withDefaults(), initEnv))
}

// builder compiles with PATH plus the child's environment, as the stock
// proxy does.
func builder(cfg Config, childEnv []string) build.Builder {
	env := make([]string, 0, len(childEnv)+1)
	if path, ok := lookup(cfg.Environ, "PATH"); ok {
		env = append(env, "PATH="+path)
	}
	return build.Builder{Compiler: cfg.Compiler, Env: append(env, childEnv...), SaveJar: cfg.SaveJar}
}

// childEnv is the child's entire environment: the proxy's __OW_* variables,
// the proxy's own settings, then the init env, which wins.
func childEnv(cfg Config, init map[string]string) []string {
	env := map[string]string{}
	for _, kv := range cfg.Environ {
		k, v, ok := strings.Cut(kv, "=") // values may contain '='
		if ok && strings.HasPrefix(k, "__OW_") {
			env[k] = v
		}
	}
	env["__OW_PROXY_VERSION"] = Version
	if cfg.ExecutionEnv != "" {
		env["__OW_EXECUTION_ENV"] = cfg.ExecutionEnv
	}
	if cfg.WaitForAck {
		env["__OW_WAIT_FOR_ACK"] = "1"
	}
	if cfg.Debug {
		env["OW_DEBUG"] = "/tmp/action.log"
	}
	for k, v := range init {
		env[k] = v
	}
	return sortedPairs(env)
}

// containerEnv is environ without the proxy's settings (OW_*, WSK_ROUTE_*)
// and the __OW_* variables, which childEnv sets.
func containerEnv(environ []string) []string {
	env := make([]string, 0, len(environ))
	for _, kv := range environ {
		if !strings.HasPrefix(kv, "OW_") && !strings.HasPrefix(kv, "WSK_ROUTE_") && !strings.HasPrefix(kv, "__OW_") {
			env = append(env, kv)
		}
	}
	return env
}

func sortedPairs(m map[string]string) []string {
	pairs := make([]string, 0, len(m))
	for k, v := range m {
		pairs = append(pairs, k+"="+v)
	}
	sort.Strings(pairs)
	return pairs
}
