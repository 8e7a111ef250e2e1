package parse_test

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/composer"
	"github.com/wsk-route/wsk-route/composer/parse"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestBad reads every file of testdata/bad and compares its errors, one
// per line, with X.errors.
func TestBad(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, ".errors") {
			continue
		}
		n++
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, perr := parse.File(filepath.Base(f), data)
			if perr == nil {
				t.Fatalf("%s parsed without error", f)
			}
			var list composer.ErrorList
			if !errors.As(perr, &list) {
				t.Fatalf("got %T, want a composer.ErrorList", perr)
			}
			for _, e := range list {
				if e.Pos.File != filepath.Base(f) || e.Pos.Line == 0 {
					t.Errorf("problem without a position: %v", e)
				}
			}
			got := []byte(perr.Error() + "\n")
			golden := f + ".errors"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("no golden file (run go test -update): %v\ngot:\n%s", err, got)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
	if n < 15 {
		t.Fatalf("found %d bad files, want at least 15", n)
	}
}

// TestYAML reads good YAML and checks the model, paths and positions.
func TestYAML(t *testing.T) {
	src := `name: flow
namespace: guest
description: a test
steps:
  - split
  - parallel:
      branches:
        upper: upper
        lower: [trim, lower]
      merge: object
  - map: {over: items, do: {action: pkg/resize}, concurrency: 4}
  - if:
      cond:
        all:
          - {path: a.b, op: gt, value: 3}
          - not: {path: "c[0]", op: exists}
      then: x
      else: y
  - switch:
      cases:
        - when: {path: kind, op: "==", value: "big"}
          do: big
      default: small
  - try: {do: risky, catch: recover}
  - retry: {do: flaky, max: 3, backoff: 250ms}
  - value: {done: true, n: 1}
  - pass: {}
`
	w, err := parse.YAML("flow.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if w.Name != "flow" || w.Namespace != "guest" {
		t.Fatalf("got name %q namespace %q", w.Name, w.Namespace)
	}
	seq, ok := w.Root.(*composer.Sequence)
	if !ok || len(seq.Steps) != 9 {
		t.Fatalf("root: got %T with %d steps, want a sequence of 9", w.Root, len(seq.Steps))
	}
	p := seq.Steps[1].(*composer.Parallel)
	if p.Merge != composer.MergeObject || len(p.Branches) != 2 || p.Branches[0].Name != "upper" || p.Branches[1].Name != "lower" {
		t.Errorf("parallel: got %+v", p)
	}
	lower := p.Branches[1].Node.(*composer.Sequence)
	if got, want := lower.Steps[1].NodeMeta().Path, ".steps[1].parallel.branches.lower[1]"; got != want {
		t.Errorf("path: got %q, want %q", got, want)
	}
	if got, want := lower.Steps[1].NodeMeta().Pos.String(), "flow.yaml:9:23"; got != want {
		t.Errorf("pos: got %q, want %q", got, want)
	}
	m := seq.Steps[2].(*composer.Map)
	if m.Over != "items" || m.Concurrency != 4 || m.Body.(*composer.Action).Name != "pkg/resize" {
		t.Errorf("map: got %+v", m)
	}
	in := seq.Steps[3].(*composer.If)
	if len(in.Cond.All) != 2 || in.Cond.All[0].Op != composer.OpGt || string(in.Cond.All[0].Value) != "3" || in.Cond.All[1].Not.Path != "c[0]" {
		t.Errorf("if cond: got %+v", in.Cond)
	}
	if in.Else == nil {
		t.Error("if: else missing")
	}
	sw := seq.Steps[4].(*composer.Switch)
	if len(sw.Cases) != 1 || string(sw.Cases[0].Cond.Value) != `"big"` || sw.Default == nil {
		t.Errorf("switch: got %+v", sw)
	}
	r := seq.Steps[6].(*composer.Retry)
	if r.Max != 3 || r.Backoff.String() != "250ms" {
		t.Errorf("retry: got %+v", r)
	}
	if v := seq.Steps[7].(*composer.Value); string(v.Value) != `{"done":true,"n":1}` {
		t.Errorf("value: got %s", v.Value)
	}
	if _, ok := seq.Steps[8].(*composer.Pass); !ok {
		t.Errorf("pass: got %T", seq.Steps[8])
	}
}

