package testbed

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
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

// TestTestbed deploys wsk-route with ansible/ onto the test bed and runs a
// workflow whose steps land on both invoker hosts with direct hops (same-host
// shm, cross-host relay); checks that a second run changes nothing; upgrades
// the agents and the route-enabled images host by host while a stream of
// runs is in flight (no run may fail, see stream.finish); switches the
// agents to containers, again with
// runs in flight; cleans, and checks the hosts are back to stock: the
// step actions run as plain actions, and the workflow through the
// OpenWhisk API alone (docs/deploy.md "Undo").
//
// The upgrade goes from the build of the previous commit (HEAD~1, built
// from a temporary git worktree; the "previous" binaries, under
// $WSK_ROUTE_CACHE/testbed/bin-previous) to scripts/deploy-binaries.sh's
// build of this checkout: every agent restarts and every route-enabled
// image is rebuilt (docs/deploy.md "Upgrading"). Every run in flight must
// complete.
func TestTestbed(t *testing.T) {
	repo := repoRoot(t)
	requirements(t)
	start := time.Now()
	ansibleDir := filepath.Join(repo, "ansible")
	// The roles' default wsk_route_bin_dir, rebuilt from this checkout.
	binDir := filepath.Join(cacheDir(t), "deploy", "bin")
	if d := os.Getenv("WSK_ROUTE_BIN_DIR"); d != "" {
		binDir = d
	}
	prevDir := filepath.Join(cacheDir(t), "testbed", "bin-previous")
	env := append(os.Environ(), "WSK_ROUTE_BIN_DIR="+binDir, "ANSIBLE_FORCE_COLOR=0", "ANSIBLE_NOCOLOR=1")

	step(t, "binaries", env, repo, "scripts/deploy-binaries.sh", binDir)
	buildPrevious(t, repo, binDir, prevDir)
	step(t, "test bed up", env, repo, "scripts/testbed.sh", "up")
	if os.Getenv("WSK_ROUTE_TESTBED_KEEP") != "1" {
		t.Cleanup(func() { run(t, env, repo, "scripts/testbed.sh", "down") })
	}

	// playbook runs wsk-route.yml with the binaries of bin.
	playbook := func(name, bin string, args ...string) string {
		env := append(env[:len(env):len(env)], "WSK_ROUTE_BIN_DIR="+bin)
		return step(t, name, env, ansibleDir, "ansible-playbook", append([]string{"-i", "environments/testbed", "wsk-route.yml"}, args...)...)
	}
	playbook("check mode on fresh hosts", prevDir, "--check", "--diff")
	playbook("deploy (previous build)", prevDir, "-e", "wsk_route_restart_invokers=true")
	if out := playbook("deploy again", prevDir); !noChange(out) {
		t.Fatalf("a second run changed something:\n%s", recap(out))
	}

	c := client(t)
	flow := deployWorkflow(t, c, repo, binDir, env)
	text := strings.Repeat("wsk route ", 6<<10) // 60 KiB: same-host hops go through shm
	want := map[string]any{"text": reverse(strings.ToUpper(text)), "words": float64(len(strings.Fields(text)))}

	// Cold: every step through the fallback, which warms the containers.
	runFlow(t, c, flow.entry, text, want)
	// The proxies report their hops to their agents in batches: wait for
	// the cold run's three fallbacks before counting the warm runs.
	waitMetrics(t, func(m metrics) bool { return m.sum("wsk_route_fallbacks_total") >= 3 })
	directRuns(t, c, flow.entry, text, want, "deployed")

	// The upgrade, one host at a time, with runs in flight: each host's
	// agent restarts (SIGTERM; its proxies reconnect) and its route-enabled
	// image is rebuilt.
	s := startStream(t, flow.entry, text, want)
	out := playbook("upgrade with runs in flight", binDir, "-e", "wsk_route_serial=1")
	s.finish(t, "upgrade", 5*time.Second)
	agentWaits(t, "upgrade", s.start)
	if !strings.Contains(out, "RUNNING HANDLER [wsk_route_agent : Restart wsk-route-agent]") {
		t.Errorf("the upgrade restarted no agent:\n%s", recap(out))
	}
	for i := range invokerIPs {
		checkUpgraded(t, i, binDir)
	}
	directRuns(t, c, flow.entry, text, want, "upgraded")

	// The agents as containers, switched to with runs in flight.
	s = startStream(t, flow.entry, text, want)
	playbook("agents as containers, with runs in flight", binDir, "-e", "wsk_route_agent_service=container", "-e", "wsk_route_serial=1")
	s.finish(t, "switch to containers", 5*time.Second)
	agentWaits(t, "switch to containers", s.start)
	for i := range invokerIPs {
		checkContainerAgent(t, i)
	}
	directRuns(t, c, flow.entry, text, want, "agents in containers")
	if out := playbook("containers: deploy again", binDir, "-e", "wsk_route_agent_service=container"); !noChange(out) {
		t.Errorf("a second run with agent containers changed something:\n%s", recap(out))
	}
	if out := playbook("containers: check mode after deploy", binDir, "-e", "wsk_route_agent_service=container", "--check", "--diff"); !noChange(out) {
		t.Errorf("check mode on deployed hosts reports changes:\n%s", recap(out))
	}

	playbook("clean", binDir, "-e", "mode=clean", "-e", "wsk_route_restart_invokers=true")
	for i, ip := range invokerIPs {
		if _, err := http.Get("http://" + ip + ":9464/metrics"); err == nil {
			t.Errorf("the agent of %s still answers after mode=clean", ip)
		}
		if out, _ := inHost(i, "sh", "-c", "docker ps -a --filter name=wsk-route-agent --format '{{.Names}}'; docker image ls --filter label=wsk-route.agent=1 -q; ls /usr/local/bin /etc/systemd/system | grep wsk-route-agent"); strings.TrimSpace(out) != "" {
			t.Errorf("invoker%d after mode=clean still has: %s", i, out)
		}
	}
	// The agents are gone: every step is a stock action again.
	runStep(t, c, flow.steps[0], "after clean", map[string]any{"text": "AFTER CLEAN"})
	runStep(t, c, flow.steps[1], "after clean", map[string]any{"text": "naelc retfa"})
	runStep(t, c, flow.steps[2], "after clean", map[string]any{"words": 2})
	// The workflow still runs, with the same result: its entry, without
	// an agent, invokes each step through the OpenWhisk API
	// (route.APIRouter, the spec from its manifest).
	runFlow(t, c, flow.entry, text, want)
	runFlow(t, c, flow.entry, "after clean", map[string]any{"text": "NAELC RETFA", "words": 2})
	if out := playbook("clean again", binDir, "-e", "mode=clean"); !noChange(out) {
		t.Errorf("a second clean changed something:\n%s", recap(out))
	}
	t.Logf("test bed: %s", time.Since(start).Round(time.Second))
}

