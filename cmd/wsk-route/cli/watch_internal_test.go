package cli

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/runevent"
)

// silentEvents is a run whose entry sent one step event and then died:
// nothing more ever comes. It honours the wait, as the real readers do.
type silentEvents struct{ calls atomic.Int64 }

func (s *silentEvents) events(ctx context.Context, ns, run string, after uint64, wait time.Duration) ([]runevent.Event, uint64, error) {
	s.calls.Add(1)
	if after == 0 {
		return []runevent.Event{{Run: run, Seq: 1, Kind: runevent.KindStep, Step: "first", Instance: "h/p", Logs: "one\n"}}, 1, nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	return nil, after, nil
}

func (*silentEvents) close() {}

// TestWatchDeadline follows a run whose end event never comes and whose
// activation has no record until after the run's deadline: follow must
// stop reading events at the deadline, say so, and return the activation
// once its record appears.
func TestWatchDeadline(t *testing.T) {
	var gets atomic.Int64
	recordAt := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/api/v1/namespaces/_/activations/") {
			http.NotFound(w, r)
			return
		}
		gets.Add(1)
		select {
		case <-recordAt:
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"activationId":"act1","response":{"status":"developer error","success":false,"result":{"error":"entry crashed"}}}`))
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error":"The requested resource does not exist."}`))
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := newAPI(ctx, wskConfig{APIHost: srv.URL, Auth: "u:k", Namespace: "guest", APIVersion: "v1"}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	src := &silentEvents{}
	var log bytes.Buffer
	deadline := time.Now().Add(time.Second)
	w := &watcher{a: a, src: src, fqn: "/guest/flow", ns: "guest", run: "act1", out: &log, log: &log, deadline: deadline}
	time.AfterFunc(1500*time.Millisecond, func() { close(recordAt) })
	act, ended, err := w.follow(ctx)
	if err != nil {
		t.Fatalf("follow: %v\n%s", err, log.String())
	}
	if ended || act == nil || act.ActivationID != "act1" {
		t.Errorf("follow = %+v, ended %v; want the activation, without an end", act, ended)
	}
	if time.Now().Before(deadline) {
		t.Errorf("follow returned before the run's deadline with no end event and no record")
	}
	got := log.String()
	for _, want := range []string{"wsk-route: step first ran on h/p", "    one", "no end event by the run's deadline"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if gets.Load() < 2 {
		t.Errorf("the activation was looked at %d times, want it polled while the events were silent", gets.Load())
	}
}
