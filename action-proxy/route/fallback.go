package route

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/route/flow"
	"github.com/wsk-route/wsk-route/internal/blob"
	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/jsonscan"
	"github.com/wsk-route/wsk-route/internal/shm"
	"github.com/wsk-route/wsk-route/internal/spec"
)

// The fallback: when no warm instance takes a hop (none is known, or all
// refused or failed), the sender invokes the step's action through the
// OpenWhisk REST API, non-blocking, with an envelope as its parameters:
//
//	{"$wsk-route": {"frame": "<base64 of the signed step frame>"}}
//
// The invoker runs the action in a container of its choice (cold or
// warm); that container's proxy recognises the envelope in the /run value
// (IsEnvelope), checks the frame as it checks a direct one, runs the step
// on the frame's payload, and sends its result on (direct, or by fallback
// again). The run goes on; the step is an ordinary activation in
// OpenWhisk's books, with its logs in its own activation record.

// EnvelopeKey is the top-level key of a fallback envelope.
const EnvelopeKey = "$wsk-route"

// MaxFallbackPayload bounds the payload a fallback carries in its
// envelope: OpenWhisk refuses parameters over 1 MB, and base64 adds a
// third. A larger payload goes into a shm segment of the namespace's shm
// directory on the sender's host, and the envelope carries a blob ref
// "<host>/<segment>" (internal/blob): the receiver maps the segment when
// the invoker put it on the same host (as on a single-invoker cluster, or
// `wsk-route dev`), and otherwise has its agent pull it from the sender's
// host agent (blob.go).
const MaxFallbackPayload = 700 << 10

// envelope is the JSON of a fallback's parameters.
type envelope struct {
	Route struct {
		Frame string `json:"frame"`
	} `json:"$wsk-route"`
}

// IsEnvelope reports whether a /run value is a fallback envelope.
func IsEnvelope(value []byte) bool {
	_, ok := jsonscan.TopLevel(value, EnvelopeKey)
	return ok
}

// encodeEnvelope signs f with key and returns the envelope carrying it.
func encodeEnvelope(f *frame.Frame, key []byte) ([]byte, error) {
	f.Sign(key)
	b, err := frame.Encode(nil, f)
	if err != nil {
		return nil, err
	}
	var env envelope
	env.Route.Frame = base64.StdEncoding.EncodeToString(b)
	return json.Marshal(env)
}

// decodeEnvelope returns the frame an envelope carries; its tag is not
// checked yet.
func decodeEnvelope(value []byte) (*frame.Frame, error) {
	var env envelope
	if err := json.Unmarshal(value, &env); err != nil {
		return nil, fmt.Errorf("route: fallback envelope: %w", err)
	}
	b, err := base64.StdEncoding.DecodeString(env.Route.Frame)
	if err != nil {
		return nil, fmt.Errorf("route: fallback envelope: frame: %w", err)
	}
	f := new(frame.Frame)
	n, err := frame.Decode(b, f, MaxFallbackPayload)
	switch {
	case err != nil:
		return nil, fmt.Errorf("route: fallback envelope: frame: %w", err)
	case n != len(b):
		return nil, fmt.Errorf("route: fallback envelope: %d bytes after the frame", len(b)-n)
	case f.Kind != frame.KindStep:
		return nil, fmt.Errorf("route: fallback envelope: a %s frame with a %s payload, want a step, inline, in shm or a blob", f.Kind, f.PayloadKind)
	case f.PayloadKind == frame.PayloadBlob:
		if _, _, err := blob.ParseRef(f.Ref); err != nil {
			return nil, fmt.Errorf("route: fallback envelope: %w", err)
		}
	}
	return f, nil
}

// welcomeGrace is how long a fallback step waits for its proxy's first
// welcome from the agent.
const welcomeGrace = 5 * time.Second

// errNoFallback: the plane has no API host to fall back to.
var errNoFallback = errors.New("no fallback: the proxy was given no OpenWhisk API host (__OW_API_HOST)")

