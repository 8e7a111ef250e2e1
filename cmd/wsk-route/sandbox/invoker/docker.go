package invoker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wsk-route/wsk-route/internal/whisk"
)

// DockerLabel marks the sandbox's containers; Run removes leftovers that
// carry it.
const DockerLabel = "wsk-route.dev"

// dockerTimeout bounds one docker command.
const dockerTimeout = 2 * time.Minute

// docker runs one docker command and returns its trimmed stdout; the error
// carries the command and its stderr.
func docker(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, dockerTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(errb.Bytes()))
	}
	return strings.TrimSpace(out.String()), nil
}

// ownerLabel names the sandbox process that started a container: the
// leftovers of a crashed sandbox are those whose owner is gone, and a
// sandbox never removes the containers of another one running beside it.
const ownerLabel = DockerLabel + ".owner"

// removeLeftovers removes containers of crashed earlier sandboxes on this
// host: those whose owner process no longer runs.
func (i *Invoker) removeLeftovers() {
	out, err := docker(context.Background(), "ps", "-a", "--filter", "label="+DockerLabel+"=1",
		"--format", `{{.ID}} {{.Label "`+ownerLabel+`"}}`)
	if err != nil {
		i.log.Warn("listing leftover containers", "err", err)
		return
	}
	var ids []string
	for _, line := range strings.Split(out, "\n") {
		id, owner, _ := strings.Cut(strings.TrimSpace(line), " ")
		if id != "" && !processAlive(owner) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return
	}
	if _, err := docker(context.Background(), append([]string{"rm", "-f"}, ids...)...); err != nil {
		i.log.Warn("removing leftover containers", "err", err)
	}
}

// processAlive reports whether the pid in s is a running process here.
func processAlive(s string) bool {
	pid, err := strconv.Atoi(s)
	if err != nil || pid <= 0 {
		return false
	}
	err = syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// startDocker runs the container, follows its logs and waits until its
// proxy listens on the bridge IP's port 8080.
func (i *Invoker) startDocker(ctx context.Context, c *container, a whisk.Action, env []string) error {
	d := i.cfg.Docker
	image := d.Image
	// A blackbox action with code (--native, or --docker IMAGE with code)
	// runs its code in the sandbox's proxy image (skeletonEnv says how); only one without code needs its own image.
	// So does one of an ActionLoop image (isProxyImage) without code:
	// its proxy is the sandbox's.
	if usesImage(a.Exec) {
		image = a.Exec.Image
	}
	mem := strconv.Itoa(c.memMB) + "m"
	args := []string{"run", "-d", "--name", c.name, "--label", DockerLabel + "=1", "--label", ownerLabel + "=" + strconv.Itoa(os.Getpid()),
		"--label", DockerLabel + ".action=" + c.fqn,
		"-m", mem, "--memory-swap", mem, "--network", d.Network,
		"--cap-drop", "NET_RAW", "--cap-drop", "NET_ADMIN", "--pids-limit", "1024"}
	for _, b := range d.Binds {
		args = append(args, "-v", b)
	}
	for _, e := range append(append([]string(nil), env...), d.Env...) {
		args = append(args, "-e", e)
	}
	args = append(args, image)
	id, err := docker(ctx, args...)
	if err != nil {
		// A failed run may still leave a created container.
		docker(context.Background(), "rm", "-f", c.name)
		return err
	}
	c.dockerID = id
	// Logs from the start, with docker's timestamps, until the container
	// is removed.
	logs := exec.Command("docker", "logs", "-f", "-t", id)
	outR, err := logs.StdoutPipe()
	if err == nil {
		var errR io.ReadCloser
		errR, err = logs.StderrPipe()
		if err == nil {
			err = logs.Start()
		}
		if err == nil {
			var readers sync.WaitGroup
			readers.Add(2)
			i.cwg.Add(3)
			go func() { defer i.cwg.Done(); defer readers.Done(); readLines(outR, c.stdout, true) }()
			go func() { defer i.cwg.Done(); defer readers.Done(); readLines(errR, c.stderr, true) }()
			logsDone := make(chan struct{})
			go func() { defer i.cwg.Done(); readers.Wait(); logs.Wait(); close(logsDone) }()
			var once sync.Once
			c.stop = func() {
				once.Do(func() {
					if c.paused.Load() {
						// Some docker versions refuse to kill a frozen
						// container.
						docker(context.Background(), "unpause", id)
					}
					if _, err := docker(context.Background(), "rm", "-f", id); err != nil {
						i.log.Warn("removing a container", "container", c.name, "err", err)
					}
					select {
					case <-logsDone:
					case <-time.After(sentinelWait):
						logs.Process.Kill()
						<-logsDone
					}
				})
			}
		}
	}
	if err != nil {
		docker(context.Background(), "rm", "-f", id)
		return fmt.Errorf("following the logs of %s: %w", c.name, err)
	}
	// The host pid of the proxy lets ContainerOfPID name the container
	// of a peer on the agent's socket.
	ip, err := docker(ctx, "inspect", "-f", "{{.State.Pid}} {{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", id)
	if f := strings.Fields(ip); err == nil && len(f) > 1 {
		if pid, perr := strconv.Atoi(f[0]); perr == nil {
			c.pid = int32(pid)
		}
		c.addr = net.JoinHostPort(f[1], "8080")
	} else {
		c.stop()
		if err == nil {
			err = fmt.Errorf("container %s has no IP address on network %s", c.name, d.Network)
		}
		return err
	}
	exited := make(chan struct{})
	watchCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		// The container exiting ends `docker wait`.
		docker(watchCtx, "wait", id)
		close(exited)
	}()
	if err := waitListening(ctx, c.addr, exited); err != nil {
		cancel()
		<-exited
		logs := dockerTail(id)
		c.stop()
		return fmt.Errorf("container %s: %w%s", c.name, err, logs)
	}
	cancel()
	<-exited
	i.log.Info("started a container", "container", c.name, "action", c.fqn, "id", id, "addr", c.addr)
	return nil
}

// dockerTail returns the last lines of a container's output for errors.
func dockerTail(id string) string {
	out, err := exec.Command("docker", "logs", "--tail", "5", id).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) == 0 {
		return ""
	}
	return ": " + string(bytes.TrimSpace(out))
}

// pause freezes c if it is still idle past grace (docker mode).
func (i *Invoker) pause(ctx context.Context, c *container, grace time.Duration) {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	if c.paused.Load() || !i.pool.stillIdle(c, time.Now().Add(-grace)) {
		return
	}
	if _, err := docker(ctx, "pause", c.dockerID); err != nil {
		i.log.Warn("pausing a container", "container", c.name, "err", err)
		return
	}
	c.paused.Store(true)
}

// resume unfreezes c, which the caller just took from the pool.
func (i *Invoker) resume(ctx context.Context, c *container) error {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	if !c.paused.Load() {
		return nil
	}
	if _, err := docker(ctx, "unpause", c.dockerID); err != nil {
		return err
	}
	c.paused.Store(false)
	return nil
}
