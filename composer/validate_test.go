package composer_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/composer"
)

func at(path string, line int) composer.Meta {
	return composer.Meta{Path: path, Pos: composer.Position{File: "w.yaml", Line: line, Col: 3}}
}

func a(name string) *composer.Action { return &composer.Action{Name: name} }

func TestValidateGood(t *testing.T) {
	cond := composer.Cond{Path: "ok", Op: composer.OpTruthy}
	w := &composer.Workflow{Name: "w", Root: &composer.Sequence{Steps: []composer.Node{
		a("x"),
		&composer.Parallel{Merge: composer.MergeObject, Branches: []composer.Branch{{Name: "p", Node: a("p")}, {Name: "q", Node: a("q")}}},
		&composer.Map{Over: "items", Body: a("m"), Concurrency: 0},
		&composer.If{Cond: cond, Then: a("t")},
		&composer.Switch{Cases: []composer.Case{{Cond: cond, Node: a("c")}}},
		&composer.Try{Body: a("b"), Catch: a("c")},
		&composer.Retry{Body: a("r"), Max: 1, Backoff: time.Second},
		&composer.While{Cond: cond, Body: a("w")},
		&composer.While{Cond: cond, Body: a("d"), Do: true, Max: composer.MaxLoopMax},
		&composer.Value{Value: []byte(`{"a":1}`)},
		&composer.Pass{},
	}}}
	if err := composer.Validate(w, composer.Options{}); err != nil {
		t.Fatal(err)
	}
}

// TestValidateBad gives one broken workflow per rule and wants its
// problem, with position and path, among the errors.
func TestValidateBad(t *testing.T) {
	tests := []struct {
		name     string
		root     composer.Node
		sentinel error
		want     string
	}{
		{"empty sequence", &composer.Sequence{Meta: at(".steps", 2)}, composer.ErrInvalid, "w.yaml:2:3: .steps: empty sequence"},
		{"parallel without branches", &composer.Parallel{Meta: at(".p", 4)}, composer.ErrInvalid, "w.yaml:4:3: .p: parallel without branches"},
		{"object merge unnamed", &composer.Parallel{Meta: at(".p", 4), Merge: composer.MergeObject, Branches: []composer.Branch{{Name: "a", Node: a("a")}, {Node: a("b")}}}, composer.ErrInvalid, "branch 1 has no name"},
		{"duplicate branch", &composer.Parallel{Meta: at(".p", 4), Branches: []composer.Branch{{Name: "a", Node: a("a")}, {Name: "a", Node: a("b")}}}, composer.ErrInvalid, `branch name "a" is used twice`},
		{"bad merge", &composer.Parallel{Meta: at(".p", 4), Merge: "sum", Branches: []composer.Branch{{Node: a("a")}}}, composer.ErrInvalid, `unknown merge "sum"`},
		{"map concurrency", &composer.Map{Meta: at(".m", 5), Body: a("a"), Concurrency: -1}, composer.ErrInvalid, "w.yaml:5:3: .m: concurrency -1 is negative"},
		{"map over", &composer.Map{Meta: at(".m", 5), Over: "a..b", Body: a("a")}, composer.ErrInvalid, "over: path"},
		{"map without body", &composer.Map{Meta: at(".m", 5)}, composer.ErrInvalid, "map body (do) is missing"},
		{"retry max", &composer.Retry{Meta: at(".r", 6), Body: a("a")}, composer.ErrInvalid, "w.yaml:6:3: .r: retry max 0 is below 1"},
		{"retry backoff", &composer.Retry{Meta: at(".r", 6), Body: a("a"), Max: 2, Backoff: -1}, composer.ErrInvalid, "backoff -1ns is negative"},
		{"bad action", &composer.Action{Meta: at(".a", 7), Name: "a//b"}, composer.ErrInvalid, `w.yaml:7:3: .a: action name "a//b"`},
		{"bad op", &composer.If{Meta: at(".i", 8), Cond: composer.Cond{Meta: at(".i.cond", 9), Path: "x", Op: "like"}, Then: a("t")}, composer.ErrInvalid, `w.yaml:9:3: .i.cond: unknown op "like"`},
		{"bad path", &composer.If{Cond: composer.Cond{Meta: at(".i.cond", 9), Path: "x[", Op: composer.OpTruthy}, Then: a("t")}, composer.ErrInvalid, "unclosed ["},
		{"if without then", &composer.If{Meta: at(".i", 8), Cond: composer.Cond{Path: "x", Op: composer.OpTruthy}}, composer.ErrInvalid, "then is missing"},
		{"switch without cases", &composer.Switch{Meta: at(".s", 8)}, composer.ErrInvalid, "switch without cases"},
		{"try without catch", &composer.Try{Meta: at(".t", 8), Body: a("a")}, composer.ErrInvalid, "catch is missing"},
		{"while max negative", &composer.While{Meta: at(".w", 8), Cond: composer.Cond{Path: "x", Op: composer.OpTruthy}, Body: a("a"), Max: -1}, composer.ErrInvalid, "w.yaml:8:3: .w: while max -1 is out of range: give 1 to 100000 iterations, or 0 for the default 1000"},
		{"do-while max too big", &composer.While{Meta: at(".w", 8), Cond: composer.Cond{Path: "x", Op: composer.OpTruthy}, Body: a("a"), Do: true, Max: composer.MaxLoopMax + 1}, composer.ErrInvalid, "do-while max 100001 is out of range"},
		{"while without body", &composer.While{Meta: at(".w", 8), Cond: composer.Cond{Path: "x", Op: composer.OpTruthy}}, composer.ErrInvalid, "w.yaml:8:3: .w: while body (do) is missing"},
		{"while bad cond", &composer.While{Meta: at(".w", 8), Cond: composer.Cond{Meta: at(".w.cond", 9), Path: "x", Op: composer.OpGt}, Body: a("a")}, composer.ErrInvalid, "w.yaml:9:3: .w.cond:"},
		{"bad value", &composer.Value{Meta: at(".v", 8), Value: []byte("{")}, composer.ErrInvalid, "value is not valid JSON"},
		{"unknown field", &composer.Action{Meta: composer.Meta{Path: ".a", Unknown: []composer.Field{{Key: "colour", Path: ".a.colour", Pos: composer.Position{File: "w.yaml", Line: 3, Col: 9}}}}, Name: "a"}, composer.ErrUnknownField, `w.yaml:3:9: .a.colour: unknown field "colour" in action`},
		{"unknown action", a("missing"), composer.ErrUnknownAction, "action /guest/missing does not exist"},
	}
	exists := func(fqn string) bool { return !strings.HasSuffix(fqn, "/missing") }
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := composer.Validate(&composer.Workflow{Name: "w", Namespace: "guest", Root: tt.root}, composer.Options{ActionExists: exists})
			if !errors.Is(err, tt.sentinel) {
				t.Fatalf("got %v, want %v", err, tt.sentinel)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestValidateAll wants every problem, not only the first.
func TestValidateAll(t *testing.T) {
	w := &composer.Workflow{Name: "", Namespace: "a/b", Root: &composer.Sequence{Steps: []composer.Node{
		&composer.Sequence{},
		&composer.Retry{Body: a("x")},
		&composer.Map{Body: &composer.Parallel{}, Concurrency: -3},
	}}}
	err := composer.Validate(w, composer.Options{})
	var l composer.ErrorList
	if !errors.As(err, &l) {
		t.Fatalf("got %T, want ErrorList", err)
	}
	if len(l) != 6 {
		t.Errorf("got %d problems, want 6:\n%v", len(l), err)
	}
}
