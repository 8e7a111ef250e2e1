package route

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/agentproto"
	"github.com/wsk-route/wsk-route/internal/routetable"
)

// A fallback activation that fails before any proxy takes its step (the
// container never starts, its /init fails) fails the run within a few
// polls, naming the step and quoting the activation's error; one whose
// step reported does not fail the run.
func TestFallbackActivationFailure(t *testing.T) {
	tests := []struct {
		name    string
		record  string // the activation's record once it ended; "" never
		wantErr string // "" : the run must not fail because of it
	}{
		{"failed before the proxy took it", `{"response":{"status":"action developer error","success":false,"result":{"error":"cannot start action: command exited"}}}`,
			"fallback activation act-b-1 ended (action developer error) before its proxy took the step: cannot start action: command exited"},
		{"still running", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runA, _ := twoBlobHosts(t)
			var gets atomic.Int32
			api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch {
				case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/actions/b"):
					w.WriteHeader(http.StatusAccepted)
					fmt.Fprintln(w, `{"activationId":"act-b-1"}`)
				case r.Method == http.MethodGet && r.URL.Path == "/api/v1/namespaces/_/activations/act-b-1":
					if gets.Add(1) < 3 || tt.record == "" {
						http.Error(w, `{"error":"The requested resource does not exist."}`, http.StatusNotFound)
						return
					}
					fmt.Fprintln(w, tt.record)
				default:
					http.Error(w, "unexpected "+r.Method+" "+r.URL.String(), http.StatusNotFound)
				}
			}))
			defer api.Close()
			entry := blobPlane(t, runA, "entry", Identity{Namespace: "ns1", Action: "/ns1/entry", APIKey: "u:p"}, nil, api.URL)
			blobPlane(t, runA, "pa", Identity{Namespace: "ns1", Action: "/ns1/a", APIKey: "u:p"}, &fakeExecutor{free: true, result: []byte(`{"a":1}`)}, api.URL)

			timeout := 4 * time.Second
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			waitInstances(t, ctx, entry, "/ns1/a", 1)
			runCtx, cancelRun := context.WithTimeout(ctx, timeout)
			defer cancelRun()
			start := time.Now()
			_, err := entry.StartRun(runCtx, "big", []byte(`{}`), RunOptions{})
			took := time.Since(start)
			var re *RunError
			if !errors.As(err, &re) {
				t.Fatalf("StartRun: %v, want a RunError", err)
			}
			if tt.wantErr == "" {
				if !strings.Contains(re.Reason, "deadline") {
					t.Errorf("run failed with %v; want it to wait for the running activation until its deadline", err)
				}
				return
			}
			if re.Step != "b" || !strings.Contains(re.Reason, tt.wantErr) {
				t.Errorf("run failed with %v; want step b and %q", err, tt.wantErr)
			}
			if took > timeout/2 {
				t.Errorf("the failure came after %v, near the run's deadline (%v)", took, timeout)
			}
			t.Logf("failed after %v: %v", took, err)
		})
	}
}

// An instance missing from the route table is gone only if a table listed
// it before: a fallback's new container runs its step before the agent's
// next table lists it, and its run must not fail as if it had been lost
// (a cold start under load after a sandbox restart did). One that was
// listed and then dropped is gone, across a new agent's first snapshot too.
func TestInTableLocked(t *testing.T) {
	dir, err := os.MkdirTemp("", "wskroute")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := flowPlane(t, dir, "entry", Identity{Namespace: "ns", Action: "/ns/entry"}, nil)
	inst := func(id string) routetable.Instance {
		return routetable.Instance{ID: id, Namespace: "ns", Action: "/ns/a", Host: "host1", Unix: "unix:" + dir + "/" + id}
	}
	check := func(when string, want map[string]bool) {
		t.Helper()
		p.mu.Lock()
		defer p.mu.Unlock()
		for id, w := range want {
			if got := p.inTableLocked(id); got != w {
				t.Errorf("%s: inTableLocked(%s) = %v, want %v", when, id, got, w)
			}
		}
	}
	check("before any table", map[string]bool{"h/a": true, "h/new": true})
	p.applyTable(&agentproto.Table{Full: true, Upsert: []routetable.Instance{inst("h/a"), inst("h/b")}})
	check("after the first table", map[string]bool{"h/a": true, "h/b": true, "h/new": true})
	p.applyTable(&agentproto.Table{Remove: []string{"h/a"}})
	check("after a's removal", map[string]bool{"h/a": false, "h/b": true, "h/new": true})
	p.applyTable(&agentproto.Table{Upsert: []routetable.Instance{inst("h/new")}})
	p.applyTable(&agentproto.Table{Full: true, Upsert: []routetable.Instance{inst("h/new")}})
	check("after a snapshot without b", map[string]bool{"h/a": false, "h/b": false, "h/new": true})
	// A new agent: a new table, and its first snapshot lacks new.
	p.setWelcome(&welcomeState{instanceID: "host1/entry", host: "host2", key: testKey, client: p.welcome.client, inline: p.welcome.inline})
	check("before the new agent's snapshot", map[string]bool{"h/new": true})
	p.applyTable(&agentproto.Table{Full: true})
	check("after the new agent's snapshot", map[string]bool{"h/new": false, "h/never": true})
}
