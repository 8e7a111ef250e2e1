package sandbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/wsk-route/wsk-route/action-proxy/route"
	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox/api"
	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox/controller"
	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox/invoker"
	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox/registry"
	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox/runtimes"
	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox/store"
	"github.com/wsk-route/wsk-route/internal/consulstore"
	"github.com/wsk-route/wsk-route/internal/otlp"
	"github.com/wsk-route/wsk-route/internal/spec"
	"github.com/wsk-route/wsk-route/internal/userevents"
	"github.com/wsk-route/wsk-route/internal/usermetrics"
	"github.com/wsk-route/wsk-route/internal/whisk"
	"github.com/wsk-route/wsk-route/invoker-plugin/agent"
)

// The guest identity every OpenWhisk deployment ships with (ansible
// files/auth.guest); the sandbox accepts it unless Config.Auth says
// otherwise. It is a well-known default, not a secret.
const (
	GuestNamespace = "guest"
	GuestUUID      = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502"
	GuestKey       = "123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"
)

// DefaultListen is OpenWhisk standalone's address.
const DefaultListen = "127.0.0.1:3233"

// Config configures the sandbox. The zero value is a working sandbox on
// DefaultListen with a temporary data directory, an embedded broker and
// registry, and proxy processes started from this executable.
type Config struct {
	// Listen is the REST API's address; "": DefaultListen.
	Listen string
	// DataDir keeps actions, activations, and (with the embedded
	// registry) the workflow specs and namespace keys across restarts, and
	// the host agent's state (its copy of the registry, which restores a
	// Consul that lost its data); "": a temporary directory removed when
	// Run returns.
	DataDir string
	// MaxActivations is the number of activation records kept per
	// namespace, and MaxActivationBytes the bytes of activation records
	// kept, all namespaces together; the oldest go first. Zero: the
	// store's defaults (store.DefaultMaxActivations,
	// store.DefaultMaxActivationBytes); negative: no such limit.
	MaxActivations     int
	MaxActivationBytes int64
	// Kafka is a real broker's bootstrap address list; nil: an embedded
	// Kafka-protocol broker (kfake).
	Kafka []string
	// Consul is a real Consul's HTTP address; "": an embedded registry.
	Consul string
	// OTLPEndpoint is an OpenTelemetry collector's OTLP/HTTP base URL
	// (http://127.0.0.1:4318): the agent exports one trace per workflow
	// run there. "": no traces.
	OTLPEndpoint string
	// AgentMetricsListen is the TCP address the host agent serves its
	// Prometheus metrics (wsk_route_*) on, as the deployed agent's
	// -metrics-listen; "": not served. The sandbox's API serves the
	// user-events service's metrics (openwhisk_action_*) at /metrics.
	AgentMetricsListen string
	// BusyWait is the proxies' wait for a slot of a busy warm instance
	// before they fall back (route.EnvBusyWait); 0: they fall back at once.
	BusyWait time.Duration
	// Docker runs actions in docker containers instead of processes.
	Docker bool
	// ProxyCommand starts one proxy process (process mode); nil: this
	// executable with the argument "proxy".
	ProxyCommand []string
	// ProxyBinary is the static binary that becomes /bin/proxy in the
	// sandbox's docker image (docker mode); "": this executable, which
	// must then be statically linked.
	ProxyBinary string
	// Auth is the identity's "uuid:key"; "": the guest key.
	Auth string
	// BlockingWait bounds a blocking invoke before it answers 202; 0: 60 s.
	BlockingWait time.Duration
	// UserMemoryMB is the invoker's pool capacity; 0: 2048.
	UserMemoryMB int
	// MaxConcurrency is the largest limits.concurrency the API accepts, 1
	// to whisk.ConcurrencyCeiling; 0: OpenWhisk's default, 1. Above 1, an
	// action asking for it runs that many activations in one container,
	// whose records then carry no logs (docs/sandbox.md, Concurrency).
	MaxConcurrency int
	// IdleTimeout removes idle containers; 0: the invoker's default.
	IdleTimeout time.Duration
	// PauseGrace is how long a docker container stays idle before it is
	// paused (OpenWhisk's containerProxy.timeouts.pause-grace); 0: 50 ms,
	// OpenWhisk's default. A paused container takes no direct hops: it
	// drops out of the route tables within seconds, and a hop sent to it
	// before then times out.
	PauseGrace time.Duration
	// Logger; nil: slog.Default().
	Logger *slog.Logger
}

