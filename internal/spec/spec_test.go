package spec_test

import (
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/internal/spec"
)

func TestParseValid(t *testing.T) {
	in := `{"workflow":"w","namespace":"guest","start":["a"],"steps":{
		"a":{"action":"/guest/a","next":["b","c"]},
		"b":{"action":"/guest/pkg/b","next":["d"]},
		"c":{"action":"/guest/c","next":["d"]},
		"d":{"action":"/guest/d"}}}`
	sp, err := spec.Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if got := sp.Paths(); got != 2 {
		t.Errorf("Paths = %d, want 2", got)
	}
	if got, want := sp.StartHops(), []spec.Hop{{Step: "a", Branch: 0}}; !reflect.DeepEqual(got, want) {
		t.Errorf("StartHops = %v, want %v", got, want)
	}
	if got, want := sp.NextHops("a", 0), []spec.Hop{{Step: "b", Branch: 0}, {Step: "c", Branch: 1}}; !reflect.DeepEqual(got, want) {
		t.Errorf("NextHops(a) = %v, want %v", got, want)
	}
	if got := sp.NextHops("d", 1); got != nil {
		t.Errorf("NextHops(d) = %v, want none", got)
	}
	if sp.Key() != "guest/w" {
		t.Errorf("Key = %q", sp.Key())
	}
}

