package route

import (
	"testing"
	"time"
)

func TestSeenSet(t *testing.T) {
	t0 := time.Unix(1000, 0)
	k := runKey{"r1", "a", 0, ""}
	var s seenSet
	steps := []struct {
		name     string
		key      runKey
		deadline time.Time
		now      time.Time
		want     bool
	}{
		{"first", k, t0.Add(time.Second), t0, true},
		{"retry", k, t0.Add(time.Second), t0.Add(time.Millisecond), false},
		{"other branch", runKey{"r1", "a", 1, ""}, t0.Add(time.Second), t0, true},
		{"other slot of an outer region", runKey{"r1", "a", 0, "1"}, t0.Add(time.Second), t0, true},
		{"other run", runKey{"r2", "a", 0, ""}, time.Time{}, t0, true},
		{"after deadline, within grace", k, t0.Add(time.Second), t0.Add(30 * time.Second), false},
		{"after grace", k, t0.Add(time.Second), t0.Add(2 * time.Minute), true},
	}
	for _, st := range steps {
		if got := s.add(st.key, st.deadline, st.now); got != st.want {
			t.Errorf("%s: add = %v, want %v", st.name, got, st.want)
		}
	}
	s.remove(k)
	if !s.add(k, time.Time{}, t0.Add(2*time.Minute)) {
		t.Error("add after remove = false, want true")
	}
	// The add "after grace" pruned both keys of run r1 (expired at t0+61s);
	// its re-add of k was removed again, and the last add (no prune: within a
	// second of the one before) put k back. Left: r2's key and k.
	if n := s.len(); n != 2 {
		t.Errorf("%d keys after pruning, want 2 (run r2's and k)", n)
	}
	for _, key := range []runKey{{"r2", "a", 0, ""}, k} {
		if _, ok := s.m[key]; !ok {
			t.Errorf("key %v missing after pruning", key)
		}
	}
}
