package spec_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/internal/spec"
)

// routerSpec: r routes by a switch to the constant v or to f, a router
// that forks a and b into the join j.
const routerSpec = `{"workflow":"w","namespace":"ns","start":["r"],"steps":{
 "r":{"action":"","switch":[{"when":{"path":"x","op":"exists"},"next":["v"]}],"default":["f"]},
 "v":{"action":"","value":{"k":1}},
 "f":{"action":"","fork":"j","next":["a","b"]},
 "a":{"action":"/ns/a","in":"j","next":["j"]},
 "b":{"action":"/ns/b","in":"j","next":["j"]},
 "j":{"action":"","join":{"merge":"array"}}}}`

// Each kind is recognised, the same by a validated spec (from its cache)
// and by one never validated (from the step's fields).
func TestKind(t *testing.T) {
	for _, tc := range []struct {
		name, spec, id string
		want           spec.Kind
	}{
		{"action", joinSpec, "b", spec.KindAction},
		{"action that forks", joinSpec, "a", spec.KindAction},
		{"action with switch, retry and catch", switchSpec, "auto", spec.KindAction},
		{"router with a switch", routerSpec, "r", spec.KindRouter},
		{"router that forks", routerSpec, "f", spec.KindRouter},
		{"value", routerSpec, "v", spec.KindValue},
		{"join", routerSpec, "j", spec.KindJoin},
		{"join of a map", mapSpec, "j", spec.KindJoin},
		{"map", mapSpec, "m", spec.KindMap},
		{"loop head", whileSpec, "w", spec.KindLoop},
		{"loop body step", whileSpec, "b", spec.KindAction},
		{"unknown id", whileSpec, "nope", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			validated, err := spec.Parse([]byte(tc.spec))
			if err != nil {
				t.Fatal(err)
			}
			var fresh spec.Spec
			if err := json.Unmarshal([]byte(tc.spec), &fresh); err != nil {
				t.Fatal(err)
			}
			if got := validated.Kind(tc.id); got != tc.want {
				t.Errorf("validated: Kind(%s) = %v, want %v", tc.id, got, tc.want)
			}
			if got := fresh.Kind(tc.id); got != tc.want {
				t.Errorf("never validated: Kind(%s) = %v, want %v", tc.id, got, tc.want)
			}
		})
	}
}

// The Is* wrappers agree with Kind; a loop head is a router too.
func TestKindWrappers(t *testing.T) {
	sps := map[string]*spec.Spec{}
	for name, src := range map[string]string{"router": routerSpec, "map": mapSpec, "while": whileSpec} {
		sp, err := spec.Parse([]byte(src))
		if err != nil {
			t.Fatal(err)
		}
		sps[name] = sp
	}
	type is struct{ join, mp, loop, value, router bool }
	for _, tc := range []struct {
		sp, id string
		want   is
	}{
		{"router", "r", is{router: true}},
		{"router", "v", is{value: true}},
		{"router", "j", is{join: true}},
		{"router", "a", is{}},
		{"map", "m", is{mp: true}},
		{"while", "w", is{loop: true, router: true}},
		{"while", "nope", is{}},
	} {
		sp := sps[tc.sp]
		got := is{sp.IsJoin(tc.id), sp.IsMap(tc.id), sp.IsLoop(tc.id), sp.IsValue(tc.id), sp.IsRouter(tc.id)}
		if got != tc.want {
			t.Errorf("%s: step %s: got %+v, want %+v", tc.sp, tc.id, got, tc.want)
		}
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[spec.Kind]string{
		spec.KindAction: "action",
		spec.KindRouter: "router",
		spec.KindValue:  "value",
		spec.KindJoin:   "join",
		spec.KindMap:    "map",
		spec.KindLoop:   "loop",
		0:               "Kind(0)",
		99:              "Kind(99)",
	} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", uint8(k), got, want)
		}
	}
}