// fallback invokes the action of a Forward through the OpenWhisk API with
// the step frame in an envelope. It returns the activation's id once the
// API accepted it (202); the step then runs wherever the invoker puts it.
// why holds the reasons the warm instances tried did not take the step
// (none: no instance was known), for the log.
func (d doer) fallback(ctx context.Context, a flow.Forward, why []string) (string, error) {
	p := d.p
	if p.cfg.APIHost == "" {
		return "", errNoFallback
	}
	id, _, _ := p.snapshot()
	if id.APIKey == "" {
		return "", errors.New("no fallback: the proxy has no API key (the invoker gives __OW_API_KEY unless the action says provide-api-key: false)")
	}
	payload := a.Payload
	f := d.frameFor(a.Ctx, frame.Frame{Kind: frame.KindStep, Step: a.Hop.Step, Branch: a.Hop.Branch,
		Holder: a.Ctx.Holder, Outer: a.Ctx.Outer, Payload: payload})
	if len(payload) > MaxFallbackPayload {
		w := d.w
		if w.shmDir == "" {
			return "", fmt.Errorf("the payload (%d bytes) is larger than a fallback envelope carries (%d bytes) and the agent gave no shm directory", len(payload), MaxFallbackPayload)
		}
		// The receiver removes the segment once it ran the step; the
		// agent's sweeper, when no receiver comes, after the deadline.
		// The ref names this host, so that a receiver on another host has
		// its agent pull the segment from this host's agent (blob.go).
		name, err := shm.Write(w.shmDir, payload, time.Unix(0, a.Ctx.Deadline))
		if err != nil {
			return "", fmt.Errorf("the payload (%d bytes) for the fallback: %w", len(payload), err)
		}
		ref, err := blob.FormatRef(w.host, name)
		if err != nil {
			shm.Remove(w.shmDir, name)
			return "", fmt.Errorf("the payload (%d bytes) for the fallback: %w", len(payload), err)
		}
		f.PayloadKind, f.Ref, f.Payload = frame.PayloadBlob, ref, nil
	}
	body, err := encodeEnvelope(f, d.w.key)
	if err != nil {
		return "", fmt.Errorf("fallback envelope: %w", err)
	}
	start := p.cfg.Now()
	status, _, answer, err := p.api().do(ctx, id.APIKey, http.MethodPost, a.Action, body, "blocking=false")
	if err != nil {
		return "", fmt.Errorf("fallback: %w", err)
	}
	if status != http.StatusAccepted {
		return "", fmt.Errorf("fallback invoke of %s: %d %s: %s", a.Action, status, http.StatusText(status), answer)
	}
	p.stats.counter(a.Action, "fallback").observe(p.cfg.Now().Sub(start), len(payload))
	reason := "no warm instance known"
	if len(why) > 0 {
		reason = strings.Join(why, "; ")
	}
	p.cfg.Logger.Info("route: fell back to the OpenWhisk API", "run", a.Ctx.Run, "step", a.Hop.Step, "action", a.Action, "why", reason, "answer", string(answer))
	// The entry watches the activation: if it ends before its proxy took
	// the step (a container that cannot start, an /init that fails, a
	// proxy that cannot read the envelope), the run fails then, with that
	// activation's error, not at its deadline (fallbackwatch.go).
	var accepted struct {
		ActivationID string `json:"activationId"`
	}
	json.Unmarshal(answer, &accepted)
	return accepted.ActivationID, nil
}

// actionURL is the REST URL of an invoke of the fully qualified action
// fqn ("/ns/name" or "/ns/pkg/name"), with query.
func actionURL(apiHost, fqn, query string) (string, error) {
	parts := strings.Split(strings.TrimPrefix(fqn, "/"), "/")
	if len(parts) < 2 || len(parts) > 3 {
		return "", fmt.Errorf("fallback: %q is not a fully qualified action name", fqn)
	}
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return apiBase(apiHost) + "/api/v1/namespaces/" + parts[0] + "/actions/" + strings.Join(parts[1:], "/") + "?" + query, nil
}

// apiBase returns the base URL of the OpenWhisk API at apiHost, which
// may come without a scheme (then https), as __OW_API_HOST may.
func apiBase(apiHost string) string {
	if !strings.Contains(apiHost, "://") {
		return "https://" + apiHost
	}
	return apiHost
}

// FallbackAnswer is what the proxy answers the invoker for a step it ran
// from a fallback envelope: the step's own result went on along the run.
type FallbackAnswer struct {
	Route struct {
		Run      string `json:"run"`
		Workflow string `json:"workflow"`
		Step     string `json:"step"`
		Branch   uint32 `json:"branch"`
		// Forwarded: the result was sent on (to the next steps or the entry).
		Forwarded bool `json:"forwarded"`
	} `json:"wsk-route"`
}

// RunFallback runs the step a fallback envelope (the /run value) carries,
// during the invoker's /run that brought it: call runs one activation of
// the action with the given /run body on the process the server holds
// for this /run. The frame is checked as a direct one is (namespace, tag,
// deadline, spec, step, duplicate); then the step runs, its result is sent
// on, and the answer for the invoker says so. activationID is the
// invoker's activation, named in the log report to the entry.
func (p *Plane) RunFallback(ctx context.Context, value []byte, activationID string, call func(ctx context.Context, body io.Reader) ([]byte, error)) ([]byte, error) {
	f, err := decodeEnvelope(value)
	if err != nil {
		return nil, err
	}
	id, w, err := p.registered(ctx)
	if err != nil {
		return nil, err
	}
	if code, reason := flow.Admit(f, id.Namespace, w.key, 0); code != frame.CodeOK {
		return nil, fmt.Errorf("route: fallback: %s", reason) // the deadline is checked below, with the run told
	}
	sp := p.specFor(ctx, f.Workflow, f.SpecVersion)
	if sp == nil {
		return nil, fmt.Errorf("route: fallback: unknown workflow %q", f.Workflow)
	}
	fs := &fallbackStep{p: p, f: f, id: id, d: doer{p: p, sp: sp, w: w}}
	if code, reason := flow.CheckStep(sp, f, w.instanceID, id.Action); code != frame.CodeOK {
		return fs.fail(ctx, fmt.Errorf("route: fallback: %s", reason))
	}
	if f.Deadline != 0 && p.cfg.Now().UnixNano() > f.Deadline {
		return fs.fail(ctx, fmt.Errorf("route: fallback: step %s arrived %v after the run's deadline", f.Step, time.Duration(p.cfg.Now().UnixNano()-f.Deadline)))
	}
	return fs.run(ctx, activationID, call)
}

