package sandbox

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox/api"
	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox/controller"
	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox/invoker"
	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox/runtimes"
	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox/store"
	"github.com/wsk-route/wsk-route/internal/consulstore"
	"github.com/wsk-route/wsk-route/internal/whisk"
)

// The sandbox split over hosts: RunController on one host (the REST API,
// the controller, the entity store and a Kafka-protocol broker), and
// RunInvoker on each invoker host, talking to it over Kafka as OpenWhisk's
// invokers do. The invoker reads actions and writes activation records
// through the controller host's store service (/sandbox/v1/, basic auth
// with the sandbox's key), where OpenWhisk's invokers use CouchDB. Neither
// runs a host agent: on a multi-host sandbox the agents are deployed on
// the invoker hosts as on an OpenWhisk cluster (ansible/), and share a
// real Consul.

// storePrefix is the path of the controller host's store service.
const storePrefix = "/sandbox/v1/"

// ControllerConfig configures RunController.
type ControllerConfig struct {
	// Listen is the REST API's address, one the invoker hosts and their
	// containers reach (e.g. "0.0.0.0:3233"); "": DefaultListen.
	Listen string
	// DataDir keeps actions and activations; "": a temporary directory.
	DataDir string
	// KafkaListen is the "IP:port" the embedded broker listens on and
	// advertises: an address of this host that the invoker hosts reach.
	// Required unless Kafka is set.
	KafkaListen string
	// Kafka is a real broker's bootstrap address list instead.
	Kafka []string
	// Consul is the HTTP address of the Consul the agents share; required
	// (the composer stores workflow specs there).
	Consul string
	// Invokers is the number of invoker hosts (topics invoker0...); 0: 1.
	Invokers int
	// Auth is the identity's "uuid:key"; "": the guest key.
	Auth string
	// BlockingWait bounds a blocking invoke; 0: 60 s.
	BlockingWait time.Duration
	// MaxConcurrency: as in Config.
	MaxConcurrency int
	// Logger; nil: slog.Default().
	Logger *slog.Logger
}

