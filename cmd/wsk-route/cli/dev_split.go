package cli

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox"
)

// newDevController is `wsk-route dev controller`: the controller host of a
// sandbox split over hosts.
func newDevController() *cobra.Command {
	var (
		cfg      sandbox.ControllerConfig
		logLevel string
		wskprops string
	)
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "Run the sandbox's API, controller and Kafka broker, for invoker hosts started with 'dev invoker'",
		Long: `wsk-route dev controller runs the controller host of a sandbox split over
hosts: the REST API, the controller, the entity store and a Kafka-protocol
broker that the invoker hosts ('wsk-route dev invoker') reach over the
network. Activations go to each action's home invoker (a hash of its name),
as OpenWhisk's sharding balancer does. It runs no host agent: deploy the
agents and Consul on the invoker hosts (ansible/), and give this host the
same Consul (--consul). A sandbox for tests, not a production OpenWhisk.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := devLogger(cmd, logLevel)
			if err != nil {
				return err
			}
			cfg.Logger = log
			out := cmd.OutOrStdout()
			return sandbox.RunController(cmd.Context(), cfg, func(in sandbox.Info) {
				fmt.Fprintf(out, "wsk-route dev controller: a SANDBOX controller host (not a production OpenWhisk)\n  API host:  %s\n  auth:      %s\n  kafka:     %v\n  registry:  %s\n  invokers:  %d\n",
					in.URL, in.Auth, in.Kafka, in.Registry, max(cfg.Invokers, 1))
				if wskprops != "" {
					if err := writeWskprops(wskprops, in); err != nil {
						fmt.Fprintf(cmd.ErrOrStderr(), "wsk-route dev controller: --write-wskprops: %v\n", err)
					}
				}
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&cfg.Listen, "listen", "0.0.0.0:3233", "`address` of the REST API (the invoker hosts and their containers must reach it)")
	fl.StringVar(&cfg.DataDir, "data-dir", "", "`directory` that keeps actions and activations (default: a temporary one)")
	fl.StringVar(&cfg.KafkaListen, "kafka-listen", "", "`IP:PORT` the embedded Kafka broker listens on and advertises to the invoker hosts")
	fl.StringSliceVar(&cfg.Kafka, "kafka", nil, "a real Kafka broker's `host:port` (repeatable) instead of the embedded one")
	fl.StringVar(&cfg.Consul, "consul", "", "HTTP `address` of the Consul the invoker hosts' agents use (required)")
	fl.IntVar(&cfg.Invokers, "invokers", 1, "number of invoker hosts (topics invoker0 ... invoker<N-1>)")
	fl.StringVar(&cfg.Auth, "auth", "", "the key to accept, `uuid:key` (default: OpenWhisk's guest key)")
	fl.DurationVar(&cfg.BlockingWait, "blocking-wait", 60*time.Second, "how long a blocking invoke waits before it answers 202")
	fl.IntVar(&cfg.MaxConcurrency, "max-concurrency", 1, "the largest limits.concurrency an action may have, 1 to 500 (OpenWhisk's limit_action_concurrency_max)")
	fl.StringVar(&wskprops, "write-wskprops", "", "write APIHOST, AUTH and NAMESPACE for wsk into this `file`")
	fl.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	return cmd
}

// newDevInvoker is `wsk-route dev invoker`: one invoker host of a sandbox
// split over hosts.
func newDevInvoker() *cobra.Command {
	var (
		cfg      sandbox.InvokerConfig
		logLevel string
	)
	cmd := &cobra.Command{
		Use:   "invoker",
		Short: "Run one invoker host of a sandbox whose controller runs 'dev controller'",
		Long: `wsk-route dev invoker runs one invoker of a sandbox split over hosts: it
consumes invoker<N> from the controller host's Kafka and runs the actions in
docker containers of this host, as OpenWhisk's docker container factory
does. It reads the settings OpenWhisk's ansible gives an invoker from the
same CONFIG_ environment variables:
  CONFIG_whisk_containerFactory_containerArgs_extraArgs_volume_<n>  extra volumes of every container
  CONFIG_whisk_containerFactory_containerArgs_network                the containers' network
  CONFIG_whisk_containerProxy_timeouts_pauseGrace                    e.g. "10 seconds"
It runs no host agent: the host's wsk-route-agent (ansible/) serves the
proxies through the mounted run directory. A sandbox for tests, not a
production OpenWhisk.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := devLogger(cmd, logLevel)
			if err != nil {
				return err
			}
			cfg.Logger = log
			binds, network, grace, err := sandbox.OpenWhiskEnv(os.Environ())
			if err != nil {
				return err
			}
			cfg.Binds = append(cfg.Binds, binds...)
			if network != "" && cfg.Network == "" {
				cfg.Network = network
			}
			if grace > 0 && !cmd.Flags().Changed("pause-grace") {
				cfg.PauseGrace = grace
			}
			out := cmd.OutOrStdout()
			return sandbox.RunInvoker(cmd.Context(), cfg, func() {
				fmt.Fprintf(out, "wsk-route dev invoker %d: ready (kafka %v, controller %s, volumes %v, pause grace %s)\n",
					cfg.Index, cfg.Kafka, cfg.Controller, cfg.Binds, cfg.PauseGrace)
			})
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&cfg.Index, "index", 0, "this invoker's `number` (it consumes topic invoker<N>)")
	fl.StringSliceVar(&cfg.Kafka, "kafka", nil, "the controller host's Kafka `host:port` (repeatable; required)")
	fl.StringVar(&cfg.Controller, "controller", "", "the controller host's API `URL`, e.g. http://10.0.0.2:3233 (required)")
	fl.StringVar(&cfg.Auth, "auth", "", "the sandbox's key, `uuid:key` (default: OpenWhisk's guest key)")
	fl.StringVar(&cfg.WorkDir, "work-dir", "", "`directory` for the runtimes' files (default: a temporary one)")
	fl.StringVar(&cfg.Image, "image", "", "default action `image`, whose /bin/proxy is the wsk-route proxy (required)")
	fl.StringVar(&cfg.Network, "network", "", "the containers' docker `network` (default: CONFIG_..._network, else bridge)")
	fl.StringSliceVar(&cfg.Binds, "volume", nil, "extra `src:dst[:ro]` volume of every container (repeatable; added to the CONFIG_ ones)")
	fl.DurationVar(&cfg.PauseGrace, "pause-grace", 0, "pause containers idle this long (default: CONFIG_..._pauseGrace, else 50ms)")
	fl.IntVar(&cfg.UserMemoryMB, "user-memory", 2048, "memory for containers, in MB")
	fl.DurationVar(&cfg.IdleTimeout, "idle-timeout", 10*time.Minute, "remove containers idle this long")
	fl.StringVar(&cfg.Host, "host", "", "the invoker's name in acks (default: the host name)")
	fl.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	return cmd
}

func devLogger(cmd *cobra.Command, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: l})), nil
}
