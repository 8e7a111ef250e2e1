package composer_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/composer"
	"github.com/wsk-route/wsk-route/internal/cond"
)

// The evaluator's own tests are in internal/cond; these check that
// composer's Cond reaches it intact and keeps its positioned checks.

func TestWire(t *testing.T) {
	c := composer.Cond{
		Meta: composer.Meta{Path: ".if"},
		All: []composer.Cond{
			{Path: "a", Op: composer.OpGe, Value: json.RawMessage(`2`)},
			{Not: &composer.Cond{Any: []composer.Cond{{Path: "b[0]", Op: composer.OpExists}}}},
		},
	}
	got, err := json.Marshal(c.Wire())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"all":[{"path":"a","op":"\u003e=","value":2},{"not":{"any":[{"path":"b[0]","op":"exists"}]}}]}`
	if string(got) != want {
		t.Errorf("Wire marshals to %s, want %s", got, want)
	}
	if _, err := cond.Parse(got); err != nil {
		t.Errorf("cond.Parse(Wire) = %v", err)
	}
	// An empty all stays empty, not absent, so it stays invalid.
	empty := composer.Cond{All: []composer.Cond{}}.Wire()
	if empty.Validate() == nil {
		t.Error("Wire dropped an empty all: the wire form validates")
	}
}

func TestEvalComposer(t *testing.T) {
	tests := []struct {
		name  string
		cond  composer.Cond
		value string
		want  bool
		bad   bool
	}{
		{"holds", composer.Cond{Path: "a", Op: composer.OpEq, Value: json.RawMessage(`3.0`)}, `{"a":3}`, true, false},
		{"does not hold", composer.Cond{Not: &composer.Cond{Path: "a", Op: composer.OpTruthy}}, `{"a":1}`, false, false},
		{"unknown field", composer.Cond{Path: "a", Op: composer.OpTruthy, Meta: composer.Meta{Unknown: []composer.Field{{Key: "x"}}}}, `{}`, false, true},
		{"invalid", composer.Cond{Any: []composer.Cond{}}, `{}`, false, true},
		{"bad value", composer.Cond{Op: composer.OpTruthy}, `{`, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := composer.Eval(tt.cond, json.RawMessage(tt.value))
			if tt.bad {
				if err == nil {
					t.Fatalf("got %v, nil; want an error", got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// TestCondValidateAll checks that composer still reports every problem,
// each at its own position.
func TestCondValidateAll(t *testing.T) {
	at := func(path string, line int) composer.Meta {
		return composer.Meta{Path: path, Pos: composer.Position{File: "w.yaml", Line: line, Col: 1}}
	}
	c := composer.Cond{Meta: at(".c", 1), Any: []composer.Cond{
		{Meta: at(".c.any[0]", 2), Path: "a..b", Op: composer.OpLt},
		{Meta: at(".c.any[1]", 3), Not: &composer.Cond{Meta: at(".c.any[1].not", 4), Op: "~"}},
	}}
	err := c.Validate()
	var l composer.ErrorList
	if !errors.As(err, &l) || !errors.Is(err, composer.ErrInvalid) {
		t.Fatalf("Validate = %v, want an ErrorList of ErrInvalid", err)
	}
	want := []string{
		`w.yaml:2:1: .c.any[0]: path "a..b"`,
		`w.yaml:2:1: .c.any[0]: op "<" needs a value`,
		`w.yaml:4:1: .c.any[1].not: unknown op "~"`,
	}
	if len(l) != len(want) {
		t.Fatalf("got %d problems %v, want %d", len(l), l, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(l[i].Error(), w) {
			t.Errorf("problem %d = %q, want it to start %q", i, l[i].Error(), w)
		}
	}
}
