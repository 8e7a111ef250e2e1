package cond_test

import (
	"testing"

	"github.com/wsk-route/wsk-route/internal/cond"
)

// BenchmarkEval measures one switch-case test as the proxy runs it per
// frame: a parsed condition (validated once) against the same condition
// built by hand (validated on every Eval).
func BenchmarkEval(b *testing.B) {
	const src = `{"all":[{"path":"order.total","op":">","value":1000},{"not":{"path":"order.flagged","op":"truthy"}}]}`
	value := []byte(`{"order":{"total":1500,"flagged":false,"items":[1,2,3]}}`)
	parsed, err := cond.Parse([]byte(src))
	if err != nil {
		b.Fatal(err)
	}
	built := cond.Cond{All: []cond.Cond{
		{Path: "order.total", Op: cond.OpGt, Value: []byte("1000")},
		{Not: &cond.Cond{Path: "order.flagged", Op: cond.OpTruthy}},
	}}
	for _, bc := range []struct {
		name string
		c    *cond.Cond
	}{{"parsed", parsed}, {"unvalidated", &built}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if ok, err := bc.c.Eval(value); err != nil || !ok {
					b.Fatal(ok, err)
				}
			}
		})
	}
}
