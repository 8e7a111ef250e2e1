package compile_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/composer"
	"github.com/wsk-route/wsk-route/composer/compile"
	"github.com/wsk-route/wsk-route/composer/parse"
	"github.com/wsk-route/wsk-route/internal/spec"
)

// hugeInputs are workflows far past the size limits, by the route a
// deployer's file takes (parse, then Compile) and built in Go.
var hugeInputs = []struct {
	name string
	// build returns what compileHuge compiles: a file's name and bytes,
	// or a workflow.
	build func() (string, []byte, *composer.Workflow)
	// want is in the one error, which names where the limit is passed
	// (for composer JSON, whose limits are the conductor's and the
	// conducted spec's, the composition).
	want string
}{
	{"yaml-100k-actions", func() (string, []byte, *composer.Workflow) {
		return "big.yaml", yamlSteps(100000, "  - a%d\n"), nil
	}, "big.yaml:1027:5: .steps[1024]: more than 1024 actions and values in one workflow (this is number 1025): each becomes a step of the compiled workflow, which holds at most 1024 steps"},
	{"yaml-10k-ifs", func() (string, []byte, *composer.Workflow) {
		return "ifs.yaml", yamlSteps(10000, "  - if: {cond: {path: x, op: truthy}, then: a%d}\n"), nil
	}, "ifs.yaml:1027:45: .steps[1024].if.then: more than 1024 actions and values"},
	{"yaml-100k-passes", func() (string, []byte, *composer.Workflow) {
		return "passes.yaml", yamlSteps(100000, "  - pass: {} # %d\n"), nil
	}, "passes.yaml:8194:5: .steps[8191]: more than 8192 nodes (steps, lists and constructs) in one workflow (this is number 8193)"},
	{"json-100k-actions", func() (string, []byte, *composer.Workflow) {
		var b strings.Builder
		b.WriteString(`{"type": "sequence", "components": [`)
		for i := 0; i < 100000; i++ {
			if i > 0 {
				b.WriteString(",\n")
			}
			fmt.Fprintf(&b, `{"type": "action", "name": "a%d"}`, i)
		}
		b.WriteString("]}\n")
		return "big.json", []byte(b.String()), nil
	}, "big.json:1:1: more than 10000 combinators"}, // the conductor's bound, applied by parse
	{"json-2k-actions", func() (string, []byte, *composer.Workflow) {
		var b strings.Builder
		b.WriteString(`{"type": "sequence", "components": [`)
		for i := 0; i < 2000; i++ {
			if i > 0 {
				b.WriteString(",\n")
			}
			fmt.Fprintf(&b, `"a%d", "a%d"`, i, i) // each action named twice
		}
		b.WriteString("]}\n")
		return "big.json", []byte(b.String()), nil
	}, `big.json:1:1: composition "big" names 2000 actions, more than the 1022 a compiled workflow holds`},
	{"model-100k-actions", func() (string, []byte, *composer.Workflow) {
		steps := make([]composer.Node, 100000)
		for i := range steps {
			steps[i] = &composer.Action{Meta: composer.Meta{Path: fmt.Sprintf(".steps[%d]", i)}, Name: fmt.Sprintf("a%d", i)}
		}
		return "", nil, &composer.Workflow{Name: "big", Root: &composer.Sequence{Steps: steps}}
	}, ".steps[1024]: more than 1024 actions and values"},
}

// yamlSteps returns a workflow file of n steps, line formatted with i.
func yamlSteps(n int, line string) []byte {
	var b strings.Builder
	b.WriteString("name: big\nsteps:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, line, i)
	}
	return []byte(b.String())
}

// compileHuge parses (when there is a file) and compiles.
func compileHuge(file string, data []byte, w *composer.Workflow) error {
	if data != nil {
		var err error
		if w, err = parse.File(file, data); err != nil {
			return err
		}
	}
	_, err := compile.Compile(w, compile.Options{Namespace: "guest"})
	return err
}

// TestCompileHuge refuses workflows far past the size limits with one
// error that says which limit and names the first node past it, before
// any pass over the rest (BenchmarkCompileHuge measures how soon).
func TestCompileHuge(t *testing.T) {
	for _, tt := range hugeInputs {
		t.Run(tt.name, func(t *testing.T) {
			err := compileHuge(tt.build())
			if !errors.Is(err, composer.ErrTooLarge) {
				t.Fatalf("got %v, want ErrTooLarge", err)
			}
			var l composer.ErrorList
			if !errors.As(err, &l) || len(l) != 1 {
				t.Fatalf("got %d problems, want 1: %v", len(l), err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

// BenchmarkCompileHuge measures how long a workflow far past the size
// limits takes to be refused (see TestCompileHuge).
func BenchmarkCompileHuge(b *testing.B) {
	for _, in := range hugeInputs {
		b.Run(in.name, func(b *testing.B) {
			file, data, w := in.build()
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := compileHuge(file, data, w); !errors.Is(err, composer.ErrTooLarge) {
					b.Fatalf("got %v, want ErrTooLarge", err)
				}
			}
		})
	}
}

// TestCompileTooManySteps refuses a workflow within composer.MaxSteps
// whose compiled spec needs more than spec.MaxSteps steps: its routers
// and joins count too.
func TestCompileTooManySteps(t *testing.T) {
	var steps []composer.Node
	for i := 0; i < 300; i++ { // each: a fork, two actions, a join
		steps = append(steps, &composer.Parallel{Branches: []composer.Branch{{Node: act("a")}, {Node: act("b")}}})
	}
	w := &composer.Workflow{Name: "w", Meta: composer.Meta{Pos: composer.Position{File: "flow.yaml", Line: 1, Col: 1}},
		Root: &composer.Sequence{Steps: append(steps, act("end"))}}
	_, err := compile.Compile(w, compile.Options{})
	if !errors.Is(err, composer.ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
	const want = `flow.yaml:1:1: workflow "w" compiles to 1200 steps, more than the 1024 a compiled workflow holds: its 601 actions and values need 599 routers, joins and forks besides`
	if err.Error() != want {
		t.Errorf("got  %q\nwant %q", err, want)
	}
}

// TestLimits keeps the composer's limit equal to the spec's and compiles
// a workflow at the limit.
func TestLimits(t *testing.T) {
	if composer.MaxSteps != spec.MaxSteps {
		t.Fatalf("composer.MaxSteps %d, spec.MaxSteps %d", composer.MaxSteps, spec.MaxSteps)
	}
	s, err := compile.Compile(&composer.Workflow{Name: "w", Root: &composer.Sequence{Steps: nActions(composer.MaxSteps)}}, compile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Steps) != spec.MaxSteps {
		t.Errorf("got %d steps, want %d", len(s.Steps), spec.MaxSteps)
	}
}

func nActions(n int) []composer.Node {
	steps := make([]composer.Node, n)
	for i := range steps {
		steps[i] = act(fmt.Sprintf("a%d", i))
	}
	return steps
}
