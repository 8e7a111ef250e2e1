package compile_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/wsk-route/wsk-route/composer"
	"github.com/wsk-route/wsk-route/composer/compile"
	"github.com/wsk-route/wsk-route/composer/parse"
	"github.com/wsk-route/wsk-route/internal/spec"
)

// shapes builds a workflow from fuzz bytes: each byte picks a construct
// (and its arity, merge, condition), so that the fuzzer explores how
// constructs nest rather than how files are spelled (parse.FuzzYAML does
// that). A repeat node makes long sequences, up to 65535 steps, for the
// size limits.
type shapes struct {
	data []byte
	i    int
}

func (g *shapes) next() int {
	if g.i >= len(g.data) {
		return 0
	}
	g.i++
	return int(g.data[g.i-1])
}

func (g *shapes) node(depth int) composer.Node {
	meta := composer.Meta{Path: fmt.Sprintf(".n%d", g.i)}
	if depth > 12 || g.i >= len(g.data) {
		return &composer.Action{Meta: meta, Name: fmt.Sprintf("a%d", g.i%4)}
	}
	switch b := g.next(); b % 15 {
	case 0, 1:
		return &composer.Action{Meta: meta, Name: fmt.Sprintf("a%d", b%4)}
	case 2:
		s := &composer.Sequence{Meta: meta}
		for n := g.next()%4 + 1; n > 0; n-- {
			s.Steps = append(s.Steps, g.node(depth+1))
		}
		return s
	case 3, 4:
		p := &composer.Parallel{Meta: meta}
		if b&16 != 0 {
			p.Merge = composer.MergeObject
		}
		for n := g.next()%3 + 1; n > 0; n-- {
			p.Branches = append(p.Branches, composer.Branch{Name: fmt.Sprintf("b%d", n), Node: g.node(depth + 1)})
		}
		return p
	case 5:
		return &composer.Map{Meta: meta, Over: "items", Body: g.node(depth + 1)}
	case 6:
		n := &composer.If{Meta: meta, Cond: g.cond(), Then: g.node(depth + 1)}
		if b&16 != 0 {
			n.Else = g.node(depth + 1)
		}
		return n
	case 7:
		n := &composer.Switch{Meta: meta}
		for k := g.next()%3 + 1; k > 0; k-- {
			n.Cases = append(n.Cases, composer.Case{Cond: g.cond(), Node: g.node(depth + 1)})
		}
		if b&16 != 0 {
			n.Default = g.node(depth + 1)
		}
		return n
	case 8:
		return &composer.While{Meta: meta, Cond: g.cond(), Do: b&16 != 0, Max: 3, Body: g.node(depth + 1)}
	case 9:
		return &composer.Try{Meta: meta, Body: g.node(depth + 1), Catch: g.node(depth + 1)}
	case 10:
		return &composer.Retry{Meta: meta, Max: 2, Body: g.node(depth + 1)}
	case 11:
		v := []string{`42`, `"done"`, `null`, `[1,2]`, `{"x":true}`, `{"items":[1,2]}`}[b%6]
		return &composer.Value{Meta: meta, Value: json.RawMessage(v)}
	case 12:
		return &composer.Pass{Meta: meta}
	case 13: // a long sequence of one node
		n := g.next()<<8 | g.next()
		s := &composer.Sequence{Meta: meta, Steps: make([]composer.Node, n+1)}
		one := g.node(depth + 1)
		for i := range s.Steps {
			s.Steps[i] = one
		}
		return s
	}
	return &composer.Action{Meta: meta, Name: "/ns/pkg/a"}
}

func (g *shapes) cond() composer.Cond {
	return composer.Cond{Path: []string{"x", "items", "value", "a0"}[g.next()%4], Op: composer.OpTruthy}
}

// FuzzCompile compiles workflows of every shape and checks that Compile
// never panics and either refuses the workflow for a reason it names
// (composer's problems, ErrTooLarge, ErrNeedsRoutePlane) or returns a
// spec that reads back, stays within spec.MaxSteps and, run on an input
// (when it has no loops or maps), gives a JSON object or array. A
// compiled spec that spec.Validate refuses is a compiler bug.
func FuzzCompile(f *testing.F) {
	for _, seed := range []string{"\x03\x02\x03\x02\x00\x01\x00", "\x02\x02\x03\x02\x00\x01\x00\x00", "\x0b", "\x02\x01\x0b\x00",
		"\x02\x02\x06\x00\x03\x02\x00\x01\x00", "\x0d\x01\x00\x00", "\x0d\xff\xff\x03\x01\x00", "\x09\x03\x01\x00\x00\x00"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g := &shapes{data: data}
		w := &composer.Workflow{Name: "w", Root: g.node(0)}
		s, err := compile.Compile(w, compile.Options{Namespace: "guest"})
		if err != nil {
			if !refusal(err) {
				t.Fatalf("not a refusal: %v", err)
			}
			return
		}
		raw, err := s.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := spec.Parse(raw); err != nil {
			t.Fatalf("the compiled spec does not read back: %v", err)
		}
		if len(s.Steps) > spec.MaxSteps {
			t.Fatalf("%d steps", len(s.Steps))
		}
		for _, st := range s.Steps {
			if st.Map != nil || st.Loop != nil {
				return // the runner runs neither
			}
		}
		if got := run(t, s, `{"x":1}`, false); got[0] != '{' && got[0] != '[' {
			t.Fatalf("the run's result %s is neither a JSON object nor an array", got)
		}
	})
}

// refusal reports whether every error joined in err is a problem of the
// workflow (a *composer.Error) or a construct the route plane does not
// run yet.
func refusal(err error) bool {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if !refusal(e) {
				return false
			}
		}
		return true
	}
	var ce *composer.Error
	return errors.As(err, &ce) || errors.Is(err, compile.ErrNeedsRoutePlane)
}

