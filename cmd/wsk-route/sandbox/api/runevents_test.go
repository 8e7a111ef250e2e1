package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox/api"
	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox/registry"
	"github.com/wsk-route/wsk-route/internal/registrytest"
	"github.com/wsk-route/wsk-route/internal/runevent"
)

// waitRecorder is the embedded registry, recording the waits it is asked for.
type waitRecorder struct {
	*registry.Registry
	mu    sync.Mutex
	waits []time.Duration
}

func (w *waitRecorder) RunEvents(ctx context.Context, ns, run string, after uint64, wait time.Duration) ([]runevent.Event, uint64, error) {
	w.mu.Lock()
	w.waits = append(w.waits, wait)
	w.mu.Unlock()
	return w.Registry.RunEvents(ctx, ns, run, after, wait)
}

func (w *waitRecorder) last() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.waits[len(w.waits)-1]
}

func TestRunEventsEndpoint(t *testing.T) {
	reg := &waitRecorder{Registry: registry.New(registry.Options{})}
	e := newEnv(t, func(c *api.Config) { c.Workflows = reg })
	ctx := registrytest.Context(t, 30*time.Second)
	for _, ev := range []runevent.Event{registrytest.StepEvent("act1", 1), {Run: "act1", Seq: 2, Kind: runevent.KindEnd}} {
		if err := reg.AppendRunEvent(ctx, "guest", "act1", ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := reg.AppendRunEvent(ctx, "other", "secret", registrytest.StepEvent("secret", 1)); err != nil {
		t.Fatal(err)
	}
	const base = "/api/v1/namespaces/_/wsk-route/runs/"

	page := func(t *testing.T, path string) api.RunEventsPage {
		t.Helper()
		status, m, raw := e.do(t, http.MethodGet, path, "", "")
		if status != http.StatusOK {
			t.Fatalf("GET %s: %d %v", path, status, m)
		}
		var p api.RunEventsPage
		if err := json.Unmarshal(raw, &p); err != nil || p.Events == nil {
			t.Fatalf("GET %s: %s (%v), want a page with an events list", path, raw, err)
		}
		return p
	}
	t.Run("events after an index", func(t *testing.T) {
		for _, tc := range []struct {
			query      string
			want, next uint64
		}{
			{"", 2, 2},
			{"?after=1", 1, 2},
			{"?after=2&wait=0", 0, 2},
		} {
			p := page(t, base+"act1/events"+tc.query)
			if uint64(len(p.Events)) != tc.want || p.Next != tc.next {
				t.Errorf("%s: %d events, next %d; want %d, %d", tc.query, len(p.Events), p.Next, tc.want, tc.next)
			}
		}
		if p := page(t, base+"act1/events"); p.Events[0] != registrytest.StepEvent("act1", 1) || p.Events[1].Kind != runevent.KindEnd {
			t.Errorf("events %+v, want the step event then the end", p.Events)
		}
	})
	t.Run("namespace isolation", func(t *testing.T) {
		if p := page(t, base+"secret/events"); len(p.Events) != 0 {
			t.Errorf("guest reads another namespace's run: %+v", p.Events)
		}
		status, m, _ := e.do(t, http.MethodGet, "/api/v1/namespaces/other/wsk-route/runs/secret/events", "", "")
		wantError(t, "another namespace's path", http.StatusForbidden, m, status, "not authorized")
	})
	t.Run("wait is bounded", func(t *testing.T) {
		start := time.Now()
		if p := page(t, base+"idle/events?wait=0.3"); len(p.Events) != 0 || p.Next != 0 {
			t.Errorf("an idle run: %+v", p)
		}
		if got := reg.last(); got != 300*time.Millisecond || time.Since(start) > 10*time.Second {
			t.Errorf("wait=0.3 waited %v (asked the registry for %v), want 300ms", time.Since(start), got)
		}
		// A long wait is cut to the maximum (the event is there, so it
		// does not wait at all).
		if err := reg.AppendRunEvent(ctx, "guest", "idle", registrytest.StepEvent("idle", 1)); err != nil {
			t.Fatal(err)
		}
		for _, w := range []string{"86400", "1e300"} {
			if p := page(t, base+"idle/events?wait="+w); len(p.Events) != 1 {
				t.Errorf("wait=%s ended with %+v, want the event", w, p)
			}
			if got := reg.last(); got != api.MaxRunEventWait {
				t.Errorf("wait=%s asked the registry for %v, want the cap %v", w, got, api.MaxRunEventWait)
			}
		}
	})
	t.Run("refused", func(t *testing.T) {
		for _, tc := range []struct {
			name, path, auth string
			status           int
			msg              string
		}{
			{"no auth", base + "act1/events", "-", http.StatusUnauthorized, "requires authentication"},
			{"bad key", base + "act1/events", "Basic eDp5", http.StatusUnauthorized, "invalid"},
			{"bad run id", base + "bad%21id/events", "", http.StatusBadRequest, "run id is invalid"},
			{"run id too long", base + fmt.Sprintf("%070d", 1) + "/events", "", http.StatusBadRequest, "run id is invalid"},
			{"after not a number", base + "act1/events?after=x", "", http.StatusBadRequest, "after must be"},
			{"negative after", base + "act1/events?after=-1", "", http.StatusBadRequest, "after must be"},
			{"wait not a number", base + "act1/events?wait=soon", "", http.StatusBadRequest, "wait must be"},
			{"negative wait", base + "act1/events?wait=-2", "", http.StatusBadRequest, "wait must be"},
			{"no events segment", base + "act1", "", http.StatusNotFound, "does not exist"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				status, m, _ := e.do(t, http.MethodGet, tc.path, tc.auth, "")
				wantError(t, tc.name, tc.status, m, status, tc.msg)
			})
		}
		status, _, _ := e.do(t, http.MethodPost, base+"act1/events", "", "{}")
		if status != http.StatusMethodNotAllowed {
			t.Errorf("POST: %d, want 405", status)
		}
	})
	t.Run("a registry without run events", func(t *testing.T) {
		e := newEnv(t, func(c *api.Config) { c.Workflows = struct{ api.Workflows }{reg} })
		status, m, _ := e.do(t, http.MethodGet, base+"act1/events", "", "")
		wantError(t, "no reader", http.StatusNotFound, m, status, "does not exist")
	})
}
