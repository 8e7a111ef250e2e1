package conductor

import (
	"context"
	"testing"
)

// BenchmarkRun runs conformance cases end to end in the oracle (decoded and
// compiled once), composer's test actions played in JavaScript.
func BenchmarkRun(b *testing.B) {
	conf := loadConformance(b)
	actions := loadTestActions(b)
	for _, name := range []string{"compositions/collatz", "if/condition = true", "retry/success", "issue/loose equality"} {
		var found bool
		for _, tc := range conf.Cases {
			if tc.Name != name {
				continue
			}
			found = true
			b.Run(name, func(b *testing.B) {
				c, err := Decode(tc.Composition, Limits{})
				if err != nil {
					b.Fatal(err)
				}
				m, err := New(c, Config{Invoker: actions})
				if err != nil {
					b.Fatal(err)
				}
				want := canonical(b, tc.Result)
				b.ReportAllocs()
				for b.Loop() {
					res, err := m.Run(context.Background(), tc.Params)
					if err != nil || string(res.Value) != want {
						b.Fatalf("got %s %v, want %s", res.Value, err, want)
					}
				}
			})
		}
		if !found {
			b.Fatalf("no case %q", name)
		}
	}
}
