package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsk-route/wsk-route/composer"
)

func newRoutes(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "routes [ACTION]",
		Short: "Show the route table: the namespace's warm, passing instances",
		Long: `wsk-route routes prints the namespace's passing instances (of ACTION
alone when given): what the proxies route direct hops to. It reads one
picture of the registry: --consul, or the API host's wsk-route store.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			a, st, err := g.connect(cmd, 30*time.Second)
			if err != nil {
				return err
			}
			defer st.close()
			action := ""
			if len(args) == 1 {
				if action, err = composer.ResolveAction(a.ns, args[0]); err != nil {
					return usageError{err}
				}
			}
			ins, err := st.instances(ctx, a.ns, action)
			if err != nil {
				return err
			}
			if g.json() {
				return printJSON(cmd.OutOrStdout(), ins)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "INSTANCE\tACTION\tHOST\tENDPOINTS")
			for _, in := range ins {
				var eps []string
				for _, e := range []struct{ k, v string }{{"unix", in.Unix}, {"tcp", in.TCP}, {"relay", in.Relay}} {
					switch {
					case e.v == "":
					case strings.HasPrefix(e.v, e.k+":"):
						eps = append(eps, e.v)
					default:
						eps = append(eps, e.k+"="+e.v)
					}
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", in.ID, in.Action, in.Host, strings.Join(eps, " "))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if len(ins) == 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), "no passing instances (they appear while actions are warm)")
			}
			return nil
		},
	}
}