// RunController runs the controller host of a multi-host sandbox until
// ctx ends; ready is called with its Info once it serves.
func RunController(ctx context.Context, cfg ControllerConfig, ready func(Info)) error {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.Consul == "" {
		return errors.New("sandbox: the controller host needs the Consul the invoker hosts' agents use (--consul)")
	}
	if cfg.Kafka == nil && cfg.KafkaListen == "" {
		return errors.New("sandbox: the controller host needs --kafka-listen IP:PORT (an address the invoker hosts reach) or --kafka")
	}
	n := cfg.Invokers
	if n <= 0 {
		n = 1
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
	dd, err := openData(cfg.DataDir, store.Options{}, ident, log)
	if err != nil {
		return err
	}
	cleanups = append(cleanups, dd.cleanup)
	st, rts := dd.store, dd.runtimes

	brokers := cfg.Kafka
	var kafka *embeddedKafka // the embedded broker (kafka.go); nil with cfg.Kafka
	if len(brokers) == 0 {
		if kafka, err = startKafka(cfg.KafkaListen, n); err != nil {
			return err
		}
		cleanups = append(cleanups, kafka.Close)
		brokers = kafka.Addrs()
	} else if err := createTopics(brokers, topics(n)); err != nil {
		return err
	}

	cs, err := consulstore.New(consulstore.Options{Address: cfg.Consul})
	if err != nil {
		return fmt.Errorf("sandbox: consul %s: %w", cfg.Consul, err)
	}
	cleanups = append(cleanups, func() { cs.Close() })

	ln, err := listenAPI(cfg.Listen)
	if err != nil {
		return err
	}
	cleanups = append(cleanups, func() { ln.Close() })

	ctl, err := controller.New(controller.Config{
		Brokers: brokers, Actions: st, Activations: st, Invokers: n,
		BlockingWait: cfg.BlockingWait, Logger: log,
	})
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	handler, err := api.New(api.Config{Store: st, Controller: ctl, Logger: log, BuildInfo: buildInfo(), CheckKind: checkKind(rts, true), Runtimes: rts.Kinds(), CanonicalKind: rts.Canonical, InvokeError: invokeError, Workflows: cs, MaxConcurrency: cfg.MaxConcurrency})
	if err != nil {
		ctl.Close()
		return fmt.Errorf("sandbox: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle(storePrefix, storeService(st, ident.AuthKey.APIKey))
	mux.Handle("/", handler)

	ps := newParts()
	defer ps.stop(log)
	ps.start("controller", ctl.Run)
	if kafka != nil {
		ps.start("kafka retention", kafka.trim)
	}
	ps.start("api", func(ctx context.Context) error { return serveAPI(ctx, mux, ln) })
	select {
	case <-ctl.Ready():
	case err := <-ps.failed:
		return err
	case <-ctx.Done():
		return nil
	}
	info := Info{URL: "http://" + ln.Addr().String(), Auth: ident.AuthKey.APIKey, Namespace: ident.Namespace.Name,
		DataDir: dd.dir, Persistent: cfg.DataDir != "", Kafka: brokers, Registry: cfg.Consul, Mode: "controller"}
	log.Info("sandbox: controller host ready", "api", info.URL, "kafka", brokers, "invokers", n, "registry", cfg.Consul)
	if ready != nil {
		ready(info)
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-ps.failed:
		return err
	}
}

// InvokerConfig configures RunInvoker.
type InvokerConfig struct {
	// Index is the invoker's number (topic invoker<Index>).
	Index int
	// Kafka is the broker's bootstrap address list; required.
	Kafka []string
	// Controller is the controller host's API URL ("http://10.0.0.2:3233"):
	// its store service, and the actions' __OW_API_HOST; required.
	Controller string
	// Auth is the sandbox's "uuid:key"; "": the guest key.
	Auth string
	// WorkDir holds the runtimes' files; "": a temporary directory.
	WorkDir string
	// Image is the default action image (whose /bin/proxy is the wsk-route
	// proxy); blackbox actions name their own. Required.
	Image string
	// Network is the containers' docker network; "": bridge.
	Network string
	// Binds are bind mounts given to every container ("src:dst[:ro]"),
	// OpenWhisk's container-args extra-args "volume".
	Binds []string
	// PauseGrace: OpenWhisk's container-proxy pause-grace; 0: 50 ms.
	PauseGrace time.Duration
	// UserMemoryMB, IdleTimeout: as in Config.
	UserMemoryMB int
	IdleTimeout  time.Duration
	// Host is the invoker's name in acks; "": the host name.
	Host string
	// Logger; nil: slog.Default().
	Logger *slog.Logger
}

// RunInvoker runs one invoker host's invoker (docker mode) until ctx ends.
// The host's agent is not part of it: the proxies find it at the run
// directory's agent.sock, mounted into them through Binds.
func RunInvoker(ctx context.Context, cfg InvokerConfig, ready func()) error {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if len(cfg.Kafka) == 0 || cfg.Controller == "" || cfg.Image == "" {
		return errors.New("sandbox: an invoker host needs --kafka, --controller and --image")
	}
	ident, err := identity(cfg.Auth)
	if err != nil {
		return err
	}
	work := cfg.WorkDir
	if work == "" {
		d, err := os.MkdirTemp("", "wsk-route-dev-invoker-")
		if err != nil {
			return fmt.Errorf("sandbox: work directory: %w", err)
		}
		defer os.RemoveAll(d)
		work = d
	}
	rts, err := runtimes.Install(filepath.Join(work, "runtimes"))
	if err != nil {
		return fmt.Errorf("sandbox: runtimes: %w", err)
	}
	rs := &remoteStore{base: strings.TrimSuffix(cfg.Controller, "/") + storePrefix, auth: ident.AuthKey.APIKey,
		client: &http.Client{Timeout: 30 * time.Second}}
	inv, err := invoker.New(invoker.Config{
		Brokers: cfg.Kafka, Index: cfg.Index,
		Actions: rs, Activations: rs, Runtimes: runtimeEnv{rts},
		APIHost:      cfg.Controller,
		UserMemoryMB: cfg.UserMemoryMB, IdleTimeout: cfg.IdleTimeout,
		Docker: &invoker.DockerConfig{Image: cfg.Image, Network: cfg.Network, Binds: cfg.Binds, PauseGrace: cfg.PauseGrace},
		Logger: log, Host: cfg.Host,
	})
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	ps := newParts()
	defer ps.stop(log)
	ps.start("invoker", inv.Run)
	select {
	case <-inv.Ready():
	case err := <-ps.failed:
		return err
	case <-ctx.Done():
		return nil
	}
	log.Info("sandbox: invoker host ready", "index", cfg.Index, "kafka", cfg.Kafka, "controller", cfg.Controller, "binds", cfg.Binds, "pause_grace", cfg.PauseGrace)
	if ready != nil {
		ready()
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-ps.failed:
		return err
	}
}

// storeService serves the invoker hosts' reads of actions and writes of
// activation records, to callers that present key as basic auth.
func storeService(st *store.Store, key string) http.Handler {
	uuid, pass, _ := strings.Cut(key, ":")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(uuid)) != 1 || subtle.ConstantTimeCompare([]byte(p), []byte(pass)) != 1 {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		switch {
		case r.Method == http.MethodGet && r.URL.Path == storePrefix+"action":
			a, rev, err := st.GetAction(r.URL.Query().Get("path"), r.URL.Query().Get("name"))
			if errors.Is(err, store.ErrNotFound) {
				http.Error(w, err.Error(), http.StatusNotFound)
				return
			} else if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(storedAction{Action: a, Rev: rev})
		case r.Method == http.MethodPost && r.URL.Path == storePrefix+"activation":
			var a whisk.Activation
			if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<20)).Decode(&a); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			if err := st.PutActivation(a); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		default:
			http.NotFound(w, r)
		}
	})
}

