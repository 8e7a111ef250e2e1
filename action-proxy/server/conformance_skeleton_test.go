package server_test

// Section 4.5: openwhisk-runtime-docker ActionProxyContainerTests, the cases
// that apply to an ActionLoop proxy (the dockerskeleton's code stub, 404 on
// a scalar value and per-activation processes do not).

import (
	"testing"
)

func TestConformanceSkeletonZipWithExec(t *testing.T) {
	h := newHarness(t, nil)
	zip := makeZip(t,
		zipEntry{Name: "exec", Body: action(t, "hello_zip.sh"), Mode: 0o755},
		zipEntry{Name: "README", Body: "a file next to exec\n"},
	)
	h.mustInit(t, initPayload(zip, "main", nil, true))
	wantResult(t, "run", h.run(t, runPayload(map[string]any{}, nil)), `{"msg":"hello zip"}`+"\n")
	out, errs := h.checkStreams(t, 1)
	wantEmpty(t, "stdout", out)
	wantEmpty(t, "stderr", errs)
}

func TestConformanceSkeletonArrays(t *testing.T) {
	h := newHarness(t, nil)
	h.mustInit(t, initPayload(action(t, "echo.sh"), "main", nil, false))
	tests := []struct {
		name  string
		value any
		body  string
	}{
		{"array input and result", []string{"a", "b"}, `["a","b"]`},
		{"array of objects", []any{map[string]any{"a": 1}, []int{2}}, `[{"a":1},[2]]`},
		{"empty array", []string{}, `[]`},
	}
	for _, tc := range tests {
		wantResult(t, tc.name, h.run(t, runPayload(tc.value, nil)), tc.body+"\n")
	}
	out, errs := h.checkStreams(t, len(tests))
	wantEmpty(t, "stdout", out)
	wantEmpty(t, "stderr", errs)
}

func TestConformanceSkeletonNotJSON(t *testing.T) {
	h := newHarness(t, nil)
	h.mustInit(t, initPayload(action(t, "garbage.sh"), "main", nil, false))
	want(t, "run", h.run(t, runPayload(map[string]any{}, nil)), 502, bodyNotDict)
	h.checkStreams(t, 1)
}

func TestConformanceSkeletonResults(t *testing.T) {
	// What the invoker accepts as a result is an object or an array; the
	// proxy passes those through verbatim and refuses the rest with 502.
	tests := []struct {
		name   string
		mode   string
		status int
		body   string
	}{
		{"application error object", "error", 200, `{"error":"sorry"}` + "\n"},
		{"json string", "string", 502, bodyNotDict},
		{"json null", "null", 502, bodyNotDict},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			h.mustInit(t, childInit(tc.mode))
			want(t, "run", h.run(t, runPayload(map[string]any{}, nil)), tc.status, tc.body)
			h.checkStreams(t, 1)
		})
	}
}
