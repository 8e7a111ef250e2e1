package server_test

// openwhisk-runtime-docker's ActionProxyContainerTests, replayed against a
// proxy with WSK_ROUTE_SKELETON=1: the dockerskeleton's own behaviour, one
// process per activation (package skeleton). The scripts are the suite's
// CodeSamples.

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/action-proxy/server"
)

// skeletonHarness is a proxy that runs dockerskeleton executables.
func skeletonHarness(t *testing.T) *harness {
	return newHarness(t, func(c *server.Config) {
		c.Skeleton = true
		c.Environ = append(c.Environ, "__OW_API_HOST=https://whisk.example", "WSK_ROUTE_AGENT=/not/for/actions")
	})
}

const (
	// skeletonEcho is CodeSamples.stdCodeSamples' bash sample.
	skeletonEcho = `#!/bin/bash
echo 'hello stdout'
echo 'hello stderr' 1>&2
if [[ -z $1 || $1 == '{}' ]]; then
   echo '{ "msg": "Hello from bash script!" }'
else
   echo $1 # echo the arguments back as the result
fi`
	// skeletonEnv is CodeSamples.stdEnvSamples' bash sample.
	skeletonEnv = `#!/bin/bash
echo "{ \
\"api_host\": \"$__OW_API_HOST\", \"api_key\": \"$__OW_API_KEY\", \
\"namespace\": \"$__OW_NAMESPACE\", \"action_name\": \"$__OW_ACTION_NAME\", \"action_version\": \"$__OW_ACTION_VERSION\", \
\"activation_id\": \"$__OW_ACTIVATION_ID\", \"deadline\": \"$__OW_DEADLINE\", \"agent\": \"$WSK_ROUTE_AGENT\" }"`
	// skeletonLarge is CodeSamples.stdLargeInputSamples' bash sample.
	skeletonLarge = `#!/bin/bash
  read inputstring
  echo $inputstring`
)

func TestSkeletonEcho(t *testing.T) {
	h := skeletonHarness(t)
	h.mustInit(t, initPayload(skeletonEcho, "main", nil, false))
	wantResult(t, "run {}", h.run(t, runPayload(map[string]any{}, nil)), `{"msg":"Hello from bash script!"}`+"\n")
	wantResult(t, "run with args", h.run(t, runPayload(map[string]any{"some": "value"}, nil)), `{"some":"value"}`+"\n")
	out, errs := h.checkStreams(t, 2)
	if strings.Count(out, "hello stdout\n") != 2 || strings.Count(errs, "hello stderr\n") != 2 {
		t.Errorf("logs: stdout %q, stderr %q; want each activation's hello lines", out, errs)
	}
	if strings.Contains(out, "Hello from bash") || strings.Contains(out, `"some"`) {
		t.Errorf("stdout %q holds a result line: the last line is the result, not a log", out)
	}
}

func TestSkeletonNotJSON(t *testing.T) {
	h := skeletonHarness(t)
	h.mustInit(t, initPayload("#!/bin/sh\necho not a json object", "main", nil, false))
	want(t, "run", h.run(t, runPayload(map[string]any{}, nil)), 502, bodyNotDict)
	out, _ := h.checkStreams(t, 1)
	if !strings.Contains(out, "not a json object") {
		t.Errorf("stdout %q: want the line that is not a result in the log", out)
	}
}

func TestSkeletonEnv(t *testing.T) {
	h := skeletonHarness(t)
	h.mustInit(t, initPayload(skeletonEnv, "main", nil, false))
	other := map[string]string{"api_key": "abc", "namespace": "zzz", "action_name": "xxx", "action_version": "0.0.1",
		"activation_id": "iii", "deadline": "123"}
	got := h.run(t, runPayload(map[string]any{}, other))
	var m map[string]string
	if got.status != 200 || json.Unmarshal([]byte(got.body), &m) != nil {
		t.Fatalf("run: %d %q", got.status, got.body)
	}
	for k, v := range other {
		if m[k] != v {
			t.Errorf("__OW_%s = %q, want %q", strings.ToUpper(k), m[k], v)
		}
	}
	if m["api_host"] != "https://whisk.example" {
		t.Errorf("__OW_API_HOST = %q, want the container's", m["api_host"])
	}
	if m["agent"] != "" {
		t.Errorf("WSK_ROUTE_AGENT = %q reached the action: the proxy's settings are not the action's", m["agent"])
	}
	h.checkStreams(t, 1)
}

