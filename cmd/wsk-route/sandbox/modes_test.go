package sandbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/apache/openwhisk-client-go/whisk"

	"github.com/wsk-route/wsk-route/action-proxy/route"
	"github.com/wsk-route/wsk-route/action-proxy/server"
	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox"
	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox/controller"
	"github.com/wsk-route/wsk-route/internal/consulstore"
	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/internal/testenv"
)

// startTimeout bounds a sandbox's start (docker mode imports an image).
const startTimeout = 2 * time.Minute

// ownSandbox is a sandbox a test starts for itself.
type ownSandbox struct {
	*sandbox.Sandbox
	stop func() // cancels Run, waits for it and checks it returned nil; idempotent
}

// startSandbox starts a sandbox of its own for t with cfg, on a free port
// and (unless cfg says otherwise) with the test proxy binary. It is
// stopped when t ends, if the test did not stop it before.
func startSandbox(t *testing.T, cfg sandbox.Config) *ownSandbox {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if !cfg.Docker && cfg.ProxyCommand == nil {
		cfg.ProxyCommand = []string{bins.proxy}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *sandbox.Sandbox, 1)
	done := make(chan error, 1)
	go func() { done <- sandbox.Run(ctx, cfg, func(sb *sandbox.Sandbox) { ready <- sb }) }()
	var sb *sandbox.Sandbox
	select {
	case sb = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("the sandbox did not start: %v", err)
	case <-time.After(startTimeout):
		cancel()
		t.Fatalf("the sandbox did not start within %v", startTimeout)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("sandbox.Run after cancel: %v, want nil", err)
			}
		})
	}
	t.Cleanup(stop)
	return &ownSandbox{Sandbox: sb, stop: stop}
}