// Info says where a running sandbox is; Run passes it to its ready
// callback.
type Info struct {
	// URL is the API host ("http://127.0.0.1:3233"), what wsk calls APIHOST.
	URL string
	// Auth is the key to use, "uuid:key".
	Auth string
	// Namespace is the key's namespace.
	Namespace string
	// DataDir is where the state is kept.
	DataDir string
	// Persistent reports whether DataDir outlives the sandbox.
	Persistent bool
	// RunDir holds the agent's and the proxies' sockets.
	RunDir string
	// Kafka is the broker's address list.
	Kafka []string
	// Registry is "embedded" or the Consul address.
	Registry string
	// Mode is "process" or "docker".
	Mode string
	// AgentMetrics is the URL of the host agent's Prometheus metrics
	// ("http://127.0.0.1:9464/metrics"); "" without
	// Config.AgentMetricsListen.
	AgentMetrics string
}

// Sandbox is a running sandbox, handed to the ready callback so that
// callers (tests, benchmarks, the composer) can reach its parts.
type Sandbox struct {
	Info
	store   *store.Store
	routes  Routes
	invoker *invoker.Invoker
	kafka   *embeddedKafka // nil with Config.Kafka
}

// Routes is the route registry of a sandbox: the agent's view plus the
// spec store the composer writes to. Both the embedded registry and
// *consulstore.Store implement it.
type Routes interface {
	agent.Registry
	PutSpec(ctx context.Context, sp *spec.Spec) (uint64, error)
	GetSpec(ctx context.Context, namespace, workflow string) (*spec.Spec, error)
	DeleteSpec(ctx context.Context, namespace, workflow string) error
	ListSpecs(ctx context.Context, onError func(error)) ([]*spec.Spec, error)
}

// Routes returns the sandbox's route registry.
func (s *Sandbox) Routes() Routes { return s.routes }

// Store returns the sandbox's entity store.
func (s *Sandbox) Store() *store.Store { return s.store }

// Containers lists the invoker's containers.
func (s *Sandbox) Containers() []invoker.ContainerInfo { return s.invoker.Containers() }

// WaitIdle waits until no container is busy and the invoker has recorded
// every activation it took, or ctx ends. A step that ran through the
// fallback holds its container until its invoker /run ends, a little
// after the run's result reached the caller; a run started before that
// finds the container busy and falls back again, and the activation's
// record is stored after its container is released. Tests and benchmarks
// of the warm path wait for idle containers first, and tests that count
// activation records wait for them.
func (s *Sandbox) WaitIdle(ctx context.Context) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		busy := 0
		for _, c := range s.invoker.Containers() {
			if c.State == invoker.StateBusy {
				busy++
			}
		}
		pending := s.invoker.Pending()
		if busy == 0 && pending == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sandbox: %d container(s) still busy, %d activation(s) not recorded yet: %w", busy, pending, ctx.Err())
		case <-t.C:
		}
	}
}

