package invoker_test

import (
	"fmt"
	"testing"

	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox/invoker"
	"github.com/wsk-route/wsk-route/internal/testenv"
	"github.com/wsk-route/wsk-route/internal/whisk"
)

// TestDocker runs a blackbox action with code (an ActionLoop executable,
// and the image name of OpenWhisk's ActionLoop base, which is not here and
// must not be pulled) in a docker container of the imported proxy image: logs of both streams,
// pause after the grace, unpause and warm reuse, and removal (paused) when
// Run returns.
func TestDocker(t *testing.T) {
	testenv.RequireDocker(t)
	image := testenv.ImportProxyImage(t, proxyBin, "wsk-route-invoker-test")
	e := newEnv(t, func(c *invoker.Config) {
		c.Docker = &invoker.DockerConfig{Image: image}
	})
	act := testAction("bb", whisk.Limits{})
	act.Exec.Kind, act.Exec.Image = whisk.KindBlackbox, "openwhisk/actionloop-base"
	e.acts.put(act)

	first := e.run("bb", map[string]any{"n": 1})
	if first.Response.StatusCode != 0 {
		t.Fatalf("response %d %s (logs %q)", first.Response.StatusCode, first.Response.Result, first.Logs)
	}
	out, errs := streams(t, first.Logs)
	pid := decode(t, first).PID
	if fmt.Sprint(out) != fmt.Sprint([]string{fmt.Sprintf("init %d", pid), "out 1"}) || fmt.Sprint(errs) != "[err 1]" {
		t.Errorf("logs %q", first.Logs)
	}
	cs := e.inv.Containers()
	if len(cs) != 1 || cs[0].DockerID == "" {
		t.Fatalf("containers %+v", cs)
	}
	id := cs[0].DockerID
	if name, _, ok := e.inv.ContainerOfPID(cs[0].PID); !ok || name != cs[0].Name {
		t.Errorf("ContainerOfPID(%d) = %q, %v; want %q", cs[0].PID, name, ok, cs[0].Name)
	}
	poll(t, "the container to be paused", func() bool {
		cs := e.inv.Containers()
		return len(cs) == 1 && cs[0].State == invoker.StatePaused
	})
	if s := testenv.Docker(t, nil, "inspect", "-f", "{{.State.Paused}}", id); s != "true" {
		t.Errorf("docker says paused = %s", s)
	}

	second := e.run("bb", map[string]any{"n": 2})
	if second.Response.StatusCode != 0 || decode(t, second).PID != pid {
		t.Fatalf("second run: %s", second.Response.Result)
	}
	if _, ok := ann(second, whisk.AnnInitTime); ok {
		t.Error("second run was cold")
	}
	out, errs = streams(t, second.Logs)
	if fmt.Sprint(out) != "[out 2]" || fmt.Sprint(errs) != "[err 2]" {
		t.Errorf("second logs %q", second.Logs)
	}

	// Run's end removes it even paused.
	poll(t, "the container to be paused again", func() bool {
		cs := e.inv.Containers()
		return len(cs) == 1 && cs[0].State == invoker.StatePaused
	})
	e.stop()
	if left := testenv.Docker(t, nil, "ps", "-aq", "--filter", "id="+id); left != "" {
		t.Errorf("container %s left after Run returned", left)
	}
}
