package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wsk-route/wsk-route/internal/agentproto"
	"github.com/wsk-route/wsk-route/internal/otlp"
	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/internal/shm"
	"github.com/wsk-route/wsk-route/internal/spec"
	"github.com/wsk-route/wsk-route/internal/transport"
	"github.com/wsk-route/wsk-route/internal/transport/rdma"
	"github.com/wsk-route/wsk-route/internal/userevents"
	"github.com/wsk-route/wsk-route/invoker-plugin/metrics"
	"github.com/wsk-route/wsk-route/invoker-plugin/proxyconn"
	"github.com/wsk-route/wsk-route/invoker-plugin/relay"
)

// Defaults of Config.
const (
	DefaultRunDir        = "/run/wsk-route"
	DefaultShmRoot       = "/dev/shm/wsk-route"
	DefaultTTL           = 5 * time.Second
	DefaultSweepInterval = 10 * time.Second
	DefaultShmGrace      = 30 * time.Second
	DefaultStateDir      = "/var/lib/wsk-route"
	DefaultCgroupRoot    = "/sys/fs/cgroup"
)

// FrameSocket is the name, in RunDir, of the relay's local frame socket.
const FrameSocket = "agent-frames.sock"

// registryTimeout bounds one registry call made outside a request (a
// deregistration, a heartbeat).
const registryTimeout = 5 * time.Second

// Catalog registers instances with a TTL check.
type Catalog interface {
	Register(ctx context.Context, inst routetable.Instance, ttl time.Duration) error
	Pass(ctx context.Context, id string) error
	Deregister(ctx context.Context, id string) error
}

// Watcher watches the passing instances and the specs of every namespace.
// Both block until ctx ends, calling fn with each new full picture.
type Watcher interface {
	WatchInstances(ctx context.Context, fn func([]routetable.Instance), onError func(error)) error
	WatchSpecs(ctx context.Context, fn func([]*spec.Spec), onError func(error)) error
}

// Keys reads and creates the frame keys of namespaces. NamespaceKey
// returns nil and no error when the namespace has none; CreateNamespaceKey
// stores key (nil: a new one) unless one is stored, and returns the key
// stored afterwards. The agent creates and restores keys only as
// recovery.go says.
type Keys interface {
	NamespaceKey(ctx context.Context, namespace string) ([]byte, error)
	CreateNamespaceKey(ctx context.Context, namespace string, key []byte) ([]byte, error)
}

// Registry is what the agent needs of the control plane;
// *consulstore.Store implements it.
type Registry interface {
	Catalog
	Watcher
	Keys
	Markers  // registry recovery (recovery.go)
	Restorer // registry recovery (recovery.go)
}

