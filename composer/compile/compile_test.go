package compile_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/composer"
	"github.com/wsk-route/wsk-route/composer/compile"
	"github.com/wsk-route/wsk-route/composer/parse"
	"github.com/wsk-route/wsk-route/internal/spec"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestGolden compiles every testdata/*.yaml and *.json and compares the
// result with X.spec.json (the compiled spec) or X.err (the errors).
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, ".spec.json") || strings.HasSuffix(f, ".err") || f == filepath.Join("testdata", "fuzz") {
			continue
		}
		n++
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			stem := strings.TrimSuffix(f, filepath.Ext(f))
			got, ext := compileFile(t, f, data)
			golden := stem + ext
			other := stem + ".err"
			if ext == ".err" {
				other = stem + ".spec.json"
			}
			if *update {
				// -update rewrites what a file compiles to, never whether it
				// compiles: a file that flips between a spec and errors needs
				// its old golden removed by hand, so the flip is reviewed.
				if _, err := os.Stat(other); err == nil {
					t.Fatalf("%s now gives %s but has %s: remove %s by hand if that is right", f, ext, filepath.Base(other), other)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("no golden %s (run go test -update): %v\ngot:\n%s", golden, err, got)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s: got\n%s\nwant\n%s", golden, got, want)
			}
			if _, err := os.Stat(other); err == nil {
				t.Errorf("stale golden %s beside %s", other, golden)
			}
		})
	}
	if n < 10 {
		t.Fatalf("found %d inputs in testdata, want at least 10", n)
	}
}

func compileFile(t *testing.T, name string, data []byte) ([]byte, string) {
	t.Helper()
	w, err := parse.File(filepath.Base(name), data)
	if err == nil {
		var s *spec.Spec
		s, err = compile.Compile(w, compile.Options{Namespace: "guest"})
		if err == nil {
			raw, err := s.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := json.Indent(&buf, raw, "", "  "); err != nil {
				t.Fatal(err)
			}
			buf.WriteByte('\n')
			// The golden spec must read back as a valid spec.
			if _, err := spec.Parse(buf.Bytes()); err != nil {
				t.Fatalf("compiled spec does not parse: %v", err)
			}
			return buf.Bytes(), ".spec.json"
		}
	}
	return []byte(err.Error() + "\n"), ".err"
}

// TestDeterministic compiles the same workflow many times and wants the
// same bytes each time (map iteration must not leak into the output).
func TestDeterministic(t *testing.T) {
	data, err := os.ReadFile("testdata/fanout.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var first []byte
	for i := 0; i < 50; i++ {
		w, err := parse.YAML("fanout.yaml", data)
		if err != nil {
			t.Fatal(err)
		}
		s, err := compile.Compile(w, compile.Options{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := s.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = b
		} else if !bytes.Equal(b, first) {
			t.Fatalf("run %d: got %s, want %s", i, b, first)
		}
	}
}

func act(name string) composer.Node { return &composer.Action{Name: name} }

// TestCompile covers the shapes today's spec expresses and the
// branch-order contract with internal/spec.
func TestCompile(t *testing.T) {
	tests := []struct {
		name      string
		root      composer.Node
		namespace string
		start     []string
		steps     map[string]spec.Step
		paths     int
	}{
		{
			name:  "single action",
			root:  act("a"),
			start: []string{"s1-a"},
			steps: map[string]spec.Step{"s1-a": {Action: "/_/a"}},
			paths: 1,
		},
		{
			name:      "namespace replaces underscore",
			root:      &composer.Sequence{Steps: []composer.Node{act("/_/p/a"), act("/other/b")}},
			namespace: "guest",
			start:     []string{"s1-a"},
			steps: map[string]spec.Step{
				"s1-a": {Action: "/guest/p/a", Next: []string{"s2-b"}},
				"s2-b": {Action: "/other/b"},
			},
			paths: 1,
		},
		{
			name: "parallel at the end",
			root: &composer.Sequence{Steps: []composer.Node{act("a"), &composer.Parallel{Branches: []composer.Branch{
				{Name: "x", Node: act("b")},
				{Node: &composer.Sequence{Steps: []composer.Node{act("c"), act("d")}}},
			}}}},
			start: []string{"s1-a"},
			steps: map[string]spec.Step{
				"s1-a":      {Action: "/_/a", Next: []string{"s2.x-b", "s2.b2.1-c"}},
				"s2.x-b":    {Action: "/_/b"},
				"s2.b2.1-c": {Action: "/_/c", Next: []string{"s2.b2.2-d"}},
				"s2.b2.2-d": {Action: "/_/d"},
			},
			paths: 2,
		},
		{
			name:  "pass steps vanish",
			root:  &composer.Sequence{Steps: []composer.Node{&composer.Pass{}, act("a"), &composer.Pass{}}},
			start: []string{"s2-a"},
			steps: map[string]spec.Step{"s2-a": {Action: "/_/a"}},
			paths: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := compile.Compile(&composer.Workflow{Name: "w", Root: tt.root}, compile.Options{Namespace: tt.namespace})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := strings.Join(s.Start, ","), strings.Join(tt.start, ","); got != want {
				t.Errorf("start: got %s, want %s", got, want)
			}
			if len(s.Steps) != len(tt.steps) {
				t.Errorf("got %d steps %v, want %d", len(s.Steps), s.Steps, len(tt.steps))
			}
			for id, want := range tt.steps {
				got, ok := s.Steps[id]
				if !ok || got.Action != want.Action || strings.Join(got.Next, ",") != strings.Join(want.Next, ",") {
					t.Errorf("step %s: got %+v (present %v), want %+v", id, got, ok, want)
				}
			}
			if got := s.Paths(); got != tt.paths {
				t.Errorf("paths: got %d, want %d", got, tt.paths)
			}
		})
	}
}

// TestBranchOrder checks that branch i of a final parallel gets result
// slot i at the entry, however long each branch is.
func TestBranchOrder(t *testing.T) {
	var branches []composer.Branch
	for _, name := range []string{"z", "a", "m"} {
		branches = append(branches, composer.Branch{Name: name, Node: &composer.Sequence{Steps: []composer.Node{act(name + "1"), act(name + "2")}}})
	}
	s, err := compile.Compile(&composer.Workflow{Name: "w", Root: &composer.Sequence{Steps: []composer.Node{act("first"), &composer.Parallel{Branches: branches}}}}, compile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hops := s.NextHops("s1-first", 0)
	for i, want := range []string{"s2.z.1-z1", "s2.a.1-a1", "s2.m.1-m1"} {
		if hops[i].Step != want || hops[i].Branch != uint32(i) {
			t.Errorf("hop %d: got %+v, want step %s branch %d", i, hops[i], want, i)
		}
	}
}

// TestRefused lists workflows today's spec cannot express; each must
// fail with ErrNeedsRoutePlane naming the construct and path.
func TestRefused(t *testing.T) {
	tests := []struct {
		name string
		root composer.Node
		want string
	}{
		{"retry of a sequence, with its position", &composer.Retry{Meta: composer.Meta{Path: ".steps[1].retry", Pos: composer.Position{File: "flow.yaml", Line: 12, Col: 5}}, Body: &composer.Sequence{Steps: []composer.Node{act("a"), act("b")}}, Max: 2},
			"retry at flow.yaml:12:5 (.steps[1].retry) needs the route plane's support for retrying more than one action (retry one action at a time), which is not built yet"},
		{"retry of a sequence", &composer.Retry{Meta: composer.Meta{Path: ".r"}, Body: &composer.Sequence{Steps: []composer.Node{act("a"), act("b")}}, Max: 2}, "support for retrying more than one action"},
		{"pass branch", &composer.Parallel{Branches: []composer.Branch{{Node: act("x")}, {Node: &composer.Pass{}}}}, "pass-through branch"},
		{"only pass", &composer.Pass{}, "workflow without actions"},
		{"try around a parallel", &composer.Sequence{Steps: []composer.Node{act("a"), &composer.Try{
			Body:  &composer.Parallel{Meta: pos(".steps[1].try.do", 3), Branches: []composer.Branch{{Node: act("x")}, {Node: act("y")}}},
			Catch: act("c")}, act("d")}},
			"parallel at flow.yaml:3:5 (.steps[1].try.do) needs the route plane's support for a catch around a parallel or a map"},
		{"try around a map, at the end", &composer.Try{
			Body:  &composer.Sequence{Steps: []composer.Node{act("a"), &composer.Map{Meta: pos(".m", 4), Body: act("m")}}},
			Catch: act("c")},
			"map at flow.yaml:4:5 (.m) needs the route plane's support for a catch around a parallel or a map"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := compile.Compile(&composer.Workflow{Name: "w", Root: tt.root}, compile.Options{})
			if !errors.Is(err, compile.ErrNeedsRoutePlane) {
				t.Fatalf("got %v, want ErrNeedsRoutePlane", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func truthy(path string) composer.Cond { return composer.Cond{Path: path, Op: composer.OpTruthy} }

func pos(path string, line int) composer.Meta {
	return composer.Meta{Path: path, Pos: composer.Position{File: "flow.yaml", Line: line, Col: 5}}
}

// TestRefusedLoops lists the loops the route plane cannot run yet; each
// refusal names the construct and its position.
func TestRefusedLoops(t *testing.T) {
	tests := []struct {
		name string
		root composer.Node
		want []string
	}{
		{"parallel in a body",
			&composer.While{Meta: pos(".steps[0]", 3), Cond: truthy("more"), Body: &composer.Sequence{Steps: []composer.Node{
				act("a"), &composer.Parallel{Meta: pos(".steps[0].while.do[1]", 6), Branches: []composer.Branch{{Node: act("b")}, {Node: act("c")}}},
			}}},
			[]string{"parallel at flow.yaml:6:5 (.steps[0].while.do[1]) needs the route plane's support for a parallel or a map inside a loop body, which is not built yet"}},
		{"map in an if in a do-while body",
			&composer.While{Do: true, Cond: truthy("more"), Body: &composer.If{Cond: truthy("x"), Then: &composer.Map{Meta: pos(".m", 9), Body: act("m")}}},
			[]string{"map at flow.yaml:9:5 (.m) needs the route plane's support for a parallel or a map inside a loop body"}},
		{"map in an inner loop, reported once",
			&composer.While{Cond: truthy("more"), Body: &composer.While{Cond: truthy("inner"), Body: &composer.Map{Meta: pos(".m", 9), Body: act("m")}}},
			[]string{"map at flow.yaml:9:5 (.m) needs"}},
		{"two regions",
			&composer.While{Cond: truthy("more"), Body: &composer.Sequence{Steps: []composer.Node{
				&composer.Map{Meta: pos(".m", 4), Body: act("m")}, &composer.Try{Body: &composer.Parallel{Meta: pos(".p", 5), Branches: []composer.Branch{{Node: act("p")}}}, Catch: act("c")},
			}}},
			[]string{"map at flow.yaml:4:5 (.m) needs", "parallel at flow.yaml:5:5 (.p) needs"}},
		{"pass body",
			&composer.Sequence{Steps: []composer.Node{act("a"), &composer.While{Meta: pos(".steps[1]", 4), Cond: truthy("more"), Body: &composer.Pass{}}}},
			[]string{"while at flow.yaml:4:5 (.steps[1]) needs the route plane's support for a loop body without actions, which is not built yet"}},
		{"constant body",
			&composer.Sequence{Steps: []composer.Node{act("a"), &composer.While{Meta: pos(".steps[1]", 4), Do: true, Cond: truthy("more"), Body: &composer.Value{Value: []byte(`{"more":false}`)}}}},
			[]string{"do-while at flow.yaml:4:5 (.steps[1]) needs the route plane's support for a loop body without actions"}},
		{"inner body without actions",
			&composer.While{Cond: truthy("more"), Body: &composer.Sequence{Steps: []composer.Node{act("a"), &composer.While{Meta: pos(".inner", 7), Cond: truthy("x"), Body: &composer.Pass{}}}}},
			[]string{"while at flow.yaml:7:5 (.inner) needs the route plane's support for a loop body without actions"}},
		{"try around a loop",
			&composer.Try{Meta: pos(".steps[0]", 2), Body: &composer.Sequence{Steps: []composer.Node{act("a"), &composer.While{Cond: truthy("more"), Body: act("b")}}}, Catch: act("c")},
			[]string{"try at flow.yaml:2:5 (.steps[0]) needs the route plane's support for a catch around a loop"}},
	}
	var deep composer.Node = act("a")
	for i := 0; i < 9; i++ { // the ninth loop is one level too many
		deep = &composer.While{Meta: pos(fmt.Sprintf(".loop%d", 9-i), 9-i), Cond: truthy("x"), Body: &composer.Sequence{Steps: []composer.Node{act("b"), deep}}}
	}
	var deepMix composer.Node = &composer.While{Meta: pos(".w", 20), Cond: truthy("x"), Body: act("a")}
	for i := 0; i < 8; i++ {
		deepMix = &composer.Map{Body: &composer.Sequence{Steps: []composer.Node{act("b"), deepMix}}}
	}
	tests = append(tests, []struct {
		name string
		root composer.Node
		want []string
	}{
		{"nine nested loops", deep, []string{"while at flow.yaml:9:5 (.loop9) needs the route plane's support for more than 8 nested loops and join regions"}},
		{"a loop in eight nested maps", deepMix, []string{"while at flow.yaml:20:5 (.w) needs the route plane's support for more than 8 nested loops and join regions"}},
	}...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := compile.Compile(&composer.Workflow{Name: "w", Root: tt.root}, compile.Options{})
			if !errors.Is(err, compile.ErrNeedsRoutePlane) {
				t.Fatalf("got %v, want ErrNeedsRoutePlane", err)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Fatalf("got %d refusals, want %d:\n%v", len(lines), len(tt.want), err)
			}
			for i, want := range tt.want {
				if !strings.Contains(lines[i], want) {
					t.Errorf("refusal %d: got %q, want it to contain %q", i, lines[i], want)
				}
			}
		})
	}
}

// TestLoops checks what loops compile to beyond the goldens: a loop in a
// try's catch, a try with a router in its body, loops in switch cases,
// and the bound passed through.
func TestLoops(t *testing.T) {
	root := &composer.Sequence{Steps: []composer.Node{
		&composer.Try{Body: &composer.If{Cond: truthy("x"), Then: act("a")}, Catch: &composer.While{Cond: truthy("retry"), Body: act("fix"), Max: 7}},
		&composer.Switch{Cases: []composer.Case{
			{Cond: truthy("a"), Node: &composer.While{Do: true, Cond: truthy("more"), Body: act("pa")}},
			{Cond: truthy("b"), Node: &composer.While{Cond: truthy("more"), Body: act("pb"), Max: composer.MaxLoopMax}},
		}, Default: act("d")},
	}}
	s, err := compile.Compile(&composer.Workflow{Name: "w", Root: root}, compile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	heads := map[string]int{}
	for id, st := range s.Steps {
		if st.Loop != nil {
			heads[id] = s.LoopMax(id)
			if st.Action != "" || len(st.Switch) != 1 || st.InLoop != "" {
				t.Errorf("head %s: got %+v", id, st)
			}
		}
	}
	want := map[string]int{"s1.catch-while": 7, "s2.c1-do-while": spec.DefaultLoopMax, "s2.c2-while": composer.MaxLoopMax}
	if len(heads) != len(want) {
		t.Errorf("loop heads: got %v, want %v", heads, want)
	}
	for id, max := range want {
		if heads[id] != max {
			t.Errorf("head %s: got max %d, want %d (heads %v)", id, heads[id], max, heads)
		}
	}
	if st := s.Steps["s1.do.c1-a"]; len(st.Catch) != 1 || st.Catch[0] != "s1.catch-while" {
		t.Errorf("the try's action: got %+v, want a catch to the loop", st)
	}
	if st, ok := s.Steps["s1.do-if"]; !ok || st.Catch != nil {
		t.Errorf("the try's router: got %+v (present %v), want no catch", st, ok)
	}
	if st := s.Steps["s2.c1.do-pa"]; st.InLoop != "s2.c1-do-while" {
		t.Errorf("do-while body: got %+v", st)
	}
}

// TestLoopBounds keeps the composer's loop bounds equal to the spec's,
// and compiles loops nested as deep as the spec allows.
func TestLoopBounds(t *testing.T) {
	var deep composer.Node = act("a")
	for i := 0; i < spec.MaxNesting; i++ {
		deep = &composer.While{Cond: truthy("x"), Body: &composer.Sequence{Steps: []composer.Node{act("b"), deep}}}
	}
	s, err := compile.Compile(&composer.Workflow{Name: "w", Root: deep}, compile.Options{})
	if err != nil {
		t.Fatalf("%d nested loops: %v", spec.MaxNesting, err)
	}
	if got := len(s.Loops("s1.do.2.do.2.do.2.do.2.do.2.do.2.do.2.do.2-a")); got != spec.MaxNesting {
		t.Errorf("the innermost action is in %d loops, want %d", got, spec.MaxNesting)
	}
	if composer.DefaultLoopMax != spec.DefaultLoopMax || composer.MaxLoopMax != spec.MaxLoopMax {
		t.Errorf("composer bounds %d/%d, spec bounds %d/%d", composer.DefaultLoopMax, composer.MaxLoopMax, spec.DefaultLoopMax, spec.MaxLoopMax)
	}
}

// TestRefusedAll reports every refused construct, not just the first.
func TestRefusedAll(t *testing.T) {
	root := &composer.Sequence{Steps: []composer.Node{
		&composer.Retry{Meta: composer.Meta{Path: ".r"}, Body: &composer.Sequence{Steps: []composer.Node{act("a"), act("b")}}, Max: 2},
		&composer.Parallel{Branches: []composer.Branch{{Node: act("x")}, {Node: &composer.Pass{}}}},
	}}
	_, err := compile.Compile(&composer.Workflow{Name: "w", Root: root}, compile.Options{})
	var n int
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var nr *compile.NeedsRoutePlaneError
		if errors.As(e, &nr) {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("got %d refusals in %v, want 2", n, err)
	}
}

// TestValidates checks that Compile validates first, with ActionExists.
func TestValidates(t *testing.T) {
	known := map[string]bool{"/guest/a": true}
	w := &composer.Workflow{Name: "w", Namespace: "guest", Root: &composer.Sequence{Steps: []composer.Node{act("a"), act("b")}}}
	_, err := compile.Compile(w, compile.Options{ActionExists: func(f string) bool { return known[f] }})
	if !errors.Is(err, composer.ErrUnknownAction) || !strings.Contains(err.Error(), "/guest/b") {
		t.Fatalf("got %v, want ErrUnknownAction for /guest/b", err)
	}
	if _, err := compile.Compile(&composer.Workflow{Name: "bad/name", Root: act("a")}, compile.Options{}); !errors.Is(err, composer.ErrInvalid) {
		t.Fatalf("got %v, want ErrInvalid for a bad workflow name", err)
	}
}

// walk runs a compiled spec of one path (no fan-out, no joins) on value,
// the actions being fns by name, and returns the actions run in order:
// the loops' iterations as the route plane routes them (spec.Route at
// every step, loop heads included).
func walk(t *testing.T, s *spec.Spec, fns map[string]func(map[string]any), value map[string]any) []string {
	t.Helper()
	var ran []string
	hops := s.StartHops()
	for n := 0; len(hops) > 0; n++ {
		if len(hops) != 1 || n > 10000 {
			t.Fatalf("after %v: hops %v, want one path that ends", ran, hops)
		}
		id := hops[0].Step
		st := s.Steps[id]
		switch {
		case st.Action != "":
			name := st.Action[strings.LastIndexByte(st.Action, '/')+1:]
			ran = append(ran, name)
			fns[name](value)
		case st.Value != nil:
			value = map[string]any{}
			if err := json.Unmarshal(st.Value, &value); err != nil {
				t.Fatal(err)
			}
		}
		raw, err := json.Marshal(value)
		if err != nil {
			t.Fatal(err)
		}
		if hops, err = s.Route(id, 0, raw); err != nil {
			t.Fatal(err)
		}
	}
	return ran
}

// TestLoopRuns routes values through compiled loops: a while may run its
// body zero times, a do-while runs it at least once, nested loops run
// their inner body per outer iteration.
func TestLoopRuns(t *testing.T) {
	dec := func(key string) func(map[string]any) {
		return func(v map[string]any) { v[key] = v[key].(float64) - 1 }
	}
	nop := func(map[string]any) {}
	gt := func(path string, n int) composer.Cond {
		return composer.Cond{Path: path, Op: composer.OpGt, Value: json.RawMessage(fmt.Sprint(n))}
	}
	tests := []struct {
		name  string
		root  composer.Node
		input map[string]any
		want  string
	}{
		{"while three times", &composer.Sequence{Steps: []composer.Node{act("first"), &composer.While{Cond: gt("n", 0), Body: act("dec"), Max: 5}, act("last")}},
			map[string]any{"n": 3.0}, "first dec dec dec last"},
		{"while zero times", &composer.Sequence{Steps: []composer.Node{act("first"), &composer.While{Cond: gt("n", 0), Body: act("dec")}, act("last")}},
			map[string]any{"n": 0.0}, "first last"},
		{"do-while at the start, once", &composer.Sequence{Steps: []composer.Node{&composer.While{Do: true, Cond: gt("n", 0), Body: &composer.Sequence{Steps: []composer.Node{act("dec"), act("first")}}}, act("last")}},
			map[string]any{"n": 0.0}, "dec first last"},
		{"do-while twice, the loop's value the result", &composer.Sequence{Steps: []composer.Node{act("first"), &composer.While{Do: true, Cond: gt("n", 0), Body: act("dec")}}},
			map[string]any{"n": 2.0}, "first dec dec"},
		{"nested", &composer.While{Cond: gt("n", 0), Body: &composer.Sequence{Steps: []composer.Node{
			act("dec"), act("reset"),
			&composer.While{Do: true, Cond: gt("m", 0), Body: act("decm")},
		}}}, map[string]any{"n": 2.0}, "dec reset decm decm dec reset decm decm"},
		{"a constant in the body", &composer.Sequence{Steps: []composer.Node{act("first"), &composer.While{Cond: gt("n", 0), Body: &composer.Sequence{Steps: []composer.Node{
			act("last"), &composer.Value{Value: json.RawMessage(`{"n": 0}`)},
		}}}}}, map[string]any{"n": 5.0}, "first last"},
		{"a do-while opening a while's body", &composer.While{Cond: gt("n", 0), Body: &composer.Sequence{Steps: []composer.Node{
			&composer.While{Do: true, Cond: gt("m", 0), Body: act("decm")}, act("dec"),
		}}}, map[string]any{"n": 2.0, "m": 0.0}, "decm dec decm dec"},
		{"an if in the body", &composer.While{Cond: gt("n", 0), Body: &composer.Sequence{Steps: []composer.Node{
			&composer.If{Cond: composer.Cond{Path: "n", Op: composer.OpEq, Value: json.RawMessage("2")}, Then: act("first")}, act("dec"),
		}}}, map[string]any{"n": 3.0}, "dec first dec dec"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := compile.Compile(&composer.Workflow{Name: "w", Root: tt.root}, compile.Options{})
			if err != nil {
				t.Fatal(err)
			}
			fns := map[string]func(map[string]any){"dec": dec("n"), "decm": dec("m"), "first": nop, "last": nop,
				"reset": func(v map[string]any) { v["m"] = 2.0 }}
			ran := walk(t, s, fns, tt.input)
			if got := strings.Join(ran, " "); got != tt.want {
				t.Errorf("ran %q, want %q", got, tt.want)
			}
		})
	}
}
