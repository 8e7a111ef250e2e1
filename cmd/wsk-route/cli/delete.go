package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

func newDelete(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a workflow: its entry action and its spec",
		Long: `wsk-route delete removes the entry action NAME and the workflow's spec.
A part that is missing is reported, not an error, unless both are. The
step actions are left alone; an action NAME that is not a wsk-route entry
is left alone too.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			a, st, err := g.connect(cmd, 60*time.Second)
			if err != nil {
				return err
			}
			defer st.close()
			name, errw := args[0], cmd.ErrOrStderr()
			fqn := a.fqn(name)
			entry, err := a.getAction(ctx, fqn)
			if err != nil {
				return err
			}
			deletedEntry := false
			switch {
			case entry == nil:
				fmt.Fprintf(errw, "no entry action %s\n", fqn)
			case !isEntry(entry):
				fmt.Fprintf(errw, "action %s is not a wsk-route entry: left alone\n", fqn)
			default:
				if _, err := a.wsk.Actions.Delete(name); err != nil {
					return fmt.Errorf("deleting entry action %s: %w", fqn, err)
				}
				deletedEntry = true
				fmt.Fprintf(errw, "deleted entry action %s\n", fqn)
			}
			deletedSpec, err := st.del(ctx, a.ns, name)
			if err != nil {
				return fmt.Errorf("deleting the spec of %s: %w", name, err)
			}
			if deletedSpec {
				fmt.Fprintf(errw, "deleted the spec of %s\n", name)
			} else {
				fmt.Fprintf(errw, "no spec of %s\n", name)
			}
			if !deletedEntry && !deletedSpec {
				return fmt.Errorf("no workflow %s in namespace %s", name, a.ns)
			}
			if g.json() {
				return printJSON(cmd.OutOrStdout(), map[string]any{"workflow": name, "entry_deleted": deletedEntry, "spec_deleted": deletedSpec})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ok: deleted workflow %s\n", name)
			return nil
		},
	}
}
