package cond_test

import (
	"encoding/json"
	"testing"

	"github.com/wsk-route/wsk-route/internal/cond"
)

// FuzzEval parses arbitrary conditions and evaluates them on arbitrary
// values: nothing may panic, Eval must fail only on an invalid condition
// or value, negation must flip every result, and what Parse accepts must
// survive Marshal and Parse unchanged.
func FuzzEval(f *testing.F) {
	f.Add(`{"path":"a.b","op":"==","value":3}`, `{"a":{"b":3}}`)
	f.Add(`{"path":"items[1]","op":">","value":"x"}`, `{"items":[1,"y"]}`)
	f.Add(`{"op":"truthy"}`, `[]`)
	f.Add(`{"all":[{"path":"a","op":"<","value":1e999}],"any":[]}`, `{"a":-1e999}`)
	f.Add(`{"not":{"any":[{"path":"a[0]","op":"exists"}]}}`, `{"a":[null]}`)
	f.Fuzz(func(t *testing.T, data, doc string) {
		var raw cond.Cond
		if json.Unmarshal([]byte(data), &raw) == nil {
			_, err := raw.Eval([]byte(doc))
			if err == nil && (raw.Validate() != nil || !json.Valid([]byte(doc))) {
				t.Fatalf("Eval accepted an invalid condition or value: %+v on %q", raw, doc)
			}
		}
		c, err := cond.Parse([]byte(data))
		if err != nil {
			return
		}
		out, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("Marshal(%+v): %v", c, err)
		}
		again, err := cond.Parse(out)
		if err != nil {
			t.Fatalf("Parse(Marshal(%s)) = %v", data, err)
		}
		if out2, _ := json.Marshal(again); string(out2) != string(out) {
			t.Fatalf("round trip changed %s into %s", out, out2)
		}
		got, err1 := c.Eval([]byte(doc))
		neg, err2 := (&cond.Cond{Not: c}).Eval([]byte(doc))
		if (err1 == nil) != (err2 == nil) || err1 == nil && got == neg {
			t.Fatalf("not(%s) on %q = %v, %v; condition = %v, %v", out, doc, neg, err2, got, err1)
		}
	})
}
