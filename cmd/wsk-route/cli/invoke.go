package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"
	"github.com/spf13/cobra"

	"github.com/wsk-route/wsk-route/internal/runevent"
	"github.com/wsk-route/wsk-route/internal/spec"
)

// param is one -p KEY VALUE.
type param struct{ key, value string }

// extractParams takes the -p/--param KEY VALUE pairs out of the arguments
// of an invoke (they take two values, which pflag cannot express), as wsk
// does before its flags are parsed.
func extractParams(args []string) ([]string, []param, error) {
	inv := -1
	for i, a := range args {
		if a == "invoke" {
			inv = i
			break
		}
		if a == "--" {
			break
		}
	}
	if inv < 0 {
		return args, nil, nil
	}
	out := append([]string(nil), args[:inv+1]...)
	var ps []param
	for i := inv + 1; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			out = append(out, args[i:]...)
			break
		}
		if a != "-p" && a != "--param" {
			out = append(out, a)
			continue
		}
		if i+2 > len(args)-1 {
			return nil, nil, usageError{fmt.Errorf("%s needs a KEY and a VALUE", a)}
		}
		ps = append(ps, param{args[i+1], args[i+2]})
		i += 2
	}
	return out, ps, nil
}

// paramValue is a parameter's value as wsk reads it: JSON when it is
// JSON, else the string.
func paramValue(s string) any {
	if !json.Valid([]byte(s)) {
		return s
	}
	var v any
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	if d.Decode(&v) != nil {
		return s
	}
	return v
}

type invokeFlags struct {
	paramFile               string
	result, blocking, watch bool
	// unusedParams only documents -p in the help: Run takes the pairs
	// out with extractParams before cobra parses the flags.
	unusedParams []string
}