// TestYAMLWhile reads the two loops and checks their fields, paths and
// positions.
func TestYAMLWhile(t *testing.T) {
	src := `name: loops
steps:
  - while:
      cond: {path: n, op: lt, value: 10}
      do: [step, check]
      max: 50
  - do-while: {do: poll, cond: {not: {path: ready, op: truthy}}}
`
	w, err := parse.YAML("loops.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	seq := w.Root.(*composer.Sequence)
	wh, ok := seq.Steps[0].(*composer.While)
	if !ok {
		t.Fatalf("step 0: got %T, want *composer.While", seq.Steps[0])
	}
	if wh.Do || wh.Max != 50 || wh.Cond.Op != composer.OpLt || wh.Cond.Path != "n" || string(wh.Cond.Value) != "10" || wh.Kind() != "while" {
		t.Errorf("while: got %+v", wh)
	}
	body := wh.Body.(*composer.Sequence)
	if got, want := body.Steps[1].NodeMeta().Path, ".steps[0].while.do[1]"; got != want {
		t.Errorf("body path: got %q, want %q", got, want)
	}
	if got, want := wh.Cond.Meta.Pos.String(), "loops.yaml:4:13"; got != want {
		t.Errorf("cond pos: got %q, want %q", got, want)
	}
	dw, ok := seq.Steps[1].(*composer.While)
	if !ok {
		t.Fatalf("step 1: got %T, want *composer.While", seq.Steps[1])
	}
	if !dw.Do || dw.Max != 0 || dw.Cond.Not == nil || dw.Cond.Not.Path != "ready" || dw.Kind() != "do-while" || dw.Body.(*composer.Action).Name != "poll" {
		t.Errorf("do-while: got %+v", dw)
	}
	if got, want := dw.NodeMeta().Pos.String(), "loops.yaml:7:5"; got != want {
		t.Errorf("do-while pos: got %q, want %q", got, want)
	}
}

// TestComposer reads openwhisk-composer JSON: each case is a bare node
// and the kind (and a detail) of the model node it must become.
func TestComposer(t *testing.T) {
	tests := []struct {
		name, src string
		check     func(composer.Node) string // "" when fine
	}{
		{"action", `{"type":"action","name":"/_/a"}`, func(n composer.Node) string {
			return want(n.(*composer.Action).Name == "/_/a", "name")
		}},
		{"seq drops empty", `{"type":"seq","components":[{"type":"action","name":"a"},{"type":"empty"},{"type":"action","name":"b"}]}`, func(n composer.Node) string {
			return want(len(n.(*composer.Sequence).Steps) == 2, "two steps")
		}},
		{"one component", `{"type":"sequence","components":[{"type":"action","name":"a"}]}`, func(n composer.Node) string {
			_, ok := n.(*composer.Action)
			return want(ok, "the action itself")
		}},
		{"literal", `{"type":"literal","value":{"a":[1,2]}}`, func(n composer.Node) string {
			return want(string(n.(*composer.Value).Value) == `{"a":[1,2]}`, "value")
		}},
		{"value", `{"type":"value","value":"x"}`, func(n composer.Node) string {
			return want(string(n.(*composer.Value).Value) == `{"value":"x"}`, "value, shaped as the conductor does")
		}},
		{"literal number", `{"type":"literal","value":42}`, func(n composer.Node) string {
			return want(string(n.(*composer.Value).Value) == `{"value":42}`, "literal, shaped")
		}},
		{"literal null", `{"type":"literal","value":null}`, func(n composer.Node) string {
			return want(string(n.(*composer.Value).Value) == `{"value":null}`, "literal, shaped")
		}},
		{"literal array", `{"type":"literal","value":[1,{"a":2}]}`, func(n composer.Node) string {
			return want(string(n.(*composer.Value).Value) == `{"value":[1,{"a":2}]}`, "literal, shaped (an array too)")
		}},
		{"constant string arrow", fn(`() => 'done'`), func(n composer.Node) string {
			return want(string(n.(*composer.Value).Value) == `{"value":"done"}`, "literal, shaped")
		}},
		{"constant arrow", fn(`() => ({ message: 'hi', n: 2, ok: true, list: [1, "b",], })`), func(n composer.Node) string {
			return want(string(n.(*composer.Value).Value) == `{"list":[1,"b"],"message":"hi","n":2,"ok":true}`, "literal")
		}},
		{"constant function", fn(`function () { return {"a": null}; }`), func(n composer.Node) string {
			return want(string(n.(*composer.Value).Value) == `{"a":null}`, "literal")
		}},
		{"constant block arrow", fn(`args => { return [1, 2] }`), func(n composer.Node) string {
			return want(string(n.(*composer.Value).Value) == `{"value":[1,2]}`, "literal, shaped")
		}},
		{"try", `{"type":"try","body":{"type":"action","name":"a"},"handler":{"type":"action","name":"b"}}`, func(n composer.Node) string {
			tr := n.(*composer.Try)
			return want(tr.Body.(*composer.Action).Name == "a" && tr.Catch.(*composer.Action).Name == "b", "body and catch")
		}},
		{"retry", `{"type":"retry","count":2,"components":[{"type":"action","name":"a"}]}`, func(n composer.Node) string {
			return want(n.(*composer.Retry).Max == 3, "max = count+1")
		}},
		{"parallel", `{"type":"par","components":[{"type":"action","name":"a"},{"type":"action","name":"b"}]}`, func(n composer.Node) string {
			p := n.(*composer.Parallel)
			return want(len(p.Branches) == 2 && p.EffectiveMerge() == composer.MergeArray, "two array branches")
		}},
		{"map", `{"type":"map","components":[{"type":"action","name":"a"}]}`, func(n composer.Node) string {
			return want(n.(*composer.Map).Over == "value", "over value")
		}},
		{"if with test function", `{"type":"if","test":` + fn(`params => params.user.age >= 18`) + `,"consequent":{"type":"action","name":"a"},"alternate":{"type":"empty"}}`, func(n composer.Node) string {
			in := n.(*composer.If)
			return want(in.Cond.Path == "user.age" && in.Cond.Op == composer.OpGe && string(in.Cond.Value) == "18" && in.Else == nil, "cond user.age >= 18, no else")
		}},
		{"if truthy", `{"type":"if","test":` + fn(`function (x) { return x.ok }`) + `,"consequent":{"type":"action","name":"a"}}`, func(n composer.Node) string {
			in := n.(*composer.If)
			return want(in.Cond.Path == "ok" && in.Cond.Op == composer.OpTruthy, "cond ok truthy")
		}},
		{"if negated", `{"type":"if","test":` + fn(`x => !x.items[0]`) + `,"consequent":{"type":"action","name":"a"}}`, func(n composer.Node) string {
			in := n.(*composer.If)
			return want(in.Cond.Not != nil && in.Cond.Not.Path == "items[0]", "not items[0]")
		}},
		{"if string compare", `{"type":"if","test":` + fn(`p => p.kind !== 'x'`) + `,"consequent":{"type":"action","name":"a"}}`, func(n composer.Node) string {
			in := n.(*composer.If)
			return want(in.Cond.Op == composer.OpNe && string(in.Cond.Value) == `"x"`, "kind != x")
		}},
		{"if constant", `{"type":"if","test":` + fn(`() => false`) + `,"consequent":{"type":"action","name":"a"}}`, func(n composer.Node) string {
			ok, err := composer.Eval(n.(*composer.If).Cond, []byte(`{}`))
			return want(err == nil && !ok, "never")
		}},
		{"while", `{"type":"while","test":` + fn(`args => args.n < 10`) + `,"body":{"type":"action","name":"step"}}`, func(n composer.Node) string {
			w := n.(*composer.While)
			return want(!w.Do && w.Max == 0 && w.Cond.Path == "n" && w.Cond.Op == composer.OpLt && string(w.Cond.Value) == "10" && w.Body.(*composer.Action).Name == "step" && w.Cond.Meta.Path == ".test", "while n < 10, body step")
		}},
		{"dowhile", `{"type":"dowhile","body":{"type":"sequence","components":[{"type":"action","name":"a"},{"type":"action","name":"b"}]},"test":` + fn(`function (p) { return !p.done }`) + `}`, func(n composer.Node) string {
			w := n.(*composer.While)
			return want(w.Do && w.Kind() == "do-while" && w.Cond.Not != nil && w.Cond.Not.Path == "done" && len(w.Body.(*composer.Sequence).Steps) == 2, "dowhile !done, body of two steps")
		}},
		{"while constant test", `{"type":"while","test":` + fn(`() => false`) + `,"body":{"type":"action","name":"step"}}`, func(n composer.Node) string {
			ok, err := composer.Eval(n.(*composer.While).Cond, []byte(`{}`))
			return want(err == nil && !ok, "never")
		}},
		{"wrapper prefers ast", `{"composition":{"type":"let"},"ast":{"type":"action","name":"a"},"version":"0.12.0","actions":[]}`, func(n composer.Node) string {
			return want(n.NodeMeta().Path == ".ast", "path .ast")
		}},
		{"wrapper composition", `{"composition":{"type":"action","name":"a"},"version":"0.12.0"}`, func(n composer.Node) string {
			return want(n.NodeMeta().Path == ".composition", "path .composition")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := parse.Composer("demo.json", []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			if w.Name != "demo" {
				t.Errorf("name: got %q, want demo", w.Name)
			}
			if msg := tt.check(w.Root); msg != "" {
				t.Errorf("got %#v, want %s", w.Root, msg)
			}
		})
	}
}

func fn(code string) string {
	return `{"type":"function","function":{"exec":{"kind":"nodejs:default","code":` + quote(code) + `}}}`
}

func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(s) + `"`
}

func want(ok bool, what string) string {
	if ok {
		return ""
	}
	return what
}

// TestComposerRefused lists inputs that must be refused with
// ErrNotSupported and the reason.
func TestComposerRefused(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"while with action test", `{"type":"while","test":{"type":"action","name":"t"},"body":{"type":"action","name":"b"}}`, "not supported: while at the root: its test must be a pure condition (a function like \"args => args.n > 3\"), since the route plane does not run a test action on each iteration"},
		{"dowhile with action test", `{"type":"sequence","components":[{"type":"action","name":"a"},{"type":"dowhile","body":{"type":"action","name":"b"},"test":{"type":"action","name":"t"}}]}`, "c.json:1:63: not supported: dowhile at .components[1]: its test must be a pure condition"},
		{"while with compound test", `{"type":"while","test":` + fn(`p => p.n < 3 || p.ok`) + `,"body":{"type":"action","name":"b"}}`, "its test must be a pure condition"},
		{"while_nosave", `{"type":"while_nosave","test":` + fn(`p => p.ok`) + `,"body":{"type":"action","name":"b"}}`, "not supported: while_nosave at the root: its body receives the test's result, not the input"},
		{"dowhile_nosave", `{"type":"dowhile_nosave","body":{"type":"action","name":"b"},"test":` + fn(`p => p.ok`) + `}`, "not supported: dowhile_nosave at the root: its body receives the test's result"},
		{"while in an if", `{"type":"if","test":` + fn(`p => p.ok`) + `,"consequent":{"type":"while","test":{"type":"action","name":"t"},"body":{"type":"action","name":"b"}}}`, "not supported: while at .consequent: its test must be a pure condition"},
		{"function with code", fn(`args => { args.n++; return args }`), "not supported: function at the root: inline code runs only in the conductor"},
		{"function computing", fn(`args => ({ n: args.n + 1 })`), "inline code runs only in the conductor"},
		{"if with action test", `{"type":"if","test":{"type":"action","name":"auth"},"consequent":{"type":"action","name":"a"}}`, "not supported: if at the root: its test must be a pure condition"},
		{"if with compound test", `{"type":"if","test":` + fn(`p => p.a > 1 && p.b`) + `,"consequent":{"type":"action","name":"a"}}`, "its test must be a pure condition"},
		{"let", `{"type":"let","declarations":{},"components":[]}`, "not supported: let at the root"},
		{"finally", `{"type":"finally"}`, "not supported: finally"},
		{"dynamic", `{"type":"dynamic"}`, "not supported: dynamic"},
		{"nested", `{"type":"sequence","components":[{"type":"action","name":"a"},{"type":"mask","components":[]}]}`, "not supported: mask at .components[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse.Composer("c.json", []byte(tt.src))
			if !errors.Is(err, composer.ErrNotSupported) {
				t.Fatalf("got %v, want ErrNotSupported", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestFileByExtension checks that File picks the format by extension.
func TestFileByExtension(t *testing.T) {
	if _, err := parse.File("x.JSON", []byte(`{"type":"action","name":"a"}`)); err != nil {
		t.Errorf("json: %v", err)
	}
	if _, err := parse.File("x.yml", []byte("name: x\nsteps: [a]\n")); err != nil {
		t.Errorf("yaml: %v", err)
	}
	if _, err := parse.File("x.yaml", []byte(`{"type":"action","name":"a"}`)); !errors.Is(err, composer.ErrUnknownField) {
		t.Errorf("composer JSON read as YAML: got %v, want ErrUnknownField", err)
	}
}
