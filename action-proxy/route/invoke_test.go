package route

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

// InvokeAction is a blocking invoke through the OpenWhisk API, as a
// conductor's components are invoked: the result of an activation that
// succeeded or failed as an action (502 with its {"error": ...}) is the
// answer, also of one that outlived the blocking wait (202), whose result
// is polled; anything else is an error that says what the API answered.
func TestInvokeAction(t *testing.T) {
	var got struct{ path, query, auth, body string }
	polls := 0
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			if r.URL.Path != "/api/v1/namespaces/_/activations/abc/result" {
				w.WriteHeader(http.StatusNotFound)
				return
			}
			if polls++; polls < 3 {
				w.WriteHeader(http.StatusNotFound)
				io.WriteString(w, `{"error":"The requested resource does not exist."}`)
				return
			}
			io.WriteString(w, `{"result":{"n":3},"size":7,"status":"success","success":true}`)
			return
		}
		user, pass, _ := r.BasicAuth()
		b, _ := io.ReadAll(r.Body)
		got.path, got.query, got.auth, got.body = r.URL.Path, r.URL.RawQuery, user+":"+pass, string(b)
		switch {
		case strings.HasSuffix(r.URL.Path, "/ok"):
			io.WriteString(w, `{"n":2}`)
		case strings.HasSuffix(r.URL.Path, "/fails"):
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, `{"error":"no"}`)
		case strings.HasSuffix(r.URL.Path, "/slow"):
			w.WriteHeader(http.StatusAccepted)
			io.WriteString(w, `{"activationId":"abc"}`)
		default:
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error":"The requested resource does not exist."}`)
		}
	}))
	defer api.Close()
	p, err := New(Config{AgentSocket: filepath.Join(t.TempDir(), "agent.sock"), Name: "entry", APIHost: api.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := p.InvokeAction(ctx, "/ns/ok", []byte(`{}`)); err == nil || !strings.Contains(err.Error(), "no API key") {
		t.Errorf("without a key: %v, want an error saying so", err)
	}
	p.Identify(Identity{Namespace: "ns", Action: "/ns/entry", APIKey: "u:k"})
	for _, tc := range []struct{ fqn, want, err string }{
		{"/ns/ok", `{"n":2}`, ""},
		{"/ns/pkg/fails", `{"error":"no"}`, ""},
		{"/ns/slow", `{"n":3}`, ""},
		{"/ns/gone", "", "404 Not Found"},
		{"gone", "", "not a fully qualified action name"},
	} {
		out, err := p.InvokeAction(ctx, tc.fqn, []byte(`{"n":1}`))
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: %s, %v; want an error naming %q", tc.fqn, out, err, tc.err)
		case tc.err == "" && (err != nil || string(out) != tc.want):
			t.Errorf("%s: %s, %v; want %s", tc.fqn, out, err, tc.want)
		}
	}
	if got.query != "blocking=true&result=true" || got.auth != "u:k" || got.body != `{"n":1}` || got.path != "/api/v1/namespaces/ns/actions/gone" {
		t.Errorf("the API got %+v, want a blocking invoke for the result with the key and the params", got)
	}
}
