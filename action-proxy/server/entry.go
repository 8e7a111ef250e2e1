package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/route"
	"github.com/wsk-route/wsk-route/internal/jsonscan"
	"github.com/wsk-route/wsk-route/internal/runevent"
	"github.com/wsk-route/wsk-route/internal/spec"
	"github.com/wsk-route/wsk-route/internal/whisk"
)

// EntryKey is the key of an entry action's code: an action whose code is
// the JSON object {"wsk-route-entry": {"workflow": NAME}} runs no user code;
// its proxy is the workflow's entry. Each /run starts a run of the workflow
// on the route plane with the activation's value and deadline, and answers
// with the run's result. `wsk-route compose` creates such actions.
//
// In a container without a host agent (wsk-route removed from the
// invoker, or never deployed there), an entry whose manifest carries its
// spec runs each step through the OpenWhisk API instead
// (route.APIRouter): the workflow gives the same results, at the cost of
// an OpenWhisk round trip per step.
const EntryKey = "wsk-route-entry"

// EntryManifest is what an entry action's code says.
type EntryManifest struct {
	// Workflow is the workflow's name in the action's namespace.
	Workflow string `json:"workflow"`
	// Composition, when set, makes the entry conduct an openwhisk-composer
	// composition (composer's JSON: compile()'s output or a bare
	// combinator) with composer's semantics (conduct.go); each action it
	// invokes runs from its step of the workflow's spec, named by Steps.
	Composition json.RawMessage `json:"composition,omitempty"`
	// Steps maps each action the composition names, qualified as composer
	// qualifies it ("/_/a"), to its step in the workflow's spec.
	Steps map[string]string `json:"steps,omitempty"`
	// Spec is the workflow's compiled spec as compose stored it. With a
	// host agent the entry runs the spec the agent gives (the store's
	// current one); without one, it runs this one through the OpenWhisk
	// API. Entries deployed before it was added have none, and need an
	// agent.
	Spec json.RawMessage `json:"spec,omitempty"`
}

// EntryCode returns the code of an entry action for workflow.
func EntryCode(workflow string) string { return EntryManifest{Workflow: workflow}.Code() }

// Code returns the code of an entry action with manifest m.
func (m EntryManifest) Code() string {
	b, _ := json.Marshal(map[string]EntryManifest{EntryKey: m})
	return string(b)
}

// maxEntryInput bounds the /run body of an entry: the invoker's payload
// limit is 1 MB, the direct path has none of its own, so this only stops
// a runaway body.
const maxEntryInput = 64 << 20

// parseEntry reports whether an /init payload is an entry manifest.
func parseEntry(payload []byte) (EntryManifest, bool) {
	b := bytes.TrimSpace(payload)
	if len(b) == 0 || b[0] != '{' || !bytes.Contains(b, []byte(EntryKey)) {
		return EntryManifest{}, false
	}
	var doc map[string]json.RawMessage
	if json.Unmarshal(b, &doc) != nil || len(doc) != 1 {
		return EntryManifest{}, false
	}
	var m EntryManifest
	if raw, ok := doc[EntryKey]; !ok || json.Unmarshal(raw, &m) != nil || m.Workflow == "" {
		return EntryManifest{}, false
	}
	return m, true
}

// initEntry completes an /init of an entry action: nothing to build or
// start, but the instance is claimed with the route plane, or, in a
// container without a host agent, an API router is built from the
// manifest's spec.
func (p *Proxy) initEntry(w http.ResponseWriter, r *http.Request, m EntryManifest, env map[string]string) {
	var api *route.APIRouter
	if p.routeOf() == nil {
		var err error
		if api, err = p.apiRouter(m, env); err != nil {
			msg := fmt.Sprintf("wsk-route: %s is the entry of workflow %q, and this container has no wsk-route host agent (WSK_ROUTE_AGENT): %v", env["__OW_ACTION_NAME"], m.Workflow, err)
			p.initFailed(w, msg, msg, msgStartFailed)
			return
		}
	}
	var c *conducted
	if len(m.Composition) > 0 {
		var err error
		if c, err = newConducted(m); err != nil {
			msg := fmt.Sprintf("wsk-route: %s: %v", env["__OW_ACTION_NAME"], err)
			p.initFailed(w, msg, msg, msgStartFailed)
			return
		}
	}
	p.claim(r.Context(), env)
	p.mu.Lock()
	p.entry, p.conducted, p.entryAPI = m.Workflow, c, api
	p.initialized = true
	p.mu.Unlock()
	if api != nil {
		p.cfg.Stderr.WriteString(fmt.Sprintf("wsk-route: no host agent: workflow %s runs each step through the OpenWhisk API\n", m.Workflow))
	}
	send(w, http.StatusOK, okBody)
	p.identify(env["__OW_NAMESPACE"], env["__OW_ACTION_NAME"], env["__OW_ACTION_VERSION"], env["__OW_API_KEY"])
}