type storedAction struct {
	Action whisk.Action `json:"action"`
	Rev    string       `json:"rev"`
}

// remoteStore is the invoker host's view of the controller host's store.
type remoteStore struct {
	base, auth string
	client     *http.Client
}

var (
	_ invoker.Actions     = (*remoteStore)(nil)
	_ invoker.Activations = (*remoteStore)(nil)
)

func (s *remoteStore) do(method, path string, body []byte) ([]byte, error) {
	req, err := http.NewRequest(method, s.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	uuid, key, _ := strings.Cut(s.auth, ":")
	req.SetBasicAuth(uuid, key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("sandbox: store service: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 128<<20))
	if err != nil {
		return nil, fmt.Errorf("sandbox: store service: %w", err)
	}
	if resp.StatusCode == http.StatusNotFound {
		return nil, fmt.Errorf("%w: %s", store.ErrNotFound, bytes.TrimSpace(b))
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("sandbox: store service: %s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	return b, nil
}

// GetAction reads an action and its revision from the controller host.
func (s *remoteStore) GetAction(path, name string) (whisk.Action, string, error) {
	b, err := s.do(http.MethodGet, "action?path="+url.QueryEscape(path)+"&name="+url.QueryEscape(name), nil)
	if err != nil {
		return whisk.Action{}, "", err
	}
	var sa storedAction
	if err := json.Unmarshal(b, &sa); err != nil {
		return whisk.Action{}, "", fmt.Errorf("sandbox: store service: %w", err)
	}
	return sa.Action, sa.Rev, nil
}

// PutActivation stores a record on the controller host.
func (s *remoteStore) PutActivation(a whisk.Activation) error {
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	_, err = s.do(http.MethodPost, "activation", b)
	return err
}

// OpenWhiskEnv reads the invoker settings that OpenWhisk's ansible passes
// to its invoker as CONFIG_ environment variables, from environ ("K=V"):
// the containers' extra volumes
// (CONFIG_whisk_containerFactory_containerArgs_extraArgs_volume_<n>), their
// network (CONFIG_whisk_containerFactory_containerArgs_network) and the
// pause grace (CONFIG_whisk_containerProxy_timeouts_pauseGrace, a HOCON
// duration such as "10 seconds").
func OpenWhiskEnv(environ []string) (binds []string, network string, pauseGrace time.Duration, err error) {
	const volume = "CONFIG_whisk_containerFactory_containerArgs_extraArgs_volume_"
	vols := map[int]string{}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, volume):
			i, err := strconv.Atoi(strings.TrimPrefix(k, volume))
			if err != nil || i < 0 {
				return nil, "", 0, fmt.Errorf("sandbox: %s: want a volume index", k)
			}
			vols[i] = v
		case k == "CONFIG_whisk_containerFactory_containerArgs_network":
			network = v
		case k == "CONFIG_whisk_containerProxy_timeouts_pauseGrace":
			if pauseGrace, err = hoconDuration(v); err != nil {
				return nil, "", 0, fmt.Errorf("sandbox: %s=%q: %w", k, v, err)
			}
		}
	}
	for i := range len(vols) {
		v, ok := vols[i]
		if !ok {
			return nil, "", 0, fmt.Errorf("sandbox: %s%d is missing (volumes are numbered from 0)", volume, i)
		}
		binds = append(binds, v)
	}
	return binds, network, pauseGrace, nil
}

// hoconDuration parses "10 seconds", "500 ms", "2m" or a Go duration.
func hoconDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i <= 0 {
		return 0, errors.New("not a duration")
	}
	n, err := strconv.ParseFloat(s[:i], 64)
	if err != nil {
		return 0, err
	}
	units := map[string]time.Duration{
		"ms": time.Millisecond, "milli": time.Millisecond, "millis": time.Millisecond, "millisecond": time.Millisecond, "milliseconds": time.Millisecond,
		"s": time.Second, "second": time.Second, "seconds": time.Second,
		"m": time.Minute, "minute": time.Minute, "minutes": time.Minute,
		"h": time.Hour, "hour": time.Hour, "hours": time.Hour,
	}
	u, ok := units[strings.TrimSpace(s[i:])]
	if !ok {
		return 0, fmt.Errorf("unknown unit %q", strings.TrimSpace(s[i:]))
	}
	return time.Duration(n * float64(u)), nil
}
