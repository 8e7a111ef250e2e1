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

// TestDockerConcurrency: a docker container of a concurrent action is
// not paused while an activation runs in it, though another one ended
// long past the pause grace; paused, it is woken by the activations that
// come together and runs them at once.
func TestDockerConcurrency(t *testing.T) {
	testenv.RequireDocker(t)
	image := testenv.ImportProxyImage(t, proxyBin, "wsk-route-invoker-test")
	e := newEnv(t, func(c *invoker.Config) {
		c.Docker = &invoker.DockerConfig{Image: image}
	})
	// A frozen activation would outlive its 10 s limit.
	act := testAction("bbc", whisk.Limits{Concurrency: 2, Timeout: 10000, Memory: 256, Logs: 10})
	act.Exec.Kind, act.Exec.Image = whisk.KindBlackbox, "openwhisk/actionloop-base"
	e.acts.put(act)

	longID := e.invoke("bbc", map[string]any{"mode": "sleep", "ms": 3000, "n": 1}, true)
	poll(t, "the long activation to be in flight", func() bool {
		cs := e.inv.Containers()
		return len(cs) == 1 && cs[0].InFlight == 1
	})
	short := e.run("bbc", map[string]any{"n": 2})
	if short.Response.StatusCode != 0 || len(short.Logs) != 0 {
		t.Fatalf("short activation: %s, logs %q", short.Response.Result, short.Logs)
	}
	long := *e.ack(longID).Response
	if long.Response.StatusCode != 0 {
		t.Fatalf("long activation: %d %s", long.Response.StatusCode, long.Response.Result)
	}
	if d := long.End - short.End; d < 20*invoker.DefaultPauseGrace.Milliseconds() {
		t.Fatalf("the long activation ended %d ms after the short one: the pause grace had no chance to strike", d)
	}
	if long.Duration > 6000 {
		t.Errorf("the long activation (3 s) took %d ms: it was frozen", long.Duration)
	}

	poll(t, "the container to be paused", func() bool {
		cs := e.inv.Containers()
		return len(cs) == 1 && cs[0].State == invoker.StatePaused
	})
	for k, id := range e.invokeAll("bbc", true, barrierInput(2, 0), barrierInput(2, 0)) {
		a := *e.ack(id).Response
		if a.Response.StatusCode != 0 || decode(t, a).Seen != 2 {
			t.Errorf("activation %d after the pause: %s", k, a.Response.Result)
		}
	}
	if cs := e.inv.Containers(); len(cs) != 1 {
		t.Errorf("containers %+v, want the one", cs)
	}
}
