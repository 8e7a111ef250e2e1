package cli

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsk-route/wsk-route/action-proxy/route"
	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox"
	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox/store"
	"github.com/wsk-route/wsk-route/internal/whisk"
)

type devFlags struct {
	listen, dataDir, consul, otlp, metrics, proxyBinary, wskprops, auth, logLevel string
	port                                                                          int
	kafka                                                                         []string
	docker                                                                        bool
	blockingWait, idle, pauseGrace, busyWait                                      time.Duration
	userMemory, maxConcurrency                                                    int
	maxActivations, maxActivationMB                                               int
}

func newDev() *cobra.Command {
	var f devFlags
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Start a single-node, OpenWhisk-compatible sandbox (not a production OpenWhisk)",
		Long: `wsk-route dev starts, in this process, a sandbox that speaks enough of
OpenWhisk's REST API for wsk, openwhisk-client-go and wsk-route: actions,
sequences, packages, activations and their logs, with basic auth (the guest
key by default). Its controller talks to its invoker over Kafka with
OpenWhisk's message shapes (an embedded broker unless --kafka), the invoker
runs every action behind the wsk-route proxy (local processes, or docker
containers with --docker), and a host agent with an embedded route registry
(or --consul) makes direct hops between them work as on a cluster.

It is a sandbox for development, tests and benchmarks. Ctrl-C stops it and
removes its containers, sockets and shared memory; --data-dir keeps the
actions and activations for the next start.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDev(cmd, f) },
	}
	fl := cmd.Flags()
	fl.IntVar(&f.port, "port", 3233, "port of the REST API on 127.0.0.1 (OpenWhisk standalone's)")
	fl.StringVar(&f.listen, "listen", "", "`address` of the REST API, overriding --port (e.g. 0.0.0.0:3233 to reach it from containers)")
	fl.StringVar(&f.dataDir, "data-dir", "", "`directory` that keeps actions, activations (within --max-activations and --max-activation-mb), workflows and keys across restarts (default: a temporary one, removed at exit)")
	fl.IntVar(&f.maxActivations, "max-activations", store.DefaultMaxActivations, "activation records kept per namespace; the oldest are dropped first (negative: no count limit)")
	fl.IntVar(&f.maxActivationMB, "max-activation-mb", store.DefaultMaxActivationBytes>>20, "MiB of activation records kept, all namespaces together; the oldest are dropped first, so wsk-route.db in the data dir stops growing a little above this (negative: no byte limit)")
	fl.StringSliceVar(&f.kafka, "kafka", nil, "a real Kafka broker's `host:port` (repeatable) instead of the embedded one")
	fl.StringVar(&f.consul, "consul", "", "a real Consul's HTTP `address` for the route registry instead of the embedded one")
	fl.StringVar(&f.otlp, "otlp-endpoint", os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT"), "OpenTelemetry collector `URL` (OTLP/HTTP, e.g. http://127.0.0.1:4318) to export one trace per workflow run to (default: $OTEL_EXPORTER_OTLP_ENDPOINT; none: no traces)")
	fl.StringVar(&f.metrics, "metrics-listen", "", "TCP `address` to serve the host agent's Prometheus metrics (wsk_route_*: hops per edge, runs, steps) on, as a deployed agent's -metrics-listen (e.g. 127.0.0.1:9464; default: not served). OpenWhisk's user-event metrics are always at the API's /metrics")
	fl.BoolVar(&f.docker, "docker", false, "run actions in docker containers (images built with docker import) instead of local processes")
	fl.StringVar(&f.proxyBinary, "proxy-binary", "", "static proxy `binary` for the --docker image (default: this executable, which must be static)")
	fl.StringVar(&f.wskprops, "write-wskprops", "", "write APIHOST, AUTH and NAMESPACE for wsk into this `file` (other lines are kept)")
	fl.StringVar(&f.auth, "auth", "", "the key to accept, `uuid:key` (default: OpenWhisk's guest key)")
	fl.DurationVar(&f.blockingWait, "blocking-wait", 60*time.Second, "how long a blocking invoke waits before it answers 202 with the activation id")
	fl.DurationVar(&f.idle, "idle-timeout", 10*time.Minute, "remove containers idle this long")
	fl.DurationVar(&f.pauseGrace, "pause-grace", 50*time.Millisecond, "with --docker, pause containers idle this long (OpenWhisk's default; paused containers take no direct hops, so raise it to keep workflows direct)")
	fl.DurationVar(&f.busyWait, "busy-wait", 0, "how long a direct hop whose warm instances are all busy waits for a slot before it falls back through OpenWhisk (the proxies' WSK_ROUTE_BUSY_WAIT, up to 5s; default: it falls back at once). A wait keeps a burst on warm containers, but the invoker sees them idle and evicts them when its memory is short")
	fl.IntVar(&f.userMemory, "user-memory", 2048, "the invoker's memory for containers, in MB (sum of the actions' memory limits)")
	fl.IntVar(&f.maxConcurrency, "max-concurrency", 1, "the largest limits.concurrency an action may have, 1 to 500 (OpenWhisk's limit_action_concurrency_max; above 1, such actions run that many activations per container, without logs in their records)")
	fl.StringVar(&f.logLevel, "log-level", "warn", "log level: debug, info, warn or error")
	cmd.AddCommand(newDevController(), newDevInvoker()) // the sandbox split over hosts (dev_split.go)
	return cmd
}

func runDev(cmd *cobra.Command, f devFlags) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", f.logLevel)
	}
	listen := f.listen
	if listen == "" {
		if f.port < 0 || f.port > 65535 {
			return fmt.Errorf("--port %d: not a TCP port", f.port)
		}
		listen = net.JoinHostPort("127.0.0.1", strconv.Itoa(f.port))
	}
	if f.maxActivations == 0 {
		return fmt.Errorf("--max-activations 0: want a positive limit, or a negative value for none")
	}
	if f.maxActivationMB == 0 {
		return fmt.Errorf("--max-activation-mb 0: want a positive limit, or a negative value for none")
	}
	if f.maxConcurrency < 1 || f.maxConcurrency > whisk.ConcurrencyCeiling {
		return fmt.Errorf("--max-concurrency %d: want 1 (OpenWhisk's default) to %d", f.maxConcurrency, whisk.ConcurrencyCeiling)
	}
	if f.busyWait < 0 || f.busyWait > route.MaxBusyWait {
		return fmt.Errorf("--busy-wait %v: want 0 (fall back at once) to %v", f.busyWait, route.MaxBusyWait)
	}
	maxBytes := int64(f.maxActivationMB) << 20
	if f.maxActivationMB < 0 {
		maxBytes = -1
	}
	out := cmd.OutOrStdout()
	cfg := sandbox.Config{
		Listen: listen, DataDir: f.dataDir, Kafka: f.kafka, Consul: f.consul, OTLPEndpoint: f.otlp, AgentMetricsListen: f.metrics, BusyWait: f.busyWait,
		MaxActivations: f.maxActivations, MaxActivationBytes: maxBytes,
		Docker: f.docker, ProxyBinary: f.proxyBinary, Auth: f.auth,
		BlockingWait: f.blockingWait, IdleTimeout: f.idle, PauseGrace: f.pauseGrace, UserMemoryMB: f.userMemory, MaxConcurrency: f.maxConcurrency,
		Logger: slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level})),
	}
	var wskpropsErr error
	err := sandbox.Run(cmd.Context(), cfg, func(sb *sandbox.Sandbox) {
		printBanner(out, sb.Info)
		if f.wskprops != "" {
			if wskpropsErr = writeWskprops(f.wskprops, sb.Info); wskpropsErr != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "wsk-route dev: --write-wskprops: %v\n", wskpropsErr)
			} else {
				fmt.Fprintf(out, "  wrote %s (use it with: export WSK_CONFIG_FILE=%s)\n", f.wskprops, f.wskprops)
			}
		}
		fmt.Fprintln(out, "\nCtrl-C stops the sandbox and removes its containers, sockets and shared memory.")
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "wsk-route dev: stopped")
	return nil
}

func printBanner(w io.Writer, in sandbox.Info) {
	data := in.DataDir + " (removed at exit; --data-dir keeps state)"
	if in.Persistent {
		data = in.DataDir
	}
	mode := "local processes, one wsk-route proxy per warm container"
	if in.Mode == "docker" {
		mode = "docker containers running the wsk-route proxy"
	}
	kafka := "embedded (" + strings.Join(in.Kafka, ",") + ")"
	metrics := in.URL + "/metrics (OpenWhisk's user events)"
	if in.AgentMetrics != "" {
		metrics += ", " + in.AgentMetrics + " (the agent's)"
	}
	fmt.Fprintf(w, `wsk-route dev: an OpenWhisk-compatible SANDBOX (single node; not a production OpenWhisk)
  API host:   %s
  auth:       %s
  namespace:  %s
  actions:    %s
  kafka:      %s
  registry:   %s
  data:       %s
  metrics:    %s

Point wsk at it:
  wsk property set --apihost %s --auth %s
`, in.URL, in.Auth, in.Namespace, mode, kafka, in.Registry, data, metrics, in.URL, in.Auth)
}

// writeWskprops sets APIHOST, AUTH and NAMESPACE in the wskprops file at
// path, keeping its other lines.
func writeWskprops(path string, in sandbox.Info) error {
	set := map[string]string{"APIHOST": in.URL, "AUTH": in.Auth, "NAMESPACE": in.Namespace}
	var buf bytes.Buffer
	if old, err := os.ReadFile(path); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(old))
		for sc.Scan() {
			line := sc.Text()
			key, _, _ := strings.Cut(line, "=")
			if _, ours := set[strings.TrimSpace(key)]; ours {
				continue
			}
			buf.WriteString(line + "\n")
		}
	} else if !os.IsNotExist(err) {
		return err
	}
	for _, k := range []string{"APIHOST", "AUTH", "NAMESPACE"} {
		fmt.Fprintf(&buf, "%s=%s\n", k, set[k])
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o600)
}
