package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/wsk-route/wsk-route/action-proxy/route"
	"github.com/wsk-route/wsk-route/internal/conductor"
	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/jsonscan"
	"github.com/wsk-route/wsk-route/internal/runevent"
)

// An entry whose manifest holds a Composition conducts it: composer's
// conductor runs inside the entry (package internal/conductor, composer
// v0.12's semantics, inline functions in JavaScript), and every action
// it invokes is a run of the entry's workflow that starts at the action's
// step (RunOptions.Start): a direct hop to a warm container of the action
// and its result straight back, or the route plane's fallback through
// OpenWhisk when none is warm. An action a dynamic combinator names at run
// time, which has no step, is invoked through the OpenWhisk API.

// conducted is an entry's compiled composition.
type conducted struct {
	machine *conductor.Machine
	// steps maps each action the composition names (fully qualified as
	// composer writes it, "/_/a" for the deployed namespace) to its step.
	steps map[string]string
}

// newConducted compiles an entry manifest's composition.
func newConducted(m EntryManifest) (*conducted, error) {
	c, err := conductor.Decode(m.Composition, conductor.Limits{})
	if err != nil {
		return nil, fmt.Errorf("the composition of workflow %q: %w", m.Workflow, err)
	}
	for _, name := range c.ActionNames() {
		if m.Steps[name] == "" {
			return nil, fmt.Errorf("the composition of workflow %q invokes %s, which its manifest maps to no step (deploy it again with wsk-route compose)", m.Workflow, name)
		}
	}
	mach, err := conductor.New(c, conductor.Config{Concurrent: true, NewActivationID: newActivationID})
	if err != nil {
		return nil, fmt.Errorf("the composition of workflow %q: %w", m.Workflow, err)
	}
	return &conducted{machine: mach, steps: m.Steps}, nil
}

// newActivationID names an async body's run as OpenWhisk names
// activations: 32 hex digits.
func newActivationID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// actionInvoker is a Router that can invoke actions through the OpenWhisk
// API (*route.Plane can): blocking, for their result, or not, for their
// activation id.
type actionInvoker interface {
	InvokeAction(ctx context.Context, fqn string, params []byte) ([]byte, error)
	StartAction(ctx context.Context, fqn string, params []byte) (string, error)
}

// conduction is one run of a composition: the entry's run id and options,
// and the reports of every action's run, for the entry's logs.
type conduction struct {
	c         *conducted
	router    Router
	workflow  string
	namespace string // the entry's, for "/_/" names
	self      string // the entry action's name, which an async body is an activation of
	session   string // composer's session: the first entry activation's run id
	opts      route.RunOptions
	runs      atomic.Int64

	mu    sync.Mutex
	steps []route.StepReport
}

// conduct runs the composition on input and answers as StartRun does, plus
// what its inline functions logged. A composition that failed (composer's
// application error) is a result: its value is composer's {"error": ...}.
// An error is a run that could not go on: an action that could not be run
// (by the run's deadline), a function that ran out of its bounds.
//
// An input whose "$composer" field holds composer's state (what startAsync
// sends) is an async body: the entry runs it from that state, as
// composer's conductor resumes from $composer.
func conduct(ctx context.Context, c *conducted, router Router, workflow, self, namespace string, input []byte, opts route.RunOptions) (res *route.Result, logs []string, err error) {
	cn := &conduction{c: c, router: router, workflow: workflow, namespace: namespace, self: self, session: opts.ID, opts: opts}
	body, session := asyncBody(input)
	if session != "" {
		cn.session = session
	}
	m := c.machine.With(func(cfg *conductor.Config) {
		cfg.Invoker, cfg.Session = cn, cn.session
		if _, ok := router.(actionInvoker); ok && self != "" {
			cfg.StartAsync = cn.startAsync
		}
	})
	var out *conductor.Result
	if body != nil {
		out, err = m.RunBranch(ctx, *body)
	} else {
		out, err = m.Run(ctx, input)
	}
	cn.mu.Lock()
	steps := cn.steps
	cn.mu.Unlock()
	if out != nil {
		logs = out.Logs
	}
	if err != nil {
		// The composition's run failed, at the step of the action whose
		// run failed if that is why.
		out := &route.RunError{RunID: opts.ID, Reason: err.Error(), Steps: steps}
		var re *route.RunError
		if errors.As(err, &re) {
			out.Step, out.Code = re.Step, re.Code
		}
		return nil, logs, out
	}
	return &route.Result{RunID: opts.ID, Value: out.Value, Steps: steps}, logs, nil
}

