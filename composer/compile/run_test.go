package compile_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/composer/compile"
	"github.com/wsk-route/wsk-route/composer/parse"
	"github.com/wsk-route/wsk-route/internal/spec"
)

// runner runs a compiled spec the way the route plane routes it
// (action-proxy/route: send.go, join.go, start.go), one hop after the
// other: the start hops, spec.Route at every step, a join's slots merged
// by spec.MergeJoin once JoinSlots have come, a nested join's merge going
// on in the region around it as the slot its fork had there, and the
// entry's results merged as the entry merges them. Action "x" returns
// {"x": its input} (or, unless echo is set, {"x": 1}: a value copied into
// every branch of nested parallels grows exponentially). Maps and loops
// are not run here (walk runs loops).
type runner struct {
	t       *testing.T
	s       *spec.Spec
	echo    bool
	results map[uint32][]byte
	joins   map[string]map[uint32][]byte
	hops    int
}

// runSpec runs s on input and returns the run's result; its actions echo
// their input.
func runSpec(t *testing.T, s *spec.Spec, input string) string {
	t.Helper()
	return run(t, s, input, true)
}

func run(t *testing.T, s *spec.Spec, input string, echo bool) string {
	t.Helper()
	r := &runner{t: t, s: s, echo: echo, results: map[uint32][]byte{}, joins: map[string]map[uint32][]byte{}}
	for _, h := range s.StartHops() {
		r.hop(h, nil, []byte(input))
	}
	want := s.Paths()
	if len(r.results) != want {
		t.Fatalf("the run gave %d results, its spec says %d", len(r.results), want)
	}
	if want == 1 {
		for _, v := range r.results {
			return string(v)
		}
	}
	return string(spec.MergeJoin(&spec.Join{Merge: spec.MergeArray}, r.results))
}

// hop delivers v to h.Step; outer holds the slots, in the regions
// around, of the forks of the regions h is nested in (frame.Frame.Outer).
func (r *runner) hop(h spec.Hop, outer []uint32, v []byte) {
	r.t.Helper()
	if r.hops++; r.hops > 10000 {
		r.t.Fatal("more than 10000 hops")
	}
	st := r.s.Steps[h.Step]
	switch {
	case st.Loop != nil || st.InLoop != "" || st.Map != nil:
		r.t.Fatalf("step %s: the runner runs no loops or maps", h.Step)
	case st.Action != "":
		name := st.Action[strings.LastIndexByte(st.Action, '/')+1:]
		if !r.echo {
			v = []byte("1")
		}
		r.next(h.Step, h.Branch, outer, []byte(fmt.Sprintf(`{%q:%s}`, name, v)))
	case st.Value != nil:
		r.next(h.Step, h.Branch, outer, st.Value)
	case st.Join != nil:
		slot, branch := spec.SplitBranch(h.Branch)
		key := fmt.Sprintf("%s/%d/%v", h.Step, branch, outer)
		got := r.joins[key]
		if got == nil {
			got = map[uint32][]byte{}
			r.joins[key] = got
		}
		if _, dup := got[slot]; dup {
			r.t.Fatalf("join %s: slot %d twice", h.Step, slot)
		}
		got[slot] = v
		if len(got) < r.s.JoinSlots(h.Step) {
			return
		}
		merged := spec.MergeJoin(st.Join, got)
		if r.s.IsNested(h.Step) {
			branch = spec.JoinBranch(outer[len(outer)-1], branch)
			outer = outer[:len(outer)-1]
		}
		r.send(h.Step, branch, outer, r.s.JoinHops(h.Step, branch), merged)
	default: // a router
		r.next(h.Step, h.Branch, outer, v)
	}
}

// next sends the result v of step id (running as branch) on.
func (r *runner) next(id string, branch uint32, outer []uint32, v []byte) {
	r.t.Helper()
	if !json.Valid(v) {
		r.t.Fatalf("step %s: result %s is not JSON", id, v)
	}
	hops, err := r.s.Route(id, branch, v)
	if err != nil {
		r.t.Fatal(err)
	}
	if st := r.s.Steps[id]; st.Fork != "" && st.In != "" && len(hops) > 0 {
		// A nested fork: its slot in the region around goes on the side.
		slot, _ := spec.SplitBranch(branch)
		outer = append(append([]uint32(nil), outer...), slot)
	}
	r.send(id, branch, outer, hops, v)
}

func (r *runner) send(id string, branch uint32, outer []uint32, hops []spec.Hop, v []byte) {
	r.t.Helper()
	if len(hops) == 0 {
		if len(outer) != 0 {
			r.t.Fatalf("step %s: a result of the run inside regions %v", id, outer)
		}
		if _, dup := r.results[branch]; dup {
			r.t.Fatalf("step %s: result branch %d twice", id, branch)
		}
		r.results[branch] = v
		return
	}
	for _, h := range hops {
		r.hop(h, outer, v)
	}
}

