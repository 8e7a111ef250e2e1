package compile_test

import (
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/composer"
	"github.com/wsk-route/wsk-route/composer/compile"
	"github.com/wsk-route/wsk-route/composer/parse"
	"github.com/wsk-route/wsk-route/internal/conductor"
	"github.com/wsk-route/wsk-route/internal/spec"
)

// TestCompileConducted compiles composer JSON to the conducted spec: one
// action step per distinct action the composition names, "a0-name", "a1-name", ...
// in order of appearance, each fully qualified in the deploy namespace
// and caught by compile.CaughtStep, which ends the run; the spec starts at
// compile.StartStep, a constant error for entries that cannot conduct. Each
// action step is where the entry starts the run of one action: it gives one
// result, and a failure goes to the catch step, which gives it back.
// With known set, Options.ActionExists knows those actions only: each
// other one the composition names is an ErrUnknownAction (unknown).
func TestCompileConducted(t *testing.T) {
	const seq3 = `{"type":"seq","components":["/_/a","/_/pkg/b","/other/c","/_/a"]}`
	tests := []struct {
		name, src string
		namespace string // Options.Namespace
		known     []string
		actions   []string
		unknown   []string // the problems, in any order
	}{
		{name: "underscore is the deploy namespace", src: `{"type":"action","name":"/_/a"}`, namespace: "guest",
			actions: []string{"/guest/a"}},
		{name: "a package in the deploy namespace", src: `{"type":"action","name":"/_/pkg/a"}`, namespace: "guest",
			actions: []string{"/guest/pkg/a"}},
		{name: "another namespace stays", src: `{"type":"action","name":"/other/a"}`, namespace: "guest",
			actions: []string{"/other/a"}},
		{name: "relative names as composer qualifies them", src: `{"type":"seq","components":["a","pkg/b","other/pkg/c"]}`, namespace: "guest",
			actions: []string{"/guest/a", "/guest/pkg/b", "/other/pkg/c"}},
		{name: "no deploy namespace", src: `{"type":"seq","components":["/_/a","/other/b"]}`,
			actions: []string{"/_/a", "/other/b"}},
		{name: "a repeated action gets one step", src: `{"type":"seq","components":["a","b","/_/a",{"type":"retry","count":2,"components":["b"]}]}`, namespace: "guest",
			actions: []string{"/guest/a", "/guest/b"}},
		{name: "order of appearance", src: `{"type":"if","test":"t","consequent":{"type":"par","components":["c2","c1"]},"alternate":{"type":"try","body":"b","handler":"h"}}`, namespace: "guest",
			actions: []string{"/guest/t", "/guest/c2", "/guest/c1", "/guest/b", "/guest/h"}},
		{name: "the composition, not the ast", src: `{"composition":{"type":"action","name":"/_/run","path":""},"ast":{"type":"action","name":"/_/other"},"version":"0.12.0"}`, namespace: "guest",
			actions: []string{"/guest/run"}},
		{name: "no actions", src: `{"type":"seq","components":[{"type":"literal","value":1},{"type":"function","function":{"exec":{"kind":"nodejs:default","code":"p => p"}}},{"type":"dynamic"}]}`, namespace: "guest"},
		{name: "every action exists", src: seq3, namespace: "guest", known: []string{"/guest/a", "/guest/pkg/b", "/other/c"},
			actions: []string{"/guest/a", "/guest/pkg/b", "/other/c"}},
		{name: "unknown actions", src: seq3, namespace: "guest", known: []string{"/guest/pkg/b"},
			unknown: []string{
				"flow.json:1:1: action /guest/a does not exist: create it first, declare it in the composition's actions, or fix the name",
				"flow.json:1:1: action /other/c does not exist: create it first, declare it in the composition's actions, or fix the name",
			}},
		{name: "unknown in the default namespace", src: `{"type":"action","name":"/_/a"}`, known: []string{"/guest/a"},
			unknown: []string{"flow.json:1:1: action /_/a does not exist: create it first, declare it in the composition's actions, or fix the name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := parse.Composer("flow.json", []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			opt := compile.Options{Namespace: tt.namespace}
			asked := map[string]int{}
			if tt.known != nil {
				opt.ActionExists = func(fqn string) bool {
					asked[fqn]++
					for _, k := range tt.known {
						if k == fqn {
							return true
						}
					}
					return false
				}
			}
			s, err := compile.Compile(w, opt)
			for fqn, n := range asked {
				if n != 1 {
					t.Errorf("ActionExists asked about %s %d times, want once", fqn, n)
				}
			}
			if tt.unknown != nil {
				checkUnknown(t, err, tt.unknown)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Validate(); err != nil {
				t.Fatalf("the conducted spec does not validate: %v", err)
			}
			wantNS := tt.namespace
			if wantNS == "" {
				wantNS = composer.DefaultNamespace
			}
			if s.Workflow != "flow" || s.Namespace != wantNS {
				t.Errorf("got workflow %q namespace %q, want flow and %s", s.Workflow, s.Namespace, wantNS)
			}
			if got := strings.Join(s.Start, ","); got != compile.StartStep || !s.IsValue(compile.StartStep) {
				t.Errorf("start: got %s, want %s, a constant (for entries that cannot conduct)", got, compile.StartStep)
			}
			if len(s.Steps) != len(tt.actions)+2 {
				t.Errorf("got %d steps %v, want %d actions, %s and %s", len(s.Steps), s.StepIDs(), len(tt.actions), compile.StartStep, compile.CaughtStep)
			}
			for i, fqn := range tt.actions {
				id := fmt.Sprintf("a%d-%s", i, path.Base(fqn))
				st, ok := s.Steps[id]
				if !ok || st.Action != fqn || len(st.Next) != 0 || strings.Join(st.Catch, ",") != compile.CaughtStep {
					t.Errorf("step %s: got %+v (present %v), want action %s caught by %s", id, st, ok, fqn, compile.CaughtStep)
					continue
				}
				hops, paths, err := s.StartAt(id)
				if err != nil || len(hops) != 1 || hops[0].Step != id || paths != 1 {
					t.Errorf("start at %s: got %v, %d paths, %v; want one hop and one result", id, hops, paths, err)
				}
				if hops, err := s.Route(id, 0, []byte(`{"ok":true}`)); err != nil || len(hops) != 0 {
					t.Errorf("the result of %s: got hops %v, %v; want none (it goes back to the entry)", id, hops, err)
				}
				if hops, ok := s.CatchHops(id, 0); !ok || len(hops) != 1 || hops[0].Step != compile.CaughtStep {
					t.Errorf("the failure of %s: got hops %v (%v), want %s", id, hops, ok, compile.CaughtStep)
				}
			}
			st, ok := s.Steps[compile.CaughtStep]
			if !ok || st.Action != "" || len(st.Next) != 0 || st.Catch != nil || !s.IsRouter(compile.CaughtStep) {
				t.Errorf("%s: got %+v (present %v), want a router with no successor", compile.CaughtStep, st, ok)
			}
			if hops, err := s.Route(compile.CaughtStep, 0, []byte(`{"error":"x"}`)); err != nil || len(hops) != 0 {
				t.Errorf("%s: got hops %v, %v; want none", compile.CaughtStep, hops, err)
			}
			// The steps are those the entry maps the composition's names to.
			c, err := conductor.Decode(w.Composition, conductor.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			steps := compile.ConductedSteps(c)
			if len(steps) != len(tt.actions) {
				t.Errorf("ConductedSteps: got %v, want %d names", steps, len(tt.actions))
			}
			for name, id := range steps {
				fqn, err := compile.DeployedName(wantNS, name)
				if err != nil || s.Steps[id].Action != fqn {
					t.Errorf("ConductedSteps: %s maps to %s, whose action is %s, want %s (%v)", name, id, s.Steps[id].Action, fqn, err)
				}
			}
		})
	}
}

// checkUnknown wants err to be an ErrorList of ErrUnknownAction problems,
// want in any order (compile's order is not the composition's).
func checkUnknown(t *testing.T, err error, want []string) {
	t.Helper()
	var l composer.ErrorList
	if !errors.As(err, &l) {
		t.Fatalf("got %T %v, want a composer.ErrorList", err, err)
	}
	var got []string
	for _, e := range l {
		if !errors.Is(e, composer.ErrUnknownAction) {
			t.Errorf("%v: want ErrUnknownAction", e)
		}
		got = append(got, e.Error())
	}
	sort.Strings(got)
	want = append([]string(nil), want...)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestCompileConductedBounds compiles a composition naming as many
// actions as a spec holds beside its catch step, and refuses one more.
func TestCompileConductedBounds(t *testing.T) {
	src := func(n int) []byte {
		names := make([]string, n)
		for i := range names {
			names[i] = fmt.Sprintf(`"a%d"`, i)
		}
		return []byte(`{"type":"seq","components":[` + strings.Join(names, ",") + `]}`)
	}
	w, err := parse.Composer("flow.json", src(spec.MaxSteps-2)) // and start and caught

	if err != nil {
		t.Fatal(err)
	}
	s, err := compile.Compile(w, compile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Steps) != spec.MaxSteps {
		t.Errorf("got %d steps, want %d", len(s.Steps), spec.MaxSteps)
	}
	if w, err = parse.Composer("flow.json", src(spec.MaxSteps-1)); err != nil {
		t.Fatal(err)
	}
	if _, err := compile.Compile(w, compile.Options{}); !errors.Is(err, composer.ErrTooLarge) {
		t.Errorf("%d actions: got %v, want ErrTooLarge", spec.MaxSteps-1, err)
	}
}
