package invoker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/wsk-route/wsk-route/internal/whisk"
)

// startTimeout bounds the wait for a new proxy to accept connections.
const startTimeout = 30 * time.Second

// passEnv are the variables of the sandbox's own environment a proxy
// process inherits (what compilers and interpreters need).
var passEnv = []string{"PATH", "HOME", "TMPDIR", "USER", "LANG", "LC_ALL",
	"GOCACHE", "GOPATH", "GOROOT", "GOMODCACHE", "GOFLAGS", "GOPROXY", "GOTOOLCHAIN", "GOENV", "CGO_ENABLED"}

func (i *Invoker) containerName(a whisk.Action) string {
	name := fmt.Sprintf("wsk-route-dev-%s-%d-%s", i.runID, i.seq.Add(1), sanitize(a.Name))
	if len(name) > 100 {
		name = name[:100]
	}
	return name
}

// allowConcurrentEnv is in every container's environment: the proxy
// takes concurrent /run requests (OpenWhisk's nodejs runtime and the
// wsk-route proxy read it), which the invoker sends only to containers of
// actions whose limits.concurrency is above 1. OpenWhisk's ansible gives it
// to every action container the same way, through the invoker's
// containerArgs.extraEnvVars, where intra-container concurrency is on.
const allowConcurrentEnv = "__OW_ALLOW_CONCURRENT=true"

// containerEnv is the environment specific to the container: OpenWhisk's
// __OW_ALLOW_CONCURRENT, the kind's, the sandbox's, and the container's
// name and API host. Later entries win, so ProxyEnv may turn concurrency
// off again.
func (i *Invoker) containerEnv(name string, runtime []string) []string {
	env := []string{allowConcurrentEnv}
	env = append(env, runtime...)
	env = append(env, i.cfg.ProxyEnv...)
	env = append(env, "WSK_ROUTE_NAME="+name)
	if i.cfg.APIHost != "" {
		env = append(env, "__OW_API_HOST="+i.cfg.APIHost)
	}
	return env
}

// start starts c, a container for a whose memory the pool reserved.
func (i *Invoker) start(ctx context.Context, c *container, a whisk.Action, runtime []string) error {
	c.name = i.containerName(a)
	sink := func(string) func(logLine) { return nil }
	if !c.sentinelLogs() {
		// No activation takes this container's output: it goes to the
		// invoker's log (debug), as a log driver would ship it.
		log := i.log.With("container", c.name, "action", c.fqn)
		sink = func(stream string) func(logLine) {
			return func(l logLine) { log.Debug("container output", "stream", stream, "line", l.text) }
		}
	}
	env := i.containerEnv(c.name, runtime)
	if i.cfg.Docker != nil {
		c.stdout, c.stderr = newLineQueue("stdout", sink("stdout")), newLineQueue("stderr", sink("stderr"))
		return i.startDocker(ctx, c, a, env)
	}
	for attempt := 1; ; attempt++ {
		c.stdout, c.stderr = newLineQueue("stdout", sink("stdout")), newLineQueue("stderr", sink("stderr"))
		err := i.startProcess(ctx, c, env)
		if err == nil || !errors.Is(err, errExitedEarly) || attempt == startAttempts {
			return err
		}
		i.log.Warn("a container's proxy exited before it served; starting it again", "container", c.name, "attempt", attempt, "err", err)
	}
}

// startAttempts bounds the starts of one container whose proxy exits
// before it listens.
const startAttempts = 3

// errExitedEarly is wrapped by startProcess's error when the proxy exited
// before it served.
var errExitedEarly = errors.New("exited before listening")

// listenFor returns a listening socket on a free port of 127.0.0.1 for a
// proxy to serve on, as a file to pass it (its -listen fd:3): the port is
// the proxy's from the start. A port chosen here and bound by the proxy
// later could be taken meanwhile, by another container's proxy even, and
// this container's /init and /run would then reach that other proxy.
func listenFor() (addr string, f *os.File, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	defer ln.Close() // f is a copy of its descriptor
	f, err = ln.(*net.TCPListener).File()
	if err != nil {
		return "", nil, err
	}
	return ln.Addr().String(), f, nil
}