// Run starts the sandbox, calls ready once it serves, and runs until ctx
// ends or a part fails. It returns nil after ctx ended and everything was
// stopped and removed, else the first failure.
func Run(ctx context.Context, cfg Config, ready func(*Sandbox)) (err error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	ident, err := identity(cfg.Auth)
	if err != nil {
		return err
	}
	var cleanups []func()
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	persistent := cfg.DataDir != ""
	dd, err := openData(cfg.DataDir, store.Options{MaxActivations: cfg.MaxActivations, MaxActivationBytes: cfg.MaxActivationBytes}, ident, log)
	if err != nil {
		return err
	}
	cleanups = append(cleanups, dd.cleanup)
	dataDir, st, rts := dd.dir, dd.store, dd.runtimes
	// Sockets and shm live in a short, per-run directory: unix socket
	// paths are limited to 108 bytes, and nothing there outlives a run.
	runRoot, err := os.MkdirTemp("", "wsk-route-dev-")
	if err != nil {
		return fmt.Errorf("sandbox: run directory: %w", err)
	}
	if err := os.Chmod(runRoot, 0o755); err != nil {
		return fmt.Errorf("sandbox: run directory: %w", err)
	}
	if err := markOwner(runRoot); err != nil {
		return fmt.Errorf("sandbox: run directory: %w", err)
	}
	cleanups = append(cleanups, func() { os.RemoveAll(runRoot) })
	runDir, shmDir := filepath.Join(runRoot, "run"), filepath.Join(runRoot, "shm")

	brokers, regName := cfg.Kafka, "embedded"
	var kafka *embeddedKafka // the embedded broker (kafka.go); nil with cfg.Kafka
	if len(brokers) == 0 {
		if kafka, err = startKafka("", 1); err != nil {
			return err
		}
		cleanups = append(cleanups, kafka.Close)
		brokers = kafka.Addrs()
	} else if err := createTopics(brokers, topics(1)); err != nil {
		return err
	}

	var routes Routes
	if cfg.Consul != "" {
		cs, err := consulstore.New(consulstore.Options{Address: cfg.Consul})
		if err != nil {
			return fmt.Errorf("sandbox: consul %s: %w", cfg.Consul, err)
		}
		cleanups = append(cleanups, func() { cs.Close() })
		routes, regName = cs, cfg.Consul
	} else {
		// The marker, keys and specs are kept in the data directory.
		reg, err := registry.Open(dataDir, registry.Options{})
		if err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
		routes = reg
	}

	ln, err := listenAPI(cfg.Listen)
	if err != nil {
		return err
	}
	cleanups = append(cleanups, func() { ln.Close() })
	apiURL := "http://" + ln.Addr().String()
	lns := []net.Listener{ln}

	icfg := invoker.Config{
		Brokers: brokers, Index: 0,
		Actions: st, Activations: st, Runtimes: runtimeEnv{rts},
		WorkDir:      filepath.Join(runRoot, "containers"),
		ProxyEnv:     []string{"WSK_ROUTE_AGENT=" + filepath.Join(runDir, "agent.sock")},
		APIHost:      apiURL,
		UserMemoryMB: cfg.UserMemoryMB,
		IdleTimeout:  cfg.IdleTimeout,
		Logger:       log,
		Host:         "sandbox",
	}
	if cfg.BusyWait > 0 {
		icfg.ProxyEnv = append(icfg.ProxyEnv, route.EnvBusyWait+"="+cfg.BusyWait.String())
	}
	mode := "process"
	if cfg.Docker {
		mode = "docker"
		img, err := proxyImage(ctx, cfg.ProxyBinary)
		if err != nil {
			return err
		}
		cleanups = append(cleanups, func() { removeImage(img) })
		// The run directory is read-only in containers: no action can
		// replace the agent's sockets or another proxy's (route.CheckRunDir).
		icfg.Docker = &invoker.DockerConfig{Image: img, Binds: []string{runDir + ":" + runDir + ":ro", shmDir + ":" + shmDir}, PauseGrace: cfg.PauseGrace}
		host, extra, err := containerAPI(ln)
		if err != nil {
			return err
		}
		if extra != nil {
			lns = append(lns, extra)
			cleanups = append(cleanups, func() { extra.Close() })
		}
		icfg.APIHost = host
	} else {
		// Process-mode proxies are plain processes of this host, which can
		// write the run directory whatever its mode: they are told so.
		icfg.ProxyEnv = append(icfg.ProxyEnv, route.EnvInsecureRunDir+"=1")
		icfg.ProxyCommand = cfg.ProxyCommand
		if len(icfg.ProxyCommand) == 0 {
			self, err := os.Executable()
			if err != nil {
				return fmt.Errorf("sandbox: finding this executable to start proxies: %w", err)
			}
			icfg.ProxyCommand = []string{self, "proxy"}
		}
	}
	inv, err := invoker.New(icfg)
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}

	acfg := agent.Config{
		Host: "sandbox", RunDir: runDir, ShmRoot: shmDir, StateDir: filepath.Join(dataDir, "agent-state"),
		Registry: routes, Logger: log.With("component", "agent"),
		// The records of direct steps go where the invoker's go, so that
		// wsk activation list/get shows every step of a run; their user
		// events go to the events topic, which userMetrics reads.
		Activations:   storeActivations{st},
		UserEvents:    &userevents.PublisherConfig{Kafka: userevents.Kafka{Brokers: brokers}},
		MetricsListen: cfg.AgentMetricsListen,
		// The invoker does not evict or pause a container under a direct
		// step.
		DirectRuns: directRuns(inv),
	}
	if cfg.OTLPEndpoint != "" {
		acfg.Traces = &otlp.Config{Endpoint: cfg.OTLPEndpoint, ServiceName: "wsk-route-dev"}
	}
	if !cfg.Docker {
		// Proxy processes share the sandbox's cgroup; the invoker knows
		// which process is which container.
		acfg.PeerOf = peerByContainer(inv)
	}
	ag, err := agent.New(acfg)
	if err != nil {
		return fmt.Errorf("sandbox: host agent: %w", err)
	}

	ctl, err := controller.New(controller.Config{
		Brokers: brokers, Actions: st, Activations: st,
		BlockingWait: cfg.BlockingWait, Logger: log,
	})
	if err != nil {
		ag.Close()
		return fmt.Errorf("sandbox: %w", err)
	}
	handler, err := api.New(api.Config{Store: st, Controller: ctl, Logger: log, BuildInfo: buildInfo(), CheckKind: checkKind(rts, cfg.Docker), Runtimes: rts.Kinds(), CanonicalKind: rts.Canonical, InvokeError: invokeError, Workflows: routes, ColdStarts: coldStarts(inv), MaxConcurrency: cfg.MaxConcurrency})
	if err != nil {
		ctl.Close()
		ag.Close()
		return fmt.Errorf("sandbox: %w", err)
	}

	// The parts run in start order and stop in the reverse: the API stops
	// taking requests first (its blocking waits answer 202), then the
	// controller, the invoker (its containers' proxies leave the agent),
	// and the agent last.
	// OpenWhisk's user-events service: the events topic turned into
	// openwhisk_action_* metrics, served at the API's /metrics.
	userMetrics, err := usermetrics.NewService(usermetrics.ServiceConfig{
		Consumer: userevents.ConsumerConfig{Kafka: userevents.Kafka{Brokers: brokers}, Group: userEventsGroup, Logger: log.With("component", "user-events")}})
	if err != nil {
		ctl.Close()
		ag.Close()
		return fmt.Errorf("sandbox: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", userMetrics.Handler())
	mux.Handle("/", handler)

	ps := newParts()
	defer ps.stop(log)
	if kafka != nil {
		ps.start("kafka retention", kafka.trim)
	}
	ps.start("agent", ag.Run)
	ps.start("invoker", inv.Run)
	ps.start("controller", ctl.Run)
	ps.start("user events", userMetrics.Run)
	ps.start("api", func(ctx context.Context) error { return serveAPI(ctx, mux, lns...) })

	for _, ch := range []<-chan struct{}{inv.Ready(), ctl.Ready()} {
		select {
		case <-ch:
		case err := <-ps.failed:
			return err
		case <-ctx.Done():
			return nil
		}
	}
	var agentMetrics string
	if addr := ag.MetricsAddr(); addr != "" {
		agentMetrics = "http://" + addr + "/metrics"
	}
	sb := &Sandbox{
		Info: Info{URL: apiURL, Auth: ident.AuthKey.APIKey, Namespace: ident.Namespace.Name, DataDir: dataDir,
			Persistent: persistent, RunDir: runDir, Kafka: brokers, Registry: regName, Mode: mode, AgentMetrics: agentMetrics},
		store: st, routes: routes, invoker: inv, kafka: kafka,
	}
	log.Info("sandbox: ready", "api", apiURL, "mode", mode, "kafka", brokers, "registry", regName, "data", dataDir)
	if ready != nil {
		ready(sb)
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-ps.failed:
		return err
	}
}

