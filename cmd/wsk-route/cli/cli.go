package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/wsk-route/wsk-route/action-proxy/proxymain"
)

// exitError carries an exit code through cobra.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// Run runs the command line args (without the program name) and returns
// the exit code.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	args, params, err := extractParams(args)
	if err != nil {
		fmt.Fprintln(stderr, "wsk-route:", err)
		return 2
	}
	root := newRoot(stdin, stdout, stderr, params)
	root.SetArgs(args)
	err = root.ExecuteContext(ctx)
	var ee exitError
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "wsk-route:", err)
		fmt.Fprintln(stderr, "Run 'wsk-route help' for usage.")
		return 2
	default:
		fmt.Fprintln(stderr, "wsk-route:", err)
		return 1
	}
}

func newRoot(stdin io.Reader, stdout, stderr io.Writer, params []param) *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:           "wsk-route",
		Short:         "Direct hops between the warm containers of OpenWhisk workflows",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       Version(),
		Args:          cobra.ArbitraryArgs,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			return g.checkOutput()
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())}
			}
			return cmd.Help()
		},
	}
	root.SetVersionTemplate("wsk-route {{.Version}}\n")
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	g.register(root)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newDev(), newProxy(),
		newCompose(g), newGet(g), newList(g), newDelete(g), newInvoke(g, &params), newRoutes(g))
	for _, c := range root.Commands() {
		if c.Args != nil {
			c.Args = usageArgs(c.Args)
		}
	}
	return root
}

// Version describes this build of wsk-route, from the build information
// Go records in the binary: the module's version ("(devel)" for a build
// from a work tree), the VCS revision and time when known (with
// "+modified" for a work tree with changes), and the Go version, e.g.
// "v0.3.0 (go1.26.0)" or "(devel) abc123def456+modified 2026-12-01T10:00:00Z (go1.26.0)".
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown: no build information) (" + runtime.Version() + ")"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, at string
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if modified {
			rev += "+modified"
		}
		v += " " + rev
	}
	if at != "" {
		v += " " + at
	}
	return v + " (" + bi.GoVersion + ")"
}

// newProxy is the action proxy, for the sandbox's containers.
func newProxy() *cobra.Command {
	return &cobra.Command{
		Use:                "proxy [proxy flags]",
		Short:              "Run the wsk-route action proxy (what the sandbox starts per container)",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if code := proxymain.Main(args, cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()); code != 0 {
				return exitError{code}
			}
			return nil
		},
	}
}
