package routetest_test

// A hostile action in a docker container, on a host set up as docs/route-plane.md
// says (run directory read-only in containers, the agent with -trusted-images),
// tries what was found to work against the earlier layout: take the agent's
// socket, take another proxy's frame socket, claim a namespace's key from a
// container no proxy has claimed. Every attempt must fail.

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/route"
	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/testenv"
	"github.com/wsk-route/wsk-route/internal/transport"
)

// hostileHost is a docker host whose agent trusts only the proxy image.
func hostileHost(t *testing.T, agentArgs ...string) *dockerHost {
	t.Helper()
	testenv.RequireDocker(t)
	needBins(t)
	image := testenv.ImportProxyImage(t, bins.proxy, "wsk-route/proxy-routetest")
	consul := startConsul(t)
	h := startHost(t, "h1", consul, "", "", nil, append([]string{"-trusted-images", image}, agentArgs...)...)
	shmDir := filepath.Join(h.shmRoot, "guest")
	if err := os.Mkdir(shmDir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		t.Fatal(err)
	}
	network := "wsk-route-routetest-" + testenv.RandomID(t)
	testenv.Docker(t, nil, "network", "create", "--label", dockerLabel, network)
	t.Cleanup(func() { testenv.RunDocker(nil, "network", "rm", network) })
	return &dockerHost{consul: consul, h: h, image: image, shmDir: shmDir, network: network}
}

// runHostile runs the hostile program in a container of its own image with
// the run directory mounted as mount says ("ro" or "rw"), and returns what
// each of its attempts got.
func runHostile(t *testing.T, d *dockerHost, mount, victim, namespace string) map[string]string {
	t.Helper()
	image := testenv.ImportProxyImage(t, bins.hostile, "wsk-route/hostile-routetest")
	c := "wsk-route-hostile-" + testenv.RandomID(t)
	t.Cleanup(func() { testenv.RunDocker(nil, "rm", "-f", c) })
	testenv.Docker(t, nil, "run", "-d", "--name", c, "--label", dockerLabel, "--network", d.network,
		"-v", d.h.runDir+":"+d.h.runDir+":"+mount, "-v", d.shmDir+":"+d.shmDir,
		image, d.h.runDir, victim+".sock", namespace)
	testenv.Docker(t, nil, "wait", c)
	out := testenv.Docker(t, nil, "logs", c)
	got := map[string]string{}
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &got); err != nil {
		t.Fatalf("hostile container's report %q: %v", out, err)
	}
	return got
}

func inodeOf(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func TestHostileContainer(t *testing.T) {
	d := hostileHost(t)
	d.startDockerAction(t, "victim", "upper", "upper")
	victimSock := filepath.Join(d.h.runDir, "proxies", "victim.sock")
	agentSock := filepath.Join(d.h.runDir, "agent.sock")
	waitFor(t, 20*time.Second, "the victim's frame socket", func() bool { _, err := os.Stat(victimSock); return err == nil })
	agentIno, victimIno := inodeOf(t, agentSock), inodeOf(t, victimSock)

	got := runHostile(t, d, "ro", "victim", "guest")
	for attempt, res := range got {
		t.Logf("%s: %s", attempt, res)
		if res == "ok" {
			t.Errorf("%s: succeeded from a hostile container", attempt)
		}
	}
	if len(got) != 7 {
		t.Errorf("the hostile program reported %d attempts, want 7: %v", len(got), got)
	}
	if res := got["claim a namespace"]; !strings.Contains(res, "not trusted") {
		t.Errorf("claim a namespace: %q, want the agent's refusal (image not trusted)", res)
	}
	if inodeOf(t, agentSock) != agentIno || inodeOf(t, victimSock) != victimIno {
		t.Error("the agent's or the victim's socket was replaced")
	}
	// The victim's proxy still answers on its endpoint: a frame signed
	// with a wrong key gets the victim's refusal, not a connection error.
	var c transport.Client
	defer c.Close()
	f := &frame.Frame{Kind: frame.KindStep, RunID: "probe", Workflow: "w", Step: "s", Namespace: "guest",
		Payload: []byte(`{}`), Size: 2}
	f.Sign([]byte("0123456789abcdef0123456789abcdef"))
	ack, err := c.Send(context.Background(), "unix:"+victimSock, f, nil)
	if err != nil || ack.Code != frame.CodeBadTag {
		t.Errorf("probe of the victim after the attack: ack %v, %v; want the victim's bad tag", ack.Code, err)
	}
}

// A proxy whose run directory is writable (mounted read-write) cannot tell
// the agent from an impostor: it stays the stock proxy and says why.
func TestProxyRefusesWritableRunDir(t *testing.T) {
	d := hostileHost(t)
	c := "wsk-route-rwproxy-" + testenv.RandomID(t)
	t.Cleanup(func() { testenv.RunDocker(nil, "rm", "-f", c) })
	testenv.Docker(t, nil, "run", "-d", "--name", c, "--label", dockerLabel, "--network", d.network,
		"-v", d.h.runDir+":"+d.h.runDir, "-v", d.shmDir+":"+d.shmDir,
		"-e", route.EnvAgent+"="+filepath.Join(d.h.runDir, "agent.sock"), "-e", route.EnvName+"=rw",
		d.image)
	var logs string
	waitFor(t, 20*time.Second, "the proxy's refusal in its log", func() bool {
		// The proxy writes to its stderr, which docker logs gives on its own.
		out, err := exec.Command("docker", "logs", c).CombinedOutput()
		logs = string(out)
		return err == nil && strings.Contains(logs, "route plane off")
	})
	if !strings.Contains(logs, "writable") {
		t.Errorf("log %q does not say the run directory is writable", logs)
	}
	if _, err := os.Stat(filepath.Join(d.h.runDir, "proxies", "rw.sock")); err == nil {
		t.Error("the proxy with a writable run directory registered")
	}
}