// serveAPI serves the REST API on every listener until ctx ends.
// Requests carry ctx, so blocking invokes still waiting end then (with a
// 202, as when their wait runs out).
func serveAPI(ctx context.Context, handler http.Handler, lns ...net.Listener) error {
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, len(lns))
	for _, ln := range lns {
		go func() { errc <- srv.Serve(ln) }()
	}
	var first error
	select {
	case first = <-errc:
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	for range len(lns) - boolInt(first != nil) {
		<-errc
	}
	if first != nil && !errors.Is(first, http.ErrServerClosed) {
		return first
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// parts runs the sandbox's long-lived parts, each with a context of its
// own, and stops them in the reverse order of their start.
type parts struct {
	running []part
	// failed receives the first error of a part that stopped by itself.
	failed chan error
}

type part struct {
	name   string
	cancel context.CancelFunc
	done   chan error
}

func newParts() *parts { return &parts{failed: make(chan error, 1)} }

// start runs fn in a goroutine until stop cancels its context.
func (p *parts) start(name string, fn func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		err := fn(ctx)
		if ctx.Err() == nil { // it stopped by itself
			if err == nil {
				err = errors.New("stopped")
			}
			select {
			case p.failed <- fmt.Errorf("sandbox: %s: %w", name, err):
			default:
			}
		}
		done <- err
	}()
	p.running = append(p.running, part{name: name, cancel: cancel, done: done})
}

// stop cancels each part, last started first, and waits for it.
func (p *parts) stop(log *slog.Logger) {
	for i := len(p.running) - 1; i >= 0; i-- {
		pt := p.running[i]
		pt.cancel()
		if err := <-pt.done; err != nil {
			log.Warn("sandbox: stopping", "part", pt.name, "err", err)
		}
	}
}

// identity returns the identity of "uuid:key" in the guest namespace.
func identity(auth string) (whisk.Identity, error) {
	uuid, key := GuestUUID, GuestKey
	if auth != "" {
		var ok bool
		uuid, key, ok = strings.Cut(auth, ":")
		if !ok || uuid == "" || key == "" {
			return whisk.Identity{}, errors.New(`sandbox: the auth key must be "uuid:key" with both parts non-empty`)
		}
	}
	return whisk.Identity{
		Subject:   GuestNamespace,
		Namespace: whisk.NamespaceRef{Name: GuestNamespace, UUID: uuid},
		AuthKey:   whisk.AuthKey{APIKey: uuid + ":" + key},
		Rights:    []string{"READ", "PUT", "DELETE", "ACTIVATE"},
		Limits:    []byte("{}"),
	}, nil
}

// topics are the Kafka topics of a sandbox with invokers invokers: one
// invoker<N> each, and the controller's completed0.
func topics(invokers int) []string {
	ts := []string{whisk.TopicCompletedPrefix + "0", userevents.Topic}
	for i := range invokers {
		ts = append(ts, whisk.TopicInvokerPrefix+strconv.Itoa(i))
	}
	return ts
}

// userEventsGroup is the consumer group of the sandbox's user-events
// service, which the embedded broker trims the events topic after.
const userEventsGroup = userevents.DefaultGroup

// createTopics creates topics on a real broker (one partition, as
// OpenWhisk's auto-created topics), leaving existing ones.
func createTopics(brokers, topics []string) error {
	admin, err := sarama.NewClusterAdmin(brokers, controller.KafkaConfig("wsk-route-dev-admin"))
	if err != nil {
		return fmt.Errorf("sandbox: kafka %v: %w", brokers, err)
	}
	defer admin.Close()
	for _, t := range topics {
		err := admin.CreateTopic(t, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false)
		if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
			return fmt.Errorf("sandbox: creating kafka topic %s on %v: %w", t, brokers, err)
		}
	}
	return nil
}

