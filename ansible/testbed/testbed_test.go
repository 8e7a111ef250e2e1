package testbed

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"

	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox"
	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox/controller"
	"github.com/wsk-route/wsk-route/internal/testenv"
)

// The test bed's fixed addresses (scripts/testbed.sh).
const (
	apiHost    = "http://172.31.77.10:3233"
	consulAddr = "172.31.77.10:8500"
	image      = "testbed/action-golang-native:1-wsk-route"
)

var invokerIPs = []string{"172.31.77.11", "172.31.77.12"}

// TestTestbed deploys wsk-route with ansible/ onto the test bed, runs a
// workflow whose steps land on both invoker hosts with direct hops, checks a
// second run changes nothing, cleans, and checks the hosts are back to
// stock: the step actions run as plain actions (the entry action needs an
// agent, see docs/deploy.md "Undo").
func TestTestbed(t *testing.T) {
	repo := repoRoot(t)
	requirements(t)
	start := time.Now()
	ansibleDir := filepath.Join(repo, "ansible")
	// The roles' default wsk_route_bin_dir, rebuilt from this checkout.
	binDir := filepath.Join(os.Getenv("HOME"), ".cache", "wsk-route", "deploy", "bin")
	if d := os.Getenv("WSK_ROUTE_BIN_DIR"); d != "" {
		binDir = d
	}
	env := append(os.Environ(), "WSK_ROUTE_BIN_DIR="+binDir, "ANSIBLE_FORCE_COLOR=0", "ANSIBLE_NOCOLOR=1")

	step(t, "binaries", env, repo, "scripts/deploy-binaries.sh", binDir)
	step(t, "test bed up", env, repo, "scripts/testbed.sh", "up")
	if os.Getenv("WSK_ROUTE_TESTBED_KEEP") != "1" {
		t.Cleanup(func() { run(t, env, repo, "scripts/testbed.sh", "down") })
	}

	playbook := func(name string, args ...string) string {
		return step(t, name, env, ansibleDir, "ansible-playbook", append([]string{"-i", "environments/testbed", "wsk-route.yml"}, args...)...)
	}
	playbook("check mode on fresh hosts", "--check", "--diff")
	playbook("deploy", "-e", "wsk_route_restart_invokers=true")
	if out := playbook("deploy again"); !noChange(out) {
		t.Fatalf("a second run changed something:\n%s", recap(out))
	}
	playbook("check mode after deploy", "--check", "--diff")

	c := client(t)
	flow := deployWorkflow(t, c, repo, binDir, env)
	text := strings.Repeat("wsk route ", 6<<10) // 60 KiB: same-host hops go through shm
	want := map[string]any{"text": reverse(strings.ToUpper(text)), "words": float64(len(strings.Fields(text)))}

	// Cold: every step through the fallback, which warms the containers.
	runFlow(t, c, flow.entry, text, want)
	// The proxies report their hops to their agents in batches: wait for
	// the cold run's three fallbacks before counting the warm runs.
	before := waitMetrics(t, func(m metrics) bool { return m.sum("wsk_route_fallbacks_total") >= 3 })
	for i := range 3 {
		runFlow(t, c, flow.entry, text, want)
		t.Logf("warm run %d ok", i)
	}
	// Per warm run: entry -> upper (same host, shm), upper -> reverse
	// (relayed), reverse -> words (same host, shm), words -> entry (relayed).
	after := waitMetrics(t, func(m metrics) bool {
		return m.sum(`transport="shm"`)-before.sum(`transport="shm"`) >= 3 &&
			m.sum(`transport="relay"`)-before.sum(`transport="relay"`) >= 3
	})
	if d := after.sum(`transport="shm"`) - before.sum(`transport="shm"`); d < 3 {
		t.Errorf("same-host hops over shm: %v more, want at least 3 (metrics %v)", d, after)
	}
	if d := after.sum(`transport="relay"`) - before.sum(`transport="relay"`); d < 3 {
		t.Errorf("cross-host relayed hops: %v more, want at least 3 (metrics %v)", d, after)
	}
	if d := after.sum(`wsk_route_fallbacks_total`) - before.sum(`wsk_route_fallbacks_total`); d != 0 {
		t.Errorf("warm runs fell back %v times, want 0", d)
	}
	t.Logf("agents' hop counters after the warm runs: %v", after)

	if out := playbook("deploy a third time"); !noChange(out) {
		t.Fatalf("a third run changed something:\n%s", recap(out))
	}
	runFlow(t, c, flow.entry, text, want)

	playbook("clean", "-e", "mode=clean", "-e", "wsk_route_restart_invokers=true")
	for _, ip := range invokerIPs {
		if _, err := http.Get("http://" + ip + ":9464/metrics"); err == nil {
			t.Errorf("the agent of %s still answers after mode=clean", ip)
		}
	}
	// The agents are gone: every step is a stock action again.
	runStep(t, c, flow.steps[0], "after clean", map[string]any{"text": "AFTER CLEAN"})
	runStep(t, c, flow.steps[1], "after clean", map[string]any{"text": "naelc retfa"})
	runStep(t, c, flow.steps[2], "after clean", map[string]any{"words": 2})
	// The workflow's entry needs a host agent (it gets the spec and the
	// namespace key from it), so it fails at once, saying so: the
	// workflow does not yet run through the fallback alone.
	if _, resp, err := c.Actions.Invoke(flow.entry, map[string]any{"text": "x"}, true, true); err == nil {
		t.Errorf("the entry %s ran without a host agent", flow.entry)
	} else {
		t.Logf("entry after clean, as expected for now: %v (%s)", err, resp.Status)
	}
	if out := playbook("clean again", "-e", "mode=clean"); !noChange(out) {
		t.Errorf("a second clean changed something:\n%s", recap(out))
	}
	t.Logf("test bed: %s", time.Since(start).Round(time.Second))
}