// clientOf returns an openwhisk-client-go client of sb with its key.
func clientOf(t *testing.T, sb *sandbox.Sandbox) *whisk.Client {
	t.Helper()
	c, err := whisk.NewClient(&http.Client{Timeout: 30 * time.Second}, &whisk.Config{
		Host: sb.URL, AuthToken: sb.Auth, Namespace: "_", Version: "v1",
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wantSuccess invokes name blocking and fails t unless it succeeded.
func wantSuccess(t *testing.T, c *whisk.Client, name string, params any) *whisk.Activation {
	t.Helper()
	act, resp := invoke(t, c, name, params)
	if resp.StatusCode != http.StatusOK || !act.Response.Success {
		t.Fatalf("invoking %s: %s %+v", name, resp.Status, act.Response)
	}
	return act
}

// createSeq creates the sequence name of components (action names in
// guest) and removes it when t ends.
func createSeq(t *testing.T, c *whisk.Client, name string, components ...string) {
	t.Helper()
	var fqns []string
	for _, n := range components {
		fqns = append(fqns, "/guest/"+n)
	}
	seq := &whisk.Action{Name: name, Namespace: "_", Exec: &whisk.Exec{Kind: "sequence", Components: fqns}}
	if _, resp, err := c.Actions.Insert(seq, true); err != nil {
		t.Fatalf("creating the sequence %s: %v %s", name, err, status(resp))
	}
	t.Cleanup(func() { c.Actions.Delete(name) })
}

// checkSequence runs the 2-step sequence name (upper, then reverse).
func checkSequence(t *testing.T, c *whisk.Client, name string) {
	t.Helper()
	act := wantSuccess(t, c, name, map[string]any{"text": "two steps"})
	if r, _ := act.Response.Result.(map[string]any); r["text"] != "SPETS OWT" {
		t.Errorf("sequence %s result %v, want the text upper-cased and reversed", name, act.Response.Result)
	}
	if len(act.Logs) != 2 {
		t.Errorf("sequence %s logs %v, want its 2 component activation ids", name, act.Logs)
	}
}

// runChain runs the workflow of steps (named -upper, -reverse, -words)
// through sb's warm containers with direct hops from an in-process entry
// and checks the result; it returns the instances the steps ran on.
func runChain(t *testing.T, sb *sandbox.Sandbox, workflow string, steps []string) []string {
	t.Helper()
	if _, err := sb.Routes().PutSpec(context.Background(), chain(workflow, steps...)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Routes().DeleteSpec(context.Background(), "guest", workflow) })
	entry := startEntryAt(t, sb.RunDir, workflow+"-entry")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := entry.WaitReady(ctx, workflow); err != nil {
		t.Fatalf("the workflow's instances never became ready: %v (containers: %+v)", err, sb.Containers())
	}
	res, err := entry.StartRun(ctx, workflow, []byte(`{"text":"modes of the sandbox"}`), route.RunOptions{})
	if err != nil {
		t.Fatalf("direct run: %v (containers: %+v)", err, sb.Containers())
	}
	var v map[string]any
	if err := json.Unmarshal(res.Value, &v); err != nil || v["text"] != "XOBDNAS EHT FO SEDOM" || v["words"] != float64(4) {
		t.Errorf("direct run result %s (%v), want the text upper-cased and reversed, and 4 words", res.Value, err)
	}
	if len(res.Steps) != len(steps) {
		t.Fatalf("steps %+v, want %d", res.Steps, len(steps))
	}
	containers := map[string]bool{}
	for _, ci := range sb.Containers() {
		containers[ci.Name] = true
	}
	// Reports arrive in no fixed order (a step reports once it handed its
	// result on): the instances go in the order of steps.
	ranOn := map[string]string{}
	for _, st := range res.Steps {
		_, name, _ := strings.Cut(st.Instance, "/")
		if !containers[name] {
			t.Errorf("step %s ran on %s, which is not one of the invoker's containers %v", st.Step, st.Instance, containers)
		}
		ranOn[st.Step] = st.Instance
	}
	var insts []string
	for _, s := range steps {
		insts = append(insts, ranOn[s])
	}
	return insts
}

// TestDataDirPersists restarts a sandbox on the same data directory: the
// actions and activation records stay, and a second sandbox on a data
// directory in use is refused.
func TestDataDirPersists(t *testing.T) {
	dir := t.TempDir()
	first := startSandbox(t, sandbox.Config{DataDir: dir})
	if !first.Persistent || first.DataDir != dir {
		t.Errorf("info: persistent %v data dir %q, want true and %q", first.Persistent, first.DataDir, dir)
	}
	c := clientOf(t, first.Sandbox)
	createAct(t, c, "kept", map[string]any{"name": "disk"}, nil)
	old := wantSuccess(t, c, "kept", nil)

	// A second sandbox on the same data dir, while the first runs.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := sandbox.Run(ctx, sandbox.Config{Listen: "127.0.0.1:0", DataDir: dir, ProxyCommand: []string{bins.proxy},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, func(*sandbox.Sandbox) {
		t.Error("a second sandbox on a data dir in use became ready")
	})
	if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "data dir") {
		t.Errorf("a second sandbox on the data dir in use: %v, want an error naming the data dir %s", err, dir)
	}

	first.stop()
	second := startSandbox(t, sandbox.Config{DataDir: dir})
	c = clientOf(t, second.Sandbox)
	got, resp, err := c.Actions.Get("kept", true)
	if err != nil || got.Exec == nil || got.Exec.Code == nil || *got.Exec.Code != actCode || got.Version != "0.0.1" {
		t.Fatalf("the action after a restart: %v %s, want it with its code at version 0.0.1", err, status(resp))
	}
	stored, resp, err := c.Activations.Get(old.ActivationID)
	if err != nil || stored.ActivationID != old.ActivationID || !stored.Response.Success {
		t.Errorf("the old activation after a restart: %+v %v %s", stored, err, status(resp))
	}
	logs, _, err := c.Activations.Logs(old.ActivationID)
	if err != nil || len(logs.Logs) != len(old.Logs) {
		t.Errorf("the old activation's logs after a restart: %v %v, want %d lines", logs, err, len(old.Logs))
	}
	again := wantSuccess(t, c, "kept", map[string]any{"name": "again"})
	if g := again.Response.Result.(map[string]any)["greeting"]; g != "Hello, again!" {
		t.Errorf("result after a restart %v", again.Response.Result)
	}
	list, _, err := c.Activations.List(&whisk.ActivationListOptions{Name: "kept", Limit: 10})
	if err != nil || len(list) != 2 || list[0].ActivationID != again.ActivationID || list[1].ActivationID != old.ActivationID {
		t.Errorf("activations of kept after a restart: %d, %v; want the new and the old one", len(list), err)
	}
}