// storeActivations adapts the store to the agent's ActivationStore, and
// to its ActionCatalog: the records of direct steps get the kind and
// limits annotations the sandbox's invoker gives its own.
type storeActivations struct{ st *store.Store }

var (
	_ agent.ActivationStore = storeActivations{}
	_ agent.BatchStore      = storeActivations{}
	_ agent.ActionCatalog   = storeActivations{}
)

func (s storeActivations) PutActivation(_ context.Context, a whisk.Activation) error {
	return s.st.PutActivation(a)
}

// PutActivations writes the records of a batch in one transaction, as
// OpenWhisk's invoker writes them to CouchDB with _bulk_docs: one write to
// disk per batch, not per record, so that the records of a wide map keep
// up with its steps.
func (s storeActivations) PutActivations(_ context.Context, recs []whisk.Activation) error {
	return s.st.PutActivations(recs)
}

// LookupAction returns the kind and limits of the action (fully
// qualified) in the store, which must be at version unless that is "";
// the limits as the invoker runs the action with them (its defaults for
// those not set, a log limit of 0 kept).
func (s storeActivations) LookupAction(_ context.Context, _, action, version string) (string, whisk.Limits, error) {
	ns, pkg, name, err := whisk.ParseName(action)
	if err != nil || ns == "" {
		return "", whisk.Limits{}, fmt.Errorf("sandbox: %q is not a fully qualified action name", action)
	}
	path := ns
	if pkg != "" {
		path += "/" + pkg
	}
	a, _, err := s.st.GetAction(path, name)
	if err != nil {
		return "", whisk.Limits{}, err
	}
	if version != "" && a.Version != version {
		return "", whisk.Limits{}, fmt.Errorf("sandbox: action %s is at version %s, not %s", action, a.Version, version)
	}
	limits := a.Limits.WithDefaults()
	if a.Limits.Timeout != 0 && a.Limits.Memory != 0 {
		limits.Logs = a.Limits.Logs
	}
	return a.Exec.Kind, limits, nil
}

