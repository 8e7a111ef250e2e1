package route

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Environment variables the proxy reads to enable the route plane.
const (
	// EnvAgent is the agent's websocket socket path. When it is unset, the
	// route plane runs only if the default socket exists.
	EnvAgent = "WSK_ROUTE_AGENT"
	// EnvRunDir is the host's wsk-route run directory (the proxy's frame
	// socket is created there).
	EnvRunDir = "WSK_ROUTE_RUN_DIR"
	// EnvName names the proxy on its host (default: hostname-pid).
	EnvName = "WSK_ROUTE_NAME"
	// EnvAPIHost is where the invoker tells actions the OpenWhisk API is;
	// the fallback invokes steps there.
	EnvAPIHost = "__OW_API_HOST"
	// EnvTCPListen and EnvTCPAdvertise give the proxy a routable frame
	// address, for clusters where container addresses are routable.
	EnvTCPListen    = "WSK_ROUTE_TCP_LISTEN"
	EnvTCPAdvertise = "WSK_ROUTE_TCP_ADVERTISE"
	// EnvInsecureRunDir, set to "1", lets the route plane run although
	// its run directory is writable by the proxy (see CheckRunDir): for
	// proxies that run as plain processes on a development host, never in
	// containers.
	EnvInsecureRunDir = "WSK_ROUTE_INSECURE_RUN_DIR"
	// EnvEntryJoins, set to "1", makes the entry hold the joins this
	// proxy forks (Config.EntryJoins): for comparisons.
	EnvEntryJoins = "WSK_ROUTE_ENTRY_JOINS"
	// EnvBusyWait is Config.BusyWait, a Go duration ("100ms"), at most
	// MaxBusyWait.
	EnvBusyWait = "WSK_ROUTE_BUSY_WAIT"
)

// MaxBusyWait bounds Config.BusyWait from the environment: past a few
// seconds, a cold start is quicker than the wait.
const MaxBusyWait = 5 * time.Second

// DefaultRunDir is the host's wsk-route run directory, bind-mounted into
// action containers at the same path.
const DefaultRunDir = "/run/wsk-route"

