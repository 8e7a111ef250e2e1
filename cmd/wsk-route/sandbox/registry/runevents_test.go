package registry_test

import (
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox/registry"
	"github.com/wsk-route/wsk-route/internal/registrytest"
	"github.com/wsk-route/wsk-route/invoker-plugin/agent"
)

var _ agent.RunEvents = (*registry.Registry)(nil)

func TestRunEventsContract(t *testing.T) {
	registrytest.RunEvents(t, contract{}.Conventions(), 500*time.Millisecond, func(t *testing.T, retention time.Duration) registrytest.RunEventStore {
		return registry.New(registry.Options{RunRetention: retention})
	})
}

// TestRunEventsFakeClock checks expiry on Options.Clock, and that an
// event older than the run's last is refused.
func TestRunEventsFakeClock(t *testing.T) {
	now := time.Unix(1000, 0)
	r := registry.New(registry.Options{Clock: func() time.Time { return now }, RunRetention: time.Minute})
	ctx := registrytest.Context(t, 10*time.Second)
	if err := r.AppendRunEvent(ctx, "guest", "r", registrytest.StepEvent("r", 2)); err != nil {
		t.Fatal(err)
	}
	if err := r.AppendRunEvent(ctx, "guest", "r", registrytest.StepEvent("r", 2)); err == nil {
		t.Error("a second event with seq 2 was taken, want it refused")
	}
	now = now.Add(59 * time.Second)
	if evs, _, _ := r.RunEvents(ctx, "guest", "r", 0, 0); len(evs) != 1 {
		t.Errorf("%d events 59 s after the first, want 1", len(evs))
	}
	now = now.Add(time.Second)
	if evs, _, _ := r.RunEvents(ctx, "guest", "r", 0, 0); len(evs) != 0 {
		t.Errorf("%d events a minute after the first, want none (expired)", len(evs))
	}
	// An expired run's id starts over.
	if err := r.AppendRunEvent(ctx, "guest", "r", registrytest.StepEvent("r", 1)); err != nil {
		t.Errorf("appending to an expired run: %v", err)
	}
}
