package faults_test

import (
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/wsk-route/wsk-route/internal/spec"
)

// A shape is a workflow the suite drives: its spec, the actions it needs
// (each a step of the recording action), the input of one run, the check
// of its result, and the step executions one run must make.
type shape struct {
	name string
	// spec is the compiled spec, namespace guest.
	spec *spec.Spec
	// instances is how many instances of each action the environment starts,
	// enough that a scenario's clients find a free one after one is killed.
	instances map[string]int
	// faulted is the action whose instance the proxy faults hit: the chain's
	// middle step, the join holder, the map's element step.
	faulted string
	// sleep is each step's time, in ms ("*" for the others): the faulted
	// step is slower, so that a fault finds it busy.
	sleep map[string]int
	input func(tag, rec string) []byte
	check func(tag string, v []byte) error
	// execs are the (step, element) pairs one run executes, each once.
	execs []execKey
}

// execKey names one step execution of a run: the step, and the element's
// index in a map (-1 outside maps).
type execKey struct {
	step string
	i    int
}

func (k execKey) String() string {
	if k.i < 0 {
		return k.step
	}
	return fmt.Sprintf("%s[%d]", k.step, k.i)
}

// shapes are the suite's workflows, by name.
var shapes = map[string]*shape{"chain": chainShape(), "fanjoin": fanJoinShape(), "map": mapShape()}

func step(action string, next ...string) spec.Step {
	return spec.Step{Action: "/guest/" + action, Next: next}
}

func baseInput(tag, rec string, sleep map[string]int) map[string]any {
	return map[string]any{"tag": tag, "rec": rec, "sleep": sleep}
}

// chainShape is fc1 -> fc2 -> fc3.
func chainShape() *shape {
	s := &shape{
		name: "chain",
		spec: &spec.Spec{Workflow: "fchain", Namespace: "guest", Start: []string{"fc1"}, Steps: map[string]spec.Step{
			"fc1": step("fc1", "fc2"), "fc2": step("fc2", "fc3"), "fc3": step("fc3"),
		}},
		instances: map[string]int{"fc1": 2, "fc2": 3, "fc3": 2},
		faulted:   "fc2",
		sleep:     map[string]int{"*": 5, "fc2": 60},
		execs:     []execKey{{"fc1", -1}, {"fc2", -1}, {"fc3", -1}},
	}
	s.input = func(tag, rec string) []byte {
		b, _ := json.Marshal(baseInput(tag, rec, s.sleep))
		return b
	}
	s.check = func(tag string, v []byte) error {
		var r struct {
			Tag  string
			Path []string
		}
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("result %.200s: %v", v, err)
		}
		if want := []string{"fc1", "fc2", "fc3"}; r.Tag != tag || !reflect.DeepEqual(r.Path, want) {
			return fmt.Errorf("result tag %q path %v, want tag %q path %v", r.Tag, r.Path, tag, want)
		}
		return nil
	}
	return s
}

// fanJoinShape is f0 forking fl and fr, joined (as an object {l, r}) by
// the join j that f0's instance holds, then fz.
func fanJoinShape() *shape {
	s := &shape{
		name: "fanjoin",
		spec: &spec.Spec{Workflow: "ffan", Namespace: "guest", Start: []string{"f0"}, Steps: map[string]spec.Step{
			"f0": {Action: "/guest/f0", Fork: "j", Next: []string{"fl", "fr"}},
			"fl": {Action: "/guest/fl", In: "j", Next: []string{"j"}},
			"fr": {Action: "/guest/fr", In: "j", Next: []string{"j"}},
			"j":  {Join: &spec.Join{Merge: spec.MergeObject, Names: []string{"l", "r"}}, Next: []string{"fz"}},
			"fz": step("fz"),
		}},
		instances: map[string]int{"f0": 3, "fl": 2, "fr": 2, "fz": 2},
		faulted:   "f0",
		// fl's slot reaches the holder well before fr's: the holder holds a
		// slot for about 100 ms of each run.
		sleep: map[string]int{"*": 5, "fl": 10, "fr": 120},
		execs: []execKey{{"f0", -1}, {"fl", -1}, {"fr", -1}, {"fz", -1}},
	}
	s.input = func(tag, rec string) []byte {
		b, _ := json.Marshal(baseInput(tag, rec, s.sleep))
		return b
	}
	s.check = func(tag string, v []byte) error {
		type branch struct {
			Tag  string
			Path []string
		}
		var r struct {
			L, R branch
			Path []string
		}
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("result %.200s: %v", v, err)
		}
		if r.L.Tag != tag || r.R.Tag != tag || !reflect.DeepEqual(r.L.Path, []string{"f0", "fl"}) ||
			!reflect.DeepEqual(r.R.Path, []string{"f0", "fr"}) || !reflect.DeepEqual(r.Path, []string{"fz"}) {
			return fmt.Errorf("result %.300s, want l (path f0 fl) and r (path f0 fr) of tag %s, then path fz", v, tag)
		}
		return nil
	}
	return s
}

// mapItems is the number of elements of a map run.
const mapItems = 4

// mapShape is mp0, then a map over its "items" (concurrency 2) of m1,
// joined into an array by the entry.
func mapShape() *shape {
	s := &shape{
		name: "map",
		spec: &spec.Spec{Workflow: "fmap", Namespace: "guest", Start: []string{"mp0"}, Steps: map[string]spec.Step{
			"mp0": step("mp0", "m"),
			"m":   {Map: &spec.Map{Over: "items", Concurrency: 2}, Fork: "j", Next: []string{"m1"}},
			"m1":  {Action: "/guest/m1", In: "j", Next: []string{"j"}},
			"j":   {Join: &spec.Join{Merge: spec.MergeArray}},
		}},
		instances: map[string]int{"mp0": 2, "m1": 5},
		faulted:   "m1",
		sleep:     map[string]int{"*": 5, "m1": 40},
		execs:     []execKey{{"mp0", -1}},
	}
	for i := range mapItems {
		s.execs = append(s.execs, execKey{"m1", i})
	}
	s.input = func(tag, rec string) []byte {
		in := baseInput(tag, rec, s.sleep)
		items := make([]any, mapItems)
		for i := range items {
			items[i] = map[string]any{"i": i, "tag": tag, "rec": rec, "sleep": s.sleep}
		}
		in["items"] = items
		b, _ := json.Marshal(in)
		return b
	}
	s.check = func(tag string, v []byte) error {
		var r []struct {
			I    *int
			Tag  string
			Path []string
		}
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("result %.200s: %v", v, err)
		}
		if len(r) != mapItems {
			return fmt.Errorf("result has %d elements, want %d: %.300s", len(r), mapItems, v)
		}
		for i, e := range r {
			if e.I == nil || *e.I != i || e.Tag != tag || !reflect.DeepEqual(e.Path, []string{"m1"}) {
				return fmt.Errorf("element %d of the result is %.300s, want element %d of tag %s, path m1", i, v, i, tag)
			}
		}
		return nil
	}
	return s
}