// Config configures an Agent. Only Registry is required.
type Config struct {
	// Host is this invoker host's node name, the first part of instance
	// ids; "": os.Hostname.
	Host string
	// RunDir holds the agent's sockets (agent.sock, agent-frames.sock,
	// agent-blobs.sock, agent-sockets.sock) and, in ProxySocketDir, the
	// proxies' frame sockets, which the agent creates; "": DefaultRunDir.
	// Mount it read-only into action containers.
	RunDir string
	// ShmRoot holds one shm directory per namespace, ShmRoot/<namespace>
	// (mode 0700); "": DefaultShmRoot.
	ShmRoot string
	// RelayListen is the TCP address ("host:port", ":7070") other agents
	// send relayed frames to; "": no cross-host relay.
	RelayListen string
	// RelayRDMA is an RDMA CM address ("ip:port", an IP of the RDMA
	// device) other agents send relayed frames to over RDMA; "": none. It
	// needs an agent built with -tags rdma and an RDMA device: otherwise
	// New fails and says which is missing. When set, the instances' Relay
	// field advertises "rdma:<RelayRDMA>" unless RelayAdvertise says
	// otherwise.
	RelayRDMA string
	// RelayAdvertise is the endpoint ("tcp:ip:port" or "rdma:ip:port") put
	// in the instances' Relay field; "": derived from RelayRDMA, else from
	// RelayListen's bound address (its host if one was given, else the
	// first non-loopback address of this host).
	RelayAdvertise string
	// MetricsListen is the TCP address /metrics is served on; "": off.
	MetricsListen string
	// TTL is the registry check's TTL; it is passed every TTL/3. 0: DefaultTTL.
	TTL time.Duration
	// Registry is the control plane. Required.
	Registry Registry
	// Logger receives the agent's logs; nil: slog.Default().
	Logger *slog.Logger
	// PingInterval and PongWait are the proxies' websocket liveness
	// settings (see proxyconn.Config); 0: the proxyconn defaults.
	PingInterval, PongWait time.Duration
	// SweepInterval is how often expired shm segments are removed;
	// 0: DefaultSweepInterval.
	SweepInterval time.Duration
	// ShmGrace is how long past its deadline a segment is kept; 0:
	// DefaultShmGrace.
	ShmGrace time.Duration
	// StateDir holds the agent's persistent state (BindingsFile, the
	// cgroup-to-namespace bindings; RegistryCopyFile, the copy of the
	// registry that recovery.go restores from); "": DefaultStateDir. It
	// must not be RunDir, ShmRoot or inside them: containers can write
	// those.
	StateDir string
	// CgroupRoot is where the cgroup file system is mounted; a binding is
	// pruned once its cgroup's directory under it is gone. "":
	// DefaultCgroupRoot.
	CgroupRoot string
	// AllowUnidentifiedPeers admits a Register whose peer the kernel
	// cannot identify (not a unix socket, /proc unreadable), unbound.
	// false: such a Register is refused.
	AllowUnidentifiedPeers bool
	// PeerOf identifies the peer of each proxy connection; nil:
	// proxyconn.LookupPeer (SO_PEERCRED and /proc/<pid>/cgroup). Tests
	// may fake identities with it.
	PeerOf proxyconn.PeerFunc
	// DirectRuns, when set, is told when the container of a registered
	// proxy (peer, as PeerOf identified it) starts running direct steps
	// (running true), and when it has stopped for a moment or its session
	// ended (false): work its invoker does not see, so that the invoker
	// does not take the container for idle and evict or pause it under a
	// step (the dev sandbox's invoker uses it; OpenWhisk's has no such
	// hook). It must not block. nil: the proxies are not asked to report.
	DirectRuns func(peer proxyconn.Peer, running bool)
	// UserEvents, when set, makes the agent publish one OpenWhisk user
	// event (an Activation event on Kafka's events topic, with the topic
	// prefix) per step reported to an entry of this host; nil: off. Its
	// Kafka.Brokers must not be empty; a nil Logger is the agent's.
	UserEvents *userevents.PublisherConfig
	// UserEventsSource is the events' source field; "":
	// "wsk-route-agent@<Host>".
	UserEventsSource string
	// Activations, when set, is where the activation records of the
	// direct steps this host's proxies run are written (records.go); nil:
	// they are dropped.
	Activations ActivationStore
	// Traces, when set, makes the agent export a span per direct step run
	// on this host and per run whose entry runs here, to an OpenTelemetry
	// collector (traces.go); nil: off. A nil Logger is the agent's.
	Traces *otlp.Config
}

// validate checks c and fills its defaults.
func (c *Config) validate() error {
	if c.Registry == nil {
		return errors.New("agent: Config.Registry is required")
	}
	if c.Host == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("agent: host name: %w", err)
		}
		c.Host = h
	}
	if !safeName(c.Host) {
		return fmt.Errorf("agent: host %q must be 1 to %d bytes without '/', spaces or control characters", c.Host, maxNameLen)
	}
	if c.RunDir == "" {
		c.RunDir = DefaultRunDir
	}
	if c.ShmRoot == "" {
		c.ShmRoot = DefaultShmRoot
	}
	if c.StateDir == "" {
		c.StateDir = DefaultStateDir
	}
	if c.CgroupRoot == "" {
		c.CgroupRoot = DefaultCgroupRoot
	}
	var err error
	if c.RunDir, err = filepath.Abs(c.RunDir); err != nil {
		return fmt.Errorf("agent: run dir: %w", err)
	}
	if c.ShmRoot, err = filepath.Abs(c.ShmRoot); err != nil {
		return fmt.Errorf("agent: shm root: %w", err)
	}
	if c.StateDir, err = filepath.Abs(c.StateDir); err != nil {
		return fmt.Errorf("agent: state dir: %w", err)
	}
	for _, d := range []string{c.RunDir, c.ShmRoot} {
		if within(c.StateDir, d) {
			return fmt.Errorf("agent: state dir %s must not be in %s (containers can write there)", c.StateDir, d)
		}
	}
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.TTL < 0 {
		return fmt.Errorf("agent: negative TTL %v", c.TTL)
	}
	if c.SweepInterval <= 0 {
		c.SweepInterval = DefaultSweepInterval
	}
	if c.ShmGrace <= 0 {
		c.ShmGrace = DefaultShmGrace
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.UserEventsSource == "" {
		c.UserEventsSource = "wsk-route-agent@" + c.Host
	}
	if c.RelayAdvertise != "" {
		if _, _, err := transport.ParseEndpoint(c.RelayAdvertise); err != nil {
			return fmt.Errorf("agent: relay advertise: %w", err)
		}
	}
	if c.RelayRDMA != "" {
		h, _, err := net.SplitHostPort(c.RelayRDMA)
		if err != nil {
			return fmt.Errorf("agent: rdma relay address %q: %w", c.RelayRDMA, err)
		}
		if ip := net.ParseIP(h); c.RelayAdvertise == "" && (ip == nil || ip.IsUnspecified()) {
			return fmt.Errorf("agent: rdma relay address %q: give the IP of the RDMA device (it is advertised to the other agents), or set the relay advertise endpoint", c.RelayRDMA)
		}
	}
	return nil
}