// apiRouter returns the router of an entry without a host agent: its
// manifest's spec, each step invoked through the OpenWhisk API.
func (p *Proxy) apiRouter(m EntryManifest, env map[string]string) (*route.APIRouter, error) {
	if len(m.Spec) == 0 {
		return nil, errors.New("its manifest carries no spec to run without one (deploy it again with this version's wsk-route compose), or deploy the agent on the invoker hosts (see docs/deploy.md)")
	}
	sp, err := spec.Parse(m.Spec)
	if err != nil {
		return nil, fmt.Errorf("the spec in its manifest: %w", err)
	}
	if sp.Workflow != m.Workflow {
		return nil, fmt.Errorf("the spec in its manifest is workflow %q's", sp.Workflow)
	}
	host, _ := lookup(p.cfg.Environ, route.EnvAPIHost)
	if host == "" {
		host = env[route.EnvAPIHost]
	}
	return route.NewAPIRouter(host, nil, nil, sp)
}

// entryOf returns the workflow of an entry action ("" for an ordinary
// action), the composition it conducts (nil: it runs its spec) and the
// router it runs on: the route plane's, or, without a host agent, its
// API router.
func (p *Proxy) entryOf() (string, *conducted, Router) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.entryAPI != nil {
		return p.entry, p.conducted, p.entryAPI
	}
	var router Router
	if p.route != nil {
		router = p.route.router
	}
	return p.entry, p.conducted, router
}

// entryRun is the part of an invoker /run body an entry reads.
type entryRun struct {
	Value         json.RawMessage `json:"value"`
	Namespace     string          `json:"namespace"`
	ActionName    string          `json:"action_name"`
	ActionVersion string          `json:"action_version"`
	ActivationID  string          `json:"activation_id"`
	Deadline      string          `json:"deadline"`
	APIKey        string          `json:"api_key"`
}

// serveEntry runs the workflow for one /run (or, with c, conducts its
// composition): the input is the activation's value, the run's deadline
// the activation's. The run's step logs and one
// timing line per step go to stdout, so that the entry's activation logs
// show the whole workflow; the answer is the run's result, or an
// application error naming the step that failed.
func (p *Proxy) serveEntry(w http.ResponseWriter, r *http.Request, workflow string, c *conducted, router Router) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxEntryInput+1))
	if err != nil || len(body) > maxEntryInput {
		sendError(w, http.StatusBadRequest, "Error reading request body")
		return
	}
	var req entryRun
	if err := json.Unmarshal(body, &req); err != nil {
		sendError(w, http.StatusBadRequest, "Error unmarshaling request: "+err.Error())
		return
	}
	if req.Namespace != "" && req.ActionName != "" {
		router.Identify(route.Identity{Namespace: req.Namespace, Action: req.ActionName, Version: req.ActionVersion, APIKey: req.APIKey})
	}
	input, watch := entryInput(req.Value)
	ctx := context.WithoutCancel(r.Context()) // the run ends by its deadline, not with the caller
	var cancel context.CancelFunc
	if ms, err := strconv.ParseInt(req.Deadline, 10, 64); err == nil && ms > 0 {
		// The run ends a little before the activation does, so that its
		// failure still reaches the invoker as this activation's answer.
		ctx, cancel = context.WithDeadline(ctx, time.UnixMilli(ms).Add(-entryMargin))
	} else {
		ctx, cancel = context.WithTimeout(ctx, route.DefaultRunTimeout)
	}
	defer cancel()

	start := time.Now()
	opts := route.RunOptions{ID: entryRunID(req.ActivationID)}
	// The run's events: every step's for wsk-route invoke --watch, when
	// the caller watches; its end always, for the agent's run metrics and
	// the run's span.
	pub, _ := router.(runEventPublisher)
	var events *route.RunEvents
	if pub != nil && watch {
		events = pub.RunEvents(opts.ID)
		opts.OnStep = events.Step
	}
	var (
		res  *route.Result
		logs []string // a composition's functions'
	)
	if c != nil {
		// A composition that failed answers its {"error": ...}, which
		// makes the activation an application error, as composer's does.
		res, logs, err = conduct(ctx, c, router, workflow, req.ActionName, req.Namespace, input, opts)
	} else {
		res, err = router.StartRun(ctx, workflow, input, opts)
	}
	took := time.Since(start)
	switch {
	case events != nil:
		events.End(err, took) // before the answer: a watcher sees the end first
	case pub != nil:
		pub.RunEnded(opts.ID, err, took)
	}
	var steps []route.StepReport
	var runErr *route.RunError
	switch {
	case err == nil:
		steps = res.Steps
	case errors.As(err, &runErr):
		steps = runErr.Steps
	}
	p.logRun(workflow, steps, logs, took, err)
	p.writeSentinels()
	if err != nil {
		b, _ := json.Marshal(entryError(workflow, err, runErr))
		send(w, http.StatusOK, append(b, '\n')) // an application error, as an action's {"error": ...}
		return
	}
	if !isObjectOrArray(res.Value) {
		sendError(w, http.StatusBadGateway, msgNotDictArray)
		return
	}
	send(w, http.StatusOK, append(bytes.TrimSpace(res.Value), '\n'))
}