// startProcess runs the proxy as a process group of its own in its work
// dir and waits until it listens.
func (i *Invoker) startProcess(ctx context.Context, c *container, extra []string) error {
	dir := filepath.Join(i.cfg.WorkDir, c.name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("container work dir: %w", err)
	}
	addr, lnFile, err := listenFor()
	if err != nil {
		os.RemoveAll(dir)
		return fmt.Errorf("a socket for the proxy to listen on: %w", err)
	}
	defer lnFile.Close() // the proxy has its own copy once started
	var env []string
	for _, k := range passEnv {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	env = append(env, extra...)
	args := append(append([]string(nil), i.cfg.ProxyCommand[1:]...), "-listen", "fd:3")
	cmd := exec.Command(i.cfg.ProxyCommand[0], args...)
	cmd.ExtraFiles = []*os.File{lnFile} // descriptor 3
	cmd.Dir = dir
	cmd.Env = env
	cmd.SysProcAttr = sysProcAttr()
	outR, outW, err := os.Pipe()
	if err != nil {
		os.RemoveAll(dir)
		return fmt.Errorf("stdout pipe: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		os.RemoveAll(dir)
		return fmt.Errorf("stderr pipe: %w", err)
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	if err := cmd.Start(); err != nil {
		outR.Close()
		outW.Close()
		errR.Close()
		errW.Close()
		os.RemoveAll(dir)
		return fmt.Errorf("starting the proxy %q: %w", i.cfg.ProxyCommand[0], err)
	}
	// The proxy and its children hold the write ends now.
	outW.Close()
	errW.Close()
	c.pid = int32(cmd.Process.Pid)
	i.pool.markStarting(c.pid, c)
	c.addr = addr
	var readers sync.WaitGroup
	readers.Add(2)
	i.cwg.Add(3)
	go func() {
		defer i.cwg.Done()
		defer readers.Done()
		defer outR.Close()
		readLines(outR, c.stdout, false)
	}()
	go func() {
		defer i.cwg.Done()
		defer readers.Done()
		defer errR.Close()
		readLines(errR, c.stderr, false)
	}()
	exited := make(chan struct{})
	go func() {
		defer i.cwg.Done()
		err := cmd.Wait()
		i.pool.unmarkStarting(c.pid)
		close(exited)
		// A warm container whose proxy died leaves the pool at once.
		if i.pool.vanish(c) {
			i.log.Warn("a warm container's proxy exited", "container", c.name, "err", err)
			c.stop()
		}
	}()
	var once sync.Once
	c.stop = func() {
		once.Do(func() {
			// The whole group: the proxy and the action it runs.
			syscall.Kill(-int(c.pid), syscall.SIGKILL)
			<-exited
			// A child that left the group may hold the pipes: do not wait
			// for it forever.
			done := make(chan struct{})
			go func() { readers.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(sentinelWait):
				outR.Close()
				errR.Close()
			}
			if err := os.RemoveAll(dir); err != nil {
				i.log.Warn("removing a container's work dir", "dir", dir, "err", err)
			}
		})
	}
	if err := waitListening(ctx, addr, exited); err != nil {
		c.stop()
		if l := c.stderr.untilEOF(time.Now()); len(l) > 0 {
			// The proxy says why, in its last line (when no sink took it).
			err = fmt.Errorf("%w: %s", err, l[len(l)-1].text)
		}
		return fmt.Errorf("proxy %s (pid %d): %w", c.name, c.pid, err)
	}
	i.log.Info("started a container", "container", c.name, "action", c.fqn, "pid", c.pid, "addr", addr)
	return nil
}

// waitListening asks the proxy on addr for / until it answers (any HTTP
// status), exited is closed, ctx ends or startTimeout passes. The socket
// was listening before the proxy started (listenFor): a connection waits
// in its backlog until the proxy serves, or is reset when it exits.
func waitListening(ctx context.Context, addr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(startTimeout)
	delay := 2 * time.Millisecond
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Second}
	for {
		resp, err := client.Get("http://" + addr + "/")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening on %s after %v: %w", addr, startTimeout, err)
		}
		select {
		case <-exited:
			return fmt.Errorf("%w on %s", errExitedEarly, addr)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 50*time.Millisecond)
	}
}
