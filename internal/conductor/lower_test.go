package conductor

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// dump writes a lowered tree in a comparable form: type, path, name, code,
// declarations and children, in order.
func dump(b *strings.Builder, n *Node, indent string) {
	if n == nil {
		b.WriteString(indent + "nil\n")
		return
	}
	fmt.Fprintf(b, "%s%s path=%q/%v name=%q code=%q", indent, n.Type, n.Path, n.HasPath, n.Name, n.Code)
	for _, d := range n.Decls {
		fmt.Fprintf(b, " %s=%s", d.Name, Marshal(d.Value))
	}
	b.WriteString("\n")
	for _, c := range n.Components {
		dump(b, c, indent+"  ")
	}
	for _, a := range argOrder {
		if c := *arg(n, a); c != nil {
			b.WriteString(indent + " ." + a + ":\n")
			dump(b, c, indent+"  ")
		}
	}
}

// TestLowerMatchesCompile checks that lowering a case's AST here gives
// exactly the composition composer's compile() lowered: the same
// combinators, paths, declarations and function code.
func TestLowerMatchesCompile(t *testing.T) {
	for _, tc := range loadConformance(t).Cases {
		t.Run(tc.Name, func(t *testing.T) {
			var doc map[string]json.RawMessage
			if err := json.Unmarshal(tc.Composition, &doc); err != nil {
				t.Fatal(err)
			}
			// compile()'s output: its lowered composition, taken as it is
			fromCompile, err := Decode(tc.Composition, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			fromAST, err := Decode(doc["ast"], Limits{})
			if err != nil {
				t.Fatal(err)
			}
			var want, got strings.Builder
			dump(&want, fromCompile.Root, "")
			dump(&got, fromAST.Root, "")
			if got.String() != want.String() {
				t.Errorf("lowered here:\n%s\ncomposer's compile():\n%s", got.String(), want.String())
			}
		})
	}
}