// Config configures a Plane.
type Config struct {
	// AgentSocket is the path of the agent's websocket unix socket.
	AgentSocket string
	// RunDir is the host's run directory, where the agent's sockets and
	// the proxies' frame sockets are (the agent creates them all); empty
	// means the directory of AgentSocket.
	RunDir string
	// InsecureRunDir skips CheckRunDir's refusal of a writable run
	// directory (EnvInsecureRunDir).
	InsecureRunDir bool
	// Name is unique among the proxies of the host; empty means
	// "<hostname>-<pid>".
	Name string
	// TCPListen, when set, also serves frames on this TCP address, and
	// TCPAdvertise ("tcp:ip:port") is registered as routable.
	TCPListen, TCPAdvertise string
	// Concurrency is the number of activations the action runs at once.
	Concurrency int
	// AckTimeout bounds the wait for one frame's ack, and is a step
	// frame's accept window (frame.Frame.AcceptBy): a receiver whose ack
	// does not reach the sender within it does not run the step. Zero
	// means 500 ms.
	AckTimeout time.Duration
	// MaxTries bounds the instances tried for one hop; zero means 8.
	MaxTries int
	// BusyWait is how long a hop whose warm instances all refused it as
	// busy keeps trying them again, with growing pauses, before it falls
	// back to the OpenWhisk API (EnvBusyWait). Zero or negative: it falls
	// back at once. A wait keeps a burst on warm containers (a map wider
	// than their slots) instead of the invoker's new ones; but
	// OpenWhisk's invoker does not see the direct steps, and where its
	// pool is full it evicts those containers, steps and all, for the
	// fallbacks that still come (docs/benchmarks/scale.md, "The busy
	// wait"; wsk-route dev's invoker hears of them and keeps them): turn
	// it on where the invokers' memory holds the workflows' containers.
	BusyWait time.Duration
	// DrainTimeout bounds how long a stopping plane waits for the direct
	// steps it took to end before it leaves its agent (Plane.Run); zero
	// means DefaultDrainTimeout.
	DrainTimeout time.Duration
	// Warnings are the problems FromEnv found in the environment, for the
	// proxy to print; the settings they concern keep their defaults.
	Warnings []string
	// LogLimit bounds the captured logs of one direct run; zero means 1 MiB.
	LogLimit int
	// APIHost is the OpenWhisk API ("https://host:port", what the invoker
	// puts in __OW_API_HOST). When set, a hop that no warm instance takes
	// falls back to invoking the step's action through the API (see
	// fallback.go); empty means no fallback: the run fails there.
	APIHost string
	// EntryJoins makes the run's entry hold every join, as before joins
	// were held where they fork (flow/joins.go); for comparisons.
	EntryJoins bool
	// HTTPClient makes the fallback invocations; nil means a client with
	// a 30 s timeout.
	HTTPClient *http.Client
	// Logger receives the plane's own diagnostics. Nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// FromEnv returns the route plane's Config from environ, and false when
// no agent is configured or present: then the proxy is the stock proxy.
func FromEnv(environ []string) (Config, bool) {
	get := func(key string) string {
		for i := len(environ) - 1; i >= 0; i-- {
			if len(environ[i]) > len(key) && environ[i][len(key)] == '=' && environ[i][:len(key)] == key {
				return environ[i][len(key)+1:]
			}
		}
		return ""
	}
	cfg := Config{
		AgentSocket:    get(EnvAgent),
		RunDir:         get(EnvRunDir),
		Name:           get(EnvName),
		TCPListen:      get(EnvTCPListen),
		TCPAdvertise:   get(EnvTCPAdvertise),
		APIHost:        get(EnvAPIHost),
		EntryJoins:     get(EnvEntryJoins) == "1",
		InsecureRunDir: get(EnvInsecureRunDir) == "1",
	}
	if v := get(EnvBusyWait); v != "" {
		d, err := time.ParseDuration(v)
		switch {
		case err != nil:
			cfg.Warnings = append(cfg.Warnings, fmt.Sprintf("%s=%q is not a duration such as 100ms; hops fall back at once", EnvBusyWait, v))
		case d > MaxBusyWait:
			cfg.Warnings = append(cfg.Warnings, fmt.Sprintf("%s=%s is more than %v; hops fall back at once", EnvBusyWait, v, MaxBusyWait))
		default:
			cfg.BusyWait = d
		}
	}
	if cfg.AgentSocket == "" {
		dir := cfg.RunDir
		if dir == "" {
			dir = DefaultRunDir
		}
		cfg.AgentSocket = filepath.Join(dir, "agent.sock")
		if _, err := os.Stat(cfg.AgentSocket); err != nil {
			return Config{}, false
		}
	}
	return cfg, true
}

// ErrWritableRunDir is returned (wrapped) by CheckRunDir for a run
// directory the proxy could write.
var ErrWritableRunDir = errors.New("route: the run directory is writable by this proxy")

// CheckRunDir refuses a configuration the proxy cannot trust: a run
// directory it can write (unless InsecureRunDir). The agent's sockets are
// in that directory; where the proxy can write it, so can the action's own
// code and, with the directory shared, any other container: one of them
// could put its own "agent" there, hand this proxy a forged key, table and
// specs, and read or answer the runs it is given. Mounted read-only (the
// supported setup), no container can replace a socket in it. The proxy
// runs as the stock proxy when this fails.
func CheckRunDir(cfg Config) error {
	if cfg.InsecureRunDir {
		return nil
	}
	dir := cfg.RunDir
	if dir == "" {
		dir = filepath.Dir(cfg.AgentSocket)
	}
	if writable(dir) {
		return fmt.Errorf("%w: %s (mount it read-only into action containers; %s=1 only for proxies run as plain processes on a development host)",
			ErrWritableRunDir, dir, EnvInsecureRunDir)
	}
	return nil
}

func (c Config) withDefaults() (Config, error) {
	if c.AgentSocket == "" {
		return c, errors.New("route: no agent socket configured")
	}
	if c.RunDir == "" {
		c.RunDir = filepath.Dir(c.AgentSocket)
	}
	if c.Name == "" {
		h, _ := os.Hostname()
		c.Name = h + "-" + strconv.Itoa(os.Getpid())
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 1
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.AckTimeout <= 0 {
		c.AckTimeout = 500 * time.Millisecond
	}
	if c.MaxTries <= 0 {
		c.MaxTries = 8
	}
	if c.LogLimit <= 0 {
		c.LogLimit = 1 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	c.APIHost = strings.TrimRight(c.APIHost, "/")
	return c, nil
}

// writable reports whether this process may create files in dir.
func writable(dir string) bool {
	return unix.Access(dir, unix.W_OK) == nil
}