// directRuns runs the workflow three times, warm, and checks in the agents'
// metrics that the hops went direct: over shm on the same host, relayed
// across hosts, and none through the fallback.
func directRuns(t *testing.T, c *whisk.Client, entry, text string, want map[string]any, when string) {
	t.Helper()
	// Counters arrive in batches, a few seconds late: start from settled ones.
	before := settledMetrics(t)
	for range 3 {
		runFlow(t, c, entry, text, want)
	}
	// Per warm run: entry -> upper (same host, shm), upper -> reverse
	// (relayed), reverse -> words (same host, shm), words -> entry (relayed).
	after := waitMetrics(t, func(m metrics) bool {
		return m.sum(`transport="shm"`)-before.sum(`transport="shm"`) >= 3 &&
			m.sum(`transport="relay"`)-before.sum(`transport="relay"`) >= 3
	})
	if d := after.sum(`transport="shm"`) - before.sum(`transport="shm"`); d < 3 {
		t.Errorf("%s: same-host hops over shm: %v more, want at least 3 (metrics %v)", when, d, after)
	}
	if d := after.sum(`transport="relay"`) - before.sum(`transport="relay"`); d < 3 {
		t.Errorf("%s: cross-host relayed hops: %v more, want at least 3 (metrics %v)", when, d, after)
	}
	if d := after.sum(`wsk_route_fallbacks_total`) - before.sum(`wsk_route_fallbacks_total`); d != 0 {
		t.Errorf("%s: warm runs fell back %v times, want 0", when, d)
	}
	t.Logf("%s: agents' hop counters after 3 warm runs: %v", when, after)
}

