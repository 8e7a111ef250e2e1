package routetest_test

// The docker variant of the same-host tests: each proxy runs in its own
// container of an image imported from a rootfs tarball (no registry, no base
// image), with the host's run directory and the namespace's shm directory
// bind-mounted at the same paths, as the invoker does. Consul, the agent
// and the entry run on the host.

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wsk-route/wsk-route/action-proxy/route"
	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/internal/testenv"
)

const (
	// dockerLabel marks every container these tests start.
	dockerLabel = "wsk-route.test=routetest-docker"
)

// dockerHost is one host with a Consul, an agent, an entry (all on the
// host) and the proxy image its containers run.
type dockerHost struct {
	consul string
	h      *host
	entry  *entry
	image  string
	shmDir string // the namespace guest's shm directory, the one mounted
	// network is a docker network of this test's own: containers of other
	// tests running at the same time (on the default bridge) never reuse
	// the addresses of containers this test kills.
	network string
}

func newDockerHost(t *testing.T) *dockerHost {
	t.Helper()
	testenv.RequireDocker(t)
	needBins(t)
	start := time.Now()
	image := testenv.ImportProxyImage(t, bins.proxy, "wsk-route/proxy-routetest")
	t.Logf("image imported in %v", time.Since(start).Round(time.Millisecond))
	consul := startConsul(t)
	h := startHost(t, "h1", consul, "", "", nil)
	// Containers of namespace guest get only ShmRoot/guest mounted (never
	// ShmRoot itself); the agent would create it at the first Register, too
	// late for the mount, so it is made here with the agent's mode.
	shmDir := filepath.Join(h.shmRoot, "guest")
	if err := os.Mkdir(shmDir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		t.Fatal(err)
	}
	network := "wsk-route-routetest-" + testenv.RandomID(t)
	testenv.Docker(t, nil, "network", "create", "--label", dockerLabel, network)
	t.Cleanup(func() {
		if _, err := testenv.RunDocker(nil, "network", "rm", network); err != nil {
			t.Errorf("removing docker network %s: %v", network, err)
		}
	})
	return &dockerHost{consul: consul, h: h, entry: startEntry(t, h, "", ""), image: image, shmDir: shmDir, network: network}
}

// dockerAction is one proxy container, initialised with the step action.
type dockerAction struct {
	*action
	container string
}

