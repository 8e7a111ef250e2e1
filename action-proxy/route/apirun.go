package route

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/route/flow"
	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/spec"
)

// APIRouter runs workflows on an entry whose container has no host agent
// (wsk-route was removed with the playbook's mode=clean, or never deployed
// on that invoker): the entry invokes every step's action through the
// OpenWhisk API, blocking, and chains them itself, as a conductor action
// does. The decisions are the route plane's (package flow, the same spec):
// only the shell differs. Every step is then an ordinary activation,
// caused by nobody, with its logs in its own record; a step costs an
// OpenWhisk round trip instead of a hop.
//
// The entry holds every join, and an action's input must be a JSON object
// (OpenWhisk's parameters): a step whose input is a join's array or a
// map's element that is not an object fails, saying so. Its methods are
// safe for concurrent use.
type APIRouter struct {
	api    apiClient
	specs  map[string]*spec.Spec
	logger *slog.Logger

	mu  sync.Mutex
	key string // the entry action's API key, from its last /run
}

// APIInstance is the instance the steps of an APIRouter's runs report as
// having run on: OpenWhisk, through its API.
const APIInstance = "openwhisk-api"

// NewAPIRouter returns a router that runs the workflows of specs through
// the OpenWhisk API at apiHost ("https://host:port", what the invoker puts
// in __OW_API_HOST). The specs must be valid (spec.Parse). httpClient nil
// means a client without a timeout of its own: each call ends with its
// run's deadline. logger nil discards.
func NewAPIRouter(apiHost string, httpClient *http.Client, logger *slog.Logger, specs ...*spec.Spec) (*APIRouter, error) {
	if apiHost == "" {
		return nil, errors.New("route: no OpenWhisk API host (__OW_API_HOST) to invoke the steps through")
	}
	if httpClient == nil {
		httpClient = &http.Client{}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &APIRouter{api: apiClient{host: strings.TrimRight(apiHost, "/"), http: httpClient}, specs: map[string]*spec.Spec{}, logger: logger}
	for _, sp := range specs {
		r.specs[sp.Workflow] = sp
	}
	return r, nil
}

// Claim records id's API key: there is no agent to claim anything from.
func (r *APIRouter) Claim(_ context.Context, id Identity) error {
	r.Identify(id)
	return nil
}

// Identify records id's API key, with which the steps are invoked.
func (r *APIRouter) Identify(id Identity) {
	if id.APIKey == "" {
		return
	}
	r.mu.Lock()
	r.key = id.APIKey
	r.mu.Unlock()
}

// Unregister does nothing: nothing was registered.
func (r *APIRouter) Unregister(string) {}

// Slots returns 1: without an agent, no direct step comes to this proxy.
func (r *APIRouter) Slots() int { return 1 }

// RunFallback refuses a fallback envelope: running a step from one needs
// the namespace's key, which only a host agent gives.
func (r *APIRouter) RunFallback(context.Context, []byte, string, func(context.Context, io.Reader) ([]byte, error)) ([]byte, error) {
	return nil, errors.New("route: a wsk-route fallback step reached a container without a wsk-route host agent")
}

// InvokeAction runs the action fqn on params through the API, blocking
// (see Plane.InvokeAction).
func (r *APIRouter) InvokeAction(ctx context.Context, fqn string, params []byte) ([]byte, error) {
	inv, err := r.api.call(ctx, r.apiKey(), fqn, params)
	return inv.result, err
}

// StartAction invokes the action fqn on params through the API without
// waiting (see Plane.StartAction).
func (r *APIRouter) StartAction(ctx context.Context, fqn string, params []byte) (string, error) {
	return r.api.start(ctx, r.apiKey(), fqn, params)
}

func (r *APIRouter) apiKey() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.key
}