// previousRev is the commit whose build the test bed upgrades from: the
// commit before this checkout's HEAD.
const previousRev = "HEAD~1"

// buildPrevious builds the "previous" binaries into dir: the agent and the
// proxy of previousRev, from a temporary git worktree of it (the checkout
// itself is not touched; the worktree is removed afterwards), so that the
// upgrade goes from the previous commit's build to this checkout's, as a
// new release's would; consul and the CLI are bin's. The build is kept in
// dir, with the commit in dir/COMMIT, and reused while previousRev names
// the same commit.
func buildPrevious(t *testing.T, repo, bin, dir string) {
	t.Helper()
	t0 := time.Now()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	git := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("git", append([]string{"-C", repo}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	commit := git("rev-parse", "--verify", previousRev+"^{commit}")
	names := []string{"wsk-route-agent", "proxy"}
	if b, err := os.ReadFile(filepath.Join(dir, "COMMIT")); err == nil && strings.TrimSpace(string(b)) == commit && allExist(dir, names) {
		t.Logf("previous binaries (%s %s) in %s: cached", previousRev, commit[:12], dir)
	} else {
		wt := filepath.Join(t.TempDir(), "previous")
		git("worktree", "add", "--detach", wt, commit)
		defer func() {
			if out, err := exec.Command("git", "-C", repo, "worktree", "remove", "--force", wt).CombinedOutput(); err != nil {
				t.Errorf("git worktree remove %s: %v\n%s", wt, err, out)
			}
		}()
		for _, name := range names {
			pkg := "./cmd/" + name
			cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, name+".tmp"), pkg)
			cmd.Dir, cmd.Env = wt, append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("building the previous %s (%s %s): %v\n%s", name, previousRev, commit[:12], err, out)
			}
			if err := os.Rename(filepath.Join(dir, name+".tmp"), filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "COMMIT"), []byte(commit+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("previous binaries (%s %s) in %s: built in %s", previousRev, commit[:12], dir, time.Since(t0).Round(100*time.Millisecond))
	}
	for _, name := range []string{"consul", "wsk-route"} {
		b, err := os.ReadFile(filepath.Join(bin, name))
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, name), b, 0o755)
		}
		if err != nil {
			t.Fatalf("the previous binaries: %v", err)
		}
	}
	for _, name := range names {
		if sha256File(t, filepath.Join(dir, name)) == sha256File(t, filepath.Join(bin, name)) {
			t.Fatalf("the previous %s (%s) is the same file as the new one: the upgrade would restart nothing", name, previousRev)
		}
	}
}

// allExist reports whether every name is a file in dir.
func allExist(dir string, names []string) bool {
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			return false
		}
	}
	return true
}

// checkUpgraded checks that invoker i runs the agent and the proxy of bin.
func checkUpgraded(t *testing.T, i int, bin string) {
	t.Helper()
	for _, c := range []struct{ name, cmd string }{
		{"wsk-route-agent", "sha256sum /usr/local/bin/wsk-route-agent | cut -d' ' -f1"},
		{"proxy", `docker image inspect --format '{{index .Config.Labels "wsk-route.proxy.sha256"}}' ` + image},
	} {
		got, err := inHost(i, "sh", "-c", c.cmd)
		if err != nil {
			t.Errorf("invoker%d: %s: %v %s", i, c.cmd, err, got)
			continue
		}
		if want := sha256File(t, filepath.Join(bin, c.name)); strings.TrimSpace(got) != want {
			t.Errorf("invoker%d after the upgrade: %s is %s, want %s (the new build)", i, c.name, strings.TrimSpace(got), want)
		}
	}
	if out, err := inHost(i, "systemctl", "is-active", "wsk-route-agent"); err != nil {
		t.Errorf("invoker%d: wsk-route-agent is %s after the upgrade", i, strings.TrimSpace(out))
	}
}