// compositions builds composer JSON from fuzz bytes: each byte picks a
// combinator of composer v0.12 (its arity, names, variant), so that the
// fuzzer explores compositions the conductor reads rather than JSON
// spelling (parse.FuzzComposer does that). names collects the actions
// named, as deployed in namespace guest.
type compositions struct {
	shapes
	names map[string]bool
}

// composerNames are names as a composition may spell them, and what each
// is deployed as in namespace guest.
var composerNames = [][2]string{
	{"a", "/guest/a"}, {"/_/a", "/guest/a"}, {"pkg/b", "/guest/pkg/b"}, {"/_/pkg/b", "/guest/pkg/b"},
	{"/other/c", "/other/c"}, {"other/pkg/d", "/other/pkg/d"}, {" e ", "/guest/e"},
}

func (g *compositions) name() string {
	n := composerNames[g.next()%len(composerNames)]
	g.names[n[1]] = true
	return n[0]
}

func (g *compositions) list(depth int) []any {
	cs := []any{}
	for n := g.next() % 4; n > 0; n-- {
		cs = append(cs, g.node(depth+1))
	}
	return cs
}

func (g *compositions) node(depth int) any {
	if depth > 8 || g.i >= len(g.data) {
		return g.name()
	}
	typ := func(types ...string) string { return types[g.next()%len(types)] }
	fn := map[string]any{"exec": map[string]any{"kind": "nodejs:default", "code": "p => p"}}
	switch g.next() % 18 {
	case 0:
		return g.name()
	case 1:
		return map[string]any{"type": "action", "name": g.name()}
	case 2:
		return map[string]any{"type": typ("sequence", "seq"), "components": g.list(depth)}
	case 3:
		if g.next()%2 == 0 {
			return nil
		}
		return map[string]any{"type": "empty"}
	case 4:
		return map[string]any{"type": typ("literal", "value"), "value": []any{1.0, "x", nil, map[string]any{"n": 1.0}}[g.next()%4]}
	case 5:
		return map[string]any{"type": "function", "function": fn}
	case 6:
		n := map[string]any{"type": typ("if", "if_nosave"), "test": g.node(depth + 1), "consequent": g.node(depth + 1)}
		if g.next()%2 == 0 {
			n["alternate"] = g.node(depth + 1)
		}
		return n
	case 7:
		return map[string]any{"type": typ("while", "while_nosave", "dowhile", "dowhile_nosave"), "test": g.node(depth + 1), "body": g.node(depth + 1)}
	case 8:
		return map[string]any{"type": "try", "body": g.node(depth + 1), "handler": g.node(depth + 1)}
	case 9:
		return map[string]any{"type": "finally", "body": g.node(depth + 1), "finalizer": g.node(depth + 1)}
	case 10:
		return map[string]any{"type": "let", "declarations": map[string]any{"x": 1.0}, "components": g.list(depth)}
	case 11:
		return map[string]any{"type": "mask", "components": g.list(depth)}
	case 12:
		return map[string]any{"type": typ("retain", "retain_catch", "merge"), "components": g.list(depth)}
	case 13:
		return map[string]any{"type": typ("parallel", "par", "map"), "components": g.list(depth)}
	case 14:
		return map[string]any{"type": "async", "components": g.list(depth)}
	case 15:
		return map[string]any{"type": typ("repeat", "retry"), "count": float64(g.next() % 3), "components": g.list(depth)}
	case 16:
		return map[string]any{"type": "dynamic"}
	}
	return map[string]any{"type": "composition", "name": g.name()} // before composer v0.12
}

// FuzzCompileConducted compiles compositions of every combinator: parse
// accepts each, and it compiles to a spec that validates, with one step
// per action it names, deployed in namespace guest and caught by
// CaughtStep, starting at StartStep.
func FuzzCompileConducted(f *testing.F) {
	for _, seed := range []string{"", "\x01\x00", "\x02\x03\x00\x01\x02\x05", "\x06\x00\x00\x02\x00\x04\x00\x05", "\x10", "\x0a\x02\x0b\x01\x07\x00\x03\x00\x04"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g := &compositions{shapes: shapes{data: data}, names: map[string]bool{}}
		var doc any = g.node(0)
		if _, ok := doc.(map[string]any); !ok { // a name or null: not a document
			doc = map[string]any{"type": "seq", "components": []any{doc}}
		}
		if len(data) > 0 && data[0]&0x80 != 0 { // compile()'s output, as composer's conductor reads it
			doc = map[string]any{"ast": doc, "version": "0.12.0"}
		}
		src, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		w, err := parse.Composer("f.json", src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		s, err := compile.Compile(w, compile.Options{Namespace: "guest"})
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if len(s.Steps) != len(g.names)+2 {
			t.Fatalf("%s: got steps %v, want one for each of %v, %s and %s", src, s.StepIDs(), g.names, compile.StartStep, compile.CaughtStep)
		}
		for id, st := range s.Steps {
			switch {
			case id == compile.StartStep:
				if !s.IsValue(id) || len(st.Next) != 0 {
					t.Fatalf("%s: got %+v", id, st)
				}
			case id == compile.CaughtStep:
				if st.Action != "" || len(st.Next) != 0 {
					t.Fatalf("%s: got %+v", id, st)
				}
			case !g.names[st.Action] || len(st.Catch) != 1 || st.Catch[0] != compile.CaughtStep:
				t.Fatalf("%s: step %s: got %+v, want one of %v, caught", src, id, st, g.names)
			}
		}
		if len(s.Start) != 1 || s.Start[0] != compile.StartStep {
			t.Fatalf("%s: start %v, want %s", src, s.Start, compile.StartStep)
		}
	})
}
