package activationdb_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/activationdb"
	"github.com/wsk-route/wsk-route/internal/whisk"
)

// actionDoc is an action document as OpenWhisk's controller stores it in
// the entity database (WhiskAction.serdes, _id, _rev, entityType), its
// code inline, with limits and version as given.
func actionDoc(id, kind, version, limits string) string {
	return `{"_id":"` + id + `","_rev":"3-7f9e","entityType":"action","namespace":"guest","name":"hello",` +
		`"exec":{"kind":"` + kind + `","code":"def main(args):\n    return args","binary":false},` +
		`"parameters":[],"limits":` + limits + `,"version":"` + version + `","publish":false,` +
		`"annotations":[{"key":"provide-api-key","value":false},{"key":"exec","value":"python:3"}],"updated":1700000000000}`
}

const allLimits = `{"timeout":30000,"memory":192,"logs":5,"concurrency":1}`

func newEntityStore(t *testing.T, url, entities string) *activationdb.Store {
	t.Helper()
	s, err := activationdb.New(activationdb.Config{URL: url, Database: "whisk_local_activations", EntityDatabase: entities,
		Username: testUser, Password: testPass})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLookupActionRequest(t *testing.T) {
	tests := []struct {
		name, entities, action, wantPath string
	}{
		{"action", "whisk_local_whisks", "/guest/hello", "/whisk_local_whisks/guest%2Fhello"},
		{"package action", "whisk_local_whisks", "/guest/pkg/hello", "/whisk_local_whisks/guest%2Fpkg%2Fhello"},
		{"namespace with @", "whisks", "/user@example.com_dev/hello", "/whisks/user%40example.com_dev%2Fhello"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, seen := server(t, http.StatusOK, actionDoc(strings.TrimPrefix(tt.action, "/"), "python:3", "0.0.2", allLimits))
			kind, limits, err := newEntityStore(t, srv.URL, tt.entities).LookupAction(context.Background(), "guest", tt.action, "0.0.2")
			if err != nil {
				t.Fatal(err)
			}
			if want := (whisk.Limits{Timeout: 30000, Memory: 192, Logs: 5, Concurrency: 1}); kind != "python:3" || limits != want {
				t.Errorf("LookupAction = %q, %+v; want python:3, %+v", kind, limits, want)
			}
			reqs := seen()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Method != http.MethodGet || r.EscapedPath != tt.wantPath || r.RequestURI != tt.wantPath {
				t.Errorf("%s %q (request URI %q), want GET %q", r.Method, r.EscapedPath, r.RequestURI, tt.wantPath)
			}
			wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte(testUser+":"+testPass))
			if got := r.Header.Get("Authorization"); got != wantAuth {
				t.Errorf("Authorization %q, want %q", got, wantAuth)
			}
			if got := r.Header.Get("Accept"); got != "application/json" {
				t.Errorf("Accept %q", got)
			}
		})
	}
}

