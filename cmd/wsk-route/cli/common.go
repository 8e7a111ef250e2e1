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

func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
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
	fmt.Fprintln(tw, "STEP\tACTION\tNEXT")
	for _, id := range planOrder(sp) {
		st := sp.Steps[id]
		next := "(result)"
		if len(st.Next) > 0 {
			next = strings.Join(st.Next, ", ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", id, st.Action, next)
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
		queue = append(queue, sp.Steps[id].Next...)
	}
	for _, id := range sp.StepIDs() {
		if !seen[id] {
			out = append(out, id)
		}
	}
	return out
}