// requirements skips (fails under CI=true) when the test bed cannot run.
func requirements(t *testing.T) {
	t.Helper()
	if os.Getenv("WSK_ROUTE_TESTBED") != "1" {
		t.Skip("the ansible test bed runs only with WSK_ROUTE_TESTBED=1 (root, docker, debootstrap, ansible; about 10 minutes)")
	}
	if os.Geteuid() != 0 {
		testenv.Skip(t, "the test bed needs root (debootstrap, containers booting systemd)")
	}
	for _, tool := range []string{"docker", "ansible-playbook", "debootstrap"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Skip(t, "the test bed needs %s (scripts/setup.sh installs it)", tool)
		}
	}
	if err := exec.Command("docker", "info").Run(); err != nil {
		testenv.Skip(t, "the test bed needs a docker engine: docker info: %v", err)
	}
}

func repoRoot(t *testing.T) string {
	t.Helper()
	d, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// step runs a command of the test bed and fails the test if it fails.
func step(t *testing.T, name string, env []string, dir, cmd string, args ...string) string {
	t.Helper()
	t0 := time.Now()
	out, err := runErr(env, dir, cmd, args...)
	if err != nil {
		t.Fatalf("%s: %s %s: %v\n%s", name, cmd, strings.Join(args, " "), err, tail(out, 60))
	}
	t.Logf("%s: ok in %s", name, time.Since(t0).Round(100*time.Millisecond))
	return out
}

func run(t *testing.T, env []string, dir, cmd string, args ...string) {
	if out, err := runErr(env, dir, cmd, args...); err != nil {
		t.Logf("%s %s: %v\n%s", cmd, strings.Join(args, " "), err, tail(out, 20))
	}
}

func runErr(env []string, dir, cmd string, args ...string) (string, error) {
	if !filepath.IsAbs(cmd) && strings.Contains(cmd, "/") {
		cmd = filepath.Join(dir, cmd)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, cmd, args...)
	c.Dir, c.Env = dir, env
	out, err := c.CombinedOutput()
	return string(out), err
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

var recapLine = regexp.MustCompile(`(?m)^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)`)

// noChange reports whether a playbook's recap shows no host changed.
func noChange(out string) bool {
	m := recapLine.FindAllStringSubmatch(out, -1)
	if len(m) == 0 {
		return false
	}
	for _, h := range m {
		if h[2] != "0" || h[3] != "0" || h[4] != "0" {
			return false
		}
	}
	return true
}

func recap(out string) string {
	var b strings.Builder
	sc := bufio.NewScanner(strings.NewReader(out))
	var task string
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "TASK [") || strings.HasPrefix(l, "RUNNING HANDLER [") {
			task = l
		}
		if strings.HasPrefix(l, "changed:") {
			fmt.Fprintf(&b, "%s\n  %s\n", task, l)
		}
	}
	b.WriteString(strings.Join(recapLine.FindAllString(out, -1), "\n"))
	return b.String()
}