func TestLookupActionAnswers(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		version    string
		wantKind   string
		wantLimits whisk.Limits
		wantErr    []string // nil: success
		wantNoAct  bool     // the error wraps ErrNoAction
		wantStatus int      // the error is a *StatusError with this status
	}{
		{name: "all limits", status: 200, body: actionDoc("guest/hello", "python:3", "0.0.2", allLimits), version: "0.0.2",
			wantKind: "python:3", wantLimits: whisk.Limits{Timeout: 30000, Memory: 192, Logs: 5, Concurrency: 1}},
		{name: "any version", status: 200, body: actionDoc("guest/hello", "nodejs:20", "0.0.7", allLimits), version: "",
			wantKind: "nodejs:20", wantLimits: whisk.Limits{Timeout: 30000, Memory: 192, Logs: 5, Concurrency: 1}},
		{name: "logs 0 kept", status: 200, body: actionDoc("guest/hello", "python:3", "0.0.1", `{"timeout":100,"memory":128,"logs":0,"concurrency":1}`), version: "0.0.1",
			wantKind: "python:3", wantLimits: whisk.Limits{Timeout: 100, Memory: 128, Logs: 0, Concurrency: 1}},
		{name: "old document without logs and concurrency", status: 200, body: actionDoc("guest/hello", "python:3", "0.0.1", `{"timeout":60000,"memory":256}`), version: "0.0.1",
			wantKind: "python:3", wantLimits: whisk.Limits{Timeout: 60000, Memory: 256, Logs: 10, Concurrency: 1}},
		{name: "instances kept", status: 200, body: actionDoc("guest/hello", "go:1.22", "0.0.1", `{"timeout":60000,"memory":256,"logs":10,"concurrency":4,"instances":2}`), version: "0.0.1",
			wantKind: "go:1.22", wantLimits: whisk.Limits{Timeout: 60000, Memory: 256, Logs: 10, Concurrency: 4, Instances: 2}},
		{name: "code as an attachment, blackbox", status: 200, version: "0.0.1",
			body: `{"_id":"guest/hello","_rev":"1-a","entityType":"action","namespace":"guest","name":"hello","exec":{"kind":"blackbox","image":"me/img","code":{"attachmentName":"codefile","attachmentType":"application/octet-stream"},"binary":true},` +
				`"parameters":[],"limits":` + allLimits + `,"version":"0.0.1","publish":false,"annotations":[],"updated":1,"_attachments":{"codefile":{"content_type":"application/octet-stream","stub":true,"length":3}}}`,
			wantKind: "blackbox", wantLimits: whisk.Limits{Timeout: 30000, Memory: 192, Logs: 5, Concurrency: 1}},
		{name: "other version", status: 200, body: actionDoc("guest/hello", "python:3", "0.0.3", allLimits), version: "0.0.2",
			wantErr: []string{"/guest/hello", "0.0.2", `"0.0.3"`}, wantNoAct: true},
		{name: "a package of that name", status: 200, version: "0.0.1",
			body:    `{"_id":"guest/hello","entityType":"package","namespace":"guest","name":"hello","binding":{},"version":"0.0.1"}`,
			wantErr: []string{"package"}, wantNoAct: true},
		{name: "not found", status: 404, body: `{"error":"not_found","reason":"missing"}`, version: "0.0.1",
			wantErr: []string{"/guest/hello", "404", "missing"}, wantNoAct: true, wantStatus: 404},
		{name: "deleted", status: 404, body: `{"error":"not_found","reason":"deleted"}`, version: "0.0.1",
			wantErr: []string{"deleted"}, wantNoAct: true, wantStatus: 404},
		{name: "unauthorized", status: 401, body: `{"error":"unauthorized","reason":"Name or password is incorrect."}`, version: "0.0.1",
			wantErr: []string{"GET", `"guest/hello"`, `"whisks"`, "401", "Name or password is incorrect."}, wantStatus: 401},
		{name: "server echoes the password", status: 500, body: `{"error":"bad","reason":"password ` + testPass + `"}`, version: "0.0.1",
			wantErr: []string{"500", "password ***"}, wantStatus: 500},
		{name: "not JSON", status: 200, body: `<html>proxy</html>`, version: "0.0.1", wantErr: []string{"reading it"}},
		{name: "no kind", status: 200, body: actionDoc("guest/hello", "", "0.0.1", allLimits), version: "0.0.1", wantErr: []string{"exec.kind"}},
		{name: "no memory", status: 200, body: actionDoc("guest/hello", "python:3", "0.0.1", `{"timeout":60000}`), version: "0.0.1", wantErr: []string{"lack a timeout or memory"}},
		{name: "no limits", status: 200, body: `{"_id":"guest/hello","entityType":"action","exec":{"kind":"python:3"},"version":"0.0.1"}`, version: "0.0.1",
			wantErr: []string{"lack a timeout or memory"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := server(t, tt.status, tt.body)
			kind, limits, err := newEntityStore(t, srv.URL, "whisks").LookupAction(context.Background(), "guest", "/guest/hello", tt.version)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				if kind != tt.wantKind || limits != tt.wantLimits {
					t.Errorf("LookupAction = %q, %+v; want %q, %+v", kind, limits, tt.wantKind, tt.wantLimits)
				}
				return
			}
			if err == nil {
				t.Fatalf("LookupAction = %q, %+v, nil; want an error", kind, limits)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), testPass) {
				t.Errorf("error %q contains the password", err)
			}
			if got := errors.Is(err, activationdb.ErrNoAction); got != tt.wantNoAct {
				t.Errorf("errors.Is(%v, ErrNoAction) = %v, want %v", err, got, tt.wantNoAct)
			}
			var se *activationdb.StatusError
			if got := errors.As(err, &se); got != (tt.wantStatus != 0) || got && (se.StatusCode != tt.wantStatus || se.Method != http.MethodGet) {
				t.Errorf("error %#v: StatusError %v, want status %d", err, got, tt.wantStatus)
			}
		})
	}
}

// TestLookupActionRefused: what LookupAction refuses without a request.
func TestLookupActionRefused(t *testing.T) {
	srv, seen := server(t, http.StatusOK, actionDoc("guest/hello", "python:3", "0.0.1", allLimits))
	tests := []struct {
		name, entities, action string
		want                   error // nil: any error
	}{
		{"no entity database", "", "/guest/hello", activationdb.ErrNoEntityDatabase},
		{"not fully qualified", "whisks", "guest/hello", nil},
		{"namespace only", "whisks", "/guest", nil},
		{"too deep", "whisks", "/guest/a/b/c", nil},
		{"empty package", "whisks", "/guest//hello", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := newEntityStore(t, srv.URL, tt.entities).LookupAction(context.Background(), "guest", tt.action, "0.0.1")
			if err == nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("err %v, want %v", err, tt.want)
			}
		})
	}
	if n := len(seen()); n != 0 {
		t.Errorf("%d requests sent, want none", n)
	}
}

func TestLookupActionContext(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := newEntityStore(t, srv.URL, "whisks").LookupAction(ctx, "guest", "/guest/hello", "0.0.1")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want %v", err, context.DeadlineExceeded)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestActionDocID(t *testing.T) {
	tests := []struct {
		fqn, want string
		ok        bool
	}{
		{"/guest/hello", "guest/hello", true},
		{"/guest/pkg/hello", "guest/pkg/hello", true},
		{"/whisk.system/utils/echo", "whisk.system/utils/echo", true},
		{"guest/hello", "", false},
		{"/guest", "", false},
		{"/", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.fqn, func(t *testing.T) {
			if got, ok := activationdb.ActionDocID(tt.fqn); got != tt.want || ok != tt.ok {
				t.Errorf("ActionDocID(%q) = %q, %v; want %q, %v", tt.fqn, got, ok, tt.want, tt.ok)
			}
		})
	}
}
