package conductor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/wsk-route/wsk-route/internal/jsfn"
)

// Invoker runs one action of a composition.
type Invoker interface {
	// Invoke runs the action with the fully qualified name (as a
	// composition names it; a dynamic step's name is passed as given) on
	// params (a JSON object) and returns its result, a JSON object, as
	// OpenWhisk hands it to a conductor: a failed action's result is its
	// {"error": ...} object. An error means the action could not be run at
	// all and ends the run. Invoke must not retain or modify params.
	Invoke(ctx context.Context, name string, params []byte) ([]byte, error)
}

// InvokerFunc adapts a function to Invoker.
type InvokerFunc func(ctx context.Context, name string, params []byte) ([]byte, error)

// Invoke calls f.
func (f InvokerFunc) Invoke(ctx context.Context, name string, params []byte) ([]byte, error) {
	return f(ctx, name, params)
}

var _ Invoker = InvokerFunc(nil)

// Config configures a Machine. The zero value is usable with the step
// API; Run needs an Invoker.
type Config struct {
	// Invoker runs the actions (Run only).
	Invoker Invoker
	// Functions bounds each inline function call.
	Functions jsfn.Limits
	// Session is the session id composer reports for async (the first
	// conductor activation's id). Empty means "session".
	Session string
	// NewActivationID names the activation of an async body. Nil means
	// "async-1", "async-2", ... per run.
	NewActivationID func() string
	// MaxActions bounds the actions a run invokes (OpenWhisk bounds the
	// components of a conductor action); zero means no bound.
	MaxActions int
	// StartAsync, when set, starts an async body as a run of its own (as
	// composer starts it as a conductor activation of its own, which
	// RunBranch runs) and returns its activation id; the composition goes
	// on at once. Nil runs the body to its end first, in this run (its
	// result is kept in Result.Async).
	StartAsync func(ctx context.Context, body Branch) (activationID string, err error)
	// Concurrent runs the branches of a parallel or map at the same time,
	// each in its own goroutine, as composer runs them as concurrent
	// activations (Run joins them in branch order either way). It needs
	// NewActivationID, so that async bodies in branches get ids that do
	// not depend on the order branches reach them.
	Concurrent bool
}

// Machine is a compiled composition. It is safe for concurrent use; each
// Run (and each Start, Resume, Enter, Join) is independent.
type Machine struct {
	fsm []*state
	cfg Config
}

// New compiles c into a machine: the states and every inline function.
func New(c *Composition, cfg Config) (*Machine, error) {
	if c == nil || c.Root == nil {
		return nil, fmt.Errorf("%w: no composition", ErrInvalid)
	}
	fsm, err := compileFSM(c.Root)
	if err != nil {
		return nil, err
	}
	funcs := map[string]*jsfn.Func{}
	for _, s := range fsm {
		if s.typ != stFunction {
			continue
		}
		s.native = natives[s.code]
		if f := funcs[s.code]; f != nil {
			s.fn = f
			continue
		}
		f, err := jsfn.Compile(s.code, cfg.Functions)
		if err != nil {
			return nil, fmt.Errorf("conductor: function at root%s: %w", s.parent, err)
		}
		funcs[s.code], s.fn = f, f
	}
	if cfg.Session == "" {
		cfg.Session = "session"
	}
	if cfg.Concurrent && cfg.NewActivationID == nil {
		return nil, errors.New("conductor: Config.Concurrent needs Config.NewActivationID")
	}
	return &Machine{fsm: fsm, cfg: cfg}, nil
}

// With returns a machine that shares m's compiled states and functions,
// with its configuration changed by edit: for settings of one run, such as
// an Invoker that carries the run's context, or its Session.
func (m *Machine) With(edit func(*Config)) *Machine {
	cp := *m
	edit(&cp.cfg)
	return &cp
}

// Result is the outcome of a run, as OpenWhisk reports the conductor
// action's activation.
type Result struct {
	// Value is the composition's result object, as JSON.stringify writes it.
	Value []byte
	// Failed is true when the composition failed (an application error):
	// Value is then {"error": ...}.
	Failed bool
	// Async holds the results of async bodies, in the order they started.
	Async []AsyncResult
	// Logs holds what inline functions logged.
	Logs []string
	// Actions counts the actions invoked.
	Actions int

	ids int // async activation ids handed out in this run, branches included
}

// AsyncResult is the outcome of one async body, which composer runs as a
// separate conductor activation.
type AsyncResult struct {
	ActivationID string
	Value        []byte
	Failed       bool
}

// Run runs the composition once on params, composer's input parameter
// object (a "$composer" field is removed), invoking actions through the
// Invoker and running branches one after the other. Between steps the
// state goes through its JSON form, as composer's goes through OpenWhisk.
// The run stops when ctx ends.
func (m *Machine) Run(ctx context.Context, params []byte) (*Result, error) {
	if m.cfg.Invoker == nil {
		return nil, errors.New("conductor: Run needs Config.Invoker")
	}
	res := &Result{}
	st, err := m.Start(ctx, params)
	if err != nil {
		return nil, err
	}
	v, failed, err := m.drive(ctx, res, st, false)
	if err != nil {
		return res, err
	}
	res.Value, res.Failed = v, failed
	return res, nil
}

