package parse

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/wsk-route/wsk-route/composer"
	"gopkg.in/yaml.v3"
)

// Composer reads the JSON that openwhisk-composer's compose emits: the
// {"composition", "ast", "version", "actions"} form (the "ast", the
// composition as written, is read when present; else the lowered
// "composition") or a bare node {"type": ...}. The workflow is named
// after file (its base name without extension); callers may rename it.
//
// Combinators read: sequence/seq, action, empty, literal/value, try,
// retry, parallel/par, map, if, while and dowhile (their test a pure
// condition: a function like "args => args.n > 3" or a constant one), and
// function where its code returns a literal. The "actions" (the action
// definitions composer embeds: name, exec, limits, parameters,
// annotations) become the workflow's Actions, with their code inline. A literal's (or such a
// function's) value that is not a JSON object becomes {"value": v}, as
// composer's conductor shapes it. Everything else is refused with
// ErrNotSupported, naming the combinator, its path and why.
func Composer(file string, data []byte) (*composer.Workflow, error) {
	t := &tree{problems: problems{file: file}}
	root, ok := t.jsonDocument(data)
	if !ok {
		return nil, t.l.Err()
	}
	name := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	w := &composer.Workflow{Meta: composer.Meta{Pos: t.at(root)}, Name: name}
	if root.Kind != yaml.MappingNode {
		t.invalid(root, "", "a composition must be a JSON object, not %s", kindName(root))
		return nil, t.l.Err()
	}
	isWrapper := false
	for i := 0; i < len(root.Content); i += 2 {
		switch root.Content[i].Value {
		case "composition", "ast", "version", "actions":
			isWrapper = true
		}
	}
	if !isWrapper {
		w.Root = t.cnode(root, "", 0)
		return t.finish(w)
	}
	es, _ := t.entries(root, "", "a composition")
	f := t.fields(es, &w.Meta, root, "", []string{"composition", "ast", "version", "actions"})
	if v := f["version"]; v != nil {
		t.str(v, ".version", "version")
	}
	if a := f["actions"]; a != nil {
		w.Actions = t.composerActions(a)
	}
	switch {
	case f["ast"] != nil:
		w.Root = t.cnode(f["ast"], ".ast", 0)
	case f["composition"] != nil:
		w.Root = t.cnode(f["composition"], ".composition", 0)
	default:
		t.invalid(root, "", "neither ast nor composition: nothing to run")
		w.Root = t.placeholder(root, "")
	}
	return t.finish(w)
}

// jsonDocument checks data is one JSON object and reads it as a YAML node
// tree, which gives positions; JSON that the YAML reader refuses is read
// again without them.
func (t *tree) jsonDocument(data []byte) (*yaml.Node, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var raw json.RawMessage // checks the syntax without building the value
	if err := dec.Decode(&raw); err != nil {
		line, col := lineCol(data, dec.InputOffset())
		if se, ok := err.(*json.SyntaxError); ok {
			line, col = lineCol(data, se.Offset)
		}
		t.add(composer.ErrInvalid, line, col, "", "JSON syntax: %v", err)
		return nil, false
	}
	if rest := bytes.TrimLeft(data[dec.InputOffset():], " \t\r\n"); len(rest) != 0 {
		line, col := lineCol(data, int64(len(data)-len(rest)))
		t.add(composer.ErrInvalid, line, col, "", "trailing data after the JSON value")
		return nil, false
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err == nil && doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		return doc.Content[0], true
	}
	dec = json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.add(composer.ErrInvalid, 1, 1, "", "cannot read the JSON: %v", err)
		return nil, false
	}
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		t.add(composer.ErrInvalid, 1, 1, "", "cannot read the JSON: %v", err)
		return nil, false
	}
	return &n, true
}

