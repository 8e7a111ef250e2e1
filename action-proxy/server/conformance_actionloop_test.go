package server_test

// Section 4.3: openwhisk-runtime-go's Scala suites ActionLoopContainerTests,
// ActionLoopBasicGoTests and ActionLoopGoContainerTests. The Go cases that
// need the Go compiler image are covered with a precompiled binary (the
// testdata/child program), as `-compile` would produce it.

import (
	"os"
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/action-proxy/server"
)

// goImageConfig is the configuration of the action-golang images: ack,
// execution environment check and logged init errors.
func goImageConfig(c *server.Config) {
	c.WaitForAck = true
	c.ExecutionEnv = "openwhisk/action-golang-v1.24"
	c.LogInitError = true
}

// goBinaryZip is what `-compile main` makes in the Go image: exec and
// exec.env at the top of a zip.
func goBinaryZip(t *testing.T) string {
	return makeZip(t,
		zipEntry{Name: "exec", Body: string(childBinary), Mode: 0o755},
		zipEntry{Name: "exec.env", Body: "openwhisk/action-golang-v1.24\n"},
	)
}

func TestConformanceActionLoopInitNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*server.Config)
	}{
		{"actionloop", nil},
		{"golang", goImageConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.edit)
			want(t, "init {}", h.init(t, []byte(`{}`)), 403, bodyNoCode)
			want(t, "run {}", h.run(t, []byte(`{}`)), 500, bodyNoAction)
			h.checkStreams(t, 0)
		})
	}
}

func TestConformanceActionLoopShellScript(t *testing.T) {
	h := newHarness(t, nil)
	// ExeBuilder.mkBase64Src: the script is sent base64-encoded.
	h.mustInit(t, initPayload(action(t, "hello_main.sh"), "main", nil, true))
	wantResult(t, "run", h.run(t, runPayload(map[string]any{"name": "Demo"}, nil)), `{"main":"Hello, Demo"}`+"\n")
	out, _ := h.checkStreams(t, 1)
	if !strings.Contains(out, "name=Demo") {
		t.Errorf("stdout %q does not contain name=Demo", out)
	}
}

func TestConformanceActionLoopZipScript(t *testing.T) {
	// ExeBuilder.mkBase64SrcZip zips the script without its execute bit;
	// the proxy makes bin/exec executable before starting it.
	for _, mode := range []struct {
		name string
		mode os.FileMode
	}{{"mode 0644", 0o644}, {"mode 0755", 0o755}} {
		t.Run(mode.name, func(t *testing.T) {
			h := newHarness(t, nil)
			zip := makeZip(t, zipEntry{Name: "exec", Body: action(t, "hello_main.sh"), Mode: mode.mode})
			h.mustInit(t, initPayload(zip, "main", nil, true))
			wantResult(t, "run", h.run(t, runPayload(map[string]any{"name": "Demo"}, nil)), `{"main":"Hello, Demo"}`+"\n")
			out, _ := h.checkStreams(t, 1)
			if !strings.Contains(out, "name=Demo") {
				t.Errorf("stdout %q does not contain name=Demo", out)
			}
		})
	}
}

func TestConformanceGoBinaryMainZip(t *testing.T) {
	h := newHarness(t, goImageConfig)
	h.mustInit(t, initPayload(goBinaryZip(t), "main", childEnv("hello"), true))
	wantResult(t, "run", h.run(t, runPayload(map[string]any{"name": "Demo"}, nil)), `{"main-main":"Hello, Demo!"}`+"\n")
	out, errs := h.checkStreams(t, 1)
	if strings.TrimSpace(out) != "name=Demo" {
		t.Errorf("stdout %q, want name=Demo", out)
	}
	wantEmpty(t, "stderr", errs)
}

func TestConformanceGoBinaryNotMain(t *testing.T) {
	// A binary ignores main (Example_main_nocompiler).
	h := newHarness(t, goImageConfig)
	h.mustInit(t, initPayload(goBinaryZip(t), "hello", childEnv("hello"), true))
	wantResult(t, "run", h.run(t, runPayload(map[string]any{"name": "Demo"}, nil)), `{"main-main":"Hello, Demo!"}`+"\n")
	h.checkStreams(t, 1)
}

func TestConformanceGoArrayResult(t *testing.T) {
	h := newHarness(t, goImageConfig)
	h.mustInit(t, initPayload(goBinaryZip(t), "main", childEnv("array"), true))
	// The run body has no "value" at all.
	wantResult(t, "run {}", h.run(t, []byte(`{}`)), `["a","b"]`+"\n")
	h.checkStreams(t, 1)
}

func TestConformanceGoArrayInput(t *testing.T) {
	h := newHarness(t, goImageConfig)
	h.mustInit(t, initPayload(goBinaryZip(t), "main", childEnv("echo"), true))
	wantResult(t, "run", h.run(t, runPayload([]string{"a", "b"}, nil)), `["a","b"]`+"\n")
	h.checkStreams(t, 1)
}

func TestConformanceGoNotReturningJSON(t *testing.T) {
	// ActionLoopBasicGoTests: a main that acks, reads one line and writes a
	// JSON string.
	h := newHarness(t, goImageConfig)
	h.mustInit(t, initPayload(goBinaryZip(t), "main", childEnv("string"), true))
	want(t, "run {}", h.run(t, []byte(`{}`)), 502, bodyNotDict)
	out, errs := h.checkStreams(t, 1)
	wantEmpty(t, "stdout", out)
	wantEmpty(t, "stderr", errs)
}

func TestConformanceGoEcho(t *testing.T) {
	// ActionLoopBasicGoTests echo: prints on both streams, returns its
	// input, four activations and four sentinels per stream.
	h := newHarness(t, goImageConfig)
	h.mustInit(t, initPayload(goBinaryZip(t), "main", childEnv("echo", "CHILD_PRINT", "1"), true))
	for _, v := range []string{`{"string":"hello"}`, `{"string":"❄ ☃ ❄"}`, `{"numbers":[42,1]}`, `{"object":{"a":"A"}}`} {
		wantResult(t, "run "+v, h.run(t, []byte(`{"value":`+v+`}`)), v+"\n")
	}
	out, errs := h.checkStreams(t, 4)
	if strings.Count(out, "hello stdout") != 4 || strings.Count(errs, "hello stderr") != 4 {
		t.Errorf("want 4 log lines per stream; stdout %q, stderr %q", out, errs)
	}
}