// within reports whether path is dir or below it (both clean, absolute).
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// Agent is one host's agent. Create it with New; it is not reusable.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics.Metrics
	proxies *proxyconn.Server
	client  *transport.Client

	sockLn, framesLn, relayLn, rdmaLn, metricsLn net.Listener
	relayEndpoint                                string // advertised in Instance.Relay; "" without RelayListen and RelayRDMA
	metricsHandler                               http.Handler
	started                                      atomic.Bool
	// stopping holds Run's context: once it is done, the agent is
	// stopping, and the sessions that end then leave their instances
	// registered (registrar.Deregister).
	stopping   atomic.Pointer[context.Context]
	bindings   *bindings
	events     *eventWriter          // run events to the registry (runevents.go)
	records    *recordWriter         // activation records of direct steps (records.go)
	blobs      *blobs                // blob pulls of large fallback payloads (blobs.go)
	sockets    *sockets              // the proxies' frame sockets (sockets.go)
	handoffLn  net.Listener          // HandoffSocket
	userEvents *userevents.Publisher // nil: user events off (userevents.go)
	traces     *otlp.Exporter        // nil: traces off (traces.go)

	mu sync.Mutex // guards local, table, tabled, runStart and changed
	// local holds the instances registered through this agent, by id.
	local map[string]*localInstance
	// table is the latest picture of the passing instances, by id.
	table map[string]routetable.Instance
	// tabled says table came from the registry (it is empty until then);
	// runStart is when Run started; changed is closed and replaced when
	// table or local change (restart.go).
	tabled   bool
	runStart time.Time
	changed  chan struct{}
}

// localInstance is one instance of a proxy session.
type localInstance struct {
	inst  routetable.Instance
	ready bool // registered in the registry; false while Register runs
	// user is the uuid of the key the proxy said its action runs with
	// (agentproto.Register.User): the userId of its steps' user events.
	// It is only a label: the namespace is the registration's.
	user string
	// peer is the proxy's container, as the session identified it; direct
	// says its proxy reported direct steps running (Config.DirectRuns).
	peer   proxyconn.Peer
	direct bool
}