// runtimeEnv adapts the runtime set to the invoker.
type runtimeEnv struct{ set *runtimes.Set }

func (r runtimeEnv) Env(exec whisk.Exec) ([]string, error) {
	rt, err := r.set.Lookup(exec)
	if err != nil {
		return nil, err
	}
	return rt.Env, nil
}

// checkKind refuses, at create time, an action the invoker could not run:
// an unknown kind, or a kind whose interpreter is missing here (or, with
// --docker, one that needs one).
func checkKind(rts *runtimes.Set, docker bool) func(whisk.Exec) error {
	return func(e whisk.Exec) error {
		if e.IsSequence() {
			return nil
		}
		rt, err := rts.Lookup(e)
		if errors.Is(err, runtimes.ErrUnknownKind) {
			// OpenWhisk's Messages.invalidRuntimeError, as its Exec
			// deserializer answers it.
			return fmt.Errorf("The request content was malformed:\nThe specified runtime '%s' is not supported by this platform. Valid values are: '%s'. (The wsk-route dev sandbox runs these kinds only.)", e.Kind, strings.Join(append(rts.Known(), whisk.KindSequence), "', '"))
		}
		if err != nil {
			return err
		}
		if docker && len(rt.Env) > 0 {
			return fmt.Errorf("kind %q needs a compiler or interpreter on the host, and the --docker image holds only the proxy: use blackbox images or native binaries (--native) with --docker, or run without --docker", e.Kind)
		}
		// A blackbox image without code is accepted, as OpenWhisk accepts
		// it: whether the image can be had is the invoker's question at
		// the first activation (a developer error naming the image).
		return nil
	}
}

// buildInfo is what GET /api/v1 shows as "buildno" and "build" (`wsk
// property get --apibuildno --apibuild`): this executable's module
// version and, when the build recorded it, its commit time.
func buildInfo() api.BuildInfo {
	bi := api.BuildInfo{Version: "wsk-route (devel)"}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return bi
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		bi.Version = "wsk-route " + v
	}
	for _, st := range info.Settings {
		switch st.Key {
		case "vcs.time":
			bi.Date = st.Value
		case "vcs.revision":
			if bi.Version == "wsk-route (devel)" && len(st.Value) >= 12 {
				bi.Version = "wsk-route " + st.Value[:12]
			}
		}
	}
	return bi
}

// coldStarts shows the invoker's cold starts to the API, by the invoking
// subject's namespace.
func coldStarts(inv *invoker.Invoker) api.ColdStartLister {
	return api.ColdStartListerFunc(func(namespace string) []api.ColdStart {
		var out []api.ColdStart
		for _, c := range inv.ColdStarts() {
			if c.Namespace != namespace {
				continue
			}
			out = append(out, api.ColdStart{ActivationID: c.ActivationID, Action: c.Action, Kind: c.Kind, Phase: c.Phase,
				Start: c.Start.UnixMilli(), PhaseStart: c.PhaseStart.UnixMilli()})
		}
		return out
	})
}

// invokeError maps the controller's errors to OpenWhisk's answers.
func invokeError(err error) (int, string) {
	switch {
	case errors.Is(err, controller.ErrSequenceTooLong):
		return http.StatusBadRequest, whisk.MsgSequenceTooLong
	case errors.Is(err, controller.ErrComponentMissing):
		return http.StatusBadRequest, controller.ErrComponentMissing.Error()
	case errors.Is(err, controller.ErrStopped):
		return http.StatusServiceUnavailable, "The sandbox is shutting down."
	}
	return http.StatusInternalServerError, "The server encountered an internal error: " + err.Error()
}

// listenAPI listens for the REST API on listen ("" : DefaultListen).
func listenAPI(listen string) (net.Listener, error) {
	if listen == "" {
		listen = DefaultListen
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("sandbox: the REST API cannot listen on %s: %w (is another sandbox or OpenWhisk running? use --port)", listen, err)
	}
	return ln, nil
}
