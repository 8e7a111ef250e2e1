package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wsk-route/wsk-route/internal/spec"
)

// usageError is a command line the commands cannot run: Run exits 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usageArgs makes a cobra argument check's errors usage errors.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

// checkOutput validates -o before any command runs.
func (g *globalFlags) checkOutput() error {
	switch g.output {
	case "text", "json":
		return nil
	}
	return usageError{fmt.Errorf("--output %q: want text or json", g.output)}
}

func (g *globalFlags) json() bool { return g.output == "json" }

// connect resolves the configuration and opens the API and the store.
func (g *globalFlags) connect(cmd *cobra.Command, timeout time.Duration) (*api, specStore, error) {
	a, err := newAPI(cmd.Context(), resolveConfig(*g, getenv), timeout)
	if err != nil {
		return nil, nil, err
	}
	st, err := openStore(a)
	if err != nil {
		return nil, nil, err
	}
	return a, st, nil
}

// printJSON prints v as indented JSON, with <, > and & as they are (not
// \u003c, \u003e, \u0026, as encoding/json writes them for HTML).
func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", unescapeHTML(b))
	return err
}

// unescapeHTML turns the escapes \u003c, \u003e and \u0026 in the strings
// of the JSON text b back into <, > and &: encoding/json writes them so
// for HTML, and a RawMessage (a stored spec's conditions) keeps them even
// through an encoder without HTML escaping. Other escapes are kept.
func unescapeHTML(b []byte) []byte {
	out := make([]byte, 0, len(b))
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case !inString:
			inString = c == '"'
		case c == '"':
			inString = false
		case c == '\\' && i+1 < len(b):
			if b[i+1] == 'u' && i+6 <= len(b) {
				switch strings.ToLower(string(b[i+2 : i+6])) {
				case "003c":
					out, i = append(out, '<'), i+5
					continue
				case "003e":
					out, i = append(out, '>'), i+5
					continue
				case "0026":
					out, i = append(out, '&'), i+5
					continue
				}
			}
			out = append(out, c, b[i+1]) // the escape and what it escapes
			i++
			continue
		}
		out = append(out, c)
	}
	return out
}

// plural returns "1 step" or "n steps": n and the noun, in the plural
// (noun+"s") unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// specJSON is a spec as -o json shows it: its stored JSON plus its version.
func specJSON(sp *spec.Spec) any {
	return struct {
		*spec.Spec
		Version uint64 `json:"version"`
	}{sp, sp.Version}
}

// printPlan prints the steps of sp as a table, in start-first order.
func printPlan(w io.Writer, sp *spec.Spec) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tACTION\tIN JOIN\tIN LOOP\tNEXT")
	for _, id := range planOrder(sp) {
		st := sp.Steps[id]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", id, describeAction(st), orDash(st.In), orDash(st.InLoop), describeNext(st))
	}
	tw.Flush()
}

// planOrder lists the step ids breadth first from the start steps, then
// any others sorted.
func planOrder(sp *spec.Spec) []string {
	seen := map[string]bool{}
	var out []string
	queue := append([]string(nil), sp.Start...)
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		if seen[id] {
			continue
		}
		if _, ok := sp.Steps[id]; !ok {
			continue
		}
		seen[id] = true
		out = append(out, id)
		st := sp.Steps[id]
		queue = append(queue, st.Next...)
		for _, c := range st.Switch {
			queue = append(queue, c.Next...)
		}
		queue = append(append(queue, st.Default...), st.Catch...)
	}
	for _, id := range sp.StepIDs() {
		if !seen[id] {
			out = append(out, id)
		}
	}
	return out
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// describeAction says what a step runs: its action, or what it does
// without one.
func describeAction(st spec.Step) string {
	switch {
	case st.Action != "":
		return st.Action
	case st.Join != nil:
		return "(join: " + st.Join.Merge + ")"
	case st.Map != nil:
		over := st.Map.Over
		if over == "" {
			over = "the value"
		}
		if st.Map.Concurrency > 0 {
			return fmt.Sprintf("(map over %s, %d at a time)", over, st.Map.Concurrency)
		}
		return "(map over " + over + ")"
	case st.Value != nil:
		return "(value)"
	case st.Loop != nil:
		max := st.Loop.Max
		if max == 0 {
			max = spec.DefaultLoopMax
		}
		return fmt.Sprintf("(loop, at most %d times)", max)
	}
	return "(router)"
}

// describeNext says where a step's result goes: its successors, its
// switch's cases and default, its catch and its retries.
func describeNext(st spec.Step) string {
	list := func(ids []string) string {
		if len(ids) == 0 {
			return "(result)"
		}
		return strings.Join(ids, ", ")
	}
	var parts []string
	if len(st.Switch) > 0 {
		for _, c := range st.Switch {
			parts = append(parts, fmt.Sprintf("when %s: %s", unescapeHTML(c.When), list(c.Next)))
		}
		parts = append(parts, "else: "+list(st.Default))
	} else {
		parts = append(parts, list(st.Next))
	}
	if st.Fork != "" {
		parts[0] += " (forks join " + st.Fork + ")"
	}
	if st.Catch != nil {
		parts = append(parts, "on failure: "+list(st.Catch))
	}
	if st.Retry != nil {
		parts = append(parts, fmt.Sprintf("%d attempts, backoff %dms", st.Retry.Attempts, st.Retry.BackoffMS))
	}
	return strings.Join(parts, "; ")
}