func client(t *testing.T) *whisk.Client {
	t.Helper()
	c, err := whisk.NewClient(&http.Client{Timeout: 90 * time.Second}, &whisk.Config{
		Host: apiHost, AuthToken: sandbox.GuestUUID + ":" + sandbox.GuestKey, Namespace: "_", Version: "v1", Insecure: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type flow struct {
	entry string
	steps []string
}

// pick returns name-<n> with the smallest n whose home invoker is home.
func pick(name string, home int) string {
	for n := 0; ; n++ {
		s := fmt.Sprintf("%s%d-%s", strings.SplitN(name, "-", 2)[0], n, strings.SplitN(name, "-", 2)[1])
		if controller.HomeInvoker("/guest/"+s, 2) == home {
			return s
		}
	}
}

// deployWorkflow creates three steps and an entry whose hops go entry ->
// upper (same host, invoker0), upper -> reverse (cross host), reverse ->
// words (same host, invoker1), words -> entry (cross host).
func deployWorkflow(t *testing.T, c *whisk.Client, repo, binDir string, env []string) flow {
	t.Helper()
	dir, cleanup, err := testenv.BuildStatic(map[string]string{"act": filepath.Join(repo, "cmd/wsk-route/sandbox/testdata/act")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	b, err := os.ReadFile(filepath.Join(dir, "act"))
	if err != nil {
		t.Fatal(err)
	}
	code := base64.StdEncoding.EncodeToString(b)
	bin := true
	entry := pick("tb-flow", 0)
	steps := []string{pick("tb-upper", 0), pick("tb-reverse", 1), pick("tb-words", 1)}
	for _, s := range steps {
		a := &whisk.Action{Name: s, Namespace: "_", Exec: &whisk.Exec{Kind: "blackbox", Image: image, Code: &code, Binary: &bin}}
		if _, resp, err := c.Actions.Insert(a, true); err != nil {
			t.Fatalf("creating %s: %v %v", s, err, resp)
		}
	}
	yaml := fmt.Sprintf("name: %s\nsteps:\n  - %s\n  - %s\n  - %s\n", entry, steps[0], steps[1], steps[2])
	f := filepath.Join(t.TempDir(), "flow.yaml")
	if err := os.WriteFile(f, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	step(t, "compose", env, repo, filepath.Join(binDir, "wsk-route"), "compose", f,
		"--apihost", apiHost, "--auth", sandbox.GuestUUID+":"+sandbox.GuestKey, "--consul", consulAddr, "--image", image)
	t.Logf("workflow %s: %v", entry, steps)
	return flow{entry: entry, steps: steps}
}

func runFlow(t *testing.T, c *whisk.Client, entry, text string, want map[string]any) {
	t.Helper()
	t0 := time.Now()
	res, resp, err := c.Actions.Invoke(entry, map[string]any{"text": text}, true, true)
	if err != nil {
		t.Fatalf("invoking %s: %v (%v)", entry, err, resp)
	}
	r, ok := res.(map[string]any)
	if !ok {
		t.Fatalf("invoking %s: result %T %.300v", entry, res, res)
	}
	for k, v := range want {
		if fmt.Sprint(r[k]) != fmt.Sprint(v) {
			t.Fatalf("invoking %s: %s = %.80v..., want %.80v...", entry, k, r[k], v)
		}
	}
	t.Logf("run of %s: ok in %s", entry, time.Since(t0).Round(time.Millisecond))
}

// runStep invokes one step action directly, as a stock action.
func runStep(t *testing.T, c *whisk.Client, name, text string, want map[string]any) {
	t.Helper()
	res, resp, err := c.Actions.Invoke(name, map[string]any{"text": text}, true, true)
	if err != nil {
		t.Fatalf("invoking %s: %v (%v)", name, err, resp)
	}
	r, _ := res.(map[string]any)
	for k, v := range want {
		if fmt.Sprint(r[k]) != fmt.Sprint(v) {
			t.Errorf("invoking %s: %s = %v, want %v", name, k, r[k], v)
		}
	}
}

func reverse(s string) string {
	r := []rune(s)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return string(r)
}

// metrics holds the hop counters of both agents, by series.
type metrics map[string]float64

func (m metrics) sum(substr string) float64 {
	var s float64
	for k, v := range m {
		if strings.Contains(k, substr) {
			s += v
		}
	}
	return s
}

// waitMetrics polls the agents' metrics until ok, for at most 20 s, and
// returns the last ones.
func waitMetrics(t *testing.T, ok func(metrics) bool) metrics {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		m := hopMetrics(t)
		if ok(m) || time.Now().After(deadline) {
			return m
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func hopMetrics(t *testing.T) metrics {
	t.Helper()
	m := metrics{}
	for _, ip := range invokerIPs {
		resp, err := http.Get("http://" + ip + ":9464/metrics")
		if err != nil {
			t.Fatalf("agent metrics of %s: %v", ip, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, l := range bytes.Split(b, []byte("\n")) {
			s := string(l)
			if !strings.HasPrefix(s, "wsk_route_hops_total") && !strings.HasPrefix(s, "wsk_route_fallbacks_total") {
				continue
			}
			i := strings.LastIndexByte(s, ' ')
			v, err := strconv.ParseFloat(s[i+1:], 64)
			if err == nil {
				m[ip+" "+s[:i]] = v
			}
		}
	}
	return m
}
