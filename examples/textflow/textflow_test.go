package main

import (
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/examples/exampletest"
)

// TestTextflowCompose deploys textflow.yaml as a user would, `wsk-route
// compose textflow.yaml` alone (its actions section creates the three
// actions), and runs it, cold and then warm.
func TestTextflowCompose(t *testing.T) {
	env := exampletest.Start(t, 2*time.Minute)
	env.Compose(t, "textflow.yaml")
	for _, round := range []string{"cold", "warm"} {
		act := env.Invoke(t, "textflow", map[string]any{"text": "hello direct world"})
		m, _ := act.Response.Result.(map[string]any)
		if !act.Response.Success || m["message"] != "HELLO DIRECT WORLD! (3 words)" {
			t.Fatalf("%s run: %s %v (logs %q), want the message HELLO DIRECT WORLD! (3 words)", round, act.Response.Status, act.Response.Result, act.Logs)
		}
		env.WaitIdle(t)
	}
	for _, s := range []string{"textflow-upper", "textflow-count", "textflow-exclaim"} {
		if n := env.Activations(t, s, 1); n != 1 {
			t.Errorf("%s: %d activations, want 1 (the cold run's fallback): the warm run must go direct", s, n)
		}
	}
}
