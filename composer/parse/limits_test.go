package parse_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/composer"
	"github.com/wsk-route/wsk-route/composer/parse"
)

// repeat returns head, n copies of item formatted with i (joined by sep),
// and tail.
func repeat(head, item, sep, tail string, n int) []byte {
	var b strings.Builder
	b.WriteString(head)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(sep)
		}
		fmt.Fprintf(&b, item, i)
	}
	b.WriteString(tail)
	return []byte(b.String())
}

// TestLimits reads files past the size limits. YAML has
// composer.MaxSteps and MaxNodes: the reader reports the first node past
// the limit and reads no further (composer benchmarks how soon:
// BenchmarkCompileHuge). Composer JSON has the conductor's bounds on
// combinators, nesting and bytes, each reported once, beside the
// problems found before it.
func TestLimits(t *testing.T) {
	tests := []struct {
		name, file string
		data       []byte
		want       []string // the problems, in order
	}{
		{"yaml actions", "f.yaml", repeat("name: big\nsteps:\n", "  - a%d", "\n", "\n", 100000),
			[]string{"f.yaml:1027:5: .steps[1024]: more than 1024 actions and values in one workflow (this is number 1025): each becomes a step of the compiled workflow, which holds at most 1024 steps"}},
		{"yaml values in branches", "f.yaml", repeat("name: big\nsteps:\n  - parallel:\n", "      - value: %d", "\n", "\n", 5000),
			[]string{"f.yaml:1028:9: .steps[0].parallel[1024]: more than 1024 actions and values"}},
		{"yaml nodes", "f.yaml", repeat("name: big\nsteps:\n  - a\n", "  - [pass: {}] # %d", "\n", "\n", 5000),
			[]string{"f.yaml:4099:5: .steps[4096]: more than 8192 nodes (steps, lists and constructs) in one workflow (this is number 8193)"}},
		{"yaml problems before the limit are kept", "f.yaml", repeat("name: big\nsteps:\n  - parallel: 5\n", "  - a%d", "\n", "\n", 2000),
			[]string{"f.yaml:3:15: .steps[0].parallel: branches must be a list", "f.yaml:1028:5: .steps[1025]: more than 1024 actions"}},
		// Composer JSON has the conductor's limits (conductor.Limits), which
		// the entry applies when it reads the composition.
		{"composer components", "f.json", repeat(`{"type": "seq", "components": [`, `"a%d"`, ",\n", "]}", 100000),
			[]string{"f.json:1:1: more than 10000 combinators"}},
		{"composer literals in an ast", "f.json", repeat(`{"version": "0.12.0", "ast": {"type": "par", "components": [`, `{"type": "literal", "value": %d}`, ",\n", "]}}", 10000),
			[]string{"f.json:1:30: .ast: more than 10000 combinators"}},
		{"composer problems before the limit are kept", "f.json", []byte(`{"type": "seq", "components": [{"type": "empty", "n": 1},` + strings.Repeat(`{"type": "empty"},`+"\n", 10000) + `"a"]}`),
			[]string{"f.json:1:1: more than 10000 combinators", `f.json:1:32: .components[0]: empty has no field "n"`}},
		{"composer nesting", "f.json", []byte(strings.Repeat(`{"type": "mask", "components": [`+"\n", 300) + `"a"` + strings.Repeat("]}", 300)),
			[]string{"f.json:202:1: " + strings.Repeat(".components[0]", 201) + ": combinators nest deeper than 200"}},
		{"composer bytes", "f.json", repeat(`{"type": "seq", "components": [`, `"%0100d"`, ",\n", "]}", 50000),
			[]string{"f.json:1:1: 5200031 bytes, limit 4194304"}}, // 31 + 50000*102 + 49999*2 + 2
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse.File(tt.file, tt.data)
			var l composer.ErrorList
			if !errors.As(err, &l) || len(l) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(l), len(tt.want), err)
			}
			for i, want := range tt.want {
				if !strings.HasPrefix(l[i].Error(), want) {
					t.Errorf("problem %d: got %q, want it to start with %q", i, l[i], want)
				}
			}
			n := 0
			for _, e := range l {
				if errors.Is(e, composer.ErrTooLarge) {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%d problems are ErrTooLarge, want 1", n)
			}
		})
	}
}
