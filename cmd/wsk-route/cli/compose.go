package cli

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"
	"github.com/spf13/cobra"

	"github.com/wsk-route/wsk-route/action-proxy/server"
	"github.com/wsk-route/wsk-route/composer"
	"github.com/wsk-route/wsk-route/composer/compile"
	"github.com/wsk-route/wsk-route/composer/parse"
)

// DefaultEntryImage is the image of entry actions unless --image: the
// stock blackbox image (on a real cluster, pass an image whose /bin/proxy
// is wsk-route's).
const DefaultEntryImage = "openwhisk/dockerskeleton"

// entryAnnotation is the annotation that marks an action as a wsk-route
// entry.
const entryAnnotation = "wsk-route"

type composeFlags struct {
	name, image string
	dryRun      bool
}

func newCompose(g *globalFlags) *cobra.Command {
	var f composeFlags
	cmd := &cobra.Command{
		Use:   "compose FILE",
		Short: "Compile a workflow file and deploy it: its route spec and its entry action",
		Long: `wsk-route compose reads a workflow (wsk-route YAML, or the JSON that
openwhisk-composer's compose emits when FILE ends in .json), checks it (every
action it names must exist), compiles it into a route spec, stores the spec
(in --consul, or the API host's wsk-route store) and creates or updates the
entry action NAME, which is what 'wsk action invoke NAME' runs.

--dry-run prints the compiled plan and changes nothing (-o json: the spec).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runCompose(cmd, g, f, args[0]) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.name, "name", "", "the workflow's and its entry action's `name` (default: the workflow's own)")
	fl.BoolVar(&f.dryRun, "dry-run", false, "print the compiled plan; store and create nothing")
	fl.StringVar(&f.image, "image", DefaultEntryImage, "the entry action's blackbox `image` (on a real cluster: one whose /bin/proxy is wsk-route's)")
	return cmd
}

func runCompose(cmd *cobra.Command, g *globalFlags, f composeFlags, file string) error {
	ctx := cmd.Context()
	errw := cmd.ErrOrStderr()
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	w, err := parse.File(file, data)
	if err != nil {
		return err
	}
	if f.name != "" {
		if err := composer.CheckName(f.name); err != nil {
			return usageError{fmt.Errorf("--name: %w", err)}
		}
		w.Name = f.name
	}
	a, st, err := g.connect(cmd, 60*time.Second)
	if err != nil {
		return err
	}
	defer st.close()
	if ns := w.EffectiveNamespace(); ns != composer.DefaultNamespace && ns != a.ns {
		return fmt.Errorf("%s: workflow %s is in namespace %s, but you deploy to %s (--namespace or NAMESPACE)", file, w.Name, ns, a.ns)
	}
	w.Namespace = a.ns // so that messages name actions as deployed
	exists, lookupErr := actionChecker(ctx, a)
	sp, err := compile.Compile(w, compile.Options{Namespace: a.ns, ActionExists: exists})
	if *lookupErr != nil {
		return fmt.Errorf("checking the workflow's actions: %w", *lookupErr)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(errw, "compiled %s: %d steps\n", filepath.Base(file), len(sp.Steps))
	if f.dryRun {
		if g.json() {
			return printJSON(cmd.OutOrStdout(), sp)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "workflow %s in namespace %s (dry run: nothing stored)\n", sp.Workflow, sp.Namespace)
		printPlan(cmd.OutOrStdout(), sp)
		return nil
	}

	entryFQN := a.fqn(sp.Workflow)
	old, err := a.getAction(ctx, entryFQN)
	if err != nil {
		return err
	}
	if old != nil && !isEntry(old) {
		return fmt.Errorf("action %s exists and is not a wsk-route entry: deploy under another --name, or delete it first", entryFQN)
	}
	v, err := st.put(ctx, sp)
	if err != nil {
		return err
	}
	fmt.Fprintf(errw, "stored spec version %d\n", v)
	if err := putEntry(a, sp.Workflow, f.image, v, len(sp.Steps)); err != nil {
		return err
	}
	verb := "created"
	if old != nil {
		verb = "updated"
	}
	fmt.Fprintf(errw, "%s entry action %s\n", verb, entryFQN)
	if g.json() {
		return printJSON(cmd.OutOrStdout(), map[string]any{
			"workflow": sp.Workflow, "namespace": sp.Namespace, "version": v,
			"steps": len(sp.Steps), "entry": entryFQN, "created": old == nil,
		})
	}
	fmt.Fprintf(cmd.OutOrStdout(), "ok: deployed workflow %s (spec version %d); run it with: wsk action invoke %s -r\n", sp.Workflow, v, sp.Workflow)
	return nil
}

// actionChecker returns composer's ActionExists, asking the API once per
// name; a failure other than "not found" is kept in *err (and the action
// is reported as existing, so that the failure, not a false "unknown
// action", is what the user sees).
func actionChecker(ctx context.Context, a *api) (func(string) bool, *error) {
	var first error
	seen := map[string]bool{}
	return func(fqn string) bool {
		if ok, done := seen[fqn]; done {
			return ok
		}
		act, err := a.getAction(ctx, fqn)
		if err != nil {
			if first == nil {
				first = err
			}
			return true
		}
		seen[fqn] = act != nil
		return act != nil
	}, &first
}

// isEntry reports whether act carries the wsk-route entry annotation.
func isEntry(act *whisk.Action) bool {
	return act.Annotations.GetValue(entryAnnotation) != nil
}

// putEntry creates or replaces the entry action of workflow.
func putEntry(a *api, workflow, image string, version uint64, steps int) error {
	code := server.EntryCode(workflow)
	bin := false
	act := &whisk.Action{
		Name: workflow, Namespace: a.ns,
		Exec: &whisk.Exec{Kind: "blackbox", Image: image, Code: &code, Binary: &bin},
		Annotations: whisk.KeyValueArr{
			{Key: entryAnnotation, Value: map[string]any{"workflow": workflow, "version": version, "steps": steps}},
			{Key: "exec", Value: "blackbox"},
		},
	}
	if _, resp, err := a.wsk.Actions.Insert(act, true); err != nil {
		return fmt.Errorf("creating entry action %s: %w%s", a.fqn(workflow), err, respStatus(resp))
	}
	return nil
}

// respStatus names an answer's status for error messages.
func respStatus(resp *http.Response) string {
	if resp == nil {
		return ""
	}
	return " (" + resp.Status + ")"
}