// TestExternalKafka runs the sandbox against a broker of its own, as a
// real Kafka: the sandbox creates its topics through sarama's ClusterAdmin
// and its messages go through that broker.
func TestExternalKafka(t *testing.T) {
	// No auto-creation: the topics exist only if the sandbox created them.
	brokers := testenv.Kafka(t)
	sb := startSandbox(t, sandbox.Config{Kafka: brokers})
	if strings.Join(sb.Kafka, ",") != strings.Join(brokers, ",") {
		t.Errorf("info: kafka %v, want %v", sb.Kafka, brokers)
	}
	c := clientOf(t, sb.Sandbox)
	createAct(t, c, "kx", nil, nil)
	createAct(t, c, "kx-upper", nil, nil)
	createAct(t, c, "kx-reverse", nil, nil)
	createSeq(t, c, "kx-seq", "kx-upper", "kx-reverse")
	wantSuccess(t, c, "kx", map[string]any{"name": "kafka"})
	checkSequence(t, c, "kx-seq")

	kcl, err := sarama.NewClient(brokers, controller.KafkaConfig("modes-test"))
	if err != nil {
		t.Fatal(err)
	}
	defer kcl.Close()
	topics, err := kcl.Topics()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, tp := range topics {
		have[tp] = true
	}
	// An action and a 2-step sequence: 3 activation messages, each acked.
	for _, tp := range []string{"invoker0", "completed0"} {
		if !have[tp] {
			t.Errorf("topic %s is not on the broker (topics %v)", tp, topics)
			continue
		}
		parts, err := kcl.Partitions(tp)
		if err != nil || len(parts) != 1 {
			t.Errorf("topic %s partitions %v %v, want one", tp, parts, err)
		}
		hw, err := kcl.GetOffset(tp, 0, sarama.OffsetNewest)
		if err != nil || hw < 3 {
			t.Errorf("topic %s high watermark %d %v, want at least 3 messages", tp, hw, err)
		}
	}
}

