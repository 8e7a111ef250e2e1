package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"
	"github.com/spf13/cobra"

	"github.com/wsk-route/wsk-route/action-proxy/server"
	"github.com/wsk-route/wsk-route/composer"
	"github.com/wsk-route/wsk-route/composer/compile"
	"github.com/wsk-route/wsk-route/composer/parse"
	"github.com/wsk-route/wsk-route/internal/conductor"
	"github.com/wsk-route/wsk-route/internal/spec"
)

// DefaultEntryImage is the image of entry actions unless --image:
// OpenWhisk's ActionLoop base, whose proxy the sandbox's is (on a real
// cluster, pass an image whose /bin/proxy is wsk-route's).
const DefaultEntryImage = "openwhisk/actionloop-base"

// entryAnnotation is the annotation that marks an action as a wsk-route
// entry.
const entryAnnotation = "wsk-route"

type composeFlags struct {
	name, image string
	dryRun      bool
	skipActions bool
	// entryConcurrency and entryMemory are the entry action's limits: an
	// entry holds its container for a whole run, so it takes many runs at
	// once (up to what the API allows) in the least memory.
	entryConcurrency, entryMemory int
}

// The entry action's limits unless --entry-concurrency and --entry-memory:
// a run in flight costs the entry a goroutine and the values it holds,
// not a container; OpenWhisk's smallest memory limit.
const (
	defaultEntryConcurrency = 64
	defaultEntryMemoryMB    = 128
)

