package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	ow "github.com/apache/openwhisk-client-go/whisk"

	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox/api"
	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox/store"
	"github.com/wsk-route/wsk-route/internal/whisk"
)

const (
	guestUUID = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502"
	guestKey  = "123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"
	guestAuth = guestUUID + ":" + guestKey
)

// call is one recorded Invoke.
type call struct {
	user     whisk.Identity
	action   whisk.Action
	rev      string
	params   string
	blocking bool
}

// fakeInvoker records calls and answers with reply.
type fakeInvoker struct {
	mu    sync.Mutex
	calls []call
	reply func(a whisk.Action, blocking bool) (whisk.Activation, bool, error)
}

func (f *fakeInvoker) Invoke(_ context.Context, user whisk.Identity, a whisk.Action, rev string, params json.RawMessage, blocking bool) (whisk.Activation, bool, error) {
	f.mu.Lock()
	f.calls = append(f.calls, call{user, a, rev, string(params), blocking})
	reply := f.reply
	f.mu.Unlock()
	if reply == nil {
		return whisk.Activation{ActivationID: "0123456789abcdef0123456789abcdef"}, false, nil
	}
	return reply(a, blocking)
}

func (f *fakeInvoker) last(t *testing.T) call {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		t.Fatal("Invoke was not called")
	}
	return f.calls[len(f.calls)-1]
}

type env struct {
	srv   *httptest.Server
	store *store.Store
	inv   *fakeInvoker
}

func newEnv(t *testing.T, mod func(*api.Config)) *env {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	id := whisk.Identity{Subject: "guest", Namespace: whisk.NamespaceRef{Name: "guest", UUID: guestUUID}, AuthKey: whisk.AuthKey{APIKey: guestAuth}, Rights: []string{"READ", "PUT", "DELETE", "ACTIVATE"}}
	if err := st.PutSubject(id); err != nil {
		t.Fatal(err)
	}
	other := whisk.Identity{Subject: "other", Namespace: whisk.NamespaceRef{Name: "other", UUID: "u-other"}, AuthKey: whisk.AuthKey{APIKey: "u-other:k"}}
	if err := st.PutSubject(other); err != nil {
		t.Fatal(err)
	}
	inv := &fakeInvoker{}
	cfg := api.Config{Store: st, Controller: inv, BuildInfo: api.BuildInfo{Version: "test", Date: "2026-12-01"}, Runtimes: map[string]any{"python": []any{map[string]any{"kind": "python:3"}}}}
	if mod != nil {
		mod(&cfg)
	}
	h, err := api.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{srv: srv, store: st, inv: inv}
}

