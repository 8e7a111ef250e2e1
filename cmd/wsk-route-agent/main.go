// Command wsk-route-agent is the wsk-route host agent, one per invoker
// host: it registers the host's route-enabled containers in Consul, pushes
// the route table and specs to their proxies over a websocket on a unix
// socket, relays cross-host hops, serves the large fallback payloads of
// its host to the other agents (on the relay's TCP port) and pulls theirs
// for its proxies, sweeps the shm area, and serves Prometheus metrics. See
// invoker-plugin/README.md.
//
// Usage:
//
//	wsk-route-agent [-host NAME] [-run-dir DIR] [-shm-dir DIR]
//	    [-state-dir DIR] [-allow-unidentified-peers] [-relay-listen ADDR] [-relay-rdma IP:PORT] [-relay-advertise tcp:IP:PORT]
//	    [-metrics-listen ADDR] [-ttl 5s] [-consul ADDR]
//	    [-consul-prefix P] [-consul-service S] [-log-level info]
//	    [-kafka-hosts H:P,...] [-kafka-topics-user-event-prefix P]
//	    [-kafka-protocol PLAINTEXT|SSL|SASL_PLAINTEXT|SASL_SSL]
//	    [-kafka-ssl-ca F] [-kafka-ssl-cert F] [-kafka-ssl-key F]
//	    [-kafka-sasl-user U] [-kafka-sasl-password-file F]
//	    [-user-events-queue N] [-user-events-source S] [-otlp-endpoint URL]
//	wsk-route-agent -version
//
// With -kafka-hosts, the agent publishes an OpenWhisk user event per
// direct step to the events topic (docs/observability.md); the Kafka
// flags take the values OpenWhisk's ansible gives its invokers. The SASL
// password comes from -kafka-sasl-password-file or the environment
// variable WSK_ROUTE_KAFKA_SASL_PASSWORD, never from the command line.
//
// With the CouchDB settings OpenWhisk's invoker reads
// (CONFIG_whisk_couchdb_protocol, _host, _port, _username, _password and
// CONFIG_whisk_couchdb_databases_WhiskActivation) in its environment, the
// agent writes an activation record per direct step into OpenWhisk's
// activations database, where `wsk activation list` finds it
// (internal/activationdb).
//
// With -otlp-endpoint (or OpenTelemetry's OTEL_EXPORTER_OTLP_ENDPOINT),
// the agent exports each workflow run as one trace: a span for the run's
// entry and one per direct step (internal/otlp). Off by default.
//
// SIGTERM or SIGINT stops it: it finishes the frames it is relaying (at
// most a second), leaves its instances registered for the next agent
// (their TTL checks expire if none comes) and exits 0.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/wsk-route/wsk-route/internal/activationdb"
	"github.com/wsk-route/wsk-route/internal/consulstore"
	"github.com/wsk-route/wsk-route/internal/otlp"
	"github.com/wsk-route/wsk-route/invoker-plugin/agent"
	"github.com/wsk-route/wsk-route/invoker-plugin/proxyconn"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wsk-route-agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg agent.Config
	version := fs.Bool("version", false, "print the version and exit")
	fs.StringVar(&cfg.Host, "host", "", "node `name` of this invoker host, the first part of instance ids (default: the host name)")
	fs.StringVar(&cfg.RunDir, "run-dir", agent.DefaultRunDir, "`directory` of the agent's sockets and, in proxies/, the proxies' frame sockets (the agent makes them all); mount it read-only into action containers")
	fs.StringVar(&cfg.ShmRoot, "shm-dir", agent.DefaultShmRoot, "`directory` holding one shm directory per namespace")
	fs.StringVar(&cfg.StateDir, "state-dir", agent.DefaultStateDir, "`directory` of the agent's persistent state (the container-to-namespace bindings); not writable by containers")
	fs.BoolVar(&cfg.AllowUnidentifiedPeers, "allow-unidentified-peers", false, "admit proxies whose container cannot be identified (SO_PEERCRED, /proc), unbound to a namespace; unsafe with untrusted tenants")
	trusted := fs.String("trusted-images", "", "comma-separated `images` (names as containers are created with, or sha256: ids) whose containers may register; others are refused (default: any container; set it on hosts that also run images the operator did not build, such as blackbox actions)")
	dockerSock := fs.String("docker-socket", "", "docker engine API `socket` used to look up a peer container's image for -trusted-images (default: /var/run/docker.sock)")
	fs.StringVar(&cfg.RelayListen, "relay-listen", "", "TCP `address` other agents relay frames to and pull large fallback payloads from, e.g. :7070 (default: no cross-host relay)")
	fs.StringVar(&cfg.RelayRDMA, "relay-rdma", "", "RDMA CM `address` IP:PORT of this host's RDMA device for relayed frames from other agents (needs a build with -tags rdma)")
	fs.StringVar(&cfg.RelayAdvertise, "relay-advertise", "", "`endpoint` tcp:IP:PORT or rdma:IP:PORT advertised for the relay (default: derived from -relay-rdma, else -relay-listen)")
	fs.StringVar(&cfg.MetricsListen, "metrics-listen", "", "TCP `address` to serve /metrics on, e.g. :9464 (default: off)")
	fs.DurationVar(&cfg.TTL, "ttl", agent.DefaultTTL, "TTL of the instances' Consul checks")
	consul := fs.String("consul", "", "Consul agent `address` (default: CONSUL_HTTP_ADDR, else 127.0.0.1:8500)")
	prefix := fs.String("consul-prefix", "", "Consul KV `prefix` of specs and keys (default: wsk-route)")
	service := fs.String("consul-service", "", "Consul `service` name of the instances (default: wsk-route)")
	level := fs.String("log-level", "info", "log `level`: debug, info, warn or error")
	otlpEndpoint := fs.String("otlp-endpoint", "", "OpenTelemetry collector `URL` (OTLP/HTTP, e.g. http://collector:4318) to export a span per direct step and per run to (default: $OTEL_EXPORTER_OTLP_TRACES_ENDPOINT's base or $OTEL_EXPORTER_OTLP_ENDPOINT; none: no traces)")
	var kafka kafkaFlags
	kafka.register(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "wsk-route-agent: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if *version {
		fmt.Fprintln(stdout, versionLine())
		return 0
	}
	var lv slog.Level
	var err error
	if err = lv.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintf(stderr, "wsk-route-agent: -log-level: %v\n", err)
		return 2
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lv}))
	if cfg.UserEvents, err = kafka.config(os.Getenv); err != nil {
		fmt.Fprintln(stderr, "wsk-route-agent:", err)
		return 1
	}
	cfg.UserEventsSource = kafka.source
	if ep := traceEndpoint(*otlpEndpoint, os.Getenv); ep != "" {
		cfg.Traces = &otlp.Config{Endpoint: ep, ServiceName: "wsk-route-agent"}
	}
	if dbc, ok, err := activationdb.FromEnv(os.Environ()); err != nil {
		fmt.Fprintln(stderr, "wsk-route-agent: activation records:", err)
		return 1
	} else if ok {
		st, err := activationdb.New(dbc)
		if err != nil {
			fmt.Fprintln(stderr, "wsk-route-agent: activation records:", err)
			return 1
		}
		cfg.Activations = st
	}
	// Catch the signals before the sockets exist, so that a supervisor
	// that saw them can always stop the agent cleanly.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	store, err := consulstore.New(consulstore.Options{Address: *consul, Prefix: *prefix, Service: *service})
	if err != nil {
		fmt.Fprintln(stderr, "wsk-route-agent:", err)
		return 1
	}
	defer store.Close()
	cfg.Registry = store
	if *trusted != "" {
		var images []string
		for im := range strings.SplitSeq(*trusted, ",") {
			if im = strings.TrimSpace(im); im != "" {
				images = append(images, im)
			}
		}
		cfg.PeerOf = proxyconn.TrustedImages(proxyconn.LookupPeer, *dockerSock, images)
	}
	a, err := agent.New(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "wsk-route-agent:", err)
		return 1
	}
	if err := a.Run(ctx); err != nil {
		fmt.Fprintln(stderr, "wsk-route-agent:", err)
		return 1
	}
	return 0
}

// versionLine names the binary, its module version and the Go release.
func versionLine() string {
	v := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		v = bi.Main.Version
	}
	return fmt.Sprintf("wsk-route-agent %s, built with %s", v, runtime.Version())
}

// traceEndpoint is the collector's OTLP/HTTP base URL: the flag's, else
// OpenTelemetry's environment variables (a traces endpoint ends with
// /v1/traces, which the exporter adds itself); "" for none.
func traceEndpoint(flag string, getenv func(string) string) string {
	if flag != "" {
		return flag
	}
	if ep := getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"); ep != "" {
		return strings.TrimSuffix(strings.TrimSuffix(ep, "/"), "/v1/traces")
	}
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
}
