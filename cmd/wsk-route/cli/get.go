package cli

import (
	"fmt"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"
	"github.com/spf13/cobra"
)

func newGet(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "get NAME",
		Short: "Show a deployed workflow: its compiled spec and its entry action",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			a, st, err := g.connect(cmd, 60*time.Second)
			if err != nil {
				return err
			}
			defer st.close()
			name := args[0]
			sp, err := st.get(ctx, a.ns, name)
			if err != nil {
				return err
			}
			entry, err := a.getAction(ctx, a.fqn(name))
			if err != nil {
				return err
			}
			if sp == nil && (entry == nil || !isEntry(entry)) {
				return fmt.Errorf("no workflow %s in namespace %s", name, a.ns)
			}
			if g.json() {
				out := map[string]any{"workflow": name, "namespace": a.ns, "spec": nil, "entry": nil}
				if sp != nil {
					out["spec"] = specJSON(sp)
					out["version"] = sp.Version
				}
				if entry != nil {
					out["entry"] = map[string]any{
						"name": a.fqn(name), "version": entry.Version,
						"wsk-route": entry.Annotations.GetValue(entryAnnotation), "is_entry": isEntry(entry),
					}
				}
				return printJSON(cmd.OutOrStdout(), out)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "workflow:   %s\nnamespace:  %s\n", name, a.ns)
			switch {
			case entry == nil:
				fmt.Fprintf(w, "entry:      missing (compose the workflow again to create %s)\n", a.fqn(name))
			case !isEntry(entry):
				fmt.Fprintf(w, "entry:      %s is an ordinary action, not a wsk-route entry\n", a.fqn(name))
			default:
				fmt.Fprintf(w, "entry:      %s (action version %s%s)\n", a.fqn(name), entry.Version, entrySummary(entry))
			}
			if sp == nil {
				fmt.Fprintln(w, "spec:       missing (compose the workflow again)")
				return nil
			}
			fmt.Fprintf(w, "version:    %d\nsteps:      %d, start: %v\n\n", sp.Version, len(sp.Steps), sp.Start)
			printPlan(w, sp)
			return nil
		},
	}
}

// entrySummary describes the wsk-route annotation of an entry action.
func entrySummary(act *whisk.Action) string {
	m, ok := act.Annotations.GetValue(entryAnnotation).(map[string]any)
	if !ok {
		return ""
	}
	n, _ := m["steps"].(float64)
	return fmt.Sprintf("; composed from spec version %v, %s", m["version"], plural(int(n), "step"))
}