// Invoke runs one action of the composition: a run of the workflow from
// the action's step, or, for a name with no step (a dynamic combinator's),
// an invoke through the OpenWhisk API.
func (cn *conduction) Invoke(ctx context.Context, name string, params []byte) ([]byte, error) {
	fq, err := conductor.FQN(name)
	if err != nil {
		return nil, err
	}
	step, ok := cn.c.steps[fq]
	if !ok {
		inv, ok := cn.router.(actionInvoker)
		if !ok {
			return nil, fmt.Errorf("action %s is not one of the composition's and this proxy cannot invoke actions", fq)
		}
		if rest, ok := strings.CutPrefix(fq, "/_/"); ok && cn.namespace != "" {
			fq = "/" + cn.namespace + "/" + rest
		}
		return inv.InvokeAction(ctx, fq, params)
	}
	opts := cn.opts
	opts.Start = step
	opts.ID = subRunID(cn.opts.ID, cn.runs.Add(1))
	res, err := cn.router.StartRun(ctx, cn.workflow, params, opts)
	var re *route.RunError
	switch {
	case err == nil:
		cn.addSteps(res.Steps)
		return res.Value, nil
	case errors.As(err, &re):
		cn.addSteps(re.Steps)
	}
	return nil, fmt.Errorf("action %s: %w", fq, err)
}

// asyncBody returns the branch an async body's input asks to run (nil for
// any other input, a "$composer" without a state included: composer users
// put configuration there) and its session.
func asyncBody(input []byte) (*conductor.Branch, string) {
	raw, ok := jsonscan.TopLevel(input, "$composer")
	if !ok {
		return nil, ""
	}
	var st conductor.State
	if json.Unmarshal(raw, &st) != nil {
		return nil, ""
	}
	var s struct {
		Session string `json:"session"`
	}
	json.Unmarshal(raw, &s)
	if runevent.CheckRun(s.Session) != nil {
		s.Session = ""
	}
	return &conductor.Branch{State: st, Params: input}, s.Session
}

// startAsync starts an async body as an activation of the entry action
// itself, non-blocking, with composer's state in "$composer", and returns
// its activation id: the body runs there (asyncBody), as composer's
// conductor runs it in an activation of its own.
func (cn *conduction) startAsync(ctx context.Context, body conductor.Branch) (string, error) {
	state, err := json.Marshal(body.State)
	if err != nil {
		return "", err
	}
	sess, _ := json.Marshal(cn.session)
	composer := append(append(append(state[:len(state)-1:len(state)-1], `,"session":`...), sess...), '}')
	params := bytes.TrimSpace(body.Params)
	if len(params) < 2 || params[0] != '{' {
		return "", fmt.Errorf("async body: parameters %.40q are not an object", params)
	}
	in := append([]byte(`{"$composer":`), composer...)
	if rest := bytes.TrimSpace(params[1:]); len(rest) > 0 && rest[0] != '}' {
		in = append(in, ',')
	}
	in = append(in, params[1:]...)
	return cn.router.(actionInvoker).StartAction(ctx, cn.self, in)
}

func (cn *conduction) addSteps(s []route.StepReport) {
	cn.mu.Lock()
	cn.steps = append(cn.steps, s...)
	cn.mu.Unlock()
}

// subRunID is the id of the n-th action run of the composition's run: the
// run's id and n, cut to a run id's length.
func subRunID(run string, n int64) string {
	suffix := "-" + strconv.FormatInt(n, 10)
	if max := frame.MaxRunID - len(suffix); len(run) > max {
		run = run[:max]
	}
	return run + suffix
}
