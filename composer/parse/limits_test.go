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

// TestLimits reads files past composer.MaxSteps or MaxNodes: the reader
// reports the first node past the limit and reads no further (composer
// benchmarks how soon: BenchmarkCompileHuge).
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
		{"composer components", "f.json", repeat(`{"type": "seq", "components": [`, `"a%d"`, ",\n", "]}", 100000),
			[]string{"f.json:1025:1: .components[1024]: more than 1024 actions and values"}},
		{"composer literals in an ast", "f.json", repeat(`{"ast": {"type": "par", "components": [`, `{"type": "literal", "value": %d}`, ",\n", "]}, \"version\": \"0.12.0\"}", 5000),
			[]string{"f.json:1025:1: .ast.components[1024]: more than 1024 actions and values"}},
		{"composer empties", "f.json", repeat(`{"type": "seq", "components": [`, `{"type": "empty", "n": %d}`, ",\n", "]}", 10000),
			[]string{"f.json:8192:1: .components[8191]: more than 8192 nodes"}},
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
			if !errors.Is(l[len(l)-1], composer.ErrTooLarge) {
				t.Errorf("last problem %v: want ErrTooLarge", l[len(l)-1])
			}
		})
	}
}
