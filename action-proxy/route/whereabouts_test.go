package route

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
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
