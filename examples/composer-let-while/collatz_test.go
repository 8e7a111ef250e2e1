package composerletwhile_test

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/examples/exampletest"
	"github.com/wsk-route/wsk-route/internal/conductor"
)

// actions are the composition's inline actions and their source files.
var actions = map[string]string{
	"/_/collatz-not-one": "_actions/not_one.py",
	"/_/collatz-halve":   "_actions/halve.py",
}

// TestCompiled checks collatz.json as composer's compile() writes it: its
// composition is the lowering of its ast (as internal/conductor lowers
// it, which TestLowerMatchesCompile checks against compile() on composer's
// own cases, labels included), and its inline actions are the Python
// files of _actions/.
func TestCompiled(t *testing.T) {
	data, err := os.ReadFile("collatz.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		AST     json.RawMessage `json:"ast"`
		Actions []struct {
			Name   string `json:"name"`
			Action struct {
				Exec struct {
					Kind string `json:"kind"`
					Code string `json:"code"`
				} `json:"exec"`
			} `json:"action"`
		} `json:"actions"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	compiled, err := conductor.Decode(data, conductor.Limits{})
	if err != nil {
		t.Fatalf("collatz.json: %v", err)
	}
	lowered, err := conductor.Decode(doc.AST, conductor.Limits{})
	if err != nil {
		t.Fatalf("collatz.json's ast: %v", err)
	}
	if !reflect.DeepEqual(compiled.Root, lowered.Root) {
		t.Error("collatz.json's composition is not the lowering of its ast")
	}
	if len(doc.Actions) != len(actions) {
		t.Fatalf("collatz.json defines %d actions, want %d", len(doc.Actions), len(actions))
	}
	for _, a := range doc.Actions {
		src, ok := actions[a.Name]
		if !ok {
			t.Errorf("collatz.json defines %s, which has no file in _actions/", a.Name)
			continue
		}
		code, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if a.Action.Exec.Kind != "python:3" || a.Action.Exec.Code != string(code) {
			t.Errorf("collatz.json's %s is %s %q, want python:3 with %s's code", a.Name, a.Action.Exec.Kind, a.Action.Exec.Code, src)
		}
	}
}

// TestCollatz deploys collatz.json and runs it on n = 6: 6, 3, 10, 5, 16,
// 8, 4, 2, 1 is 8 steps, 2 of them from an odd number (halving 3 and 5
// fails; the handler takes 3n+1 instead). The cold run starts each action
// through the OpenWhisk API; the warm run makes no activation of its own:
// every action call is a direct hop.
func TestCollatz(t *testing.T) {
	env := exampletest.Start(t, 2*time.Minute)
	env.Compose(t, "collatz.json") // the two inline actions, then the entry
	want := map[string]any{"n": 1.0, "steps": 8.0, "odd": 2.0}
	afterCold := map[string]int{}
	for _, round := range []string{"cold", "warm"} {
		start := time.Now()
		act := env.Invoke(t, "collatz", map[string]any{"n": 6})
		if !act.Response.Success || !reflect.DeepEqual(act.Response.Result, want) {
			t.Fatalf("%s: %s %v, want success and %v (logs %q)", round, act.Response.Status, act.Response.Result, want, act.Logs)
		}
		t.Logf("%s run in %v", round, time.Since(start).Round(time.Millisecond))
		env.WaitIdle(t)
		for _, name := range []string{"collatz-not-one", "collatz-halve"} {
			n := env.Activations(t, name, 1)
			if round == "cold" {
				afterCold[name] = n
			} else if n != afterCold[name] {
				t.Errorf("%s: %d activations after the warm run, %d after the cold one: the warm run must not go through the controller", name, n, afterCold[name])
			}
		}
	}
	// n = 1: the test fails at once, no step.
	if act := env.Invoke(t, "collatz", map[string]any{"n": 1}); !reflect.DeepEqual(act.Response.Result, map[string]any{"n": 1.0, "steps": 0.0, "odd": 0.0}) {
		t.Errorf("n = 1: %v, want n 1 in 0 steps", act.Response.Result)
	}
}