// drive carries a run from st to its end. A branch that ends in an
// internal error is ErrBranch (composer would never join it).
func (m *Machine) drive(ctx context.Context, res *Result, st *Step, branch bool) ([]byte, bool, error) {
	for {
		res.Logs = append(res.Logs, st.Logs...)
		state, err := roundTrip(st.State)
		if err != nil {
			return nil, false, err
		}
		switch st.Kind {
		case StepDone:
			if branch && st.Internal {
				return nil, false, fmt.Errorf("%w: %s", ErrBranch, st.Value)
			}
			return st.Value, st.Failed, nil
		case StepInvoke:
			res.Actions++
			if max := m.cfg.MaxActions; max > 0 && res.Actions > max {
				return nil, false, fmt.Errorf("%w: more than %d", ErrTooManyActions, max)
			}
			action := st.Action
			out, err := m.cfg.Invoker.Invoke(ctx, action, st.Params)
			if err != nil {
				return nil, false, fmt.Errorf("conductor: invoking %s: %w", action, err)
			}
			if st, err = m.Resume(ctx, state, out); err != nil {
				return nil, false, fmt.Errorf("conductor: result of %s: %w", action, err)
			}
		case StepFork:
			values, err := m.forks(ctx, res, st.Branches)
			if err != nil {
				return nil, false, err
			}
			if st, err = m.Join(ctx, state, values); err != nil {
				return nil, false, err
			}
		case StepAsync:
			var id string
			if m.cfg.StartAsync != nil {
				if id, err = m.cfg.StartAsync(ctx, st.Branches[0]); err != nil {
					return nil, false, fmt.Errorf("conductor: starting an async body: %w", err)
				}
			} else {
				res.ids++
				id = "async-" + strconv.Itoa(res.ids)
				if m.cfg.NewActivationID != nil {
					id = m.cfg.NewActivationID()
				}
				v, failed, err := m.branch(ctx, res, st.Branches[0])
				if err != nil {
					return nil, false, err
				}
				res.Async = append(res.Async, AsyncResult{ActivationID: id, Value: v, Failed: failed})
			}
			started := Marshal(NewObject("method", "async", "activationId", id, "sessionId", m.cfg.Session))
			if st, err = m.Resume(ctx, state, started); err != nil {
				return nil, false, err
			}
		}
	}
}

// forks runs the branches of a fork to their ends and returns their
// values in branch order: one after the other, or at the same time
// (Config.Concurrent), each with a Result of its own that is added to
// res in branch order once all have ended. The first branch that fails
// cancels the others.
func (m *Machine) forks(ctx context.Context, res *Result, branches []Branch) ([][]byte, error) {
	values := make([][]byte, len(branches))
	if !m.cfg.Concurrent || len(branches) < 2 {
		for i, b := range branches {
			v, _, err := m.branch(ctx, res, b)
			if err != nil {
				return nil, err
			}
			values[i] = v
		}
		return values, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	subs := make([]Result, len(branches))
	errs := make([]error, len(branches))
	var wg sync.WaitGroup
	for i, b := range branches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if values[i], _, errs[i] = m.branch(ctx, &subs[i], b); errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	for i := range subs {
		res.Logs = append(res.Logs, subs[i].Logs...)
		res.Async = append(res.Async, subs[i].Async...)
		res.Actions += subs[i].Actions
	}
	for _, err := range errs {
		// The first failure in branch order that is not another branch's
		// cancellation.
		if err != nil && !errors.Is(err, context.Canceled) {
			return nil, err
		}
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	if max := m.cfg.MaxActions; max > 0 && res.Actions > max {
		return nil, fmt.Errorf("%w: more than %d", ErrTooManyActions, max)
	}
	return values, nil
}

// RunBranch runs a branch to its end as a run of its own: an async body
// that StartAsync started elsewhere. Its result is the body's, as composer
// reports the body's activation.
func (m *Machine) RunBranch(ctx context.Context, b Branch) (*Result, error) {
	if m.cfg.Invoker == nil {
		return nil, errors.New("conductor: RunBranch needs Config.Invoker")
	}
	res := &Result{}
	v, failed, err := m.branch(ctx, res, b)
	if err != nil {
		return res, err
	}
	res.Value, res.Failed = v, failed
	return res, nil
}

func (m *Machine) branch(ctx context.Context, res *Result, b Branch) ([]byte, bool, error) {
	state, err := roundTrip(b.State)
	if err != nil {
		return nil, false, err
	}
	st, err := m.Enter(ctx, state, b.Params)
	if err != nil {
		return nil, false, err
	}
	return m.drive(ctx, res, st, true)
}

// roundTrip passes a state through its JSON form.
func roundTrip(st State) (State, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return State{}, fmt.Errorf("conductor: writing the state: %w", err)
	}
	var out State
	if err := json.Unmarshal(b, &out); err != nil {
		return State{}, fmt.Errorf("conductor: reading the state back: %w", err)
	}
	return out, nil
}