// startDockerAction runs a container of the proxy image named name on the
// route plane, /inits it with the step action in mode as
// /guest/<actionName>, and returns it once initialised. The container is
// removed when the test ends; its logs are logged if the test failed (or
// with -v).
func (d *dockerHost) startDockerAction(t *testing.T, name, actionName, mode string) *dockerAction {
	t.Helper()
	start := time.Now()
	c := "wsk-route-routetest-" + name + "-" + testenv.RandomID(t)
	t.Cleanup(func() {
		if t.Failed() || testing.Verbose() {
			if logs, err := exec.Command("docker", "logs", c).CombinedOutput(); err == nil && len(logs) > 0 {
				t.Logf("docker logs %s (%s):\n%s", c, name, logs)
			}
		}
		_, _ = testenv.RunDocker(nil, "unpause", c) // fails unless paused, which is fine
		if _, err := testenv.RunDocker(nil, "rm", "-f", "-v", c); err != nil {
			t.Errorf("removing container %s: %v", c, err)
		}
	})
	testenv.Docker(t, nil, "run", "-d", "--name", c, "--label", dockerLabel, "--network", d.network,
		"-v", d.h.runDir+":"+d.h.runDir+":ro",
		"-v", d.shmDir+":"+d.shmDir,
		"-e", route.EnvAgent+"="+filepath.Join(d.h.runDir, "agent.sock"),
		"-e", route.EnvName+"="+name,
		d.image)
	ip := testenv.Docker(t, nil, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", c)
	if net.ParseIP(ip) == nil {
		t.Fatalf("container %s has no IP on network %s (inspect says %q)", c, d.network, ip)
	}
	a := &dockerAction{
		action:    &action{name: name, fqn: "/guest/" + actionName, addr: net.JoinHostPort(ip, "8080"), host: d.h},
		container: c,
	}
	body := stepInitBody(t, a.fqn, mode)
	var last string
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, b, err := a.post("/init", body)
		if err == nil && status == http.StatusOK {
			break
		}
		last = fmt.Sprintf("%d %s %v", status, b, err)
		if time.Now().After(deadline) {
			t.Fatalf("/init of container %s (%s): %s", c, name, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("container %s (%s, %s) up and initialised in %v", c, name, mode, time.Since(start).Round(time.Millisecond))
	return a
}

// stepInitBody is the /init body of the step action in mode as fqn.
func stepInitBody(t *testing.T, fqn, mode string) []byte {
	t.Helper()
	code, err := os.ReadFile(bins.step)
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(map[string]any{"value": map[string]any{
		"code": base64.StdEncoding.EncodeToString(code), "binary": true, "main": "main",
		"env": map[string]string{
			"__OW_NAMESPACE": "guest", "__OW_ACTION_NAME": fqn, "__OW_ACTION_VERSION": "0.0.1",
			"STEP_MODE": mode,
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func (d *dockerHost) deploy(t *testing.T, workflow string, steps ...string) {
	t.Helper()
	putSpec(t, d.consul, chainSpec(workflow, steps...))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := d.entry.plane.WaitReady(ctx, workflow); err != nil {
		t.Fatal(err)
	}
}

func (d *dockerHost) run(t *testing.T, workflow, input string, timeout time.Duration) (*route.Result, time.Duration, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	res, err := d.entry.plane.StartRun(ctx, workflow, []byte(input), route.RunOptions{})
	return res, time.Since(start), err
}

// waitInstances waits until the entry's table holds n instances of fqn.
func (d *dockerHost) waitInstances(t *testing.T, fqn string, n int, bound time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	waitFor(t, bound, fmt.Sprintf("%d instance(s) of %s in the entry's table", n, fqn), func() bool {
		return len(d.entry.plane.Instances(fqn)) == n
	})
	return time.Since(start)
}

// segWatch counts shm segments created in a directory, with inotify.
type segWatch struct{ fd int }

func watchSegments(t *testing.T, dir string) *segWatch {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatalf("inotify: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CREATE); err != nil {
		t.Fatalf("inotify watch %s: %v", dir, err)
	}
	return &segWatch{fd: fd}
}

// created returns the names of the segments created since the last call.
func (w *segWatch) created(t *testing.T) []string {
	t.Helper()
	var names []string
	buf := make([]byte, 64<<10)
	for {
		n, err := unix.Read(w.fd, buf)
		if errors.Is(err, unix.EAGAIN) {
			return names
		}
		if err != nil {
			t.Fatalf("reading inotify events: %v", err)
		}
		for b := buf[:n]; len(b) >= unix.SizeofInotifyEvent; {
			mask := binary.NativeEndian.Uint32(b[4:8])
			l := int(binary.NativeEndian.Uint32(b[12:16]))
			name := strings.TrimRight(string(b[unix.SizeofInotifyEvent:unix.SizeofInotifyEvent+l]), "\x00")
			if mask&unix.IN_Q_OVERFLOW != 0 {
				t.Fatal("inotify queue overflowed")
			}
			if mask&unix.IN_CREATE != 0 && strings.HasSuffix(name, ".seg") {
				names = append(names, name)
			}
			b = b[unix.SizeofInotifyEvent+l:]
		}
	}
}

// checkChainResult checks a result of upper -> words -> reverse on text.
func checkChainResult(t *testing.T, res *route.Result, wantText string, wantWords int, instances map[string]string) {
	t.Helper()
	var v struct {
		Text  string `json:"text"`
		Words int    `json:"words"`
	}
	if err := json.Unmarshal(res.Value, &v); err != nil {
		t.Fatalf("result of %d bytes: %v", len(res.Value), err)
	}
	if v.Text != wantText || v.Words != wantWords {
		show := string(res.Value)
		if len(show) > 200 {
			show = show[:200] + "..."
		}
		t.Fatalf("result %s (text of %d bytes, words %d), want the %d-byte reversed upper case and words %d",
			show, len(v.Text), v.Words, len(wantText), wantWords)
	}
	tr := trail(t, res.Value)
	if len(tr) != 3 || tr[0]["step"] != "upper" || tr[1]["step"] != "words" || tr[2]["step"] != "reverse" {
		t.Fatalf("trail %v, want upper, words, reverse", tr)
	}
	if len(res.Steps) != 3 {
		t.Fatalf("%d step reports, want 3", len(res.Steps))
	}
	// Every step ran in its own container (the pids in the trail say
	// nothing here: each container has its own pid namespace).
	for _, st := range res.Steps {
		if want := instances[st.Step]; st.Instance != want {
			t.Errorf("step %s ran on %s, want %s", st.Step, st.Instance, want)
		}
		if !strings.Contains(string(st.Logs), "step "+st.Step+" (pid") {
			t.Errorf("logs of step %s = %q, want its log line", st.Step, st.Logs)
		}
	}
}

// TestDockerChain runs upper -> words -> reverse, one container per step,
// with a small payload (unix sockets through the bind-mounted run
// directory) and a 4 MiB one (shm segments through the bind-mounted shm
// directory).
func TestDockerChain(t *testing.T) {
	d := newDockerHost(t)
	instances := map[string]string{}
	for _, m := range []string{"upper", "words", "reverse"} {
		a := d.startDockerAction(t, "d-"+m, m, m)
		instances[m] = d.h.name + "/" + a.name
	}
	start := time.Now()
	d.deploy(t, "dchain", "upper", "words", "reverse")
	t.Logf("entry ready for dchain in %v", time.Since(start).Round(time.Millisecond))

	for i := 0; i < 3; i++ {
		res, took, err := d.run(t, "dchain", `{"text":"hello from docker"}`, 10*time.Second)
		if err != nil {
			t.Fatalf("small run %d: %v", i, err)
		}
		checkChainResult(t, res, "REKCOD MORF OLLEH", 3, instances)
		t.Logf("small run %d took %v", i, took.Round(time.Microsecond))
	}

	w := watchSegments(t, d.shmDir)
	w.created(t) // only what the large run creates counts
	const n = 1 << 20
	in, _ := json.Marshal(map[string]string{"text": strings.Repeat("abc ", n)}) // 4 MiB
	res, took, err := d.run(t, "dchain", string(in), 60*time.Second)
	if err != nil {
		t.Fatalf("4 MiB run: %v", err)
	}
	checkChainResult(t, res, strings.Repeat(" CBA", n), n, instances)
	t.Logf("4 MiB run took %v", took.Round(time.Millisecond))
	// Each of the three hops (entry -> upper, upper -> words, words ->
	// reverse) is larger than the shm threshold, so each wrote a segment:
	// two of them from one container to another.
	if segs := w.created(t); len(segs) < 3 {
		t.Errorf("%d shm segments created in %s during the 4 MiB run, want at least 3 (one per hop)", len(segs), d.shmDir)
	} else {
		t.Logf("%d shm segments created during the 4 MiB run", len(segs))
	}
	// The segments are the senders' pools' (transport.MaxPooledPayload):
	// the same run again writes them again and creates none.
	if _, _, err := d.run(t, "dchain", string(in), 60*time.Second); err != nil {
		t.Fatalf("second 4 MiB run: %v", err)
	}
	if segs := w.created(t); len(segs) != 0 {
		t.Errorf("%d shm segments created by a second 4 MiB run, want none (the pools' segments written again): %v", len(segs), segs)
	}
}

// startTwoWords starts two words containers and deploys a one-step
// workflow of them.
func startTwoWords(t *testing.T, d *dockerHost, workflow string) (*dockerAction, *dockerAction) {
	t.Helper()
	w1 := d.startDockerAction(t, "d-words-1", "words", "words")
	w2 := d.startDockerAction(t, "d-words-2", "words", "words")
	d.deploy(t, workflow, "words")
	d.waitInstances(t, "/guest/words", 2, 10*time.Second)
	res, _, err := d.run(t, workflow, `{"text":"a b c"}`, 10*time.Second)
	if err != nil || !strings.Contains(string(res.Value), `"words":3`) {
		t.Fatalf("run with both instances up: %v %v", res, err)
	}
	return w1, w2
}

// TestDockerKilledContainer kills one of two words containers: runs still
// succeed (the sender skips the dead one), and the agent removes it from
// the table within seconds. The agent is stopped (SIGSTOP) around the kill
// so that the runs reach the dead instance before the table can drop it.
func TestDockerKilledContainer(t *testing.T) {
	d := newDockerHost(t)
	w1, w2 := startTwoWords(t, d, "dkill")
	killed := d.h.name + "/" + w1.name
	// The agent is about to be stopped: first make sure the surviving
	// container has the spec (a push still pending when the agent stops
	// would never arrive).
	waitSpec(t, d.consul, d.entry, d.h.name+"/"+w2.name, "dkill")

	d.h.agent.signal(syscall.SIGSTOP)
	t.Cleanup(func() { d.h.agent.signal(syscall.SIGCONT) }) // before the agent's own cleanup
	start := time.Now()
	testenv.Docker(t, nil, "kill", w1.container)
	// docker kill returns once the signal is sent; until the container has
	// exited its proxy may still take a frame (and run the step). docker
	// wait returns when it is gone.
	testenv.Docker(t, nil, "wait", w1.container)
	t.Logf("docker kill and wait took %v", time.Since(start).Round(time.Millisecond))
	for i := 0; i < 5; i++ {
		res, took, err := d.run(t, "dkill", `{"text":"a b c"}`, 10*time.Second)
		if err != nil {
			t.Fatalf("run %d after killing one container: %v", i, err)
		}
		if !strings.Contains(string(res.Value), `"words":3`) {
			t.Fatalf("run %d: %s", i, res.Value)
		}
		for _, st := range res.Steps {
			if st.Instance == killed {
				t.Errorf("run %d: step %s reported from the killed container", i, st.Step)
			}
		}
		t.Logf("run %d after the kill took %v", i, took.Round(time.Microsecond))
	}
	// The agent is still stopped: nothing can have dropped the killed
	// instance, so the runs skipped it while the table held it.
	if in := d.entry.plane.Instances("/guest/words"); len(in) != 2 || !slices.ContainsFunc(in, func(i routetable.Instance) bool { return i.ID == killed }) {
		t.Errorf("the table held %v during the runs, want both instances of /guest/words (the killed %s too): the agent was stopped", in, killed)
	}

	resumed := time.Now()
	d.h.agent.signal(syscall.SIGCONT)
	d.waitInstances(t, "/guest/words", 1, 10*time.Second)
	t.Logf("killed instance left the entry's table %v after the agent resumed (%v after docker kill)",
		time.Since(resumed).Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	if left := d.entry.plane.Instances("/guest/words"); left[0].ID == killed {
		t.Errorf("the table kept the killed instance %s", left[0].ID)
	}
}

// TestDockerPausedContainer pauses one of two words containers: runs still
// succeed within their deadline (after an ack timeout at worst); after
// unpause both instances serve again.
func TestDockerPausedContainer(t *testing.T) {
	d := newDockerHost(t)
	w1, _ := startTwoWords(t, d, "dpause")
	testenv.Docker(t, nil, "pause", w1.container)
	for i := 0; i < 4; i++ {
		res, took, err := d.run(t, "dpause", `{"text":"a b"}`, 10*time.Second)
		if err != nil {
			t.Fatalf("run %d with one container paused: %v", i, err)
		}
		if !strings.Contains(string(res.Value), `"words":2`) {
			t.Fatalf("run %d: %s", i, res.Value)
		}
		t.Logf("run %d with one container paused took %v", i, took.Round(time.Microsecond))
	}
	testenv.Docker(t, nil, "unpause", w1.container)
	for i := 0; i < 4; i++ {
		res, took, err := d.run(t, "dpause", `{"text":"a b c d"}`, 10*time.Second)
		if err != nil {
			t.Fatalf("run %d after unpause: %v", i, err)
		}
		if !strings.Contains(string(res.Value), `"words":4`) {
			t.Fatalf("run %d after unpause: %s", i, res.Value)
		}
		t.Logf("run %d after unpause took %v", i, took.Round(time.Microsecond))
	}
	if n := len(d.entry.plane.Instances("/guest/words")); n != 2 {
		t.Errorf("%d instances of /guest/words after unpause, want 2", n)
	}
}