func newCompose(g *globalFlags) *cobra.Command {
	var f composeFlags
	cmd := &cobra.Command{
		Use:   "compose FILE",
		Short: "Deploy a workflow: the actions it declares, its route spec and its entry action",
		Long: `wsk-route compose reads a workflow (wsk-route YAML, or the JSON that
openwhisk-composer's compose emits when FILE ends in .json) and checks it.
It creates or updates the actions of the file's actions section (their code
read from files and folders next to FILE; an action already as declared is
left alone), checks that every other action it names exists, compiles the
workflow into a route spec, stores the spec (in --consul, or the API host's
wsk-route store) and creates or updates the entry action NAME, which is what
'wsk-route invoke NAME' and 'wsk action invoke NAME' run.

--dry-run checks everything and prints the compiled plan and what would be
deployed, and changes nothing (-o json: the spec). It works offline: without
an API host it says which actions it could not check.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runCompose(cmd, g, f, args[0]) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.name, "name", "", "the workflow's and its entry action's `name` (default: the workflow's own)")
	fl.BoolVar(&f.dryRun, "dry-run", false, "check and print the compiled plan; deploy nothing (works without an API host)")
	fl.BoolVar(&f.skipActions, "skip-actions", false, "do not deploy the file's actions section: every action must exist")
	fl.StringVar(&f.image, "image", DefaultEntryImage, "the entry action's blackbox `image` (on a real cluster: one whose /bin/proxy is wsk-route's)")
	fl.IntVar(&f.entryConcurrency, "entry-concurrency", defaultEntryConcurrency, "runs the entry action takes at once in one container (its limits.concurrency; lowered to what the API allows)")
	fl.IntVar(&f.entryMemory, "entry-memory", defaultEntryMemoryMB, "the entry action's memory limit in `MB` (raised to what the API requires)")
	return cmd
}

func runCompose(cmd *cobra.Command, g *globalFlags, f composeFlags, file string) error {
	ctx := cmd.Context()
	errw, out := cmd.ErrOrStderr(), cmd.OutOrStdout()
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
	if f.skipActions {
		w.Actions = nil
	}

	// The API: required to deploy; a dry run goes on without it.
	a, st, connErr := g.connect(cmd, 60*time.Second)
	if connErr != nil && !f.dryRun {
		return connErr
	}
	if st != nil {
		defer st.close()
	}
	ns := composer.DefaultNamespace
	if a != nil {
		ns = a.ns
		if wns := w.EffectiveNamespace(); wns != composer.DefaultNamespace && wns != a.ns {
			return fmt.Errorf("%s: workflow %s is in namespace %s, but you deploy to %s (--namespace or NAMESPACE)", file, w.Name, wns, a.ns)
		}
		w.Namespace = a.ns // so that messages name actions as deployed
	} else if ns = w.EffectiveNamespace(); ns == composer.DefaultNamespace {
		// Offline: the namespace the configuration names, if any.
		ns = resolveConfig(*g, getenv).Namespace
	}

	// The declared actions, read from disk: offline too.
	decls, err := readDeclared(w, filepath.Dir(file), ns)
	if err != nil {
		return err
	}
	declaredFQN := map[string]bool{}
	for _, d := range decls {
		declaredFQN[d.fqn] = true
	}
	// isDeclared also takes "/_/a" (openwhisk-composer's names) as the
	// action in the namespace deployed to.
	isDeclared := func(fqn string) bool {
		if rest, ok := strings.CutPrefix(fqn, "/"+composer.DefaultNamespace+"/"); ok {
			fqn = "/" + ns + "/" + rest
		}
		return declaredFQN[fqn]
	}
	var unchecked []string
	exists := func(fqn string) bool {
		if !isDeclared(fqn) {
			unchecked = append(unchecked, fqn)
		}
		return true
	}
	lookupErr := new(error)
	if a != nil {
		var check func(string) bool
		check, lookupErr = actionChecker(ctx, a)
		exists = func(fqn string) bool { return isDeclared(fqn) || check(fqn) }
	}
	compileNS := ns
	if compileNS == composer.DefaultNamespace {
		compileNS = ""
	}
	sp, err := compile.Compile(w, compile.Options{Namespace: compileNS, ActionExists: exists})
	if *lookupErr != nil {
		return fmt.Errorf("checking the workflow's actions: %w", *lookupErr)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(errw, "compiled %s: %s\n", filepath.Base(file), plural(len(sp.Steps), "step"))

	// What the actions section would do: compare with the API's actions.
	olds := make([]*whisk.Action, len(decls))
	if a != nil {
		for i, d := range decls {
			if olds[i], err = a.getActionCode(ctx, d.fqn); err != nil {
				return err
			}
		}
	}
	if f.dryRun {
		return printDryRun(out, errw, g, sp, w.Composition != nil, decls, olds, a != nil, unique(unchecked), connErr)
	}

	entryFQN := a.fqn(sp.Workflow)
	old, err := a.getAction(ctx, entryFQN)
	if err != nil {
		return err
	}
	if old != nil && !isEntry(old) {
		return fmt.Errorf("action %s exists and is not a wsk-route entry: deploy under another --name, or delete it first", entryFQN)
	}
	deployed := []string{}
	for i, d := range decls {
		res, err := a.deploy(ctx, d, olds[i])
		if err != nil {
			return err
		}
		fmt.Fprintf(errw, "%s action %s (%s, %s)\n", res, d.fqn, d.act.Exec.Kind, d.from)
		deployed = append(deployed, d.fqn)
	}
	v, err := st.put(ctx, sp)
	if err != nil {
		return err
	}
	fmt.Fprintf(errw, "stored spec version %d\n", v)
	m := server.EntryManifest{Workflow: sp.Workflow}
	// The entry carries its spec, to run it through the OpenWhisk API on
	// an invoker without a host agent (after the playbook's mode=clean).
	if m.Spec, err = sp.Marshal(); err != nil {
		return err
	}
	if w.Composition != nil {
		// The entry conducts the composition: composer's semantics, each
		// action a run from its step of the spec.
		if m.Steps, err = conductedSteps(w.Composition); err != nil {
			return err
		}
		m.Composition = w.Composition
	}
	if err := putEntry(a, errw, m, f, v, len(sp.Steps), deployed); err != nil {
		return err
	}
	verb := "created"
	if old != nil {
		verb = "updated"
	}
	fmt.Fprintf(errw, "%s entry action %s\n", verb, entryFQN)
	if g.json() {
		return printJSON(out, map[string]any{
			"workflow": sp.Workflow, "namespace": sp.Namespace, "version": v,
			"steps": len(sp.Steps), "entry": entryFQN, "created": old == nil, "actions": deployed,
		})
	}
	fmt.Fprintf(out, "ok: deployed workflow %s (spec version %d); run it with: wsk-route invoke %s (or wsk action invoke %s -r)\n", sp.Workflow, v, sp.Workflow, sp.Workflow)
	return nil
}

// printDryRun prints what compose would deploy: the plan (-o json: the
// spec) on out; on errw the declared actions and what deploying them
// would do, and the actions that could not be checked (no API).
func printDryRun(out, errw io.Writer, g *globalFlags, sp *spec.Spec, conducted bool, decls []declared, olds []*whisk.Action, online bool, unchecked []string, connErr error) error {
	for i, d := range decls {
		what := "would deploy"
		if online {
			switch {
			case olds[i] == nil:
				what = "would create"
			case sameAction(olds[i], d.act):
				what = "unchanged:"
			default:
				what = "would update"
			}
		}
		fmt.Fprintf(errw, "%s action %s (%s, %s)\n", what, d.fqn, d.act.Exec.Kind, d.from)
	}
	if len(unchecked) > 0 {
		fmt.Fprintf(errw, "could not check %s (no API: %v): %s\n", plural(len(unchecked), "action"), connErr, strings.Join(unchecked, ", "))
	}
	if g.json() {
		return printJSON(out, sp)
	}
	where := "namespace " + sp.Namespace
	if !online && sp.Namespace == composer.DefaultNamespace {
		where = "your namespace (_)"
	}
	fmt.Fprintf(out, "workflow %s in %s (dry run: nothing deployed)\n", sp.Workflow, where)
	if conducted {
		fmt.Fprintln(out, "an openwhisk-composer composition: its entry conducts it with composer's semantics, each action a run from its step below")
	}
	printPlan(out, sp)
	return nil
}

// unique returns l without repeats, in first-seen order.
func unique(l []string) []string {
	seen := map[string]bool{}
	out := l[:0:0]
	for _, s := range l {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
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

// putEntry creates or replaces the entry action of workflow; actions are
// the actions compose deployed for it (`wsk-route delete --actions`
// removes them).
//
// Its limits are f's entry concurrency and memory. A deployment that
// allows less concurrency (OpenWhisk's default maximum is 1) or requires
// more memory says so in its answer, "concurrency 64 exceeds allowed
// threshold of 1"; the entry then gets the threshold, and errw a note.
func putEntry(a *api, errw io.Writer, m server.EntryManifest, f composeFlags, version uint64, steps int, actions []string) error {
	workflow, code := m.Workflow, m.Code()
	bin := false
	concurrency, memory := f.entryConcurrency, f.entryMemory
	act := &whisk.Action{
		Name: workflow, Namespace: a.ns,
		Exec: &whisk.Exec{Kind: "blackbox", Image: f.image, Code: &code, Binary: &bin},
		Annotations: whisk.KeyValueArr{
			{Key: entryAnnotation, Value: map[string]any{"workflow": workflow, "version": version, "steps": steps, "actions": actions}},
			{Key: "exec", Value: "blackbox"},
		},
		Limits: &whisk.Limits{Concurrency: &concurrency, Memory: &memory},
	}
	for try := 0; ; try++ {
		_, resp, err := a.wsk.Actions.Insert(act, true)
		if err == nil {
			return nil
		}
		if try < 2 && resp != nil && resp.StatusCode == http.StatusBadRequest {
			if n, ok := threshold(err, "concurrency", "exceeds"); ok && n < concurrency {
				fmt.Fprintf(errw, "the API allows an action's concurrency up to %d: the entry takes %s at a time (OpenWhisk's ansible variable limit_action_concurrency_max raises it)\n", n, plural(n, "run"))
				concurrency = n
				continue
			}
			if n, ok := threshold(err, "memory size", "below"); ok && n > memory {
				memory = n
				continue
			}
		}
		return fmt.Errorf("creating entry action %s: %w%s", a.fqn(workflow), err, respStatus(resp))
	}
}

// thresholdRE reads OpenWhisk's limit refusals (ErrorResponse.scala):
// "concurrency 64 exceeds allowed threshold of 1", "memory size 64 MB
// below allowed threshold of 128 MB".
var thresholdRE = regexp.MustCompile(`(concurrency|memory size) \d+(?: MB)? (exceeds|below) allowed threshold of (\d+)`)

// threshold returns the threshold err names for field, refused as
// direction ("exceeds" or "below").
func threshold(err error, field, direction string) (int, bool) {
	m := thresholdRE.FindStringSubmatch(err.Error())
	if m == nil || m[1] != field || m[2] != direction {
		return 0, false
	}
	n, convErr := strconv.Atoi(m[3])
	return n, convErr == nil && n > 0
}

// respStatus names an answer's status for error messages.
func respStatus(resp *http.Response) string {
	if resp == nil {
		return ""
	}
	return " (" + resp.Status + ")"
}

// conductedSteps maps the actions of composer JSON to their steps, as
// compile named them.
func conductedSteps(composition []byte) (map[string]string, error) {
	c, err := conductor.Decode(composition, conductor.Limits{})
	if err != nil {
		return nil, err
	}
	return compile.ConductedSteps(c), nil
}
