package cli

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

func newList(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the namespace's workflows, and whether each has its entry action",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			a, st, err := g.connect(cmd, 60*time.Second)
			if err != nil {
				return err
			}
			defer st.close()
			specs, err := st.list(ctx, a.ns)
			if err != nil {
				return err
			}
			type row struct {
				Workflow string `json:"workflow"`
				Version  uint64 `json:"version"`
				Steps    int    `json:"steps"`
				Entry    bool   `json:"entry"`
			}
			rows := []row{}
			for _, sp := range specs {
				entry, err := a.getAction(ctx, a.fqn(sp.Workflow))
				if err != nil {
					return err
				}
				rows = append(rows, row{sp.Workflow, sp.Version, len(sp.Steps), entry != nil && isEntry(entry)})
			}
			if g.json() {
				return printJSON(cmd.OutOrStdout(), rows)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "workflows in /%s\n", a.ns)
			tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tVERSION\tSTEPS\tENTRY")
			for _, r := range rows {
				e := "yes"
				if !r.Entry {
					e = "missing"
				}
				fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", r.Workflow, r.Version, r.Steps, e)
			}
			return tw.Flush()
		},
	}
}
