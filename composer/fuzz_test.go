package composer_test

import (
	"encoding/json"
	"testing"

	"github.com/wsk-route/wsk-route/composer"
)

// FuzzEval checks that composer.Eval agrees with the wire form's Eval
// (internal/cond, fuzzed there on its own) and never panics: same result,
// and an error from one exactly when the other fails.
func FuzzEval(f *testing.F) {
	f.Add("a.b", "==", `3`, `{"a":{"b":3}}`)
	f.Add("items[1]", ">", `"x"`, `{"items":[1,"y"]}`)
	f.Add("", "truthy", ``, `[]`)
	f.Add("a", "<", `1e999`, `{"a":-1e999}`)
	f.Fuzz(func(t *testing.T, path, op, value, doc string) {
		c := composer.Cond{Not: &composer.Cond{Path: path, Op: composer.Op(op)}}
		if value != "" {
			c.Not.Value = json.RawMessage(value)
		}
		got, err := composer.Eval(c, json.RawMessage(doc))
		w := c.Wire()
		wgot, werr := w.Eval([]byte(doc))
		if (err == nil) != (werr == nil) || got != wgot {
			t.Fatalf("composer.Eval = %v, %v; wire Eval = %v, %v (%+v on %q)", got, err, wgot, werr, c, doc)
		}
	})
}