func TestSkeletonLargeInput(t *testing.T) {
	// Over MAX_ARG_STRLEN the input comes on standard input only.
	h := skeletonHarness(t)
	h.mustInit(t, initPayload(skeletonLarge, "main", nil, false))
	big := map[string]any{"arg": strings.Repeat("a", 1<<18)}
	wantResult(t, "run", h.run(t, runPayload(big, nil)), string(mustJSON(big))+"\n")
	h.checkStreams(t, 1)
}

func TestSkeletonWorkingDirectory(t *testing.T) {
	h := skeletonHarness(t)
	h.mustInit(t, initPayload("#!/bin/bash\necho \"{\\\"pwd_env\\\":\\\"$PWD\\\",\\\"pwd_cmd\\\":\\\"$(pwd)\\\",\\\"ls\\\":\\\"$(ls)\\\"}\"", "main", nil, false))
	got := h.run(t, runPayload(map[string]any{}, nil))
	var m map[string]string
	if got.status != 200 || json.Unmarshal([]byte(got.body), &m) != nil {
		t.Fatalf("run: %d %q", got.status, got.body)
	}
	if m["pwd_env"] != m["pwd_cmd"] || filepath.Base(m["pwd_cmd"]) != "bin" || m["ls"] != "exec" {
		t.Errorf("run in %q (PWD %q) holding %q; want the executable's directory", m["pwd_cmd"], m["pwd_env"], m["ls"])
	}
	h.checkStreams(t, 1)
}

func TestSkeletonArrays(t *testing.T) {
	h := skeletonHarness(t)
	h.mustInit(t, initPayload("#!/bin/bash\narr=$1\necho $arr", "main", nil, false))
	wantResult(t, "array input", h.run(t, runPayload([]string{"a", "b"}, nil)), `["a","b"]`+"\n")
	h.checkStreams(t, 1)
}

func TestSkeletonZipWithExec(t *testing.T) {
	h := skeletonHarness(t)
	zip := makeZip(t,
		zipEntry{Name: "exec", Body: "#!/bin/bash\necho \"$(cat message.txt)\"\necho '{\"msg\": \"hello zip\"}'\n", Mode: 0o755},
		zipEntry{Name: "message.txt", Body: "This is an example zip used with the docker skeleton action.\n"},
	)
	h.mustInit(t, initPayload(zip, "main", nil, true))
	wantResult(t, "run", h.run(t, runPayload(map[string]any{}, nil)), `{"msg":"hello zip"}`+"\n")
	out, errs := h.checkStreams(t, 1)
	if strings.TrimSpace(out) != "This is an example zip used with the docker skeleton action." {
		t.Errorf("stdout %q", out)
	}
	wantEmpty(t, "stderr", errs)
}

func TestSkeletonProcessPerActivation(t *testing.T) {
	// dockerskeleton ignores the exit status and starts a new process for
	// every activation.
	h := skeletonHarness(t)
	h.mustInit(t, initPayload("#!/bin/sh\necho \"{\\\"pid\\\": $$}\"\nexit 3", "main", nil, false))
	first := h.run(t, runPayload(map[string]any{}, nil))
	second := h.run(t, runPayload(map[string]any{}, nil))
	if first.status != 200 || second.status != 200 || first.body == second.body {
		t.Errorf("two runs: %d %q and %d %q; want two results from two processes", first.status, first.body, second.status, second.body)
	}
	h.checkStreams(t, 2)
}

func TestSkeletonCannotExec(t *testing.T) {
	// An executable the kernel refuses is logged, and answered as a result
	// that is no object, as dockerskeleton answers it.
	h := skeletonHarness(t)
	h.mustInit(t, initPayload("not a script, no #! line", "main", nil, false))
	want(t, "run", h.run(t, runPayload(map[string]any{}, nil)), 502, bodyNotDict)
	out, _ := h.checkStreams(t, 1)
	if !strings.Contains(out, "exec format error") {
		t.Errorf("stdout %q: want why the executable could not start", out)
	}
}

func TestSkeletonUnicode(t *testing.T) {
	h := skeletonHarness(t)
	h.mustInit(t, initPayload("#!/bin/bash\nd=$(echo \"$1\" | sed -e 's/.*\"delimiter\":\"\\([^\"]*\\)\".*/\\1/')\ns=\"$d ☃ $d\"\necho \"$s\"\necho \"{\\\"winter\\\": \\\"$s\\\"}\"", "main", nil, false))
	wantResult(t, "run", h.run(t, runPayload(map[string]any{"delimiter": "❄"}, nil)), `{"winter":"❄ ☃ ❄"}`+"\n")
	out, _ := h.checkStreams(t, 1)
	if !strings.Contains(out, "❄ ☃ ❄") {
		t.Errorf("stdout %q", out)
	}
}