// StartRun runs workflow on input, as Plane.StartRun does, until ctx's
// deadline (DefaultRunTimeout without one): each step is a blocking invoke
// of its action, retried as the spec says; routers, constants, joins, maps
// and loops are decided here.
func (r *APIRouter) StartRun(ctx context.Context, workflow string, input []byte, opts RunOptions) (*Result, error) {
	ctx, cancel := withRunDeadline(ctx)
	defer cancel()
	sp := r.specs[workflow]
	if sp == nil {
		return nil, fmt.Errorf("route: unknown workflow %q", workflow)
	}
	runID, err := runIDOf(opts)
	if err != nil {
		return nil, err
	}
	deadline, _ := ctx.Deadline()
	c := flow.Context{Run: runID, ReplyTo: ReplyToInstance + APIInstance, Deadline: deadline.UnixNano()}
	ar := &apiRun{r: r, sp: sp, key: r.apiKey(), onStep: opts.OnStep, events: make(chan apiEvent)}
	ar.run = flow.NewRun(ar.sender(c), flow.RunConfig{ReportGrace: reportGrace, Start: opts.Start})
	ar.drive(ctx, input)
	return outcome(runID, ar.out, ar.run.Reports())
}

// apiRun is one run of an APIRouter. Its run, reports and outcome belong
// to the goroutine of drive; the steps' invocations run in goroutines of
// their own and hand their outcome back as events.
type apiRun struct {
	r      *APIRouter
	sp     *spec.Spec
	key    string
	onStep func(StepReport)
	run    *flow.Run
	events chan apiEvent
	done   chan struct{} // closed when drive returns: nobody takes events
	out    flow.End
	ended  bool
}

// apiEvent is what a step's invocation or a timer gives the run: fn is
// called on drive's goroutine; from is the step whose outcome it is.
type apiEvent struct {
	fn   func() []flow.Action
	from *apiStep
}

// apiStep is one step execution: it reports once (flow.ReportStep).
type apiStep struct {
	c          flow.Context
	step       string
	branch     uint32
	activation string // the last attempt's
	took       time.Duration
	reported   bool
}

// sender decides for the run's values; the entry holds every join.
func (ar *apiRun) sender(c flow.Context) flow.Sender {
	return flow.Sender{Spec: ar.sp, Ctx: c, Self: APIInstance, EntryJoins: true}
}

// drive starts the run and gives it its events until it has ended; when
// ctx ends first, the run expires. It returns once every invocation it
// started has returned.
func (ar *apiRun) drive(ctx context.Context, input []byte) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	ar.done = make(chan struct{})
	defer func() {
		cancel() // the invocations of steps still running, and the timers
		close(ar.done)
		wg.Wait()
	}()
	ar.carry(ctx, &wg, ar.run.Start(input), nil)
	for !ar.ended {
		select {
		case ev := <-ar.events:
			ar.carry(ctx, &wg, ev.fn(), ev.from)
		case <-ctx.Done():
			ar.carry(ctx, &wg, ar.run.Expire(ctx.Err().Error()), nil)
		}
	}
}

// carry carries out acts, in order, on drive's goroutine: a step's
// invocation starts in a goroutine, whatever goes to the entry is given to
// the run at once; from is the step the actions come from.
func (ar *apiRun) carry(ctx context.Context, wg *sync.WaitGroup, acts []flow.Action, from *apiStep) {
	for _, a := range acts {
		if ar.ended {
			return
		}
		switch a := a.(type) {
		case flow.Forward:
			wg.Add(1)
			go func() {
				defer wg.Done()
				ar.invoke(ctx, a)
			}()
		case flow.Reply:
			ar.toRun(ctx, wg, a)
		case flow.Slot:
			// Every join is the entry's (EntryJoins), so no slot should
			// go to a holder; if one does, the entry takes it.
			ar.toRun(ctx, wg, flow.SlotRefused(a))
		case flow.AskHandover:
			ar.carry(ctx, wg, ar.run.HandoverAnswered(a, false, errors.New("joins are held by the entry")), nil)
		case flow.ReportStep:
			if from != nil && !from.reported {
				from.reported = true
				ar.report(ctx, wg, from)
			}
		case flow.Reported:
			if ar.onStep != nil {
				ar.onStep(a.Report)
			}
		case flow.SetTimer:
			t := time.AfterFunc(a.After, func() {
				ar.send(apiEvent{fn: func() []flow.Action { return ar.run.Timer(a.Timer) }})
			})
			context.AfterFunc(ctx, func() { t.Stop() })
		case flow.End:
			ar.out, ar.ended = a, true
		case flow.Recheck, flow.WatchFallback:
			// No instance can vanish and nothing went to a fallback: the
			// steps are invocations this run waits for itself.
		}
	}
}

