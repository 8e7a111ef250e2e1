package compile_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
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
		if strings.HasSuffix(f, ".spec.json") || strings.HasSuffix(f, ".err") {
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