// TestConsulRegistry runs the sandbox with a real Consul as its route
// registry: the containers register there and direct hops work.
func TestConsulRegistry(t *testing.T) {
	consul := testenv.StartConsul(t, testenv.ConsulOptions{})
	sb := startSandbox(t, sandbox.Config{Consul: consul.Addr})
	if sb.Registry != consul.Addr {
		t.Errorf("info: registry %q, want %q", sb.Registry, consul.Addr)
	}
	c := clientOf(t, sb.Sandbox)
	steps := []string{"x-upper", "x-reverse", "x-words"}
	for _, s := range steps {
		createAct(t, c, s, nil, nil)
		wantSuccess(t, c, s, map[string]any{"text": "warm"})
	}
	insts := runChain(t, sb.Sandbox, "x", steps)

	cs, err := consulstore.New(consulstore.Options{Address: consul.Addr})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	want := map[string]string{} // instance id → action
	for i, s := range steps {
		want[insts[i]] = "/guest/" + s
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var last []routetable.Instance
	cs.WatchInstances(ctx, func(in []routetable.Instance) {
		last = in
		found := 0
		for _, i := range in {
			if a, ok := want[i.ID]; ok && a == i.Action && i.Host == "sandbox" && i.Namespace == "guest" {
				found++
			}
		}
		if found == len(want) {
			cancel()
		}
	}, nil)
	if ctx.Err() == context.DeadlineExceeded {
		t.Errorf("consul's passing instances %+v, want the steps' instances %v", last, want)
	}
}

// TestDockerMode runs actions in docker containers: blocking invokes,
// a sequence and direct hops, and nothing of the sandbox stays behind.
func TestDockerMode(t *testing.T) {
	testenv.RequireDocker(t)
	// Idle containers must not pause during the test: a paused container
	// takes no direct hops (see Config.PauseGrace).
	sb := startSandbox(t, sandbox.Config{Docker: true, ProxyBinary: bins.proxy, PauseGrace: time.Hour})
	if sb.Mode != "docker" {
		t.Errorf("info: mode %q, want docker", sb.Mode)
	}
	c := clientOf(t, sb.Sandbox)
	createAct(t, c, "dk", nil, nil)
	act := wantSuccess(t, c, "dk", map[string]any{"name": "docker"})
	if g := act.Response.Result.(map[string]any)["greeting"]; g != "Hello, docker!" {
		t.Errorf("result %v", act.Response.Result)
	}
	if logs := strings.Join(act.Logs, "\n"); !strings.Contains(logs, "stdout: hello from stdout, docker") || !strings.Contains(logs, "stderr: hello from stderr, docker") {
		t.Errorf("logs %q lack the action's two lines", act.Logs)
	}
	steps := []string{"dkh-upper", "dkh-reverse", "dkh-words"}
	for _, s := range steps {
		createAct(t, c, s, nil, nil)
	}
	createSeq(t, c, "dk-seq", "dkh-upper", "dkh-reverse")
	checkSequence(t, c, "dk-seq")
	for _, s := range steps {
		wantSuccess(t, c, s, map[string]any{"text": "warm"})
	}
	// In a subtest, so that its entry plane stops before the sandbox.
	t.Run("direct hops", func(t *testing.T) { runChain(t, sb.Sandbox, "dkh", steps) })
	// A cold workflow through its entry action: every hop falls back to
	// the API, which the containers reach on the docker bridge.
	t.Run("cold entry", func(t *testing.T) {
		cold := []string{"dkc-upper", "dkc-words"}
		for _, s := range cold {
			createAct(t, c, s, nil, nil)
		}
		if _, err := sb.Routes().PutSpec(context.Background(), chain("dkc", cold...)); err != nil {
			t.Fatal(err)
		}
		code := server.EntryCode("dkc")
		entry := &whisk.Action{Name: "dkc", Namespace: "_", Exec: &whisk.Exec{Kind: "blackbox", Image: "openwhisk/actionloop-base", Code: &code}}
		if _, _, err := c.Actions.Insert(entry, true); err != nil {
			t.Fatal(err)
		}
		act := wantSuccess(t, c, "dkc", map[string]any{"text": "cold docker"})
		if r := act.Response.Result.(map[string]any); r["text"] != "COLD DOCKER" || fmt.Sprint(r["words"]) != "2" {
			t.Errorf("cold entry run in docker: %v", r)
		}
		if logs := strings.Join(act.Logs, "\n"); !strings.Contains(logs, "ran through the OpenWhisk API") {
			t.Errorf("the cold run's logs %q do not show the fallback", act.Logs)
		}
	})

	// wsk action create X action.zip --docker openwhisk/actionloop-base
	// runs in the sandbox's proxy image (that image's proxy is ours); an
	// image without code that the local docker lacks is a developer error
	// naming it, never a pull.
	t.Run("images", func(t *testing.T) {
		zipped := actionZip(t)
		if _, _, err := c.Actions.Insert(&whisk.Action{Name: "dk-zip", Namespace: "_", Exec: &whisk.Exec{Kind: "blackbox", Image: "openwhisk/actionloop-base", Code: &zipped}}, true); err != nil {
			t.Fatal(err)
		}
		if act := wantSuccess(t, c, "dk-zip", map[string]any{"name": "zip"}); act.Response.Result.(map[string]any)["greeting"] != "Hello, zip!" {
			t.Errorf("the zip in docker mode: %v", act.Response.Result)
		}
		const missing = "wsk-route-test/not-here:1"
		if _, _, err := c.Actions.Insert(&whisk.Action{Name: "dk-missing", Namespace: "_", Exec: &whisk.Exec{Kind: "blackbox", Image: missing}}, true); err != nil {
			t.Fatal(err)
		}
		res, resp, err := c.Actions.Invoke("dk-missing", map[string]any{}, true, false)
		act := decodeActivation(t, res, resp, err)
		msg := fmt.Sprint(act.Response.Result)
		if act.Response.Status != "action developer error" || !strings.Contains(msg, "Failed to pull container image '"+missing+"'.") || !strings.Contains(msg, "pulls no images") {
			t.Errorf("an image the local docker lacks: %s %s", act.Response.Status, msg)
		}
	})

	owner := "label=wsk-route.dev.owner=" + strconv.Itoa(os.Getpid())
	images := map[string]bool{}
	for _, img := range strings.Fields(testenv.Docker(t, nil, "ps", "-a", "--filter", owner, "--format", "{{.Image}}")) {
		images[img] = true
	}
	if len(images) != 1 {
		t.Fatalf("the images of our containers %v, want the one the sandbox built", images)
	}
	var image string
	for img := range images {
		image = img
	}
	if !strings.HasPrefix(image, "wsk-route-dev/proxy:") {
		t.Errorf("the containers run %s, want the sandbox's image wsk-route-dev/proxy:*", image)
	}
	sb.stop()
	if left := testenv.Docker(t, nil, "ps", "-a", "--filter", owner, "--format", "{{.ID}} {{.Names}}"); left != "" {
		t.Errorf("containers left after the sandbox stopped:\n%s", left)
	}
	if left := testenv.Docker(t, nil, "image", "ls", "wsk-route-dev/proxy", "--format", "{{.Repository}}:{{.Tag}}"); strings.Contains("\n"+left+"\n", "\n"+image+"\n") {
		t.Errorf("the image %s is left after the sandbox stopped (images: %s)", image, left)
	}
}

// TestWrongKinds: actions of kinds the sandbox does not know are refused
// when they are created. (A blackbox image without code is accepted, as
// OpenWhisk accepts it, and its activations say why the image cannot
// run: TestWskActionCreateAndInvoke.)
func TestWrongKinds(t *testing.T) {
	for _, tc := range []struct {
		name string
		exec string
		want string
	}{
		{"unknown kind", `{"kind":"cobol:1","code":"DISPLAY 'HI'."}`, "The specified runtime 'cobol:1' is not supported by this platform."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "wrong-" + strings.ReplaceAll(tc.name, " ", "-")
			body := `{"exec":` + tc.exec + `}`
			req, err := http.NewRequest(http.MethodPut, shared.URL+"/api/v1/namespaces/_/actions/"+name+"?overwrite=true", bytes.NewBufferString(body))
			if err != nil {
				t.Fatal(err)
			}
			uuid, key, _ := strings.Cut(shared.Auth, ":")
			req.SetBasicAuth(uuid, key)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var e struct{ Error, Code string }
			if resp.StatusCode != http.StatusBadRequest || json.Unmarshal(b, &e) != nil || !strings.Contains(e.Error, tc.want) {
				t.Errorf("create %s: %s %s, want 400 with an error mentioning %q", tc.exec, resp.Status, b, tc.want)
			}
			if _, resp, err := client(t, "").Actions.Get(name, false); err == nil || resp == nil || resp.StatusCode != http.StatusNotFound {
				t.Errorf("the refused action exists: %v %s", err, status(resp))
			}
		})
	}
}