// TestResults compiles workflows and runs them: the result has the shape
// docs/workflows.md gives it. A nested parallel's result is one element
// of the outer parallel's result, at the end or followed by a step.
// Composer JSON does not run this way: its entry conducts it with
// composer's semantics (package internal/conductor), one run of the
// conducted spec per action (TestCompileConducted).
func TestResults(t *testing.T) {
	const ab = `[{"la":{}},{"lb":{}}]`
	tests := []struct {
		name, src, want string
	}{
		{"nested parallel at the end",
			"steps:\n  - parallel: [{parallel: [la, lb]}, lc]\n",
			`[` + ab + `,{"lc":{}}]`},
		{"nested parallel, then a step",
			"steps:\n  - parallel: [{parallel: [la, lb]}, lc]\n  - after\n",
			`{"after":[` + ab + `,{"lc":{}}]}`},
		{"nested parallel second, at the end",
			"steps:\n  - parallel: [lc, {parallel: [la, lb]}]\n",
			`[{"lc":{}},` + ab + `]`},
		{"a step, a nested parallel",
			"steps:\n  - first\n  - parallel: [{parallel: [la, lb]}, lc]\n",
			`[[{"la":{"first":{}}},{"lb":{"first":{}}}],{"lc":{"first":{}}}]`},
		{"a step, a nested parallel, a step",
			"steps:\n  - first\n  - parallel: [{parallel: [la, lb]}, lc]\n  - after\n",
			`{"after":[[{"la":{"first":{}}},{"lb":{"first":{}}}],{"lc":{"first":{}}}]}`},
		{"nested parallel at a branch's end",
			"steps:\n  - parallel: [[x, {parallel: [la, lb]}], lc]\n",
			`[[{"la":{"x":{}}},{"lb":{"x":{}}}],{"lc":{}}]`},
		{"three levels",
			"steps:\n  - parallel: [{parallel: [{parallel: [la, lb]}, lc]}, ld]\n",
			`[[` + ab + `,{"lc":{}}],{"ld":{}}]`},
		{"nested object merge",
			"steps:\n  - parallel: [{parallel: {branches: {x: la, y: lb}, merge: object}}, lc]\n",
			`[{"x":{"la":{}},"y":{"lb":{}}},{"lc":{}}]`},
		{"parallel in an if at the end",
			"steps:\n  - first\n  - if: {cond: {path: first, op: exists}, then: {parallel: [la, lb]}, else: lc}\n",
			`[{"la":{"first":{}}},{"lb":{"first":{}}}]`},
		{"parallel in an if's else at the end",
			"steps:\n  - first\n  - if: {cond: {path: nothing, op: exists}, then: {parallel: [la, lb]}, else: lc}\n",
			`{"lc":{"first":{}}}`},
		{"an if in a final parallel",
			"steps:\n  - first\n  - parallel: [{if: {cond: {path: first, op: exists}, then: la, else: lb}}, lc]\n",
			`[{"la":{"first":{}}},{"lc":{"first":{}}}]`},
		{"a nested parallel after an if, in a final parallel",
			"steps:\n  - parallel: [[{if: {cond: {path: x, op: exists}, then: lx}}, {parallel: [la, lb]}], lc]\n",
			`[` + ab + `,{"lc":{}}]`},
		{"a flat parallel stays flat",
			"steps:\n  - parallel: [la, [lb, lc]]\n",
			`[{"la":{}},{"lc":{"lb":{}}}]`},
	}
	tests = append(tests, []struct{ name, src, want string }{
		// A constant's result is a JSON object (or array): a scalar is
		// shaped {"value": x}, as openwhisk-composer shapes a literal.
		{"a final number", "steps:\n  - first\n  - value: 42\n", `{"value":42}`},
		{"a sequence ending with a string", "steps:\n  - first\n  - [la, {value: done}]\n", `{"value":"done"}`},
		{"null, true", "steps:\n  - parallel: [{value: null}, {value: true}]\n", `[{"value":null},{"value":true}]`},
		{"an object as it is", "steps:\n  - value: {n: 1}\n", `{"n":1}`},
		{"an array as it is", "steps:\n  - value: [1, two]\n", `[1,"two"]`},
		{"a number into an action", "steps:\n  - value: 3\n  - la\n", `{"la":{"value":3}}`},
		{"a number into a condition", "steps:\n  - value: 3\n  - if: {cond: {path: value, op: ==, value: 3}, then: la, else: lb}\n", `{"la":{"value":3}}`},
		{"a constant, then a parallel", "steps:\n  - value: {n: 1}\n  - parallel: [la, lb]\n  - after\n", `{"after":[{"la":{"n":1}},{"lb":{"n":1}}]}`},
		{"a parallel, then an if", "steps:\n  - first\n  - parallel: [la, lb]\n  - if: {cond: {path: \"[0].la\", op: exists}, then: after}\n",
			`{"after":[{"la":{"first":{}}},{"lb":{"first":{}}}]}`},
	}...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := parse.YAML("f.yaml", []byte("name: w\n"+tt.src))
			if err != nil {
				t.Fatal(err)
			}
			s, err := compile.Compile(w, compile.Options{Namespace: "guest"})
			if err != nil {
				t.Fatal(err)
			}
			if got := runSpec(t, s, `{}`); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}
