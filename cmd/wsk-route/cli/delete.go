package cli

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"
	"github.com/spf13/cobra"
)

func newDelete(g *globalFlags) *cobra.Command {
	var withActions bool
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a workflow: its entry action and its spec (and with --actions, the actions it deployed)",
		Long: `wsk-route delete removes the entry action NAME and the workflow's spec.
A part that is missing is reported, not an error, unless both are. An
action NAME that is not a wsk-route entry is left alone.

The step actions are left alone unless --actions is given: then the actions
that 'wsk-route compose' deployed from the workflow's actions section (the
entry records them) are deleted too, except those that another workflow's
compose deployed as well.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDelete(cmd, g, args[0], withActions)
		},
	}
	cmd.Flags().BoolVar(&withActions, "actions", false, "also delete the actions compose deployed for this workflow")
	return cmd
}

func runDelete(cmd *cobra.Command, g *globalFlags, name string, withActions bool) error {
	ctx := cmd.Context()
	a, st, err := g.connect(cmd, 60*time.Second)
	if err != nil {
		return err
	}
	defer st.close()
	errw := cmd.ErrOrStderr()
	fqn := a.fqn(name)
	entry, err := a.getAction(ctx, fqn)
	if err != nil {
		return err
	}
	deletedEntry := false
	var actions []string
	switch {
	case entry == nil:
		fmt.Fprintf(errw, "no entry action %s\n", fqn)
	case !isEntry(entry):
		fmt.Fprintf(errw, "action %s is not a wsk-route entry: left alone\n", fqn)
	default:
		actions = entryActions(entry)
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
	deletedActions := []string{}
	if withActions {
		if deletedActions, err = deleteActions(ctx, a, name, actions, errw); err != nil {
			return err
		}
	} else if len(actions) > 0 {
		fmt.Fprintf(errw, "left %s that compose deployed for %s (delete them with --actions): %s\n", plural(len(actions), "action"), name, strings.Join(actions, ", "))
	}
	if g.json() {
		return printJSON(cmd.OutOrStdout(), map[string]any{"workflow": name, "entry_deleted": deletedEntry, "spec_deleted": deletedSpec, "actions_deleted": deletedActions})
	}
	fmt.Fprintf(cmd.OutOrStdout(), "ok: deleted workflow %s\n", name)
	return nil
}

// deleteActions deletes the actions workflow's compose deployed, except
// those another entry of the namespace lists as its own too; it returns
// those it deleted.
func deleteActions(ctx context.Context, a *api, workflow string, actions []string, errw io.Writer) ([]string, error) {
	deleted := []string{}
	if len(actions) == 0 {
		fmt.Fprintf(errw, "no actions to delete: compose deployed none for %s\n", workflow)
		return deleted, nil
	}
	shared, err := sharedActions(a, workflow)
	if err != nil {
		return nil, err
	}
	for _, fqn := range actions {
		if others := shared[fqn]; len(others) > 0 {
			fmt.Fprintf(errw, "kept action %s: workflow %s deployed it too\n", fqn, strings.Join(others, ", "))
			continue
		}
		name, ok := strings.CutPrefix(fqn, "/"+a.ns+"/")
		if !ok {
			fmt.Fprintf(errw, "kept action %s: it is not in namespace %s\n", fqn, a.ns)
			continue
		}
		act, err := a.getAction(ctx, fqn)
		if err != nil {
			return deleted, err
		}
		if act == nil {
			fmt.Fprintf(errw, "no action %s\n", fqn)
			continue
		}
		if _, err := a.wsk.Actions.Delete(name); err != nil {
			return deleted, fmt.Errorf("deleting action %s: %w", fqn, err)
		}
		deleted = append(deleted, fqn)
		fmt.Fprintf(errw, "deleted action %s\n", fqn)
	}
	return deleted, nil
}

// sharedActions maps each action that the entries of the namespace other
// than workflow's list as deployed by them to those workflows.
func sharedActions(a *api, workflow string) (map[string][]string, error) {
	out := map[string][]string{}
	const page = 200
	for skip := 0; ; skip += page {
		list, _, err := a.wsk.Actions.List("", &whisk.ActionListOptions{Limit: page, Skip: skip})
		if err != nil {
			return nil, fmt.Errorf("listing the actions of namespace %s: %w", a.ns, err)
		}
		for i := range list {
			act := &list[i]
			if act.Name == workflow || !isEntry(act) {
				continue
			}
			for _, fqn := range entryActions(act) {
				out[fqn] = append(out[fqn], act.Name)
			}
		}
		if len(list) < page {
			break
		}
	}
	for _, l := range out {
		sort.Strings(l)
	}
	return out, nil
}
