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
	"github.com/wsk-route/wsk-route/internal/conductor"
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

// TestComposer reads openwhisk-composer JSON, every combinator of
// composer v0.12: each is accepted as it is (the workflow's Composition
// is the document, its Root nil), to be conducted with composer's
// semantics. names are the actions the composition invokes by name, in
// order, as the conductor reads them (the "composition" of compile()'s
// output when there is one, else the "ast").
func TestComposer(t *testing.T) {
	tests := []struct {
		name, src string
		names     []string
	}{
		{"action", `{"type":"action","name":"/_/a"}`, []string{"/_/a"}},
		{"names qualified as composer does", `{"type":"seq","components":["a","p/b","ns/p/c","/ns/d"," e "]}`, []string{"/_/a", "/_/p/b", "/ns/p/c", "/ns/d", "/_/e"}},
		{"null and empty", `{"type":"sequence","components":[null,{"type":"empty"},"a"]}`, []string{"/_/a"}},
		{"repeated action named once", `{"type":"seq","components":["a","b","a","/_/b"]}`, []string{"/_/a", "/_/b"}},
		{"literal", `{"type":"literal","value":{"a":[1,2]}}`, nil},
		{"value, a string", `{"type":"value","value":"x"}`, nil},
		{"function with code", fn(`args => { args.n++; return args }`), nil},
		{"function computing", `{"type":"seq","components":["fetch",` + fn(`args => ({ sum: args.a + args.b })`) + `]}`, []string{"/_/fetch"}},
		{"let", `{"type":"let","declarations":{"n":0,"s":"x"},"components":[{"type":"action","name":"count"}]}`, []string{"/_/count"}},
		{"mask", `{"type":"let","declarations":{"n":0},"components":[{"type":"mask","components":["a"]}]}`, []string{"/_/a"}},
		{"finally", `{"type":"finally","body":"a","finalizer":"b"}`, []string{"/_/a", "/_/b"}},
		{"retain", `{"type":"retain","components":["a"]}`, []string{"/_/a"}},
		{"retain_catch", `{"type":"retain_catch","components":["a"]}`, []string{"/_/a"}},
		{"merge", `{"type":"merge","components":["a"]}`, []string{"/_/a"}},
		{"dynamic", `{"type":"dynamic"}`, nil},
		{"async", `{"type":"async","components":["a","b"]}`, []string{"/_/a", "/_/b"}},
		{"repeat", `{"type":"repeat","count":3,"components":["a"]}`, []string{"/_/a"}},
		{"retry", `{"type":"retry","count":2,"components":["a"]}`, []string{"/_/a"}},
		{"try", `{"type":"try","body":"a","handler":"b"}`, []string{"/_/a", "/_/b"}},
		{"parallel and map", `{"type":"seq","components":[{"type":"par","components":["a","b"]},{"type":"map","components":["c"]}]}`, []string{"/_/a", "/_/b", "/_/c"}},
		{"if with an action test", `{"type":"if","test":"auth","consequent":"a","alternate":"b"}`, []string{"/_/auth", "/_/a", "/_/b"}},
		{"if with a compound function test", `{"type":"if","test":` + fn(`p => p.a > 1 && p.b`) + `,"consequent":"a"}`, []string{"/_/a"}},
		{"if_nosave", `{"type":"if_nosave","test":"t","consequent":"c"}`, []string{"/_/t", "/_/c"}},
		{"while with an action test", `{"type":"while","test":"t","body":"b"}`, []string{"/_/t", "/_/b"}},
		// ActionNames visits a test before a body, a dowhile's too.
		{"dowhile with an action test", `{"type":"dowhile","body":"b","test":"t"}`, []string{"/_/t", "/_/b"}},
		{"while_nosave", `{"type":"while_nosave","test":` + fn(`p => p.ok`) + `,"body":"b"}`, []string{"/_/b"}},
		{"dowhile_nosave", `{"type":"dowhile_nosave","body":"b","test":"t"}`, []string{"/_/t", "/_/b"}},
		{"composition, composer before v0.12", `{"type":"composition","name":"other"}`, []string{"/_/other"}},
		{"wrapper runs the composition, not the ast", `{"composition":{"type":"action","name":"/_/run","path":""},"ast":{"type":"let"},"version":"0.12.0"}`, []string{"/_/run"}},
		{"wrapper with only an ast", `{"ast":{"type":"if","test":"t","consequent":"a"},"version":"0.12.0","actions":[]}`, []string{"/_/t", "/_/a"}},
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
			if w.Root != nil {
				t.Errorf("root: got %#v, want nil", w.Root)
			}
			if string(w.Composition) != tt.src {
				t.Errorf("composition: got %s, want the document", w.Composition)
			}
			if got, want := w.Pos.String(), "demo.json:1:1"; got != want {
				t.Errorf("pos: got %s, want %s", got, want)
			}
			c, err := conductor.Decode(w.Composition, conductor.Limits{})
			if err != nil {
				t.Fatalf("the conductor refuses what parse accepted: %v", err)
			}
			if got, want := strings.Join(c.ActionNames(), " "), strings.Join(tt.names, " "); got != want {
				t.Errorf("actions: got %q, want %q", got, want)
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

// TestComposerRefused lists composer JSON that must be refused, with
// every problem: its position, JSON path in the document and why.
func TestComposerRefused(t *testing.T) {
	tests := []struct {
		name, src string
		sentinel  error
		want      []string
	}{
		{"not an object", `["a"]`, composer.ErrInvalid,
			[]string{"c.json:1:1: a composition must be a JSON object, not a list"}},
		{"unknown combinator, deep", `{"type":"seq","components":["a",{"type":"try","body":"b","handler":{"type":"frobnicate"}}]}`, composer.ErrInvalid,
			[]string{`c.json:1:68: .components[1].handler: unknown combinator "frobnicate"`}},
		{"in the composition of a wrapper", "{\"version\": \"0.12.0\",\n \"composition\": {\"type\": \"let\", \"components\": []}}", composer.ErrInvalid,
			[]string{`c.json:2:17: .composition: let needs "declarations"`}},
		{"in the ast of a wrapper", "{\"ast\": {\"type\": \"seq\", \"components\": [\"a\",\n  {\"type\": \"action\", \"name\": 3}]}}", composer.ErrInvalid,
			[]string{`c.json:2:30: .ast.components[1].name: Name must be a string`}},
		{"a function not in JavaScript", `{"type":"function","function":{"exec":{"kind":"python:3","code":"x"}}}`, composer.ErrInvalid,
			[]string{`c.json:1:47: .function.exec.kind: only JavaScript functions run in a composition, not "python:3"`}},
		{"a bad action name", `{"type":"seq","components":["a//b"]}`, composer.ErrInvalid,
			[]string{`c.json:1:29: .components[0]: Name is not valid: "a//b"`}},
		{"declarations not an object", `{"type":"let","declarations":[1],"components":[]}`, composer.ErrInvalid,
			[]string{`c.json:1:30: .declarations: Invalid argument "declarations" in "let" combinator: not an object`}},
		{"a repeated key", "{\"type\": \"action\",\n \"name\": \"a\",\n \"name\": \"b\"}", composer.ErrInvalid,
			[]string{`c.json:3:2: key "name" repeated (first at line 2)`}},
		{"a repeated key in a declaration", `{"type":"let","declarations":{"n":{"a":1,"a":2}},"components":[]}`, composer.ErrInvalid,
			[]string{`c.json:1:42: .declarations.n: key "a" repeated (first at line 1)`}},
		{"actions beside a bare combinator", `{"type":"action","name":"a","actions":[]}`, composer.ErrInvalid,
			[]string{`c.json:1:1: action has no field "actions"`}},
		{"neither composition nor ast", `{"version":"0.12.0"}`, composer.ErrInvalid,
			[]string{"c.json:1:1: neither composition nor ast: nothing to run"}},
		{"an unknown wrapper field", `{"composition":"a","comment":"x"}`, composer.ErrUnknownField,
			[]string{`c.json:1:20: .comment: unknown field "comment" in workflow`}},
		{"nested too deep", strings.Repeat(`{"type":"mask","components":[`, 202) + `"a"` + strings.Repeat(`]}`, 202), composer.ErrTooLarge,
			// the 202nd mask, 201 levels down, at column 201*29+1
			[]string{`c.json:1:5830: ` + strings.Repeat(".components[0]", 201) + `: combinators nest deeper than 200`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := parse.Composer("c.json", []byte(tt.src))
			if err == nil {
				t.Fatalf("accepted: %s", w.Composition)
			}
			if !errors.Is(err, tt.sentinel) {
				t.Errorf("got %v, want %v", err, tt.sentinel)
			}
			if got, want := err.Error(), strings.Join(tt.want, "\n"); got != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
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