// registered returns what the proxy runs and the agent's welcome, waiting
// up to welcomeGrace for it: a cold container's proxy may still be
// connecting to its agent, or registering again after a refused attempt.
// Without the agent a fallback step cannot run nor tell its run why, which
// would then wait for its deadline: waiting a few seconds is the better
// deal.
func (p *Plane) registered(ctx context.Context) (Identity, *welcomeState, error) {
	if id, w, _ := p.snapshot(); w != nil {
		return id, w, nil
	}
	wctx, cancel := context.WithTimeout(ctx, welcomeGrace)
	_, ok := p.awaitWelcome(wctx)
	cancel()
	if !ok {
		return Identity{}, nil, fmt.Errorf("route: fallback: not registered with the agent after %v", welcomeGrace)
	}
	id, w, _ := p.snapshot()
	return id, w, nil
}

// fallbackStep is a step frame taken from a fallback envelope and checked.
// A step run through the fallback holds no joins: its container is idle
// for the invoker once this /run ends, and may be paused.
type fallbackStep struct {
	p  *Plane
	f  *frame.Frame
	id Identity
	d  doer
}

// fail tells the run's entry that the step cannot run here, and returns
// err for the invoker.
func (fs *fallbackStep) fail(ctx context.Context, err error) ([]byte, error) {
	f := fs.f
	fs.d.do(ctx, []flow.Action{flow.Reply{Ctx: flow.ContextOf(f), Frame: frame.Frame{Kind: frame.KindError, Step: f.Step, Branch: f.Branch,
		Code: frame.CodeUnavailable, Reason: frame.CutReason(err.Error())}}})
	return nil, err
}

// run runs the step on the /run's process (call), unless it ran already,
// and carries out what the core says follows.
func (fs *fallbackStep) run(ctx context.Context, activationID string, call func(ctx context.Context, body io.Reader) ([]byte, error)) ([]byte, error) {
	p, f, id, d := fs.p, fs.f, fs.id, fs.d
	c := flow.ContextOf(f)
	s := flow.Sender{Spec: d.sp, Ctx: c, Self: d.w.instanceID}
	var ans FallbackAnswer
	ans.Route.Run, ans.Route.Workflow, ans.Route.Step, ans.Route.Branch = f.RunID, f.Workflow, f.Step, f.Branch
	if !p.markSeen(f) {
		return json.Marshal(ans) // a retried delivery: the step ran already
	}
	// The step runs here: the entry is told, as a sender tells it.
	p.goDo(ctx, d, flow.Placed(flow.Forward{Ctx: c, Hop: spec.Hop{Step: f.Step, Branch: f.Branch}}, d.w.instanceID))
	if f.PayloadKind == frame.PayloadShm || f.PayloadKind == frame.PayloadBlob {
		seg, release, err := p.fallbackPayload(ctx, f, d.w)
		if err != nil {
			return fs.fail(ctx, fmt.Errorf("route: fallback: step %s: %v", f.Step, err))
		}
		defer release()
		f.Payload = seg.Bytes()
	}
	runCtx := ctx
	if f.Deadline != 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithDeadline(ctx, time.Unix(0, f.Deadline).Add(-stepMargin))
		defer cancel()
	}
	start := p.cfg.Now()
	// The retries run on this /run's process, which stays reserved.
	result, _, err := attempts(d.sp.Steps[f.Step].Retry,
		func() ([]byte, func() []byte, error) {
			result, err := call(runCtx, activationBody(f.Payload, f, id, stepActivationID(f)))
			return result, nil, err
		},
		func(wait time.Duration) bool { return sleep(runCtx, wait) })
	elapsed := p.cfg.Now().Sub(start)
	note := []byte(fmt.Sprintf("(ran through the OpenWhisk API as activation %s; its logs are in that activation)\n", activationID))
	d.rep = &stepReport{send: func() { d.sendReport(ctx, c, f.Step, f.Branch, note, elapsed) }}
	d.do(ctx, s.Finished(f.Step, f.Branch, result, err, id.Action))
	ans.Route.Forwarded = !flow.Failed(result, err)
	switch {
	case err != nil:
		return nil, fmt.Errorf("route: fallback: step %s: %w", f.Step, err)
	case flow.Failed(result, nil):
		return result, nil // the activation shows the action's own error
	}
	return json.Marshal(ans)
}