func (e *env) client(t *testing.T, auth string) *ow.Client {
	t.Helper()
	c, err := ow.NewClient(&http.Client{}, &ow.Config{Host: e.srv.URL, AuthToken: auth, Namespace: "_"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// do sends a raw request with the guest's credentials unless auth is set
// ("-" for none) and returns the status and decoded body.
func (e *env) do(t *testing.T, method, path, auth, body string) (int, map[string]any, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	switch auth {
	case "":
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(guestAuth)))
	case "-":
	default:
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	if resp.StatusCode >= 400 && resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("%s %s: error Content-Type %q", method, path, resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode, m, raw
}

var codeRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// wantError checks an error answer's status, message (substring) and code.
func wantError(t *testing.T, what string, status int, m map[string]any, gotStatus int, msg string) {
	t.Helper()
	if gotStatus != status {
		t.Errorf("%s: status %d, want %d (body %v)", what, gotStatus, status, m)
		return
	}
	got, _ := m["error"].(string)
	if !strings.Contains(got, msg) {
		t.Errorf("%s: error %q, want it to contain %q", what, got, msg)
	}
	if c, _ := m["code"].(string); !codeRE.MatchString(c) {
		t.Errorf("%s: code %q is not a 32-character id", what, c)
	}
}

// wskStatus returns the HTTP status a client error carries.
func wskStatus(err error) int {
	var we *ow.WskError
	if errors.As(err, &we) {
		return we.ExitCode + 256
	}
	return 0
}

func str(s string) *string { return &s }
func intp(n int) *int      { return &n }

func TestInfoAndNamespaces(t *testing.T) {
	e := newEnv(t, nil)
	for _, p := range []string{"/api/v1", "/api/v1/", "/"} {
		st, m, _ := e.do(t, "GET", p, "-", "")
		if st != 200 || m["description"] != "wsk-route dev sandbox (not a production OpenWhisk)" {
			t.Errorf("GET %s = %d %v", p, st, m)
		}
		if _, ok := m["runtimes"].(map[string]any)["python"]; !ok {
			t.Errorf("GET %s: runtimes %v", p, m["runtimes"])
		}
	}
	info, _, err := e.client(t, "").Info.Get()
	if err != nil || info.BuildNo != "test" {
		t.Errorf("Info.Get = %+v, %v", info, err)
	}
	ns, _, err := e.client(t, guestAuth).Namespaces.List()
	if err != nil || len(ns) != 1 || ns[0].Name != "guest" {
		t.Errorf("Namespaces.List = %+v, %v", ns, err)
	}
	st, _, raw := e.do(t, "GET", "/ping", "-", "")
	if st != 200 || string(raw) != "pong" {
		t.Errorf("/ping = %d %q", st, raw)
	}
}

func TestAuth(t *testing.T) {
	e := newEnv(t, nil)
	basic := func(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name, path, auth string
		status           int
		msg              string
	}{
		{"missing", "/api/v1/namespaces/_/actions", "-", 401, "The resource requires authentication, which was not supplied with the request"},
		{"not basic", "/api/v1/namespaces/_/actions", "Bearer x", 401, "The resource requires authentication"},
		{"wrong key", "/api/v1/namespaces/_/actions", basic(guestUUID + ":nope"), 401, "The supplied authentication is invalid"},
		{"unknown uuid", "/api/v1/namespaces/_/actions", basic("nobody:" + guestKey), 401, "The supplied authentication is invalid"},
		{"bad base64", "/api/v1/namespaces/_/actions", "Basic !!!", 401, "The supplied authentication is invalid"},
		{"namespaces list needs auth", "/api/v1/namespaces", "-", 401, "requires authentication"},
		{"other namespace", "/api/v1/namespaces/other/actions", "", 403, "The supplied authentication is not authorized to access 'other'."},
		{"other user's namespace", "/api/v1/namespaces/guest/actions", basic("u-other:k"), 403, "not authorized to access 'guest'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, m, _ := e.do(t, "GET", tc.path, tc.auth, "")
			wantError(t, tc.name, tc.status, m, st, tc.msg)
		})
	}
	// Own namespace by name works.
	if st, _, _ := e.do(t, "GET", "/api/v1/namespaces/guest/actions", "", ""); st != 200 {
		t.Errorf("own namespace: %d", st)
	}
	// The client sees the 401 too.
	_, _, err := e.client(t, guestUUID+":nope").Actions.List("", nil)
	if wskStatus(err) != 401 || !strings.Contains(err.Error(), "The supplied authentication is invalid") {
		t.Errorf("client with wrong key: %v (status %d)", err, wskStatus(err))
	}
}

func TestActionCRUDWithClient(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(t, guestAuth)
	act := &ow.Action{
		Name:        "hello",
		Exec:        &ow.Exec{Kind: "python:3", Code: str("def main(a):\n  return a\n")},
		Parameters:  ow.KeyValueArr{{Key: "greeting", Value: "hi"}},
		Annotations: ow.KeyValueArr{{Key: "note", Value: "x"}},
		Limits:      &ow.Limits{Timeout: intp(5000)},
	}
	got, _, err := c.Actions.Insert(act, false)
	if err != nil {
		t.Fatalf("Insert: %v", err)
	}
	if got.Namespace != "guest" || got.Version != "0.0.1" || got.Exec == nil || got.Exec.Code == nil || *got.Limits.Timeout != 5000 || *got.Limits.Memory != whisk.DefaultMemoryMB {
		t.Errorf("Insert = %+v", got)
	}
	if v := got.Annotations.GetValue("exec"); v != "python:3" {
		t.Errorf("exec annotation = %v, want python:3", v)
	}
	if v := got.Annotations.GetValue("note"); v != "x" {
		t.Errorf("note annotation = %v", v)
	}
	// Create again without overwrite: 409.
	_, _, err = c.Actions.Insert(act, false)
	if wskStatus(err) != 409 || !strings.Contains(err.Error(), "resource already exists") {
		t.Errorf("second Insert: %v (status %d), want 409 resource already exists", err, wskStatus(err))
	}
	// Update without exec keeps the code, bumps the version, merges limits.
	upd, _, err := c.Actions.Insert(&ow.Action{Name: "hello", Limits: &ow.Limits{Memory: intp(128)}}, true)
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if upd.Version != "0.0.2" || upd.Exec == nil || upd.Exec.Code == nil || !strings.Contains(*upd.Exec.Code, "def main") || *upd.Limits.Timeout != 5000 || *upd.Limits.Memory != 128 {
		t.Errorf("update = %+v exec %+v limits %+v", upd, upd.Exec, upd.Limits)
	}
	if v := upd.Parameters.GetValue("greeting"); v != "hi" {
		t.Errorf("update lost parameters: %v", upd.Parameters)
	}
	full, _, err := c.Actions.Get("hello", true)
	if err != nil || full.Exec.Code == nil {
		t.Errorf("Get code=true = %+v, %v", full, err)
	}
	meta, _, err := c.Actions.Get("hello", false)
	if err != nil || meta.Exec == nil || meta.Exec.Code != nil || meta.Exec.Kind != "python:3" {
		t.Errorf("Get code=false = %+v, %v", meta, err)
	}
	if _, _, err := c.Actions.Insert(&ow.Action{Name: "second", Exec: &ow.Exec{Kind: "blackbox", Image: "img"}}, false); err != nil {
		t.Fatal(err)
	}
	list, _, err := c.Actions.List("", &ow.ActionListOptions{Limit: 10})
	if err != nil || len(list) != 2 || list[0].Name != "second" || list[1].Name != "hello" {
		t.Fatalf("List = %+v, %v", list, err)
	}
	if list[1].Exec == nil || list[1].Exec.Code != nil || list[1].Exec.Binary == nil || *list[1].Exec.Binary {
		t.Errorf("list entry exec = %+v, want only binary:false", list[1].Exec)
	}
	// Raw list entry shape: exactly OpenWhisk's view fields.
	_, _, raw := e.do(t, "GET", "/api/v1/namespaces/_/actions?limit=1&skip=1", "", "")
	var entries []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &entries); err != nil || len(entries) != 1 {
		t.Fatalf("raw list: %s", raw)
	}
	for _, k := range []string{"namespace", "name", "version", "annotations", "limits", "exec", "publish", "updated"} {
		if _, ok := entries[0][k]; !ok {
			t.Errorf("list entry lacks %q: %s", k, raw)
		}
	}
	if _, ok := entries[0]["parameters"]; ok || string(entries[0]["exec"]) != `{"binary":false}` {
		t.Errorf("list entry = %s", raw)
	}
	if _, err := c.Actions.Delete("hello"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	_, _, err = c.Actions.Get("hello", true)
	if wskStatus(err) != 404 || !strings.Contains(err.Error(), "The requested resource does not exist.") {
		t.Errorf("Get after delete: %v", err)
	}
	st, m, _ := e.do(t, "DELETE", "/api/v1/namespaces/_/actions/hello", "", "")
	wantError(t, "delete again", 404, m, st, "The requested resource does not exist.")
	st, m, _ = e.do(t, "DELETE", "/api/v1/namespaces/_/actions/second", "", "")
	if st != 200 || m["name"] != "second" {
		t.Errorf("raw DELETE = %d %v, want the deleted action", st, m)
	}
}

func TestPackagesWithClient(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(t, guestAuth)
	code := &ow.Exec{Kind: "python:3", Code: str("def main(a): return a")}
	_, _, err := c.Actions.Insert(&ow.Action{Name: "pkg/inner", Exec: code}, false)
	if wskStatus(err) != 404 || !strings.Contains(err.Error(), "The requested resource does not exist.") {
		t.Errorf("action in missing package: %v (status %d)", err, wskStatus(err))
	}
	pub := true
	p, _, err := c.Packages.Insert(&ow.Package{Name: "pkg", Publish: &pub, Parameters: ow.KeyValueArr{{Key: "fromPkg", Value: 1}, {Key: "both", Value: "pkg"}}}, false)
	if err != nil || p.Version != "0.0.1" || p.Publish == nil || !*p.Publish || p.Namespace != "guest" {
		t.Fatalf("Packages.Insert = %+v, %v", p, err)
	}
	_, _, err = c.Packages.Insert(&ow.Package{Name: "pkg"}, false)
	if wskStatus(err) != 409 || !strings.Contains(err.Error(), "resource already exists") {
		t.Errorf("package again: %v", err)
	}
	if _, _, err := c.Packages.Insert(&ow.Package{Name: "pkg", Annotations: ow.KeyValueArr{{Key: "a", Value: 1}}}, true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Actions.Insert(&ow.Action{Name: "pkg/inner", Exec: code, Parameters: ow.KeyValueArr{{Key: "both", Value: "action"}}}, false); err != nil {
		t.Fatalf("action in package: %v", err)
	}
	inner, _, err := c.Actions.Get("pkg/inner", true)
	if err != nil || inner.Namespace != "guest/pkg" || inner.Parameters.GetValue("both") != "action" || fmt.Sprint(inner.Parameters.GetValue("fromPkg")) != "1" {
		t.Errorf("Get pkg/inner = %+v, %v", inner, err)
	}
	acts, _, err := c.Actions.List("pkg", nil)
	if err != nil || len(acts) != 1 || acts[0].Name != "inner" || acts[0].Namespace != "guest/pkg" {
		t.Errorf("List(pkg) = %+v, %v", acts, err)
	}
	top, _, err := c.Actions.List("", nil)
	if err != nil || len(top) != 0 {
		t.Errorf("top-level list = %+v, %v (the package's action must not be listed)", top, err)
	}
	got, _, err := c.Packages.Get("pkg")
	if err != nil || got.Version != "0.0.2" || len(got.Actions) != 1 || got.Actions[0].Name != "inner" || fmt.Sprint(got.Annotations.GetValue("a")) != "1" {
		t.Errorf("Packages.Get = %+v, %v", got, err)
	}
	ps, _, err := c.Packages.List(&ow.PackageListOptions{})
	if err != nil || len(ps) != 1 || ps[0].Name != "pkg" {
		t.Errorf("Packages.List = %+v, %v", ps, err)
	}
	_, err = c.Packages.Delete("pkg")
	if wskStatus(err) != 409 || !strings.Contains(err.Error(), "Package not empty (contains 1 entity)") {
		t.Errorf("delete non-empty: %v", err)
	}
	if _, err := c.Actions.Delete("pkg/inner"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Packages.Delete("pkg"); err != nil {
		t.Errorf("delete empty package: %v", err)
	}
	_, _, err = c.Packages.Get("pkg")
	if wskStatus(err) != 404 {
		t.Errorf("Get after delete: %v", err)
	}
	st, m, _ := e.do(t, "GET", "/api/v1/namespaces/_/actions/nopkg/", "", "")
	wantError(t, "list of missing package", 404, m, st, "The requested resource does not exist.")
	st, m, _ = e.do(t, "PUT", "/api/v1/namespaces/_/packages/default", "", "{}")
	wantError(t, "reserved name", 400, m, st, "Package name 'default' is reserved.")
	st, m, _ = e.do(t, "PUT", "/api/v1/namespaces/_/packages/b", "", `{"binding":{"namespace":"x","name":"y"}}`)
	wantError(t, "binding of another namespace's package", 400, m, st, "Binding references a package that does not exist.")
}

func TestActionPutValidation(t *testing.T) {
	e := newEnv(t, func(c *api.Config) {
		c.CheckKind = func(ex whisk.Exec) error {
			if ex.Kind == "python:3" {
				return errors.New("no python3 on this host")
			}
			return nil
		}
		c.MaxActionBytes = 4096
	})
	put := func(name, body string) (int, map[string]any) {
		st, m, _ := e.do(t, "PUT", "/api/v1/namespaces/_/actions/"+name+"?overwrite=true", "", body)
		return st, m
	}
	if st, m := put("a", `{"exec":{"kind":"go:1.26","code":"package main"}}`); st != 200 {
		t.Fatalf("create a: %d %v", st, m)
	}
	if st, m := put("b", `{"exec":{"kind":"go:1.26","code":"package main"}}`); st != 200 {
		t.Fatalf("create b: %d %v", st, m)
	}
	tests := []struct {
		name, action, body string
		status             int
		msg                string
	}{
		{"no exec on create", "new", `{}`, 400, "exec undefined"},
		{"kind refused", "new", `{"exec":{"kind":"python:3","code":"x"}}`, 400, "python:3"},
		{"no code", "new", `{"exec":{"kind":"go:1.26"}}`, 400, "'code' must be a string"},
		// OpenWhisk's controller (Actions.checkActionLimits), message for message.
		{"memory too low", "new", `{"exec":{"kind":"go:1.26","code":"x"},"limits":{"memory":64}}`, 400, "requirement failed: memory size 64 MB below allowed threshold of 128 MB"},
		{"memory too high", "new", `{"exec":{"kind":"go:1.26","code":"x"},"limits":{"memory":1024}}`, 400, "requirement failed: memory size 1024 MB exceeds allowed threshold of 512 MB"},
		{"timeout too high", "a", `{"limits":{"timeout":999999}}`, 400, "requirement failed: duration 999999 milliseconds exceeds allowed threshold of 300000 milliseconds"},
		{"timeout too low", "a", `{"limits":{"timeout":50}}`, 400, "requirement failed: duration 50 milliseconds below allowed threshold of 100 milliseconds"},
		{"logs too high", "a", `{"limits":{"logs":11}}`, 400, "requirement failed: log size 11 MB exceeds allowed threshold of 10 MB"},
		{"logs negative", "a", `{"limits":{"logs":-1}}`, 400, "requirement failed: log size -1 MB below allowed threshold of 0 MB"},
		{"concurrency too high", "a", `{"limits":{"concurrency":2}}`, 400, "requirement failed: concurrency 2 exceeds allowed threshold of 1"},
		{"concurrency zero", "a", `{"limits":{"concurrency":0}}`, 400, "requirement failed: concurrency 0 below allowed threshold of 1"},
		{"memory checked before timeout", "a", `{"limits":{"timeout":1,"memory":1}}`, 400, "requirement failed: memory size 1 MB below"},
		{"blackbox without image", "new", `{"exec":{"kind":"blackbox","code":"UEsDBA=="}}`, 400, "'image' must be a string defined in 'exec' for 'blackbox' actions"},
		{"not JSON", "new", `{"exec":`, 400, "The request content was malformed"},
		{"illegal name", "bad$name", `{"exec":{"kind":"go:1.26","code":"x"}}`, 400, "The name of the entity contains illegal characters."},
		{"too large", "new", `{"exec":{"kind":"go:1.26","code":"` + strings.Repeat("x", 5000) + `"}}`, 413, "Request larger than allowed"},
		{"sequence missing component", "seq", `{"exec":{"kind":"sequence","components":["/_/a","/guest/nope"]}}`, 400, "Sequence component does not exist."},
		{"sequence empty", "seq", `{"exec":{"kind":"sequence","components":[]}}`, 400, "No component specified for the sequence."},
		{"sequence self", "a", `{"exec":{"kind":"sequence","components":["/guest/a"]}}`, 400, "Sequence may not refer to itself."},
		{"sequence bad name", "seq", `{"exec":{"kind":"sequence","components":["/onlyns"]}}`, 400, "must contain at least the namespace and the name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, m := put(tc.action, tc.body)
			wantError(t, tc.name, tc.status, m, st, tc.msg)
		})
	}
	// A good sequence: components resolved, _actions parameter, exec annotation.
	st, m := put("seq", `{"exec":{"kind":"sequence","components":["/_/a","guest/b"]}}`)
	if st != 200 {
		t.Fatalf("sequence: %d %v", st, m)
	}
	b, _ := json.Marshal(m)
	var a whisk.Action
	_ = json.Unmarshal(b, &a)
	if strings.Join(a.Exec.Components, ",") != "/guest/a,/guest/b" || a.Exec.Binary != nil {
		t.Errorf("sequence exec = %+v", a.Exec)
	}
	if v, _ := a.Parameters.Get("_actions"); string(v) != `["/guest/a","/guest/b"]` {
		t.Errorf("_actions = %s", v)
	}
	if v, _ := a.Annotations.Get("exec"); string(v) != `"sequence"` {
		t.Errorf("exec annotation = %s", v)
	}
	// A sequence of a sequence that would contain itself.
	st, m = put("outer", `{"exec":{"kind":"sequence","components":["/guest/seq"]}}`)
	if st != 200 {
		t.Fatalf("outer: %d %v", st, m)
	}
	st, m = put("a", `{"exec":{"kind":"sequence","components":["/guest/outer"]}}`)
	wantError(t, "indirect cycle", 400, m, st, "Sequence may not refer to itself.")
}

func TestSequenceTooLong(t *testing.T) {
	e := newEnv(t, func(c *api.Config) { c.SequenceLimit = 3 })
	for _, n := range []string{"a", "b"} {
		if st, m, _ := e.do(t, "PUT", "/api/v1/namespaces/_/actions/"+n, "", `{"exec":{"kind":"go:1.26","code":"x"}}`); st != 200 {
			t.Fatalf("%s: %d %v", n, st, m)
		}
	}
	if st, m, _ := e.do(t, "PUT", "/api/v1/namespaces/_/actions/s2", "", `{"exec":{"kind":"sequence","components":["/_/a","/_/b"]}}`); st != 200 {
		t.Fatalf("s2: %d %v", st, m)
	}
	st, m, _ := e.do(t, "PUT", "/api/v1/namespaces/_/actions/s4", "", `{"exec":{"kind":"sequence","components":["/_/s2","/_/s2"]}}`)
	wantError(t, "inlined too long", 400, m, st, whisk.MsgSequenceTooLong)
	st, m, _ = e.do(t, "PUT", "/api/v1/namespaces/_/actions/s5", "", `{"exec":{"kind":"sequence","components":["/_/a","/_/a","/_/a","/_/a"]}}`)
	wantError(t, "too many components", 400, m, st, whisk.MsgSequenceTooLong)
}

func TestRoutingErrors(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		method, path string
		status       int
		msg          string
	}{
		{"GET", "/api/v2", 404, "The requested resource does not exist."},
		{"GET", "/api/v1/namespaces/_/widgets", 404, "The requested resource does not exist."},
		{"GET", "/api/v1/namespaces/_/actions/a/b/c", 404, "The requested resource does not exist."},
		{"POST", "/api/v1/namespaces/_/packages/p", 405, "HTTP method not allowed"},
		{"PUT", "/api/v1/namespaces/_/activations", 405, "HTTP method not allowed"},
		{"POST", "/api/v1/namespaces/_/actions", 405, "HTTP method not allowed"},
		{"GET", "/api/v1/namespaces/_/actions?limit=201", 400, "The value '201' is not in the range of 0 to 200 for actions."},
		{"GET", "/api/v1/namespaces/_/packages?skip=-1", 400, "The value '-1' is not greater than or equal to 0 for packages."},
		{"GET", "/api/v1/namespaces/_/actions?limit=x", 400, "The value 'x' is not an integer for actions."},
		{"GET", "/api/v1/namespaces/_/actions/a?code=maybe", 400, "The query parameter 'code' was malformed"},
	}
	for _, tc := range tests {
		st, m, _ := e.do(t, tc.method, tc.path, "", "")
		wantError(t, tc.method+" "+tc.path, tc.status, m, st, tc.msg)
	}
	for _, p := range []string{"/api/v1/namespaces/_/triggers", "/api/v1/namespaces/_/rules"} {
		if st, _, raw := e.do(t, "GET", p, "", ""); st != 200 || string(raw) != "[]" {
			t.Errorf("GET %s = %d %s", p, st, raw)
		}
	}
}

func activation(id, name string, start int64, code int, result string) whisk.Activation {
	return whisk.Activation{
		Namespace: "guest", Name: name, Subject: "guest", ActivationID: id, Start: start, End: start + 7,
		Response:    whisk.Result{StatusCode: code, Result: json.RawMessage(result)},
		Logs:        []string{"2026-12-01T00:00:00.000Z stdout: hello " + name},
		Version:     "0.0.1",
		Annotations: whisk.KeyValues{}.Set(whisk.AnnPath, "guest/"+name).Set(whisk.AnnKind, "python:3"),
	}
}

func TestInvoke(t *testing.T) {
	var mapErr = errors.New("sequence too long")
	e := newEnv(t, func(c *api.Config) {
		c.MaxPayloadBytes = 1024
		c.InvokeError = func(err error) (int, string) {
			if errors.Is(err, mapErr) {
				return 400, whisk.MsgSequenceTooLong
			}
			return 0, ""
		}
	})
	c := e.client(t, guestAuth)
	if _, _, err := c.Packages.Insert(&ow.Package{Name: "pkg", Parameters: ow.KeyValueArr{{Key: "p", Value: "pkg"}}}, false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Actions.Insert(&ow.Action{Name: "pkg/hello", Exec: &ow.Exec{Kind: "python:3", Code: str("x")}, Parameters: ow.KeyValueArr{{Key: "a", Value: "action"}}}, false); err != nil {
		t.Fatal(err)
	}
	const id = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	reply := func(code int, result string, done bool, err error) {
		e.inv.mu.Lock()
		defer e.inv.mu.Unlock()
		e.inv.reply = func(a whisk.Action, _ bool) (whisk.Activation, bool, error) {
			act := activation(id, a.Name, 1000, code, result)
			return act, done, err
		}
	}

	// Non-blocking: 202 + id; the invoker gets user, rev, merged params.
	reply(0, `{}`, false, nil)
	res, resp, err := c.Actions.Invoke("pkg/hello", map[string]any{"name": "World"}, false, false)
	if err != nil || resp.StatusCode != 202 || res.(map[string]any)["activationId"] != id || resp.Header.Get("x-openwhisk-activation-id") != id {
		t.Errorf("non-blocking = %v %v %v", res, resp, err)
	}
	last := e.inv.last(t)
	if last.blocking || last.user.Namespace.Name != "guest" || !strings.HasPrefix(last.rev, "1-") || last.params != `{"name":"World"}` {
		t.Errorf("invoker got %+v", last)
	}
	if v, _ := last.action.Parameters.Get("p"); string(v) != `"pkg"` {
		t.Errorf("package parameter not merged: %+v", last.action.Parameters)
	}
	if last.action.Namespace != "guest/pkg" || last.action.Exec.Code == nil {
		t.Errorf("action passed = %+v", last.action)
	}

	// Blocking success: the activation's REST form.
	reply(0, `{"greeting":"Hello"}`, true, nil)
	res, resp, err = c.Actions.Invoke("pkg/hello", nil, true, false)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("blocking = %v %v", resp, err)
	}
	r := res.(map[string]any)
	if r["activationId"] != id || r["response"].(map[string]any)["status"] != "success" || r["response"].(map[string]any)["result"].(map[string]any)["greeting"] != "Hello" {
		t.Errorf("blocking body = %v", r)
	}
	if last := e.inv.last(t); !last.blocking || last.params != "{}" {
		t.Errorf("blocking call = %+v, want blocking with {}", last)
	}

	// Blocking, result only.
	res, resp, err = c.Actions.Invoke("pkg/hello", map[string]any{}, true, true)
	if err != nil || resp.StatusCode != 200 || res.(map[string]any)["greeting"] != "Hello" {
		t.Errorf("result only = %v %v %v", res, resp, err)
	}

	// Blocking, not done in time: 202 + id (the client makes it a timed-out error).
	reply(0, `{}`, false, nil)
	_, resp, err = c.Actions.Invoke("pkg/hello", nil, true, false)
	var we *ow.WskError
	if resp == nil || resp.StatusCode != 202 || !errors.As(err, &we) || !we.TimedOut {
		t.Errorf("blocking timeout = %v %v", resp, err)
	}

	raw := []struct {
		name        string
		path, body  string
		code        int
		result      string
		done        bool
		err         error
		status      int
		wantInBody  string
		errorAnswer bool
	}{
		{"application error", "pkg/hello?blocking=true", "", 1, `{"error":"boom"}`, true, nil, 502, `"status":"application error"`, false},
		{"developer error result only", "pkg/hello?blocking=true&result=true", "", 2, `{"error":"bad"}`, true, nil, 502, `{"error":"bad"}`, false},
		{"whisk error", "pkg/hello?blocking=true", "", 3, `{"error":"internal"}`, true, nil, 500, `"status":"whisk internal error"`, false},
		{"non-object body", "pkg/hello", `[1,2]`, 0, `{}`, false, nil, 400, "The request content was malformed", true},
		{"null body", "pkg/hello", `null`, 0, `{}`, false, nil, 400, "The request content was malformed", true},
		{"too large", "pkg/hello", `{"x":"` + strings.Repeat("y", 2000) + `"}`, 0, `{}`, false, nil, 413, "Request larger than allowed", true},
		{"unknown action", "nope", "", 0, `{}`, false, nil, 404, "The requested resource does not exist.", true},
		{"unknown package", "nopkg/hello", "", 0, `{}`, false, nil, 404, "The requested resource does not exist.", true},
		{"mapped invoke error", "pkg/hello?blocking=true", "", 0, `{}`, false, mapErr, 400, whisk.MsgSequenceTooLong, true},
		{"other invoke error", "pkg/hello?blocking=true", "", 0, `{}`, false, errors.New("kafka down"), 500, "There was an internal server error.", true},
		{"bad blocking", "pkg/hello?blocking=perhaps", "", 0, `{}`, false, nil, 400, "The query parameter 'blocking' was malformed", true},
	}
	for _, tc := range raw {
		t.Run(tc.name, func(t *testing.T) {
			reply(tc.code, tc.result, tc.done, tc.err)
			st, m, body := e.do(t, "POST", "/api/v1/namespaces/_/actions/"+tc.path, "", tc.body)
			if tc.errorAnswer {
				wantError(t, tc.name, tc.status, m, st, tc.wantInBody)
				return
			}
			if st != tc.status || !bytes.Contains(body, []byte(tc.wantInBody)) {
				t.Errorf("%s = %d %s, want %d with %s", tc.name, st, body, tc.status, tc.wantInBody)
			}
		})
	}
	// The client reports a blocking application error as an application error.
	reply(1, `{"error":"boom"}`, true, nil)
	_, _, err = c.Actions.Invoke("pkg/hello", nil, true, true)
	if !errors.As(err, &we) || !we.ApplicationError || !strings.Contains(err.Error(), "boom") {
		t.Errorf("client app error = %v", err)
	}
}

func TestFinalParameters(t *testing.T) {
	e := newEnv(t, nil)
	if st, m, _ := e.do(t, "PUT", "/api/v1/namespaces/_/actions/f", "", `{"exec":{"kind":"go:1.26","code":"x"},"parameters":[{"key":"k","value":1}],"annotations":[{"key":"final","value":true}]}`); st != 200 {
		t.Fatalf("create: %d %v", st, m)
	}
	st, m, _ := e.do(t, "POST", "/api/v1/namespaces/_/actions/f", "", `{"k":2}`)
	wantError(t, "override final", 400, m, st, "Request defines parameters that are not allowed")
	if st, _, _ := e.do(t, "POST", "/api/v1/namespaces/_/actions/f", "", `{"other":2}`); st != 202 {
		t.Errorf("other parameter: %d", st)
	}
}

func TestActivations(t *testing.T) {
	e := newEnv(t, nil)
	ids := []string{}
	for i, name := range []string{"hello", "bye", "hello"} {
		id := fmt.Sprintf("%031d%d", 0, i+1)
		ids = append(ids, id)
		code := 0
		if name == "bye" {
			code = 1
		}
		if err := e.store.PutActivation(activation(id, name, int64(1000*(i+1)), code, `{"n":1}`)); err != nil {
			t.Fatal(err)
		}
	}
	c := e.client(t, guestAuth)
	list, _, err := c.Activations.List(&ow.ActivationListOptions{})
	if err != nil || len(list) != 3 || list[0].ActivationID != ids[2] || list[2].ActivationID != ids[0] {
		t.Fatalf("List = %+v, %v", list, err)
	}
	if list[0].Logs != nil && len(list[0].Logs) > 0 {
		t.Errorf("list without docs has logs: %v", list[0].Logs)
	}
	if list[1].StatusCode != 1 || list[1].Duration != 7 {
		t.Errorf("list entry = %+v", list[1])
	}
	named, _, err := c.Activations.List(&ow.ActivationListOptions{Name: "hello", Limit: 1, Skip: 1})
	if err != nil || len(named) != 1 || named[0].ActivationID != ids[0] {
		t.Errorf("List name/limit/skip = %+v, %v", named, err)
	}
	since, _, err := c.Activations.List(&ow.ActivationListOptions{Since: 2000, Upto: 2500})
	if err != nil || len(since) != 1 || since[0].Name != "bye" {
		t.Errorf("List since/upto = %+v, %v", since, err)
	}
	docs, _, err := c.Activations.List(&ow.ActivationListOptions{Docs: true, Limit: 1})
	if err != nil || len(docs) != 1 || len(docs[0].Logs) != 1 || docs[0].Response.Status != "success" {
		t.Errorf("List docs = %+v, %v", docs, err)
	}
	cnt, _, err := c.Activations.Count(&ow.ActivationCountOptions{Name: "hello"})
	if err != nil || cnt.Activations != 2 {
		t.Errorf("Count = %+v, %v", cnt, err)
	}
	// Raw list entry keys without docs.
	_, _, raw := e.do(t, "GET", "/api/v1/namespaces/_/activations?limit=1", "", "")
	var entries []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &entries); err != nil || len(entries) != 1 {
		t.Fatalf("raw list %s", raw)
	}
	for _, k := range []string{"activationId", "name", "namespace", "start", "end", "duration", "statusCode", "version", "annotations", "publish"} {
		if _, ok := entries[0][k]; !ok {
			t.Errorf("entry lacks %s: %s", k, raw)
		}
	}
	for _, k := range []string{"logs", "response"} {
		if _, ok := entries[0][k]; ok {
			t.Errorf("entry without docs has %s: %s", k, raw)
		}
	}

	a, _, err := c.Activations.Get(ids[1])
	if err != nil || a.Name != "bye" || a.Response.Status != "application error" || a.Response.Success || a.Duration != 7 || a.StatusCode != 1 {
		t.Errorf("Get = %+v, %v", a, err)
	}
	logs, _, err := c.Activations.Logs(ids[0])
	if err != nil || len(logs.Logs) != 1 || !strings.Contains(logs.Logs[0], "hello hello") {
		t.Errorf("Logs = %+v, %v", logs, err)
	}
	res, _, err := c.Activations.Result(ids[0])
	if err != nil || !res.Success || res.Status != "success" || fmt.Sprint(res.Result.(map[string]any)["n"]) != "1" {
		t.Errorf("Result = %+v, %v", res, err)
	}
	_, body, _ := e.do(t, "GET", "/api/v1/namespaces/_/activations/"+ids[0]+"/result", "", "")
	if len(body) != 3 || body["status"] != "success" || body["success"] != true {
		t.Errorf("raw result = %v, want {status, success, result}", body)
	}

	tests := []struct {
		path   string
		status int
		msg    string
	}{
		{"/activations/ffffffffffffffffffffffffffffffff", 404, "The requested resource does not exist."},
		{"/activations/ffffffffffffffffffffffffffffffff/logs", 404, "The requested resource does not exist."},
		{"/activations/short", 400, "Activation id length is 5 but must be 32."},
		{"/activations/zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", 400, "The activation id is not valid."},
		{"/activations/" + ids[0] + "/other", 404, "The requested resource does not exist."},
		{"/activations?name=a/b/c", 400, "Parameter may be a 'simple' name or 'package-name/simple' name: a/b/c"},
		{"/activations?since=yesterday", 400, "Parameter is not a valid value for epoch seconds: yesterday"},
		{"/activations?count=true&docs=true", 400, "The parameter 'docs' is not permitted with 'count'."},
	}
	for _, tc := range tests {
		st, m, _ := e.do(t, "GET", "/api/v1/namespaces/_"+tc.path, "", "")
		wantError(t, tc.path, tc.status, m, st, tc.msg)
	}
	_, err = func() (*ow.Activation, error) {
		a, _, err := c.Activations.Get("ffffffffffffffffffffffffffffffff")
		return a, err
	}()
	if wskStatus(err) != 404 {
		t.Errorf("client Get unknown: %v", err)
	}
}

func TestNewRequiresStoreAndController(t *testing.T) {
	if _, err := api.New(api.Config{}); err == nil {
		t.Error("New without Store succeeded")
	}
	st, err := store.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := api.New(api.Config{Store: st}); err == nil {
		t.Error("New without Controller succeeded")
	}
}

// TestExecNormalized: the exec of a PUT is stored as OpenWhisk's
// Exec.serdes reads it: "binary" computed from the code (what the client
// sent is ignored), the kind trimmed and lower-cased, a blank blackbox
// code dropped, limits kept as given (a log limit of 0 included).
func TestExecNormalized(t *testing.T) {
	e := newEnv(t, nil)
	zip := base64.StdEncoding.EncodeToString([]byte("PK\x03\x04 a zip's first bytes"))
	tests := []struct {
		name, body string
		wantKind   string
		wantBinary bool
		wantCode   bool
		wantLimits whisk.Limits
	}{
		// wsk action create echo action.zip --docker openwhisk/actionloop-base: no "binary".
		{"docker zip as wsk sends it", `{"namespace":"_","name":"x","exec":{"kind":"blackbox","code":"` + zip + `","image":"openwhisk/actionloop-base"}}`, "blackbox", true, true, whisk.DefaultLimits()},
		{"binary false ignored", `{"exec":{"kind":"blackbox","code":"` + zip + `","image":"openwhisk/dockerskeleton","binary":false}}`, "blackbox", true, true, whisk.DefaultLimits()},
		{"binary true ignored for text", `{"exec":{"kind":"go:1.26","code":"package main\n","binary":true}}`, "go:1.26", false, true, whisk.DefaultLimits()},
		{"kind trimmed and lower-cased", `{"exec":{"kind":" Go:1.26 ","code":"package main"}}`, "go:1.26", false, true, whisk.DefaultLimits()},
		{"blank blackbox code is none", `{"exec":{"kind":"blackbox","image":"openwhisk/example","code":"  "}}`, "blackbox", false, false, whisk.DefaultLimits()},
		{"docker without code", `{"exec":{"kind":"blackbox","image":"openwhisk/example"}}`, "blackbox", false, false, whisk.DefaultLimits()},
		{"limits as given", `{"exec":{"kind":"go:1.26","code":"package main"},"limits":{"timeout":1000,"memory":128,"logs":0,"concurrency":1}}`, "go:1.26", false, true, whisk.Limits{Timeout: 1000, Memory: 128, Logs: 0, Concurrency: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, m, raw := e.do(t, "PUT", "/api/v1/namespaces/_/actions/x?overwrite=true", "", tc.body)
			if st != 200 {
				t.Fatalf("PUT: %d %v", st, m)
			}
			var a whisk.Action
			if err := json.Unmarshal(raw, &a); err != nil {
				t.Fatal(err)
			}
			if a.Exec.Kind != tc.wantKind || a.Exec.Binary == nil || *a.Exec.Binary != tc.wantBinary || (a.Exec.Code != nil) != tc.wantCode {
				t.Errorf("stored exec kind %q binary %v code %v; want kind %q binary %v code %v", a.Exec.Kind, a.Exec.Binary, a.Exec.Code != nil, tc.wantKind, tc.wantBinary, tc.wantCode)
			}
			if a.Limits != tc.wantLimits {
				t.Errorf("limits %+v, want %+v", a.Limits, tc.wantLimits)
			}
		})
	}
}

// TestPackageBindings drives package bindings as `wsk package bind` and
// `wsk action invoke BINDING/ACTION` send them (client-go's
// BindingPackage), with OpenWhisk's answers: a binding resolves to its
// package's actions with the package's parameters under the binding's
// under the action's.
func TestPackageBindings(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(t, guestAuth)
	if _, _, err := c.Packages.Insert(&ow.Package{Name: "utils", Namespace: "_", Parameters: ow.KeyValueArr{{Key: "p", Value: "package"}, {Key: "q", Value: "package"}, {Key: "r", Value: "package"}}}, false); err != nil {
		t.Fatal(err)
	}
	if st, m, _ := e.do(t, "PUT", "/api/v1/namespaces/_/actions/utils/echo?overwrite=false", "", `{"exec":{"kind":"go:1.26","code":"package main"},"parameters":[{"key":"r","value":"action"}]}`); st != 200 {
		t.Fatalf("create utils/echo: %d %v", st, m)
	}
	// wsk package bind utils mine -p q binding
	bind := &ow.BindingPackage{Name: "mine", Namespace: "_", Binding: ow.Binding{Namespace: "_", Name: "utils"}, Parameters: ow.KeyValueArr{{Key: "q", Value: "binding"}, {Key: "r", Value: "binding"}}}
	got, _, err := c.Packages.Insert(bind, false)
	if err != nil {
		t.Fatalf("bind: %v", err)
	}
	if got.Binding == nil || got.Binding.Name != "utils" || got.Binding.Namespace != "guest" {
		t.Errorf("binding stored as %+v, want guest/utils", got.Binding)
	}
	if v := got.Annotations.GetValue("binding"); fmt.Sprint(v) != "map[name:utils namespace:guest]" {
		t.Errorf("binding annotation %v", v)
	}
	// wsk package get mine: the package's actions, the parameters merged.
	p, _, err := c.Packages.Get("mine")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Actions) != 1 || p.Actions[0].Name != "echo" {
		t.Errorf("binding's actions %+v, want [echo]", p.Actions)
	}
	if p.Parameters.GetValue("p") != "package" || p.Parameters.GetValue("q") != "binding" {
		t.Errorf("binding's parameters %v, want p=package q=binding", p.Parameters)
	}
	// wsk action list mine/
	acts, _, err := c.Actions.List("mine", &ow.ActionListOptions{})
	if err != nil || len(acts) != 1 || acts[0].Name != "echo" {
		t.Errorf("actions of the binding: %v %v", acts, err)
	}
	// wsk action invoke mine/echo: the package's action, parameters merged.
	if _, _, err := c.Actions.Invoke("mine/echo", map[string]any{}, false, false); err != nil {
		t.Fatal(err)
	}
	call := e.inv.last(t)
	if call.action.Namespace != "guest/utils" || call.action.Name != "echo" {
		t.Errorf("invoked %s/%s, want guest/utils/echo", call.action.Namespace, call.action.Name)
	}
	for k, want := range map[string]string{"p": `"package"`, "q": `"binding"`, "r": `"action"`} {
		if v, _ := call.action.Parameters.Get(k); string(v) != want {
			t.Errorf("parameter %s = %s, want %s", k, v, want)
		}
	}
	// wsk action get mine/echo
	if a, _, err := c.Actions.Get("mine/echo", false); err != nil || a.Parameters.GetValue("q") != "binding" {
		t.Errorf("get through the binding: %+v %v", a, err)
	}
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		msg                      string
	}{
		{"action created in a binding", "PUT", "/api/v1/namespaces/_/actions/mine/x", `{"exec":{"kind":"go:1.26","code":"x"}}`, 400, "Operation not permitted on package binding."},
		{"binding of a missing package", "PUT", "/api/v1/namespaces/_/packages/b2", `{"binding":{"namespace":"_","name":"nothere"}}`, 400, "Binding references a package that does not exist."},
		{"binding of a binding", "PUT", "/api/v1/namespaces/_/packages/b3", `{"binding":{"namespace":"_","name":"mine"}}`, 400, "Cannot bind to another package binding."},
		{"package made a binding", "PUT", "/api/v1/namespaces/_/packages/utils?overwrite=true", `{"binding":{"namespace":"_","name":"mine"}}`, 409, "Resource is a package and cannot be converted into a binding."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, m, _ := e.do(t, tc.method, tc.path, "", tc.body)
			wantError(t, tc.name, tc.status, m, st, tc.msg)
		})
	}
	// wsk package update mine -p q again: stays a binding.
	if _, _, err := c.Packages.Insert(&ow.Package{Name: "mine", Namespace: "_", Parameters: ow.KeyValueArr{{Key: "q", Value: "again"}}}, true); err != nil {
		t.Fatal(err)
	}
	if p, _, err := c.Packages.Get("mine"); err != nil || p.Binding == nil || p.Binding.Name != "utils" || p.Parameters.GetValue("q") != "again" {
		t.Errorf("binding after update: %+v %v", p, err)
	}
	// wsk package delete mine: a binding is deleted whatever its package holds.
	if _, err := c.Packages.Delete("mine"); err != nil {
		t.Errorf("deleting the binding: %v", err)
	}
	if _, _, err := c.Actions.Get("utils/echo", false); err != nil {
		t.Errorf("the package's action after the binding went: %v", err)
	}
}