// agentWaits logs, for each invoker host, the frames that its agents held
// since since until they knew what they needed to relay them, just after
// their start (invoker-plugin/agent, restart.go): without that wait, these
// frames were refused, and a step's result among them lost its run.
func agentWaits(t *testing.T, what string, since time.Time) {
	t.Helper()
	for i := range invokerIPs {
		out, _ := inHost(i, "sh", "-c", "{ cat /var/log/wsk-route/agent.log; docker logs wsk-route-agent; } 2>&1 | grep 'a frame waited'")
		var held []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			ts, _, ok := strings.Cut(strings.TrimPrefix(l, "time="), " ")
			if at, err := time.Parse(time.RFC3339Nano, ts); ok && err == nil && !at.Before(since) {
				held = append(held, l)
			}
		}
		if len(held) == 0 {
			t.Logf("%s: invoker%d's new agent held no frame at its start", what, i)
			continue
		}
		t.Logf("%s: invoker%d's new agent held frames at its start: %d; the last ones:\n%s", what, i, len(held), strings.Join(held[max(0, len(held)-4):], "\n"))
	}
}

// checkContainerAgent checks that invoker i runs the agent as a container,
// and no longer as a systemd unit.
func checkContainerAgent(t *testing.T, i int) {
	t.Helper()
	if out, err := inHost(i, "docker", "container", "inspect", "--format", "{{.State.Running}} {{.HostConfig.NetworkMode}} {{.HostConfig.PidMode}}", "wsk-route-agent"); err != nil || strings.TrimSpace(out) != "true host host" {
		t.Errorf("invoker%d: agent container: %q %v, want \"true host host\"", i, strings.TrimSpace(out), err)
	}
	if out, err := inHost(i, "systemctl", "is-active", "wsk-route-agent"); err == nil {
		t.Errorf("invoker%d: the systemd unit is still %s next to the agent container", i, strings.TrimSpace(out))
	}
}

func inHost(i int, args ...string) (string, error) {
	out, err := exec.Command("docker", append([]string{"exec", fmt.Sprintf("wsk-route-tb-invoker%d", i)}, args...)...).CombinedOutput()
	return string(out), err
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(b))
}

// cacheDir is $WSK_ROUTE_CACHE, else $HOME/.cache/wsk-route, as the scripts
// have it.
func cacheDir(t *testing.T) string {
	if d := os.Getenv("WSK_ROUTE_CACHE"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(home, ".cache", "wsk-route")
}

// requirements skips when the test bed is not asked for (neither CI=true nor
// WSK_ROUTE_TESTBED=1), and when it cannot run (under CI=true it fails then).
func requirements(t *testing.T) {
	t.Helper()
	if os.Getenv("WSK_ROUTE_TESTBED") != "1" && !testenv.CI() {
		t.Skip("the ansible test bed runs under CI=true, or with WSK_ROUTE_TESTBED=1 (root, docker, debootstrap, ansible; about 10 minutes)")
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
	if err := invokeFlow(c, entry, text, want); err != nil {
		t.Fatalf("invoking %s: %v", entry, err)
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

// settledMetrics polls the agents' metrics until two reads a second apart
// agree (the proxies' batches have arrived), for at most 15 s.
func settledMetrics(t *testing.T) metrics {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	m := hopMetrics(t)
	for time.Now().Before(deadline) {
		time.Sleep(time.Second)
		n := hopMetrics(t)
		if fmt.Sprint(n) == fmt.Sprint(m) {
			return n
		}
		m = n
	}
	return m
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