// A step with a field its kind may not have is refused, with the refusal
// of the kind it is taken for (the first of kindOf's order when it sets
// two kinds' fields), which names the field.
func TestKindRefused(t *testing.T) {
	const (
		valueMsg  = `value step "s" has an action, a switch, a retry, a catch, a join, a map or a fork: a value step only replaces the value`
		loopMsg   = `loop "s" has an action, a value, a join, a map, a fork, a retry or a catch: a loop head only tests`
		mapMsg    = `map "s" has an action, a switch, a retry, a catch or a join: a map only distributes`
		joinMsg   = `join "s" has an action, a switch, a retry, a catch or a fork: a join only merges`
		routerMsg = `step "s" has no action (a router) but a retry or a catch`
	)
	var (
		action = "/ns/a"
		value  = json.RawMessage(`1`)
		join   = &spec.Join{Merge: spec.MergeArray}
		mp     = &spec.Map{}
		loop   = &spec.Loop{}
		sw     = []spec.Case{{When: json.RawMessage(`{"path":"x","op":"exists"}`)}}
		retry  = &spec.Retry{Attempts: 2}
		catch  = []string{}
		fork   = "j"
	)
	for _, tc := range []struct {
		name     string
		step     spec.Step
		wantKind spec.Kind
		want     string
	}{
		{"value with an action", spec.Step{Value: value, Action: action}, spec.KindValue, valueMsg},
		{"value with a switch", spec.Step{Value: value, Switch: sw}, spec.KindValue, valueMsg},
		{"value with a retry", spec.Step{Value: value, Retry: retry}, spec.KindValue, valueMsg},
		{"value with a catch", spec.Step{Value: value, Catch: catch}, spec.KindValue, valueMsg},
		{"value with a join", spec.Step{Value: value, Join: join}, spec.KindValue, valueMsg},
		{"value with a map", spec.Step{Value: value, Map: mp}, spec.KindValue, valueMsg},
		{"value with a fork", spec.Step{Value: value, Fork: fork}, spec.KindValue, valueMsg},

		{"loop with an action", spec.Step{Loop: loop, Switch: sw, Action: action}, spec.KindLoop, loopMsg},
		{"loop with a value", spec.Step{Loop: loop, Switch: sw, Value: value}, spec.KindLoop, loopMsg},
		{"loop with a join", spec.Step{Loop: loop, Switch: sw, Join: join}, spec.KindLoop, loopMsg},
		{"loop with a map", spec.Step{Loop: loop, Switch: sw, Map: mp}, spec.KindLoop, loopMsg},
		{"loop with a fork", spec.Step{Loop: loop, Switch: sw, Fork: fork}, spec.KindLoop, loopMsg},
		{"loop with a retry", spec.Step{Loop: loop, Switch: sw, Retry: retry}, spec.KindLoop, loopMsg},
		{"loop with a catch", spec.Step{Loop: loop, Switch: sw, Catch: catch}, spec.KindLoop, loopMsg},

		{"map with an action", spec.Step{Map: mp, Fork: fork, Action: action}, spec.KindMap, mapMsg},
		{"map with a switch", spec.Step{Map: mp, Fork: fork, Switch: sw}, spec.KindMap, mapMsg},
		{"map with a retry", spec.Step{Map: mp, Fork: fork, Retry: retry}, spec.KindMap, mapMsg},
		{"map with a catch", spec.Step{Map: mp, Fork: fork, Catch: catch}, spec.KindMap, mapMsg},
		{"map with a join", spec.Step{Map: mp, Fork: fork, Join: join}, spec.KindMap, mapMsg},

		{"join with an action", spec.Step{Join: join, Action: action}, spec.KindJoin, joinMsg},
		{"join with a switch", spec.Step{Join: join, Switch: sw}, spec.KindJoin, joinMsg},
		{"join with a retry", spec.Step{Join: join, Retry: retry}, spec.KindJoin, joinMsg},
		{"join with a catch", spec.Step{Join: join, Catch: catch}, spec.KindJoin, joinMsg},
		{"join with a fork", spec.Step{Join: join, Fork: fork}, spec.KindJoin, joinMsg},

		{"router with a retry", spec.Step{Retry: retry}, spec.KindRouter, routerMsg},
		{"router with a catch", spec.Step{Catch: catch}, spec.KindRouter, routerMsg},
		{"router that forks, with a retry", spec.Step{Fork: fork, Retry: retry}, spec.KindRouter, routerMsg},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp := &spec.Spec{Workflow: "w", Namespace: "ns", Start: []string{"s"}, Steps: map[string]spec.Step{"s": tc.step}}
			err := sp.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate: got %v, want an error containing %q", err, tc.want)
			}
			if got := sp.Kind("s"); got != tc.wantKind {
				t.Errorf("Kind(s) after the refusal = %v, want %v", got, tc.wantKind)
			}
		})
	}
}

// Validate caches every step's kind: a validated spec answers from the
// cache (so a change to its steps, which a validated spec must not have,
// does not show), and a refused spec keeps no cache.
func TestKindCached(t *testing.T) {
	sp, err := spec.Parse([]byte(routerSpec))
	if err != nil {
		t.Fatal(err)
	}
	if allocs := testing.AllocsPerRun(100, func() { sp.Kind("j") }); allocs != 0 {
		t.Errorf("Kind allocates %v times, want 0", allocs)
	}
	sp.Steps["a"] = spec.Step{Value: json.RawMessage(`2`), In: "j", Next: []string{"j"}}
	if got := sp.Kind("a"); got != spec.KindAction {
		t.Errorf("Kind(a) after a change = %v, want %v, the kind Validate cached", got, spec.KindAction)
	}
	if err := sp.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := sp.Kind("a"); got != spec.KindValue {
		t.Errorf("Kind(a) validated again = %v, want %v", got, spec.KindValue)
	}
	sp.Steps["a"] = spec.Step{Action: "/ns/a", Join: &spec.Join{Merge: spec.MergeArray}}
	if err := sp.Validate(); err == nil {
		t.Fatal("Validate accepted a join with an action")
	}
	if got := sp.Kind("a"); got != spec.KindJoin {
		t.Errorf("Kind(a) after a refusal = %v, want %v, worked out afresh", got, spec.KindJoin)
	}
}
