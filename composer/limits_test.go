package composer_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/composer"
)

func steps(n int, mk func(i int) composer.Node) *composer.Sequence {
	s := &composer.Sequence{Steps: make([]composer.Node, n)}
	for i := range s.Steps {
		s.Steps[i] = mk(i)
	}
	return s
}

func action(i int) composer.Node {
	return &composer.Action{Meta: composer.Meta{Path: fmt.Sprintf(".steps[%d]", i)}, Name: "a"}
}

// TestValidateLimits refuses workflows past MaxSteps or MaxNodes at the
// first node past the limit, keeps the problems found before it and
// looks no further.
func TestValidateLimits(t *testing.T) {
	tests := []struct {
		name string
		root composer.Node
		want []string // "" for none
	}{
		{"MaxSteps actions", steps(composer.MaxSteps, action), nil},
		{"one action too many", steps(composer.MaxSteps+1, action),
			[]string{".steps[1024]: more than 1024 actions and values in one workflow (this is number 1025): each becomes a step of the compiled workflow, which holds at most 1024 steps"}},
		{"values count", steps(100000, func(i int) composer.Node {
			return &composer.Value{Meta: composer.Meta{Path: fmt.Sprintf(".v%d", i)}, Value: json.RawMessage(`1`)}
		}), []string{".v1024: more than 1024 actions and values"}},
		{"passes count as nodes", steps(100000, func(i int) composer.Node {
			return &composer.Pass{Meta: composer.Meta{Path: fmt.Sprintf(".p%d", i)}}
		}), []string{".p8191: more than 8192 nodes (steps, lists and constructs) in one workflow (this is number 8193)"}},
		{"problems before the limit are kept, none after it", steps(2000, func(i int) composer.Node {
			if i == 3 || i == 1500 {
				return &composer.Action{Meta: composer.Meta{Path: fmt.Sprintf(".steps[%d]", i)}, Name: "a b"}
			}
			return action(i)
		}), []string{`.steps[3]: action name "a b"`, ".steps[1024]: more than 1024 actions"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := composer.Validate(&composer.Workflow{Name: "w", Root: tt.root}, composer.Options{})
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var l composer.ErrorList
			if !errors.As(err, &l) || len(l) != len(tt.want) {
				t.Fatalf("got %d problems, want %d: %v", len(l), len(tt.want), err)
			}
			for i, want := range tt.want {
				if !strings.Contains(l[i].Error(), want) {
					t.Errorf("problem %d: got %q, want it to contain %q", i, l[i], want)
				}
			}
			if !errors.Is(l[len(l)-1], composer.ErrTooLarge) {
				t.Errorf("got %v, want ErrTooLarge last", err)
			}
		})
	}
}

// TestValueResult shapes constants as openwhisk-composer shapes a
// literal: a JSON object or array as it is, anything else {"value": x}.
func TestValueResult(t *testing.T) {
	tests := []struct{ in, want string }{
		{`42`, `{"value":42}`},
		{` "done" `, `{"value":"done"}`},
		{`null`, `{"value":null}`},
		{`true`, `{"value":true}`},
		{`-1.5e3`, `{"value":-1.5e3}`},
		{`{"a":1}`, `{"a":1}`},
		{` {"a":1}`, ` {"a":1}`},
		{`[1,2]`, `[1,2]`},
		{`[]`, `[]`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := (&composer.Value{Value: json.RawMessage(tt.in)}).Result()
			if string(got) != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			if !json.Valid(got) {
				t.Errorf("%s is not JSON", got)
			}
		})
	}
}
