package cli

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// startsServer answers GET .../wsk-route/starts with the answers in turn
// (the last one again when they run out); an answer of "" is a 404, as
// from an OpenWhisk that has no such route.
func startsServer(t *testing.T, answers ...string) (*api, *atomic.Int64) {
	t.Helper()
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/namespaces/_/wsk-route/starts" {
			t.Errorf("request to %s, want only the starts route", r.URL.Path)
		}
		n := int(calls.Add(1))
		a := answers[min(n, len(answers))-1]
		if a == "" {
			http.Error(w, `{"error":"The requested resource does not exist."}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(a))
	}))
	t.Cleanup(srv.Close)
	return &api{cfg: wskConfig{APIHost: srv.URL, Auth: "u:k"}, hc: srv.Client(), ns: "guest", base: srv.URL + "/api/v1"}, &calls
}

// shown collects what a coldStarts shows.
type shown struct {
	mu    sync.Mutex
	lines []string
}

func (s *shown) show(a *api) func(coldStart) {
	return func(c coldStart) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.lines = append(s.lines, coldStartLine(a.shortName(c.Action), c.Phase))
	}
}

// TestColdStartsNoRoute: on a 404 the poller stops by itself, after one
// question, and shows nothing.
func TestColdStartsNoRoute(t *testing.T) {
	a, calls := startsServer(t, "")
	var s shown
	c := startColdStarts(t.Context(), a, "", nil, s.show(a))
	select {
	case <-c.done:
	case <-time.After(coldStartDelay + 5*time.Second):
		t.Fatal("the poller did not stop after a 404")
	}
	c.Stop() // and Stop still returns
	if n := calls.Load(); n != 1 || len(s.lines) != 0 {
		t.Errorf("%d questions, shown %q; want 1 question and nothing shown", n, s.lines)
	}
}

// TestColdStartsOncePerPhase: a cold start is shown once it is a second
// old, once per action and line, only for the kept actions; Stop ends
// the polling.
func TestColdStartsOncePerPhase(t *testing.T) {
	a, calls := startsServer(t,
		`[{"action":"/guest/a","phase":"starting","elapsedMs":400}]`,
		`[{"action":"/guest/a","phase":"starting","elapsedMs":1100},{"action":"/guest/other","phase":"compiling","elapsedMs":1100}]`,
		`[{"action":"/guest/a","phase":"initializing","elapsedMs":1600}]`,
		`[{"action":"/guest/a","phase":"compiling","elapsedMs":2100},{"action":"/guest/pkg/b","phase":"compiling","elapsedMs":1000}]`,
		`[{"action":"/guest/a","phase":"compiling","elapsedMs":2600},{"action":"/guest/pkg/b","phase":"compiling","elapsedMs":1500}]`,
	)
	keep := func(fqn string) bool { return fqn != "/guest/other" }
	var s shown
	c := startColdStarts(t.Context(), a, "", keep, s.show(a))
	deadline := time.Now().Add(coldStartDelay + 10*time.Second)
	for calls.Load() < 6 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d questions by the deadline", calls.Load())
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.Stop()
	after := calls.Load()
	time.Sleep(2 * coldStartEvery)
	if calls.Load() != after {
		t.Errorf("questions went on after Stop: %d, then %d", after, calls.Load())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	want := []string{"starting a container for a…", "starting a container for a, compiling…", "starting a container for pkg/b, compiling…"}
	if len(s.lines) != len(want) {
		t.Fatalf("shown %q, want %q", s.lines, want)
	}
	for i := range want {
		if s.lines[i] != want[i] {
			t.Errorf("line %d: %q, want %q", i, s.lines[i], want[i])
		}
	}
}