// Branch numbers of every result path are distinct and cover [0, Paths()).
func TestBranchesCoverPaths(t *testing.T) {
	sp := &spec.Spec{Workflow: "w", Namespace: "ns", Start: []string{"a", "x"}, Steps: map[string]spec.Step{
		"a": {Action: "/ns/a", Next: []string{"b", "c", "d"}},
		"b": {Action: "/ns/b", Next: []string{"e", "f"}},
		"c": {Action: "/ns/c"},
		"d": {Action: "/ns/d", Next: []string{"e"}},
		"e": {Action: "/ns/e"},
		"f": {Action: "/ns/f"},
		"x": {Action: "/ns/x"},
	}}
	if err := sp.Validate(); err != nil {
		t.Fatal(err)
	}
	seen := map[uint32]bool{}
	var walk func(h spec.Hop)
	walk = func(h spec.Hop) {
		next := sp.NextHops(h.Step, h.Branch)
		if len(next) == 0 {
			if seen[h.Branch] {
				t.Errorf("branch %d reached twice", h.Branch)
			}
			seen[h.Branch] = true
		}
		for _, n := range next {
			walk(n)
		}
	}
	for _, h := range sp.StartHops() {
		walk(h)
	}
	if n := sp.Paths(); len(seen) != n {
		t.Fatalf("%d distinct result branches, Paths() = %d", len(seen), n)
	}
	for b := range seen {
		if int(b) >= sp.Paths() {
			t.Errorf("branch %d out of range", b)
		}
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"not json", `{`, "spec:"},
		{"unknown field", `{"workflow":"w","namespace":"n","start":["a"],"steps":{"a":{"action":"/n/a"}},"extra":1}`, "unknown field"},
		{"no workflow", `{"namespace":"n","start":["a"],"steps":{"a":{"action":"/n/a"}}}`, "workflow name"},
		{"slash in workflow", `{"workflow":"a/b","namespace":"n","start":["a"],"steps":{"a":{"action":"/n/a"}}}`, "workflow name"},
		{"no namespace", `{"workflow":"w","start":["a"],"steps":{"a":{"action":"/n/a"}}}`, "namespace"},
		{"no start", `{"workflow":"w","namespace":"n","start":[],"steps":{"a":{"action":"/n/a"}}}`, "no start step"},
		{"unknown start", `{"workflow":"w","namespace":"n","start":["z"],"steps":{"a":{"action":"/n/a"}}}`, `unknown step "z"`},
		{"unknown next", `{"workflow":"w","namespace":"n","start":["a"],"steps":{"a":{"action":"/n/a","next":["q"]}}}`, `step a next names unknown step "q"`},
		{"repeated next", `{"workflow":"w","namespace":"n","start":["a"],"steps":{"a":{"action":"/n/a","next":["b","b"]},"b":{"action":"/n/b"}}}`, "twice"},
		{"relative action", `{"workflow":"w","namespace":"n","start":["a"],"steps":{"a":{"action":"a"}}}`, "not a fully qualified name"},
		{"too deep action", `{"workflow":"w","namespace":"n","start":["a"],"steps":{"a":{"action":"/n/p/q/a"}}}`, "not a fully qualified name"},
		{"empty part", `{"workflow":"w","namespace":"n","start":["a"],"steps":{"a":{"action":"/n//a"}}}`, "empty or blank part"},
		{"cycle", `{"workflow":"w","namespace":"n","start":["a"],"steps":{"a":{"action":"/n/a","next":["b"]},"b":{"action":"/n/b","next":["a"]}}}`, "cycle: a -> b -> a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := spec.Parse([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestTooManyPaths(t *testing.T) {
	// A ladder of 2-way fan-outs that rejoin: 2^n paths with 2n+1 steps.
	sp := &spec.Spec{Workflow: "w", Namespace: "n", Start: []string{"s0"}, Steps: map[string]spec.Step{}}
	const n = 25
	for i := 0; i < n; i++ {
		next := []string{"l" + itoa(i), "r" + itoa(i)}
		sp.Steps["s"+itoa(i)] = spec.Step{Action: "/n/a", Next: next}
		sp.Steps["l"+itoa(i)] = spec.Step{Action: "/n/a", Next: []string{"s" + itoa(i+1)}}
		sp.Steps["r"+itoa(i)] = spec.Step{Action: "/n/a", Next: []string{"s" + itoa(i+1)}}
	}
	sp.Steps["s"+itoa(n)] = spec.Step{Action: "/n/a"}
	if err := sp.Validate(); err == nil || !strings.Contains(err.Error(), "result paths") {
		t.Fatalf("Validate = %v, want too many result paths", err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"workflow":"w","namespace":"n","start":["a"],"steps":{"a":{"action":"/n/a","next":["b"]},"b":{"action":"/n/b"}}}`))
	f.Add([]byte(`{"workflow":"w","namespace":"n","start":["a"],"steps":{"a":{"action":"/n/a","next":["a"]}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		sp, err := spec.Parse(data)
		if err != nil {
			return
		}
		// A valid spec routes: every hop names a step, branches stay in range.
		n := sp.Paths()
		var walk func(h spec.Hop, depth int)
		walk = func(h spec.Hop, depth int) {
			if depth > spec.MaxSteps {
				t.Fatal("walk deeper than the number of steps: cycle accepted")
			}
			if _, ok := sp.Steps[h.Step]; !ok {
				t.Fatalf("hop to unknown step %q", h.Step)
			}
			if int(h.Branch) >= n {
				t.Fatalf("branch %d >= paths %d", h.Branch, n)
			}
			for _, next := range sp.NextHops(h.Step, h.Branch) {
				walk(next, depth+1)
			}
		}
		if n <= 1024 {
			for _, h := range sp.StartHops() {
				walk(h, 0)
			}
		}
	})
}

// A validated spec answers from its cache, and the answers are those of an
// unvalidated copy, which computes them afresh.
func TestCachedPathsAgree(t *testing.T) {
	build := func() *spec.Spec {
		return &spec.Spec{Workflow: "w", Namespace: "ns", Start: []string{"a"}, Steps: map[string]spec.Step{
			"a": {Action: "/ns/a", Next: []string{"b", "c"}},
			"b": {Action: "/ns/b", Next: []string{"d"}},
			"c": {Action: "/ns/c", Next: []string{"d", "e"}},
			"d": {Action: "/ns/d"},
			"e": {Action: "/ns/e"},
			"z": {Action: "/ns/z", Next: []string{"e"}}, // unreachable from the start
		}}
	}
	validated, fresh := build(), build()
	if err := validated.Validate(); err != nil {
		t.Fatal(err)
	}
	if validated.Paths() != fresh.Paths() {
		t.Fatalf("Paths: %d cached, %d fresh", validated.Paths(), fresh.Paths())
	}
	for _, id := range fresh.StepIDs() {
		for b := uint32(0); b < 3; b++ {
			if got, want := validated.NextHops(id, b), fresh.NextHops(id, b); !reflect.DeepEqual(got, want) {
				t.Errorf("NextHops(%s, %d): cached %v, fresh %v", id, b, got, want)
			}
		}
	}
}

// TestStartAt: a run may start at any step outside join regions and loop
// bodies (an entry conducting a composition starts one per action), with
// the results of the paths from that step.
func TestStartAt(t *testing.T) {
	sp, err := spec.Parse([]byte(`{"workflow":"w","namespace":"guest","start":["a0"],"steps":{
		"a0":{"action":"/guest/a","catch":["caught"]},
		"a1":{"action":"/guest/b","catch":["caught"]},
		"fan":{"action":"/guest/f","next":["x","y"]},
		"x":{"action":"/guest/x"},"y":{"action":"/guest/y"},
		"caught":{}}}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		step    string
		results int
		err     string
	}{
		{"a1", 1, ""},
		{"fan", 2, ""},
		{"caught", 1, ""},
		{"nope", 0, `no step "nope"`},
	} {
		hops, n, err := sp.StartAt(tc.step)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("StartAt(%s): %v, want an error naming %q", tc.step, err, tc.err)
			}
		case err != nil || n != tc.results || !reflect.DeepEqual(hops, []spec.Hop{{Step: tc.step}}):
			t.Errorf("StartAt(%s) = %v, %d, %v; want one hop to it and %d results", tc.step, hops, n, err, tc.results)
		}
	}
	joined, err := spec.Parse([]byte(`{"workflow":"j","namespace":"guest","start":["f"],"steps":{
		"f":{"fork":"j","next":["a","b"]},
		"a":{"action":"/guest/a","in":"j","next":["j"]},"b":{"action":"/guest/b","in":"j","next":["j"]},
		"j":{"join":{"merge":"array"}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := joined.StartAt("a"); err == nil || !strings.Contains(err.Error(), "inside a join region") {
		t.Errorf("StartAt inside a join region: %v, want a refusal", err)
	}
}