// entryInput returns the run's input from an entry's /run value (an
// empty or null value is {}), and whether the caller asked for the run's
// events (runevent.WatchKey, removed from the input).
func entryInput(value json.RawMessage) (json.RawMessage, bool) {
	if v := bytes.TrimSpace(value); len(v) == 0 || string(v) == "null" {
		return json.RawMessage("{}"), false
	}
	flag, ok := jsonscan.TopLevel(value, runevent.WatchKey)
	if !ok {
		return value, false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(value, &m) != nil {
		return value, false
	}
	delete(m, runevent.WatchKey)
	out, _ := json.Marshal(m) // raw messages of a decoded object: cannot fail
	return out, string(bytes.TrimSpace(flag)) == "true"
}

// runEventPublisher is a Router that publishes a run's events to the host
// agent: all of a watched run's, the end of another (*route.Plane does).
type runEventPublisher interface {
	RunEvents(run string) *route.RunEvents
	RunEnded(run string, runErr error, took time.Duration)
}

// entryRunID is the id of the run an entry starts: its activation id, so
// that a client that invoked the entry can follow the run's events, or a
// random one when the activation id is missing or not a valid run id.
func entryRunID(activationID string) string {
	if runevent.CheckRun(activationID) == nil {
		return activationID
	}
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// entryMargin is how long before the activation's deadline an entry's
// run is given up, to answer in time.
const entryMargin = 250 * time.Millisecond

// entryError is the result of a failed run: OpenWhisk's {"error": ...},
// naming the workflow, the run and the step in its text (OpenWhisk keeps
// only the error of an application error; a caller of the proxy itself
// also gets them as fields).
func entryError(workflow string, err error, re *route.RunError) map[string]any {
	out := map[string]any{"error": fmt.Sprintf("workflow %s: %v", workflow, err)}
	if re != nil {
		out["run"] = re.RunID
		if re.Step != "" {
			out["step"] = re.Step
		}
	}
	return out
}

// logRun writes each step's logs and a timing line to stdout, in the
// order the steps reported, then what a composition's inline functions
// logged, and a summary line.
func (p *Proxy) logRun(workflow string, steps []route.StepReport, fnLogs []string, took time.Duration, err error) {
	var b strings.Builder
	for _, st := range steps {
		fmt.Fprintf(&b, "wsk-route: step %s", st.Step)
		if st.Branch != 0 {
			fmt.Fprintf(&b, " (branch %d)", st.Branch)
		}
		fmt.Fprintf(&b, " ran on %s in %v", st.Instance, st.Duration.Round(time.Microsecond))
		switch {
		case st.Fallback:
			fmt.Fprintf(&b, " (through OpenWhisk: activation %s)\n", st.Activation)
		case st.Activation != "":
			fmt.Fprintf(&b, " (activation %s)\n", st.Activation)
		default:
			b.WriteByte('\n')
		}
		for _, line := range strings.Split(string(st.Logs), "\n") {
			if line != "" {
				b.WriteString(whisk.LogText(line))
				b.WriteByte('\n')
			}
		}
	}
	for _, l := range fnLogs {
		b.WriteString(strings.TrimSuffix(l, "\n"))
		b.WriteByte('\n')
	}
	if err != nil {
		fmt.Fprintf(&b, "wsk-route: workflow %s failed after %v: %v\n", workflow, took.Round(time.Microsecond), err)
	} else {
		fmt.Fprintf(&b, "wsk-route: workflow %s: %d step(s) in %v\n", workflow, len(steps), took.Round(time.Microsecond))
	}
	p.cfg.Stdout.WriteString(b.String())
}
