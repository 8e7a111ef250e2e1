package proxymain

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/archive"
	"github.com/wsk-route/wsk-route/action-proxy/route"
	"github.com/wsk-route/wsk-route/action-proxy/server"
	"github.com/wsk-route/wsk-route/action-proxy/skeleton"
)

// Main runs the proxy with the command-line arguments args (without the
// program name) and returns the process's exit code: 0 after a clean
// shutdown (SIGTERM or SIGINT), 1 on an error, 2 on bad flags.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("proxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	version := fs.Bool("version", false, "print the version and exit")
	debug := fs.Bool("debug", false, "log what the proxy does and allow re-initialisation")
	compile := fs.String("compile", "", "compile the source or archive on stdin with main `MAIN`, write a zip of bin/ to stdout, and exit")
	envJSON := fs.String("env", "", "with -compile: a JSON object of environment variables for the compiler")
	listen := fs.String("listen", ":8080", "`address` to serve /init and /run on, or fd:N for a listening socket passed as descriptor N")
	skeletonExec := fs.String("skeleton", "", "run the dockerskeleton executable `EXEC` once per activation, as the ActionLoop process of a proxy with WSK_ROUTE_SKELETON=1 (the proxy starts itself so)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *version {
		fmt.Fprintln(stdout, server.VersionLine())
		return 0
	}
	if *skeletonExec != "" {
		skeleton.Run(&skeleton.Action{Path: *skeletonExec, Stdout: stdout, Stderr: stderr})
	}
	cfg := server.FromEnv(os.Environ())
	cfg.Debug = *debug
	if *compile != "" {
		if err := compileTo(stdout, stdin, cfg, *compile, *envJSON); err != nil {
			fmt.Fprintln(stderr, "proxy:", err)
			return 1
		}
		return 0
	}
	oneSchedulerThread()
	if err := serve(cfg, *listen, stderr); err != nil {
		fmt.Fprintln(stderr, "proxy:", err)
		return 1
	}
	return 0
}

// oneSchedulerThread runs the proxy's goroutines on one thread
// (GOMAXPROCS 1) unless GOMAXPROCS is set in its environment. The proxy's
// own work is moving bytes between its action's pipes, the invoker and
// other proxies; with a second thread the Go runtime wakes an idle thread
// for nearly every goroutine that becomes ready, and on the small virtual
// machines of invoker hosts each such wake-up, a context switch, costs
// more than the work it was for (docs/proxy.md, "One scheduler thread").
// The action's processes do not inherit it: it is not set in the
// environment they start with.
func oneSchedulerThread() {
	if _, set := os.LookupEnv("GOMAXPROCS"); !set {
		runtime.GOMAXPROCS(1)
	}
}

// serve runs the proxy until SIGTERM or SIGINT, then kills the action.
func serve(cfg server.Config, addr string, stderr io.Writer) error {
	proxy, err := server.New(cfg)
	if err != nil {
		return err
	}
	defer proxy.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// With a host agent on this host, the route plane runs beside the
	// /init + /run server; without one, this is the stock proxy.
	rcfg, ok := route.FromEnv(cfg.Environ)
	if ok {
		if err := route.CheckRunDir(rcfg); err != nil {
			fmt.Fprintln(stderr, "proxy: route plane off, running as the stock proxy:", err)
			ok = false
		}
	}
	if ok {
		for _, w := range rcfg.Warnings {
			fmt.Fprintln(stderr, "proxy:", w)
		}
		rcfg.Concurrency = proxy.Concurrency()
		if cfg.Debug {
			rcfg.Logger = slog.New(slog.NewTextHandler(stderr, nil))
		}
		plane, err := route.New(rcfg, proxy)
		if err != nil {
			return err
		}
		if err := proxy.EnableRoute(plane); err != nil {
			return err
		}
		planeDone := make(chan error, 1)
		go func() { planeDone <- plane.Run(ctx) }()
		defer func() {
			stop()
			if err := <-planeDone; err != nil {
				fmt.Fprintln(stderr, "proxy: route plane:", err)
			}
		}()
	}
	ln, err := listenOn(addr)
	if err != nil {
		return err
	}
	if cfg.Debug {
		fmt.Fprintf(stderr, "%s: listening on %s\n", server.VersionLine(), ln.Addr())
	}
	srv := &http.Server{Handler: proxy, ReadHeaderTimeout: time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(shutdown)
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// listenOn listens on the TCP address addr, or, for "fd:N", takes the
// listening socket its starter passed as descriptor N (wsk-route dev's
// invoker does: no other process can take the port between its choice and
// the proxy's bind).
func listenOn(addr string) (net.Listener, error) {
	s, ok := strings.CutPrefix(addr, "fd:")
	if !ok {
		return net.Listen("tcp", addr)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 3 {
		return nil, fmt.Errorf("-listen %q: want fd:N, N a descriptor of 3 or more", addr)
	}
	f := os.NewFile(uintptr(n), "listener")
	defer f.Close() // the listener has its own copy
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("-listen %s: %w", addr, err)
	}
	return ln, nil
}

// compileTo builds the payload read from in as /init would, and writes a
// zip of the resulting bin/ directory (exec, exec.env, ...) to out.
func compileTo(out io.Writer, in io.Reader, cfg server.Config, main, envJSON string) error {
	payload, err := io.ReadAll(in)
	if err != nil {
		return fmt.Errorf("reading stdin: %w", err)
	}
	var raw map[string]json.RawMessage
	if envJSON != "" {
		if err := json.Unmarshal([]byte(envJSON), &raw); err != nil {
			return fmt.Errorf("-env: %w", err)
		}
	}
	env, err := server.InitEnv(raw)
	if err != nil {
		return fmt.Errorf("-env: %w", err)
	}
	dir, err := os.MkdirTemp("", "proxy-compile-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	execPath, err := server.Builder(cfg, env).Build(context.Background(), payload, main, filepath.Join(dir, "1"))
	if err != nil {
		return err
	}
	return archive.WriteZip(out, filepath.Dir(execPath))
}