func newInvoke(g *globalFlags, params *[]param) *cobra.Command {
	var f invokeFlags
	cmd := &cobra.Command{
		Use:   "invoke NAME [-p KEY VALUE]... [-P FILE]",
		Short: "Run a workflow through its entry action, like wsk action invoke",
		Long: `wsk-route invoke invokes the entry action NAME as 'wsk action invoke' does:
-p KEY VALUE (VALUE is JSON when it parses as JSON, else a string) and -P
FILE (a JSON object) make the input, --result prints only the result. A
workflow that fails exits 1 with its error, which names the failed step. A
blocking invoke that outlasts the API's wait prints the activation id. While
a blocking invoke (or --watch) waits more than a second for a new container,
it says so on stderr: "starting a container for NAME, compiling…" (the
sandbox's GET .../wsk-route/starts; on another OpenWhisk, nothing).

--watch invokes the entry without blocking and follows the run live: one
line on stderr per step as its report reaches the entry ("wsk-route: step
S (branch B) ran on INSTANCE in DURATION"), then the step's log lines,
indented; when the run ends it prints the activation (or, with --result,
the result) as a plain invoke does. With -o json the events are JSON lines
on stdout, before the activation; a cold start the run waits for is one
too: {"event":"coldStart","kind":"coldStart","run":...,"action":...,
"phase":...,"elapsedMs":...}. The events come from the API host's
wsk-route routes (wsk-route dev), or from Consul KV with --consul, where the
host agents keep each run's events for 10 minutes. If no end event comes
(the entry crashed, or NAME is not an entry), --watch says so and falls
back to the activation's record and logs, by the run's deadline: the entry's
time limit plus 30 s.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runInvoke(cmd, g, f, *params, args[0]) },
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&f.unusedParams, "param", "p", nil, "input parameter `KEY VALUE` (two arguments; repeatable)")
	fl.StringVarP(&f.paramFile, "param-file", "P", "", "a `file` holding a JSON object of input parameters")
	fl.BoolVarP(&f.result, "result", "r", false, "print only the result (implies --blocking)")
	fl.BoolVarP(&f.blocking, "blocking", "b", true, "wait for the result")
	fl.BoolVar(&f.watch, "watch", false, "follow the run: print each step's line and logs on stderr as it ends")
	return cmd
}

func runInvoke(cmd *cobra.Command, g *globalFlags, f invokeFlags, ps []param, name string) error {
	ctx := cmd.Context()
	input := map[string]any{}
	if f.paramFile != "" {
		b, err := os.ReadFile(f.paramFile)
		if err != nil {
			return err
		}
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		if err := d.Decode(&input); err != nil {
			return fmt.Errorf("-P %s: not a JSON object: %w", f.paramFile, err)
		}
	}
	for _, p := range ps {
		input[p.key] = paramValue(p.value)
	}
	if f.watch { // the entry publishes its run's events only when asked
		input[runevent.WatchKey] = true
	}
	if f.result {
		f.blocking = true
	}
	a, err := newAPI(ctx, resolveConfig(*g, getenv), 5*time.Minute)
	if err != nil {
		return err
	}
	body, err := json.Marshal(input)
	if err != nil {
		return err
	}
	fqn := a.fqn(name)
	p, err := actionPath(fqn)
	if err != nil {
		return usageError{err}
	}
	if f.watch {
		return watchInvoke(ctx, cmd, g, f, a, fqn, p, body)
	}
	var cold *coldStarts
	if f.blocking { // say what a long first call waits for
		errw := cmd.ErrOrStderr()
		cold = startColdStarts(ctx, a, fqn, nil, func(c coldStart) {
			fmt.Fprintln(errw, coldStartLine(a.shortName(c.Action), c.Phase))
		})
		defer cold.Stop()
	}
	status, b, err := a.doRaw(ctx, http.MethodPost, p+"?blocking="+fmt.Sprint(f.blocking)+"&result=false", body)
	if cold != nil {
		cold.Stop() // before anything else is printed
	}
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	switch {
	case status == http.StatusAccepted:
		var id struct {
			ActivationID string `json:"activationId"`
		}
		if err := json.Unmarshal(b, &id); err != nil || id.ActivationID == "" {
			return fmt.Errorf("invoking %s: 202 without an activation id", fqn)
		}
		return printAccepted(out, g, fqn, id.ActivationID, f.blocking)
	case status == http.StatusOK || status == http.StatusBadGateway:
		var act whisk.Activation
		if err := json.Unmarshal(b, &act); err != nil || act.ActivationID == "" {
			if status == http.StatusBadGateway {
				return fmt.Errorf("invoking %s: %w", fqn, errorAnswer(status, b))
			}
			return fmt.Errorf("invoking %s: the answer is not an activation: %v", fqn, err)
		}
		return showActivation(ctx, cmd, g, f, a, fqn, &act)
	case status == http.StatusNotFound:
		return fmt.Errorf("invoking %s: no such action (deploy it with wsk-route compose)", fqn)
	default:
		return fmt.Errorf("invoking %s: %w", fqn, errorAnswer(status, b))
	}
}

// watchInvoke invokes the entry fqn (API path p) without blocking and
// follows its run's events, then shows the ended activation; the entry's
// activation logs are printed only when the events did not end properly.
func watchInvoke(ctx context.Context, cmd *cobra.Command, g *globalFlags, f invokeFlags, a *api, fqn, p string, body []byte) error {
	src, err := openEvents(a)
	if err != nil {
		return err
	}
	defer src.close()
	timeout := entryTimeout(ctx, a, fqn)
	sp := watchSpec(ctx, a, fqn, cmd.ErrOrStderr())
	start := time.Now()
	status, b, err := a.doRaw(ctx, http.MethodPost, p+"?blocking=false&result=false", body)
	if err != nil {
		return err
	}
	switch status {
	case http.StatusAccepted, http.StatusOK:
	case http.StatusNotFound:
		return fmt.Errorf("invoking %s: no such action (deploy it with wsk-route compose)", fqn)
	default:
		return fmt.Errorf("invoking %s: %w", fqn, errorAnswer(status, b))
	}
	var id struct {
		ActivationID string `json:"activationId"`
	}
	if err := json.Unmarshal(b, &id); err != nil || id.ActivationID == "" {
		return fmt.Errorf("invoking %s: %d without an activation id", fqn, status)
	}
	// The watcher and the cold-start poller write in turn.
	var mu sync.Mutex
	errw := &lockedWriter{mu: &mu, w: cmd.ErrOrStderr()}
	out := &lockedWriter{mu: &mu, w: cmd.OutOrStdout()}
	fmt.Fprintf(errw, "invoked %s with id %s; following its run (--watch)\n", fqn, id.ActivationID)
	ns, _, _ := strings.Cut(strings.TrimPrefix(fqn, "/"), "/")
	w := &watcher{a: a, src: src, fqn: fqn, ns: ns, run: id.ActivationID, json: g.json(),
		out: out, log: errw, deadline: start.Add(timeout + watchGrace), sp: sp}
	cold := startColdStarts(ctx, a, "", runActions(fqn, sp), w.showColdStart)
	defer cold.Stop()
	act, ended, err := w.follow(ctx)
	cold.Stop() // before the activation is printed
	if err != nil {
		return err
	}
	f.watch = !ended // the entry's own logs, when the stream fell short
	return showActivation(ctx, cmd, g, f, a, fqn, act)
}

// watchSpec reads the spec of the workflow whose entry is fqn, which says
// what the branch numbers of its events mean; nil (said on errw) when it
// cannot be read.
func watchSpec(ctx context.Context, a *api, fqn string, errw io.Writer) *spec.Spec {
	ns, name, _ := strings.Cut(strings.TrimPrefix(fqn, "/"), "/")
	st, err := openStore(a)
	if err != nil {
		fmt.Fprintf(errw, "wsk-route: no spec of %s (%v): branches show as numbers\n", name, err)
		return nil
	}
	defer st.close()
	sp, err := st.get(ctx, ns, name)
	if err != nil {
		fmt.Fprintf(errw, "wsk-route: no spec of %s (%v): branches show as numbers\n", name, err)
	}
	return sp // nil when name is no workflow: --watch says so when the run ends
}

func printAccepted(out io.Writer, g *globalFlags, fqn, id string, blocking bool) error {
	if g.json() {
		return printJSON(out, map[string]string{"activationId": id})
	}
	if blocking {
		fmt.Fprintf(out, "ok: invoked %s, but the request has not yet finished, with id %s\n", fqn, id)
	} else {
		fmt.Fprintf(out, "ok: invoked %s with id %s\n", fqn, id)
	}
	return nil
}

// showActivation prints an ended activation: its result or all of it, and
// its logs with --watch; a failed one is an error.
func showActivation(ctx context.Context, cmd *cobra.Command, g *globalFlags, f invokeFlags, a *api, fqn string, act *whisk.Activation) error {
	out, errw := cmd.OutOrStdout(), cmd.ErrOrStderr()
	if f.watch {
		logs := act.Logs
		if len(logs) == 0 {
			var withLogs struct {
				Logs []string `json:"logs"`
			}
			if _, err := a.do(ctx, http.MethodGet, "/namespaces/_/activations/"+url.PathEscape(act.ActivationID)+"/logs", nil, &withLogs); err == nil {
				logs = withLogs.Logs
			}
		}
		for _, l := range logs {
			fmt.Fprintln(errw, l)
		}
	}
	if f.result {
		if err := printJSON(out, act.Response.Result); err != nil {
			return err
		}
	} else {
		if !g.json() {
			verdict := "ok: invoked"
			if !act.Response.Success {
				verdict = "failed: invoked" // the error follows on stderr, and the exit code is 1
			}
			fmt.Fprintf(out, "%s %s with id %s\n", verdict, fqn, act.ActivationID)
		}
		if err := printJSON(out, act); err != nil {
			return err
		}
	}
	if act.Response.Success {
		return nil
	}
	return fmt.Errorf("%s failed (%s, activation %s): %s", fqn, act.Response.Status, act.ActivationID, resultError(act.Response.Result))
}

// resultError is the "error" of a failed activation's result.
func resultError(r any) string {
	if m, ok := r.(map[string]any); ok {
		if e, ok := m["error"]; ok {
			if s, ok := e.(string); ok {
				return s
			}
			b, _ := json.Marshal(e)
			return string(b)
		}
	}
	b, _ := json.Marshal(r)
	return string(b)
}

// Settings of the cold-start progress of invoke and --watch.
const (
	// coldStartDelay is how long a blocking invoke waits before it first
	// asks for cold starts: most first calls are done by then.
	coldStartDelay = time.Second
	// coldStartEvery is the interval between two questions.
	coldStartEvery = 500 * time.Millisecond
	// coldStartShown is the age from which a cold start is shown.
	coldStartShown = time.Second
)

// coldStart is a cold start in progress as the sandbox's
// GET .../wsk-route/starts lists it.
type coldStart struct {
	Action    string `json:"action"`
	Kind      string `json:"kind"`
	Phase     string `json:"phase"`
	ElapsedMs int64  `json:"elapsedMs"`
}

// coldStartLine is what a cold start of action (shown as name) in phase
// says on stderr.
func coldStartLine(name, phase string) string {
	if phase == "compiling" {
		return fmt.Sprintf("starting a container for %s, compiling…", name)
	}
	return fmt.Sprintf("starting a container for %s…", name)
}

// coldStarts shows the cold starts that a blocking invoke or a watched
// run waits for, by polling the sandbox's GET .../wsk-route/starts: after
// coldStartDelay, every coldStartEvery, and each (action, line) once, when
// it is at least coldStartShown old. A real OpenWhisk has no such route:
// on a 404, or any error, it stops without a word.
//
// startColdStarts starts its goroutine; Stop ends it and waits for it, so
// that nothing is shown after Stop returns.
type coldStarts struct {
	a *api
	// action restricts the question to one action ("" asks for the
	// namespace's); keep, when not nil, picks the actions to show.
	action string
	keep   func(fqn string) bool
	// show is called for each cold start to show, from the goroutine.
	show func(c coldStart)

	cancel context.CancelFunc
	done   chan struct{}
}

// startColdStarts starts polling; the caller must call Stop.
func startColdStarts(ctx context.Context, a *api, action string, keep func(string) bool, show func(coldStart)) *coldStarts {
	ctx, cancel := context.WithCancel(ctx)
	c := &coldStarts{a: a, action: action, keep: keep, show: show, cancel: cancel, done: make(chan struct{})}
	go c.run(ctx)
	return c
}

// Stop stops the polling and waits for it to end; it may be called more
// than once.
func (c *coldStarts) Stop() {
	c.cancel()
	<-c.done
}

func (c *coldStarts) run(ctx context.Context) {
	defer close(c.done)
	p := "/namespaces/_/wsk-route/starts"
	if c.action != "" {
		p += "?action=" + url.QueryEscape(c.action)
	}
	shown := map[[2]string]bool{}
	t := time.NewTimer(coldStartDelay)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var list []coldStart
		if _, err := c.a.do(ctx, http.MethodGet, p, nil, &list); err != nil {
			return // a 404 (no sandbox), or the API is gone: say nothing
		}
		for _, s := range list {
			if s.ElapsedMs < coldStartShown.Milliseconds() || c.keep != nil && !c.keep(s.Action) {
				continue
			}
			k := [2]string{s.Action, coldStartLine("", s.Phase)}
			if shown[k] || ctx.Err() != nil {
				continue
			}
			shown[k] = true
			c.show(s)
		}
		t.Reset(coldStartEvery)
	}
}

// shortName is an action's fully qualified name without the namespace
// of the key ("hello", "pkg/hello"); other namespaces' stay whole.
func (a *api) shortName(fqn string) string {
	if rest, ok := strings.CutPrefix(fqn, "/"+a.ns+"/"); ok {
		return rest
	}
	return fqn
}
