package composer_test

import (
	"encoding/json"
	"testing"

	"github.com/wsk-route/wsk-route/composer"
)

// FuzzEval evaluates conditions with arbitrary paths, operators and
// values: Eval must never panic, and an error must come only from an
// invalid condition or value.
func FuzzEval(f *testing.F) {
	f.Add("a.b", "==", `3`, `{"a":{"b":3}}`)
	f.Add("items[1]", ">", `"x"`, `{"items":[1,"y"]}`)
	f.Add("", "truthy", ``, `[]`)
	f.Add("a", "<", `1e999`, `{"a":-1e999}`)
	f.Fuzz(func(t *testing.T, path, op, value, doc string) {
		c := composer.Cond{Path: path, Op: composer.Op(op)}
		if value != "" {
			c.Value = json.RawMessage(value)
		}
		_, err := composer.Eval(c, json.RawMessage(doc))
		if err == nil && (c.Validate() != nil || !json.Valid([]byte(doc))) {
			t.Fatalf("Eval accepted an invalid condition or value: %+v on %q", c, doc)
		}
		// Negation must flip every successful result.
		got, err1 := composer.Eval(c, json.RawMessage(doc))
		neg, err2 := composer.Eval(composer.Cond{Not: &c}, json.RawMessage(doc))
		if err1 == nil && err2 == nil && got == neg {
			t.Fatalf("not(%+v) = %v, same as the condition", c, neg)
		}
	})
}