// New checks cfg, prepares RunDir and ShmRoot, and binds the listeners.
func New(cfg Config) (*Agent, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.RunDir, 0o755); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if err := os.MkdirAll(cfg.ShmRoot, 0o711); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	binds, err := loadBindings(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	pruneBindings(binds, cfg.CgroupRoot, cfg.Logger)
	socks, err := newSockets(cfg.RunDir)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a := &Agent{
		cfg:            cfg,
		log:            cfg.Logger,
		metrics:        m,
		client:         &transport.Client{ShmThreshold: -1, Dial: dialRelay}, // relays send inline only
		metricsHandler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		bindings:       binds,
		sockets:        socks,
		events:         newEventWriter(cfg.Registry, cfg.Logger),
		records:        newRecordWriter(cfg.Activations, cfg.Logger),
		local:          make(map[string]*localInstance),
		table:          make(map[string]routetable.Instance),
	}
	if cfg.UserEvents != nil {
		pc := *cfg.UserEvents
		if pc.Logger == nil {
			pc.Logger = cfg.Logger
		}
		if pc.ClientID == "" {
			pc.ClientID = "wsk-route-agent"
		}
		if a.userEvents, err = userevents.NewPublisher(pc); err != nil {
			return nil, fmt.Errorf("agent: user events: %w", err)
		}
		m.SetUserEvents(a.userEventCounts)
	}
	if cfg.Activations != nil {
		m.SetActivationRecords(a.records.counts)
	}
	if cfg.Traces != nil {
		tc := *cfg.Traces
		if tc.Logger == nil {
			tc.Logger = cfg.Logger
		}
		tc.Resource = append(tc.Resource, otlp.Attribute{Key: "host.name", Value: cfg.Host})
		if a.traces, err = otlp.New(tc); err != nil {
			return nil, fmt.Errorf("agent: traces: %w", err)
		}
	}
	// Registry recovery (recovery.go): from here on the agent reaches the
	// registry through its copy in StateDir (the run events above keep the
	// registry itself).
	if a.cfg.Registry, err = newRecovery(cfg.Registry, cfg.StateDir, cfg.Logger, m); err != nil {
		return nil, err
	}
	a.proxies, err = proxyconn.NewServer(proxyconn.Config{
		Registrar:    (*registrar)(a),
		Logger:       cfg.Logger,
		PingInterval: cfg.PingInterval,
		PongWait:     cfg.PongWait,
		PeerOf:       cfg.PeerOf,
	})
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if err := a.listen(); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// listen binds every listener and derives the relay endpoint.
func (a *Agent) listen() error {
	var err error
	if a.sockLn, err = transport.Listen("unix:" + a.SocketPath()); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if a.framesLn, err = transport.Listen(a.FrameEndpoint()); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if a.handoffLn, err = transport.Listen(a.HandoffEndpoint()); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if a.cfg.RelayListen != "" {
		if a.relayLn, err = net.Listen("tcp", a.cfg.RelayListen); err != nil {
			return fmt.Errorf("agent: relay: %w", err)
		}
	}
	if err := a.listenBlobs(); err != nil {
		return err
	}
	if a.cfg.RelayRDMA != "" {
		if a.rdmaLn, err = rdma.Listen(a.cfg.RelayRDMA); err != nil {
			return fmt.Errorf("agent: rdma relay: %w", err)
		}
	}
	// The advertised endpoint: RelayAdvertise, else the RDMA listener's,
	// else derived from the TCP listener's; "" without a relay listener.
	switch {
	case a.relayLn == nil && a.rdmaLn == nil:
	case a.cfg.RelayAdvertise != "":
		a.relayEndpoint = a.cfg.RelayAdvertise
	case a.rdmaLn != nil:
		a.relayEndpoint = "rdma:" + a.cfg.RelayRDMA
	default:
		a.relayEndpoint = advertise(a.cfg.RelayListen, a.relayLn.Addr(), a.cfg.Host)
	}
	if a.cfg.MetricsListen != "" {
		if a.metricsLn, err = net.Listen("tcp", a.cfg.MetricsListen); err != nil {
			return fmt.Errorf("agent: metrics: %w", err)
		}
	}
	return nil
}

// dialRelay connects to another agent's relay: over RDMA for "rdma:"
// endpoints (an agent built with -tags rdma), else as net.Dial does.
func dialRelay(ctx context.Context, network, addr string) (net.Conn, error) {
	if network == "rdma" {
		return rdma.Dial(ctx, network, addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// advertise derives the relay endpoint from the configured listen address
// and the bound one.
func advertise(listen string, bound net.Addr, host string) string {
	port := ""
	if ta, ok := bound.(*net.TCPAddr); ok {
		port = strconv.Itoa(ta.Port)
	}
	h, _, err := net.SplitHostPort(listen)
	if err == nil && h != "" {
		if ip := net.ParseIP(h); ip == nil || !ip.IsUnspecified() {
			return "tcp:" + net.JoinHostPort(h, port)
		}
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, ad := range addrs {
			if ipn, ok := ad.(*net.IPNet); ok && ipn.IP.IsGlobalUnicast() && ipn.IP.To4() != nil {
				return "tcp:" + net.JoinHostPort(ipn.IP.String(), port)
			}
		}
	}
	return "tcp:" + net.JoinHostPort(host, port)
}

// SocketPath returns the path of the proxies' websocket socket.
func (a *Agent) SocketPath() string { return filepath.Join(a.cfg.RunDir, agentproto.DefaultSocket) }

// FrameEndpoint returns the relay's local frame endpoint ("unix:...").
func (a *Agent) FrameEndpoint() string { return "unix:" + filepath.Join(a.cfg.RunDir, FrameSocket) }

// HandoffEndpoint returns the endpoint ("unix:...") registered proxies
// fetch their frame sockets from.
func (a *Agent) HandoffEndpoint() string {
	return "unix:" + filepath.Join(a.cfg.RunDir, HandoffSocket)
}

// RelayEndpoint returns the endpoint advertised in Instance.Relay, or ""
// without RelayListen and RelayRDMA.
func (a *Agent) RelayEndpoint() string { return a.relayEndpoint }

// MetricsAddr returns the bound metrics address, or "" without
// MetricsListen.
func (a *Agent) MetricsAddr() string {
	if a.metricsLn == nil {
		return ""
	}
	return a.metricsLn.Addr().String()
}

// Close releases the listeners of an Agent whose Run was never called.
// After Run it does nothing.
func (a *Agent) Close() error {
	if a.started.Swap(true) {
		return nil
	}
	var errs []error
	for _, ln := range []net.Listener{a.sockLn, a.framesLn, a.handoffLn, a.relayLn, a.rdmaLn, a.metricsLn} {
		if ln != nil {
			errs = append(errs, ln.Close())
		}
	}
	a.sockets.closeAll()
	errs = append(errs, a.client.Close(), a.closeBlobs())
	return errors.Join(errs...)
}

// Run runs the agent until ctx ends or a part of it fails, then stops
// every part and returns: nil after ctx ended, else the first error. The
// local instances stay registered: their proxies keep running and
// register again with the next agent, within their TTL (an upgrade or a
// restart fails no run for it); an agent that does not come back lets
// their TTL checks expire, and the other hosts drop them then.
func (a *Agent) Run(ctx context.Context) error {
	if a.started.Swap(true) {
		return errors.New("agent: Run called twice, or after Close")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.stopping.Store(&ctx)
	a.mu.Lock()
	a.runStart = time.Now()
	a.mu.Unlock()
	// The relays finish the frames in flight when the agent stops
	// (restart.go, drainHandler).
	drained, undrain := drainContext(ctx)
	defer undrain()
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	start := func(name string, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := fn(ctx)
			if err != nil && ctx.Err() == nil {
				errOnce.Do(func() { firstErr = fmt.Errorf("agent: %s: %w", name, err) })
				cancel()
			}
		}()
	}
	dir := (*directory)(a)
	start("proxies", func(ctx context.Context) error { return a.proxies.Serve(ctx, a.sockLn) })
	start("socket handoff", func(ctx context.Context) error {
		defer a.sockets.closeAll()
		return a.sockets.serve(ctx, a.handoffLn, a.log.Warn)
	})
	local := &transport.Server{
		Handler:     drainHandler{h: &relay.Relay{Directory: dir, Sender: a.client, Forward: true, Observe: a.metrics.Relayed}, run: ctx, drained: drained},
		Keys:        a.frameKey, // frames are verified before their payload is read (blobs.go)
		MaxInFlight: 1024,
		MaxConns:    relayMaxConns,
	}
	start("frame socket", func(ctx context.Context) error { return local.Serve(ctx, a.framesLn) })
	remote := &transport.Server{
		Handler:     drainHandler{h: &relay.Relay{Directory: dir, Sender: a.client, Observe: a.metrics.Relayed}, run: ctx, drained: drained},
		Keys:        a.frameKey,
		MaxInFlight: 1024,
		MaxConns:    relayMaxConns,
	}
	if a.relayLn != nil {
		start("relay", func(ctx context.Context) error { return remote.Serve(ctx, a.relayLn) })
	}
	if a.rdmaLn != nil {
		start("rdma relay", func(ctx context.Context) error { return remote.Serve(ctx, a.rdmaLn) })
	}
	if a.metricsLn != nil {
		start("metrics", a.serveMetrics)
	}
	start("instance watch", func(ctx context.Context) error {
		return a.cfg.Registry.WatchInstances(ctx, a.setTable, a.watchError("instances"))
	})
	start("spec watch", func(ctx context.Context) error {
		return a.cfg.Registry.WatchSpecs(ctx, a.proxies.SetSpecs, a.watchError("specs"))
	})
	start("heartbeat", a.heartbeat)
	start("shm sweeper", a.sweeper)
	start("bindings persister", a.bindings.persister)
	a.startBlobs(start)
	if a.events.store != nil {
		start("run events", a.events.run)
	}
	if a.records.store != nil {
		start("activation records", a.records.run)
	}
	if a.traces != nil {
		start("traces", a.traces.Run)
	}
	if a.userEvents != nil {
		start("user events", a.userEvents.Run)
	}
	a.log.Info("agent: running", "host", a.cfg.Host, "socket", a.SocketPath(), "relay", a.relayEndpoint, "metrics", a.MetricsAddr())
	wg.Wait()
	_ = a.client.Close()
	a.log.Info("agent: stopped")
	return firstErr
}

func (a *Agent) serveMetrics(ctx context.Context) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", a.metricsHandler)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(a.metricsLn) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	_ = hs.Shutdown(sctx)
	_ = hs.Close()
	<-errc
	return nil
}

func (a *Agent) watchError(what string) func(error) {
	return func(err error) {
		a.metrics.RegistryError()
		a.log.Warn("agent: watch failed; retrying", "watch", what, "err", err)
	}
}

// setTable takes a new picture of the passing instances.
func (a *Agent) setTable(insts []routetable.Instance) {
	t := make(map[string]routetable.Instance, len(insts))
	for _, in := range insts {
		t[in.ID] = in
	}
	a.mu.Lock()
	a.table = t
	a.tabled = true
	a.notifyLocked()
	a.mu.Unlock()
	a.metrics.SetInstances(len(t))
	a.proxies.SetInstances(insts)
}

// heartbeat passes every local instance's TTL check every TTL/3, and
// registers again an instance the registry has lost.
func (a *Agent) heartbeat(ctx context.Context) error {
	tick := time.NewTicker(a.cfg.TTL / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		for _, inst := range a.readyInstances() {
			cctx, cancel := context.WithTimeout(ctx, registryTimeout)
			err := a.cfg.Registry.Pass(cctx, inst.ID)
			if err != nil && ctx.Err() == nil {
				a.metrics.RegistryError()
				a.log.Warn("agent: pass failed; registering again", "instance", inst.ID, "err", err)
				if err = a.cfg.Registry.Register(cctx, inst, a.cfg.TTL); err != nil {
					a.metrics.RegistryError()
					a.log.Warn("agent: register again failed", "instance", inst.ID, "err", err)
				} else if !a.isLocal(inst.ID) { // its session ended meanwhile
					_ = a.cfg.Registry.Deregister(cctx, inst.ID)
				}
			}
			cancel()
		}
	}
}

func (a *Agent) readyInstances() []routetable.Instance {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]routetable.Instance, 0, len(a.local))
	for _, li := range a.local {
		if li.ready {
			out = append(out, li.inst)
		}
	}
	return out
}

func (a *Agent) isLocal(id string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.local[id] != nil
}

// sweeper removes expired shm segments of every namespace.
func (a *Agent) sweeper(ctx context.Context) error {
	tick := time.NewTicker(a.cfg.SweepInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			a.sweep(time.Now())
			a.sweepSockets(time.Now())
			pruneBindings(a.bindings, a.cfg.CgroupRoot, a.log)
		}
	}
}

