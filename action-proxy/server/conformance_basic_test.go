package server_test

// Section 4.2: apache/openwhisk BasicActionRunnerTests, with the bash
// configurations of openwhisk-runtime-go's ActionLoopBasicTests (scripts in
// testdata/actions that answer on fd 3 with jq). The Go proxy has no code
// stub, so the "no code" cases must fail.

import (
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/action-proxy/server"
)

func TestConformanceBasicInitNoCode(t *testing.T) {
	h := newHarness(t, nil)
	got := h.init(t, initPayload("", "", nil, false))
	if got.status == 200 {
		t.Errorf("init with code \"\": got 200, want an error (no code stub)")
	}
	want(t, "init with code \"\"", got, 403, bodyNoCode)
	h.checkStreams(t, 0)
}

func TestConformanceBasicInitNoContent(t *testing.T) {
	h := newHarness(t, nil)
	got := h.init(t, []byte(`{}`))
	if got.body != bodyNoCode && got.body != bodyNoBinary {
		t.Errorf("init {}: body %q, want %q or %q", got.body, bodyNoCode, bodyNoBinary)
	}
	want(t, "init {}", got, 403, bodyNoCode)
	h.checkStreams(t, 0)
}

func TestConformanceBasicNotReturningJSON(t *testing.T) {
	h := newHarness(t, nil)
	h.mustInit(t, initPayload(action(t, "notjson.sh"), "main", nil, false))
	// BasicActionRunnerTests runs JsObject.empty: a body with no "value".
	want(t, "run {}", h.run(t, []byte(`{}`)), 502, bodyNotDict)
	out, errs := h.checkStreams(t, 1)
	wantEmpty(t, "stdout", out)
	wantEmpty(t, "stderr", errs)
}

func TestConformanceBasicInitTwice(t *testing.T) {
	h := newHarness(t, nil)
	code := action(t, "echo.sh")
	h.mustInit(t, initPayload(code, "main", nil, false))
	want(t, "second init", h.init(t, initPayload(code, "main", nil, false)), 403, bodyTwice)
	out, errs := h.checkStreams(t, 0)
	if !strings.Contains(out+errs, "Cannot initialize the action more than once.") {
		t.Errorf("the rejected re-init is not logged; stdout %q, stderr %q", out, errs)
	}
	// The first action is still there.
	wantResult(t, "run after the rejected init", h.run(t, runPayload(map[string]any{"still": "here"}, nil)), `{"still":"here"}`+"\n")
}

func TestConformanceBasicNonStandardEntryPoint(t *testing.T) {
	h := newHarness(t, nil)
	h.mustInit(t, initPayload(action(t, "echo.sh"), "niam", nil, false))
	wantResult(t, "run", h.run(t, runPayload(map[string]any{"string": "hello"}, nil)), `{"string":"hello"}`+"\n")
	out, errs := h.checkStreams(t, 1)
	wantEmpty(t, "stdout", out)
	wantEmpty(t, "stderr", errs)
}

func TestConformanceBasicEcho(t *testing.T) {
	h := newHarness(t, nil)
	h.mustInit(t, initPayload(action(t, "echo_print.sh"), "main", nil, false))
	args := []struct {
		value any
		body  string
	}{
		{map[string]any{"string": "hello"}, `{"string":"hello"}`},
		{map[string]any{"string": "❄ ☃ ❄"}, `{"string":"❄ ☃ ❄"}`},
		{map[string]any{"numbers": []int{42, 1}}, `{"numbers":[42,1]}`},
		{map[string]any{"object": map[string]any{"a": "A"}}, `{"object":{"a":"A"}}`},
	}
	for _, a := range args {
		wantResult(t, "run "+a.body, h.run(t, runPayload(a.value, nil)), a.body+"\n")
	}
	out, errs := h.checkStreams(t, len(args))
	if !strings.Contains(out, "hello stdout") {
		t.Errorf("stdout %q does not contain %q", out, "hello stdout")
	}
	if !strings.Contains(errs, "hello stderr") {
		t.Errorf("stderr %q does not contain %q", errs, "hello stderr")
	}
	// Every activation's logs come before its sentinel.
	raw, _, _ := strings.Cut(readFile(t, h.stdout.Name()), sentinel)
	if !strings.Contains(raw, "hello stdout") {
		t.Errorf("stdout of the first activation is not before its sentinel: %q", raw)
	}
}

func TestConformanceBasicUnicode(t *testing.T) {
	h := newHarness(t, nil)
	h.mustInit(t, initPayload(action(t, "unicode.sh"), "main", nil, false))
	wantResult(t, "run", h.run(t, runPayload(map[string]any{"delimiter": "❄"}, nil)), `{"winter": "❄ ☃ ❄"}`+"\n")
	out, _ := h.checkStreams(t, 1)
	if !strings.Contains(out, "❄ ☃ ❄") {
		t.Errorf("stdout %q does not contain %q", out, "❄ ☃ ❄")
	}
}

func TestConformanceBasicEnvBeforeInit(t *testing.T) {
	h := newHarness(t, nil)
	env := map[string]any{"SOME_VAR": "xyz", "ANOTHER_VAR": ""}
	h.mustInit(t, initPayload(action(t, "initenv.sh"), "main", env, false))
	// The script reads the variables at start, before its first request;
	// "unset" would mean ANOTHER_VAR was dropped for being empty.
	wantResult(t, "run", h.run(t, runPayload(map[string]any{}, nil)), `{"SOME_VAR":"xyz","ANOTHER_VAR":""}`+"\n")
	out, errs := h.checkStreams(t, 1)
	wantEmpty(t, "stdout", out)
	wantEmpty(t, "stderr", errs)
}

func TestConformanceBasicContextEnv(t *testing.T) {
	h := newHarness(t, func(c *server.Config) {
		c.Environ = append(c.Environ, "__OW_API_HOST=xyz")
	})
	h.mustInit(t, initPayload(action(t, "context.sh"), "main", nil, false))
	other := map[string]string{
		"api_key":        "abc",
		"namespace":      "zzz",
		"action_name":    "xxx",
		"action_version": "0.0.1",
		"activation_id":  "iii",
		"deadline":       "123",
	}
	wantResult(t, "run", h.run(t, runPayload(map[string]any{}, other)),
		`{"api_host":"xyz","api_key":"abc","namespace":"zzz","action_name":"xxx","action_version":"0.0.1","activation_id":"iii","deadline":"123"}`+"\n")
	out, errs := h.checkStreams(t, 1)
	wantEmpty(t, "stdout", out)
	wantEmpty(t, "stderr", errs)
}

func TestConformanceBasicLargeInput(t *testing.T) {
	h := newHarness(t, nil)
	h.mustInit(t, initPayload(action(t, "echo.sh"), "main", nil, false))
	arg := map[string]any{"arg": strings.Repeat("a", 1048561)}
	got := h.run(t, runPayload(arg, nil))
	if wantBody := string(mustJSON(arg)) + "\n"; got.body != wantBody {
		t.Errorf("large echo: got %d %q, want the %d-byte input back", got.status, truncate(got.body), len(wantBody))
	}
	h.checkStreams(t, 1)
}