func lineCol(data []byte, off int64) (int, int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	line, col := 1, 1
	for _, c := range data[:off] {
		if c == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

// refusals says why each combinator wsk-route does not read is refused.
var refusals = map[string]string{
	"while_nosave":   "its body receives the test's result, not the input; use while with a pure condition",
	"dowhile_nosave": "its body receives the test's result, not the input; use dowhile with a pure condition",
	"repeat":         "the route spec is a DAG; unroll it into a sequence",
	"let":            "variables live in the conductor's stack; pass data in the value instead",
	"mask":           "it only makes sense with let",
	"finally":        "use try with a catch that ends the same way",
	"retain":         "it keeps the input beside the result in the conductor; use parallel with a pass-through action",
	"retain_catch":   "it keeps the input beside the result in the conductor; use parallel with a pass-through action",
	"merge":          "it merges with the conductor's saved input; do it in an action",
	"dynamic":        "the action to run is only known at run time; the route spec names every step's action",
	"async":          "wsk-route runs every step to completion within the run's deadline; invoke the action separately",
	"if_nosave":      "its branches receive the test's result, not the input; use if with a pure condition",
	"task":           "use action, function or a nested composition",
}

// impureTest starts the reason an if, while or dowhile whose test is not
// a pure condition is refused.
const impureTest = "its test must be a pure condition (a function like \"args => args.n > 3\"), since the route plane does not run a test action"

// testOf reads the test of an if or a loop as a condition: none is a
// truthy value; false when the test is not a pure condition.
func (t *tree) testOf(tn *yaml.Node, meta composer.Meta, path string, depth int) (composer.Cond, bool) {
	if tn == nil {
		return composer.Cond{Meta: meta, Op: composer.OpTruthy}, true
	}
	return t.ctest(tn, path+".test", depth)
}

// cnode reads one openwhisk-composer node.
func (t *tree) cnode(n *yaml.Node, path string, depth int) composer.Node {
	if depth > MaxDepth {
		t.invalid(n, path, "combinators nest deeper than %d levels", MaxDepth)
		return t.placeholder(n, path)
	}
	if !t.countNode(n.Line, n.Column, path) {
		return t.placeholder(n, path)
	}
	meta := composer.Meta{Pos: t.at(n), Path: path}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" { // a bare action name, as in components
		if !t.countStep(n.Line, n.Column, path) {
			return t.placeholder(n, path)
		}
		return &composer.Action{Meta: meta, Name: n.Value}
	}
	es, ok := t.entries(n, path, "a combinator")
	if !ok {
		return t.placeholder(n, path)
	}
	var typ string
	for _, e := range es {
		if e.key == "type" {
			typ, _ = t.str(e.value, path+".type", "type")
		}
	}
	if typ == "" {
		t.invalid(n, path, "combinator without a type")
		return t.placeholder(n, path)
	}
	field := func(allowed []string, required ...string) map[string]*yaml.Node {
		return t.fields(es, &meta, n, path, append(allowed, "type", "path"), required...)
	}
	notSupported := func(why string) composer.Node {
		t.errf(composer.ErrNotSupported, n, path, "not supported: %s at %s: %s", typ, displayPath(path), why)
		return t.placeholder(n, path)
	}
	switch typ {
	case "action", "literal", "value", "function": // each becomes a step
		if !t.countStep(n.Line, n.Column, path) {
			return t.placeholder(n, path)
		}
	}
	switch typ {
	case "action":
		f := field([]string{"name", "action"}, "name")
		if v := f["name"]; v != nil {
			if name, ok := t.str(v, path+".name", "name"); ok {
				return &composer.Action{Meta: meta, Name: name}
			}
		}
		return t.placeholder(n, path)
	case "sequence", "seq":
		f := field([]string{"components"})
		return t.components(meta, f["components"], path+".components", depth)
	case "empty":
		field(nil)
		return &composer.Pass{Meta: meta}
	case "literal", "value":
		f := field([]string{"value"}, "value")
		if v := f["value"]; v != nil {
			if raw, ok := t.jsonValue(v, path+".value", depth); ok {
				return &composer.Value{Meta: meta, Value: conductorShape(raw)}
			}
		}
		return t.placeholder(n, path)
	case "function":
		f := field([]string{"function"}, "function")
		code, ok := t.functionCode(f["function"], path+".function")
		if !ok {
			return t.placeholder(n, path)
		}
		lit, ok := constantFunction(code)
		if !ok {
			return notSupported("inline code runs only in the conductor; make it an action, or return a literal")
		}
		return &composer.Value{Meta: meta, Value: conductorShape(lit)}
	case "try":
		f := field([]string{"body", "handler"}, "body", "handler")
		tr := &composer.Try{Meta: meta}
		tr.Body = t.csub(f, "body", path, depth, n)
		tr.Catch = t.csub(f, "handler", path, depth, n)
		return tr
	case "retry":
		f := field([]string{"count", "components"}, "count")
		r := &composer.Retry{Meta: meta, Max: 1}
		if c := f["count"]; c != nil {
			if v, ok := t.integer(c, path+".count", "count"); ok {
				if v < 0 {
					t.invalid(c, path+".count", "count %d is negative", v)
				} else {
					r.Max = v + 1
				}
			}
		}
		r.Body = t.components(meta, f["components"], path+".components", depth)
		return r
	case "parallel", "par":
		f := field([]string{"components"})
		p := &composer.Parallel{Meta: meta}
		if c := f["components"]; c != nil && t.isList(c, path+".components") {
			for i, b := range c.Content {
				if t.full() {
					break
				}
				p.Branches = append(p.Branches, composer.Branch{Pos: t.at(b), Node: t.cnode(b, fmt.Sprintf("%s.components[%d]", path, i), depth+1)})
			}
		}
		return p
	case "map":
		f := field([]string{"components"})
		return &composer.Map{Meta: meta, Over: "value", Body: t.components(meta, f["components"], path+".components", depth)}
	case "if":
		f := field([]string{"test", "consequent", "alternate"}, "test", "consequent")
		in := &composer.If{Meta: meta}
		c, ok := t.testOf(f["test"], meta, path, depth)
		if !ok {
			return notSupported(impureTest + " before branching")
		}
		in.Cond = c
		in.Then = t.csub(f, "consequent", path, depth, n)
		if f["alternate"] != nil {
			in.Else = t.csub(f, "alternate", path, depth, n)
			if _, pass := in.Else.(*composer.Pass); pass {
				in.Else = nil
			}
		}
		return in
	case "while", "dowhile":
		// Both save the value around the test, as if does: the body (and
		// what follows the loop) gets the value, not the test's result.
		f := field([]string{"test", "body"}, "test", "body")
		w := &composer.While{Meta: meta, Do: typ == "dowhile"}
		c, ok := t.testOf(f["test"], meta, path, depth)
		if !ok {
			return notSupported(impureTest + " on each iteration")
		}
		w.Cond = c
		w.Body = t.csub(f, "body", path, depth, n)
		return w
	}
	if why, ok := refusals[typ]; ok {
		return notSupported(why)
	}
	t.invalid(n, path, "unknown combinator type %q", typ)
	return t.placeholder(n, path)
}

// conductorShape shapes a literal's or a function's value as
// openwhisk-composer's conductor does after every step: a value that is
// not a JSON object (an array too) becomes {"value": v}.
func conductorShape(v json.RawMessage) json.RawMessage {
	if c := bytes.TrimSpace(v); len(c) > 0 && c[0] == '{' {
		return v
	}
	return append(append([]byte(`{"value":`), bytes.TrimSpace(v)...), '}')
}

func displayPath(p string) string {
	if p == "" {
		return "the root"
	}
	return p
}

func (t *tree) isList(n *yaml.Node, path string) bool {
	if n.Kind != yaml.SequenceNode {
		t.invalid(n, path, "components must be a list, not %s", kindName(n))
		return false
	}
	return true
}

// components reads a components list as one node: the component itself
// when there is one, a sequence otherwise (empties dropped).
func (t *tree) components(meta composer.Meta, c *yaml.Node, path string, depth int) composer.Node {
	if c == nil || !t.isList(c, path) {
		if c == nil {
			return &composer.Pass{Meta: meta}
		}
		return t.placeholder(c, path)
	}
	var steps []composer.Node
	for i, s := range c.Content {
		if t.full() {
			break
		}
		n := t.cnode(s, fmt.Sprintf("%s[%d]", path, i), depth+1)
		if p, pass := n.(*composer.Pass); pass && len(p.Unknown) == 0 {
			continue
		}
		steps = append(steps, n)
	}
	switch len(steps) {
	case 0:
		return &composer.Pass{Meta: meta}
	case 1:
		return steps[0]
	}
	return &composer.Sequence{Meta: meta, Steps: steps}
}

func (t *tree) csub(f map[string]*yaml.Node, key, path string, depth int, parent *yaml.Node) composer.Node {
	if v := f[key]; v != nil {
		return t.cnode(v, path+"."+key, depth+1)
	}
	return t.placeholder(parent, path)
}

// functionCode returns the code of a function combinator's
// {"exec": {"kind", "code"}} (or a bare code string).
func (t *tree) functionCode(n *yaml.Node, path string) (string, bool) {
	if n == nil {
		return "", false
	}
	if n.Kind == yaml.ScalarNode {
		return t.str(n, path, "function")
	}
	es, ok := t.entries(n, path, "function")
	if !ok {
		return "", false
	}
	var m composer.Meta
	f := t.fields(es, &m, n, path, []string{"exec"}, "exec")
	t.reportUnknown(m)
	if f["exec"] == nil {
		return "", false
	}
	ees, ok := t.entries(f["exec"], path+".exec", "exec")
	if !ok {
		return "", false
	}
	ef := t.fields(ees, &m, f["exec"], path+".exec", []string{"kind", "code"}, "code")
	t.reportUnknown(m)
	if ef["code"] == nil {
		return "", false
	}
	return t.str(ef["code"], path+".exec.code", "code")
}

func (t *tree) reportUnknown(m composer.Meta) {
	for _, u := range m.Unknown {
		t.l = append(t.l, composer.Errorf(composer.ErrUnknownField, u.Pos, u.Path, "unknown field %q", u.Key))
	}
}

// ctest reads the test of an if as a pure condition: a function whose
// code is a recognised test, or a literal (a constant test).
func (t *tree) ctest(n *yaml.Node, path string, depth int) (composer.Cond, bool) {
	es, ok := t.entries(n, path, "a test")
	if !ok {
		return composer.Cond{}, false
	}
	var typ string
	for _, e := range es {
		if e.key == "type" {
			typ, _ = t.str(e.value, path+".type", "type")
		}
	}
	if typ != "function" {
		return composer.Cond{}, false
	}
	var m composer.Meta
	f := t.fields(es, &m, n, path, []string{"type", "path", "function"}, "function")
	t.reportUnknown(m)
	code, ok := t.functionCode(f["function"], path+".function")
	if !ok {
		return composer.Cond{}, false
	}
	c, ok := testFunction(code)
	if !ok {
		return composer.Cond{}, false
	}
	c.Meta.Pos, c.Meta.Path = t.at(n), path
	return c, true
}

// File reads a workflow file, choosing the format by extension: ".json"
// is openwhisk-composer's JSON, anything else the wsk-route YAML.
func File(name string, data []byte) (*composer.Workflow, error) {
	if strings.EqualFold(filepath.Ext(name), ".json") {
		return Composer(name, data)
	}
	return YAML(name, data)
}