// sweep removes the expired segments of every namespace directory.
func (a *Agent) sweep(now time.Time) {
	entries, err := os.ReadDir(a.cfg.ShmRoot)
	if err != nil {
		a.log.Warn("agent: shm sweep", "err", err)
		return
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		n, err := shm.Sweep(filepath.Join(a.cfg.ShmRoot, e.Name()), now, a.cfg.ShmGrace)
		a.metrics.Swept(n)
		if err != nil {
			a.log.Warn("agent: shm sweep", "dir", e.Name(), "err", err)
		}
	}
}

// sweepSockets removes the frame sockets of proxies that no session holds.
func (a *Agent) sweepSockets(now time.Time) {
	live := func(file string) bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		_, ok := a.local[a.cfg.Host+"/"+strings.TrimSuffix(file, ".sock")]
		return ok
	}
	if n := a.sockets.sweep(now, live); n > 0 {
		a.log.Info("agent: removed the frame sockets of proxies gone", "removed", n)
	}
}

// pruneBindings drops the bindings of the cgroups gone from root and logs
// how many, if any.
func pruneBindings(b *bindings, root string, log *slog.Logger) {
	if n := b.prune(root); n > 0 {
		log.Info("agent: pruned the bindings of vanished cgroups", "pruned", n, "left", b.len())
	}
}