// send hands ev to drive, unless the run is over.
func (ar *apiRun) send(ev apiEvent) {
	select {
	case ar.events <- ev:
	case <-ar.done:
	}
}

// toRun gives a reply to the run, as the entry's frame socket would.
func (ar *apiRun) toRun(ctx context.Context, wg *sync.WaitGroup, a flow.Reply) {
	f := a.Frame
	f.RunID, f.ReplyTo, f.Deadline = a.Ctx.Run, a.Ctx.ReplyTo, a.Ctx.Deadline
	f.Workflow, f.Namespace = ar.sp.Workflow, ar.sp.Namespace
	code, reason, acts := ar.run.Frame(&f, f.Payload, func(string) bool { return true })
	if code != frame.CodeOK && code != frame.CodeDuplicate {
		ar.r.logger.Warn("route: the run refused one of its own values", "run", f.RunID, "step", f.Step, "code", code.String(), "reason", reason)
	}
	ar.carry(ctx, wg, acts, nil)
}

// report tells the run that step s ran, through OpenWhisk as its
// activation: first where it went, then that it is done.
func (ar *apiRun) report(ctx context.Context, wg *sync.WaitGroup, s *apiStep) {
	base := frame.Frame{Kind: frame.KindLog, Step: s.step, Branch: s.branch, Outer: s.c.Outer}
	if s.activation != "" {
		f := base
		f.Report = frame.Report{Kind: frame.ReportFallback, Instance: APIInstance, Activation: s.activation}
		ar.toRun(ctx, wg, flow.Reply{Ctx: s.c, Frame: f})
	}
	f := base
	f.Report = frame.Report{Kind: frame.ReportDone, Instance: APIInstance, Duration: s.took}
	ar.toRun(ctx, wg, flow.Reply{Ctx: s.c, Frame: f})
}

// invoke runs the step of a Forward through the API, with its retries,
// and hands the outcome to the run.
func (ar *apiRun) invoke(ctx context.Context, a flow.Forward) {
	s := &apiStep{c: a.Ctx, step: a.Hop.Step, branch: a.Hop.Branch}
	runCtx := ctx
	if a.Ctx.Deadline != 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithDeadline(ctx, time.Unix(0, a.Ctx.Deadline).Add(-stepMargin))
		defer cancel()
	}
	start := time.Now()
	var result []byte
	var err error
	if !isObject(a.Payload) {
		err = fmt.Errorf("its input is not a JSON object, and OpenWhisk gives an action only an object of parameters (without a wsk-route host agent every step is invoked through the OpenWhisk API): %.80s", a.Payload)
	} else {
		result, _, err = attempts(ar.sp.Steps[a.Hop.Step].Retry,
			func() ([]byte, func() []byte, error) {
				inv, err := ar.r.api.call(runCtx, ar.key, a.Action, a.Payload)
				if inv.activation != "" {
					s.activation = inv.activation
				}
				return inv.result, nil, err
			},
			func(wait time.Duration) bool { return sleep(runCtx, wait) })
	}
	s.took = time.Since(start)
	ar.send(apiEvent{from: s, fn: func() []flow.Action {
		return ar.sender(a.Ctx).Finished(a.Hop.Step, a.Hop.Branch, result, err, a.Action)
	}})
}

// isObject reports whether v is a JSON object (its first byte says).
func isObject(v []byte) bool {
	for _, c := range v {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c == '{'
	}
	return false
}