// TestColdStartsRoute: GET .../wsk-route/starts lists the namespace's
// cold starts with their age, filtered by ?action= (a name, pkg/name or a
// fully qualified name); without a lister it is 404.
func TestColdStartsRoute(t *testing.T) {
	start := time.Now().Add(-3 * time.Second).UnixMilli()
	lister := api.ColdStartListerFunc(func(ns string) []api.ColdStart {
		if ns != "guest" {
			return nil
		}
		return []api.ColdStart{
			{ActivationID: "a1", Action: "/guest/hello", Kind: "go:1.26", Phase: "compiling", Start: start, PhaseStart: start + 100},
			{ActivationID: "a2", Action: "/guest/pkg/other", Kind: "python:3", Phase: "starting", Start: start, PhaseStart: start},
		}
	})
	e := newEnv(t, func(c *api.Config) { c.ColdStarts = lister })
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"", []string{"a1", "a2"}},
		{"?action=hello", []string{"a1"}},
		{"?action=/guest/hello", []string{"a1"}},
		{"?action=/_/hello", []string{"a1"}},
		{"?action=pkg/other", []string{"a2"}},
		{"?action=nothere", nil},
	} {
		t.Run(tc.query, func(t *testing.T) {
			st, _, raw := e.do(t, "GET", "/api/v1/namespaces/_/wsk-route/starts"+tc.query, "", "")
			var got []api.ColdStart
			if err := json.Unmarshal(raw, &got); st != 200 || err != nil {
				t.Fatalf("%d %s: %v", st, raw, err)
			}
			var ids []string
			for _, c := range got {
				ids = append(ids, c.ActivationID)
				if c.ElapsedMs < 3000 || c.ElapsedMs > 60000 {
					t.Errorf("%s elapsedMs %d, want about 3000", c.ActivationID, c.ElapsedMs)
				}
			}
			if fmt.Sprint(ids) != fmt.Sprint(tc.want) {
				t.Errorf("starts %v, want %v", ids, tc.want)
			}
		})
	}
	st, m, _ := e.do(t, "GET", "/api/v1/namespaces/_/wsk-route/starts", "-", "")
	wantError(t, "no credentials", 401, m, st, "requires authentication")
	none := newEnv(t, nil)
	st, m, _ = none.do(t, "GET", "/api/v1/namespaces/_/wsk-route/starts", "", "")
	wantError(t, "no lister", 404, m, st, "The requested resource does not exist.")
}
