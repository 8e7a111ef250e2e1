package compile

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/wsk-route/wsk-route/composer"
	"github.com/wsk-route/wsk-route/internal/conductor"
	"github.com/wsk-route/wsk-route/internal/spec"
)

// A workflow read from openwhisk-composer's JSON (Workflow.Composition)
// runs with composer's semantics: its entry conducts the composition, as
// composer's conductor action does, and runs each action it invokes as a
// run of the workflow's spec that starts at that action's step
// (spec.StartAt). The spec therefore has one step per action the
// composition names, "a0-name", "a1-name", ... (the number in the order
// ActionNames gives, the action's last name part), each with
// no successor (its result goes back to the entry) and a catch, CaughtStep,
// through which an action's failure ({"error": ...}) also goes back to the
// entry as the action's result, for the conductor to handle as composer
// does. Its start, StartStep, is a constant error for entries that cannot
// conduct.

// StartStep is the start of a conducted workflow's spec. An entry that
// conducts never starts there (it starts a run at each action's step); an
// entry proxy from before conducting (which reads no composition in its
// manifest) does, and answers this constant error instead of running the
// first action as if it were the whole workflow.
const StartStep = "start"

// oldEntryError is StartStep's value.
const oldEntryError = `{"error":"this workflow is an openwhisk-composer composition, which its entry conducts: the entry's image needs a wsk-route proxy that conducts compositions (2026-12-07 or later)"}`

// CaughtStep is the step of a conducted workflow's spec that carries an
// action's failure back to the entry.
const CaughtStep = "caught"

// ConductedSteps maps each action a composition names (qualified as
// composer qualifies it: "/_/a" is in the deployer's namespace) to its
// step in the compiled spec.
func ConductedSteps(c *conductor.Composition) map[string]string {
	names := c.ActionNames()
	steps := make(map[string]string, len(names))
	for i, n := range names {
		id := "a" + strconv.Itoa(i) + "-" + base(n) // unique by its number
		if len(id) > spec.MaxIDLen {
			id = id[:spec.MaxIDLen]
		}
		steps[n] = id
	}
	return steps
}

// compileConducted compiles a workflow read from composer JSON.
func compileConducted(w *composer.Workflow, opt Options) (*spec.Spec, error) {
	ns := w.EffectiveNamespace()
	if ns == composer.DefaultNamespace && opt.Namespace != "" {
		ns = opt.Namespace
	}
	c, err := conductor.Decode(w.Composition, conductor.Limits{})
	if err != nil {
		return nil, composer.ErrorList{composer.Errorf(composer.ErrInvalid, w.Pos, w.Path, "%v", err)}
	}
	if len(c.ActionNames()) > spec.MaxSteps-2 {
		return nil, composer.ErrorList{composer.Errorf(composer.ErrTooLarge, w.Pos, w.Path,
			"composition %q names %d actions, more than the %d a compiled workflow holds", w.Name, len(c.ActionNames()), spec.MaxSteps-2)}
	}
	steps := map[string]spec.Step{CaughtStep: {}, StartStep: {Value: json.RawMessage(oldEntryError)}}
	var errs composer.ErrorList
	ids := ConductedSteps(c)
	for _, name := range c.ActionNames() { // in order: the errors too
		id := ids[name]
		fqn, err := DeployedName(ns, name)
		switch {
		case err != nil:
			errs = append(errs, composer.Errorf(composer.ErrInvalid, w.Pos, w.Path, "action %s: %v", name, err))
			continue
		case opt.ActionExists != nil && !opt.ActionExists(fqn):
			errs = append(errs, composer.Errorf(composer.ErrUnknownAction, w.Pos, w.Path,
				"action %s does not exist: create it first, declare it in the composition's actions, or fix the name", fqn))
		}
		steps[id] = spec.Step{Action: fqn, Catch: []string{CaughtStep}}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	s := &spec.Spec{Workflow: w.Name, Namespace: ns, Start: []string{StartStep}, Steps: steps}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("compile: composition %q: the compiled spec is invalid: %w", w.Name, err)
	}
	return s, nil
}

// DeployedName is the fully qualified name of an action a composition
// names as composer qualifies it, in namespace ns: "/_/a" is "/ns/a".
func DeployedName(ns, name string) (string, error) {
	if rest, ok := strings.CutPrefix(name, "/"+composer.DefaultNamespace+"/"); ok {
		return composer.ResolveAction(ns, rest)
	}
	if !strings.HasPrefix(name, "/") {
		return "", errors.New("not a fully qualified name")
	}
	return composer.ResolveAction(ns, name)
}
