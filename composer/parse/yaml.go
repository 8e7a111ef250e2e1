package parse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/wsk-route/wsk-route/composer"
	"gopkg.in/yaml.v3"
)

// kinds lists the construct keys of a YAML node mapping.
var kinds = []string{"action", "sequence", "parallel", "map", "if", "switch", "while", "do-while", "try", "retry", "value", "pass"}

// opNames maps the operator spellings the YAML format accepts to ops;
// the word forms spare the quoting that ">" needs in YAML.
var opNames = map[string]composer.Op{
	"==": composer.OpEq, "eq": composer.OpEq,
	"!=": composer.OpNe, "ne": composer.OpNe,
	"<": composer.OpLt, "lt": composer.OpLt,
	"<=": composer.OpLe, "le": composer.OpLe,
	">": composer.OpGt, "gt": composer.OpGt,
	">=": composer.OpGe, "ge": composer.OpGe,
	"exists": composer.OpExists, "truthy": composer.OpTruthy,
}

// YAML reads a workflow in the wsk-route YAML format. file names the
// input in positions. It returns every problem as a composer.ErrorList.
func YAML(file string, data []byte) (*composer.Workflow, error) {
	t := &tree{problems: problems{file: file}}
	doc, ok := t.document(data)
	if !ok {
		return nil, t.l.Err()
	}
	w := t.workflow(doc)
	return t.finish(w)
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// document reads the one YAML document in data.
func (t *tree) document(data []byte) (*yaml.Node, bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	err := dec.Decode(&doc)
	if errors.Is(err, io.EOF) {
		t.add(composer.ErrInvalid, 1, 1, "", "empty file: want a mapping with name and steps")
		return nil, false
	}
	if err != nil {
		t.syntax(err)
		return nil, false
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		if err != nil {
			t.syntax(err)
		} else {
			t.invalid(&more, "", "a second YAML document: a file holds one workflow")
		}
		return nil, false
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		t.add(composer.ErrInvalid, 1, 1, "", "empty file: want a mapping with name and steps")
		return nil, false
	}
	return doc.Content[0], true
}

// syntax reports a YAML syntax error at the line it names.
func (t *tree) syntax(err error) {
	msg := err.Error()
	line := 0
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	t.add(composer.ErrInvalid, line, 0, "", "YAML syntax: %s", msg)
}

func (t *tree) workflow(n *yaml.Node) *composer.Workflow {
	w := &composer.Workflow{Meta: composer.Meta{Pos: t.at(n)}}
	es, ok := t.entries(n, "", "a workflow file")
	if !ok {
		return nil
	}
	// A missing name is reported by composer.Validate, once.
	f := t.fields(es, &w.Meta, n, "", []string{"name", "namespace", "description", "steps", "actions"}, "steps")
	if v := f["name"]; v != nil {
		w.Name, _ = t.str(v, ".name", "name")
		w.NamePos = t.at(v)
	}
	if v := f["namespace"]; v != nil {
		w.Namespace, _ = t.str(v, ".namespace", "namespace")
		w.NamespacePos = t.at(v)
	}
	if v := f["description"]; v != nil {
		t.str(v, ".description", "description")
	}
	if v := f["steps"]; v != nil {
		if v.Kind != yaml.SequenceNode {
			t.invalid(v, ".steps", "steps must be a list of steps, not %s", kindName(v))
			w.Root = &composer.Pass{Meta: composer.Meta{Pos: t.at(v), Path: ".steps"}}
		} else {
			w.Root = t.node(v, ".steps", 0)
		}
	} else {
		w.Root = &composer.Pass{Meta: composer.Meta{Pos: w.Pos}}
	}
	if v := f["actions"]; v != nil {
		w.Actions = t.actions(v)
	}
	return w
}

// placeholder stands in for a node that could not be read (already
// reported), so that Validate does not report it again as missing.
func (t *tree) placeholder(n *yaml.Node, path string) composer.Node {
	return &composer.Pass{Meta: composer.Meta{Pos: t.at(n), Path: path}}
}

// node reads one step: an action name, a list (a sequence), or a mapping
// with one construct key.
func (t *tree) node(n *yaml.Node, path string, depth int) composer.Node {
	if depth > MaxDepth {
		t.invalid(n, path, "steps nest deeper than %d levels", MaxDepth)
		return t.placeholder(n, path)
	}
	if !t.checkAlias(n, path) {
		return t.placeholder(n, path)
	}
	if !t.countNode(n.Line, n.Column, path) || n.Kind == yaml.ScalarNode && !t.countStep(n.Line, n.Column, path) {
		return t.placeholder(n, path)
	}
	meta := composer.Meta{Pos: t.at(n), Path: path}
	switch n.Kind {
	case yaml.ScalarNode:
		name, ok := t.str(n, path, "a step (an action name)")
		if !ok {
			return t.placeholder(n, path)
		}
		return &composer.Action{Meta: meta, Name: name}
	case yaml.SequenceNode:
		return &composer.Sequence{Meta: meta, Steps: t.list(n, path, depth)}
	case yaml.MappingNode:
	default:
		t.invalid(n, path, "a step must be an action name, a list or a mapping, not %s", kindName(n))
		return t.placeholder(n, path)
	}
	es, _ := t.entries(n, path, "a step")
	var kind *entry
	for i, e := range es {
		for _, k := range kinds {
			if e.key != k {
				continue
			}
			if kind != nil {
				t.invalid(e.keyN, path, "a step holds one construct, but this one has both %q and %q", kind.key, e.key)
				return t.placeholder(n, path)
			}
			kind = &es[i]
		}
	}
	if kind == nil {
		keys := make([]string, len(es))
		for i, e := range es {
			keys[i] = e.key
		}
		t.invalid(n, path, "a step mapping needs one of %s; found %s", strings.Join(kinds, ", "), strings.Join(keys, ", "))
		return t.placeholder(n, path)
	}
	for _, e := range es {
		if e.key != kind.key {
			meta.Unknown = append(meta.Unknown, composer.Field{Key: e.key, Path: path + "." + e.key, Pos: t.at(e.keyN)})
		}
	}
	v, sub := kind.value, path+"."+kind.key
	if (kind.key == "action" || kind.key == "value") && !t.countStep(n.Line, n.Column, path) {
		return t.placeholder(n, path)
	}
	switch kind.key {
	case "action":
		name, ok := t.str(v, sub, "action")
		if !ok {
			return t.placeholder(n, path)
		}
		return &composer.Action{Meta: meta, Name: name}
	case "sequence":
		if v.Kind != yaml.SequenceNode {
			t.invalid(v, sub, "sequence must be a list of steps, not %s", kindName(v))
			return t.placeholder(n, path)
		}
		return &composer.Sequence{Meta: meta, Steps: t.list(v, sub, depth)}
	case "parallel":
		return t.parallel(meta, v, sub, depth)
	case "map":
		return t.mapNode(meta, v, sub, depth)
	case "if":
		return t.ifNode(meta, v, sub, depth)
	case "switch":
		return t.switchNode(meta, v, sub, depth)
	case "while", "do-while":
		return t.whileNode(meta, v, sub, depth, kind.key == "do-while")
	case "try":
		return t.tryNode(meta, v, sub, depth)
	case "retry":
		return t.retryNode(meta, v, sub, depth)
	case "value":
		raw, ok := t.jsonValue(v, sub, depth)
		if !ok {
			return t.placeholder(n, path)
		}
		return &composer.Value{Meta: meta, Value: raw}
	default: // pass
		if !(v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null") && !(v.Kind == yaml.MappingNode && len(v.Content) == 0) {
			t.invalid(v, sub, "pass takes nothing: write pass: {}")
		}
		return &composer.Pass{Meta: meta}
	}
}

func (t *tree) list(n *yaml.Node, path string, depth int) []composer.Node {
	steps := make([]composer.Node, 0, len(n.Content))
	for i, c := range n.Content {
		if t.full() {
			break
		}
		steps = append(steps, t.node(c, fmt.Sprintf("%s[%d]", path, i), depth+1))
	}
	return steps
}

// sub reads an optional or required sub-node of a construct.
func (t *tree) sub(f map[string]*yaml.Node, key, path string, depth int) composer.Node {
	v := f[key]
	if v == nil {
		return nil
	}
	return t.node(v, path+"."+key, depth+1)
}

// required reads the node of a required field (sub), or a placeholder
// when it is missing (fields has reported that already).
func (t *tree) required(f map[string]*yaml.Node, key string, v *yaml.Node, path string, depth int) composer.Node {
	if n := t.sub(f, key, path, depth); n != nil {
		return n
	}
	return t.placeholder(v, path)
}

// condField reads the cond field of an if or a loop at v; a missing one
// (reported by fields) reads as truthy.
func (t *tree) condField(f map[string]*yaml.Node, v *yaml.Node, path string, depth int) composer.Cond {
	if c := f["cond"]; c != nil {
		return t.cond(c, path+".cond", depth+1)
	}
	return composer.Cond{Meta: composer.Meta{Pos: t.at(v), Path: path}, Op: composer.OpTruthy}
}

func (t *tree) parallel(meta composer.Meta, v *yaml.Node, path string, depth int) composer.Node {
	p := &composer.Parallel{Meta: meta}
	branches := v
	if v.Kind == yaml.MappingNode {
		es, _ := t.entries(v, path, "parallel")
		f := t.fields(es, &p.Meta, v, path, []string{"branches", "merge"}, "branches")
		if m := f["merge"]; m != nil {
			s, _ := t.str(m, path+".merge", "merge")
			p.Merge = composer.Merge(s)
		}
		branches = f["branches"]
		path += ".branches"
		if branches == nil {
			return t.placeholder(v, meta.Path)
		}
	}
	switch branches.Kind {
	case yaml.SequenceNode:
		for i, c := range branches.Content {
			if t.full() {
				break
			}
			p.Branches = append(p.Branches, composer.Branch{Pos: t.at(c), Node: t.node(c, fmt.Sprintf("%s[%d]", path, i), depth+1)})
		}
	case yaml.MappingNode:
		es, _ := t.entries(branches, path, "branches")
		for _, e := range es {
			if t.full() {
				break
			}
			p.Branches = append(p.Branches, composer.Branch{Name: e.key, Pos: t.at(e.keyN), Node: t.node(e.value, path+"."+e.key, depth+1)})
		}
	default:
		t.invalid(branches, path, "branches must be a list (unnamed) or a mapping (named), not %s", kindName(branches))
	}
	return p
}

func (t *tree) mapNode(meta composer.Meta, v *yaml.Node, path string, depth int) composer.Node {
	m := &composer.Map{Meta: meta}
	es, ok := t.entries(v, path, "map")
	if !ok {
		return t.placeholder(v, meta.Path)
	}
	f := t.fields(es, &m.Meta, v, path, []string{"over", "do", "concurrency"}, "do")
	if o := f["over"]; o != nil {
		m.Over, _ = t.str(o, path+".over", "over")
	}
	if c := f["concurrency"]; c != nil {
		m.Concurrency, _ = t.integer(c, path+".concurrency", "concurrency")
	}
	m.Body = t.required(f, "do", v, path, depth)
	return m
}

func (t *tree) ifNode(meta composer.Meta, v *yaml.Node, path string, depth int) composer.Node {
	n := &composer.If{Meta: meta}
	es, ok := t.entries(v, path, "if")
	if !ok {
		return t.placeholder(v, meta.Path)
	}
	f := t.fields(es, &n.Meta, v, path, []string{"cond", "then", "else"}, "cond", "then")
	n.Cond = t.condField(f, v, path, depth)
	n.Then = t.required(f, "then", v, path, depth)
	n.Else = t.sub(f, "else", path, depth)
	return n
}

func (t *tree) switchNode(meta composer.Meta, v *yaml.Node, path string, depth int) composer.Node {
	n := &composer.Switch{Meta: meta}
	es, ok := t.entries(v, path, "switch")
	if !ok {
		return t.placeholder(v, meta.Path)
	}
	f := t.fields(es, &n.Meta, v, path, []string{"cases", "default"}, "cases")
	if cs := f["cases"]; cs != nil {
		if cs.Kind != yaml.SequenceNode {
			t.invalid(cs, path+".cases", "cases must be a list of {when, do}, not %s", kindName(cs))
		} else {
			for i, c := range cs.Content {
				if t.full() {
					break
				}
				cp := fmt.Sprintf("%s.cases[%d]", path, i)
				ces, ok := t.entries(c, cp, "a case")
				if !ok {
					continue
				}
				var cm composer.Meta
				cm.Path = cp
				cf := t.fields(ces, &cm, c, cp, []string{"when", "do"}, "when", "do")
				for _, u := range cm.Unknown {
					t.l = append(t.l, composer.Errorf(composer.ErrUnknownField, u.Pos, u.Path, "unknown field %q in case", u.Key))
				}
				var k composer.Case
				if w := cf["when"]; w != nil {
					k.Cond = t.cond(w, cp+".when", depth+1)
				} else {
					k.Cond = composer.Cond{Meta: cm, Op: composer.OpTruthy}
				}
				k.Node = t.sub(cf, "do", cp, depth)
				if k.Node == nil {
					k.Node = t.placeholder(c, cp)
				}
				n.Cases = append(n.Cases, k)
			}
		}
	}
	n.Default = t.sub(f, "default", path, depth)
	return n
}

// whileNode reads while: {cond, do, max} or do-while: {do, cond, max}.
func (t *tree) whileNode(meta composer.Meta, v *yaml.Node, path string, depth int, do bool) composer.Node {
	n := &composer.While{Meta: meta, Do: do}
	what := "while"
	if do {
		what = "do-while"
	}
	es, ok := t.entries(v, path, what)
	if !ok {
		return t.placeholder(v, meta.Path)
	}
	f := t.fields(es, &n.Meta, v, path, []string{"cond", "do", "max"}, "cond", "do")
	n.Cond = t.condField(f, v, path, depth)
	if m := f["max"]; m != nil {
		n.Max, _ = t.integer(m, path+".max", "max")
	}
	n.Body = t.required(f, "do", v, path, depth)
	return n
}

func (t *tree) tryNode(meta composer.Meta, v *yaml.Node, path string, depth int) composer.Node {
	n := &composer.Try{Meta: meta}
	es, ok := t.entries(v, path, "try")
	if !ok {
		return t.placeholder(v, meta.Path)
	}
	f := t.fields(es, &n.Meta, v, path, []string{"do", "catch"}, "do", "catch")
	n.Body = t.required(f, "do", v, path, depth)
	n.Catch = t.required(f, "catch", v, path, depth)
	return n
}

func (t *tree) retryNode(meta composer.Meta, v *yaml.Node, path string, depth int) composer.Node {
	n := &composer.Retry{Meta: meta, Max: 1}
	es, ok := t.entries(v, path, "retry")
	if !ok {
		return t.placeholder(v, meta.Path)
	}
	f := t.fields(es, &n.Meta, v, path, []string{"do", "max", "backoff"}, "do", "max")
	if m := f["max"]; m != nil {
		if v, ok := t.integer(m, path+".max", "max"); ok {
			n.Max = v
		}
	}
	if b := f["backoff"]; b != nil {
		if s, ok := t.str(b, path+".backoff", "backoff"); ok {
			d, err := time.ParseDuration(s)
			if err != nil {
				t.invalid(b, path+".backoff", "backoff %q is not a duration like 100ms or 2s", s)
			}
			n.Backoff = d
		}
	}
	n.Body = t.required(f, "do", v, path, depth)
	return n
}

// cond reads a condition: {path, op, value}, {all: [...]}, {any: [...]}
// or {not: cond}.
func (t *tree) cond(n *yaml.Node, path string, depth int) composer.Cond {
	c := composer.Cond{Meta: composer.Meta{Pos: t.at(n), Path: path}}
	ok := func() composer.Cond { return composer.Cond{Meta: c.Meta, Op: composer.OpTruthy} } // placeholder after a reported problem
	if depth > MaxDepth {
		t.invalid(n, path, "conditions nest deeper than %d levels", MaxDepth)
		return ok()
	}
	es, isMap := t.entries(n, path, "a condition")
	if !isMap {
		return ok()
	}
	f := t.fields(es, &c.Meta, n, path, []string{"path", "op", "value", "all", "any", "not"})
	if p := f["path"]; p != nil {
		c.Path, _ = t.str(p, path+".path", "path")
	}
	if o := f["op"]; o != nil {
		if s, good := t.str(o, path+".op", "op"); good {
			op, known := opNames[s]
			if !known {
				op = composer.Op(s) // Validate names it
			}
			c.Op = op
		} else {
			c.Op = composer.OpTruthy
		}
	}
	if f["path"] != nil && f["op"] == nil {
		t.invalid(n, path, "condition has a path but no op: add op: truthy, exists, ==, ...")
		c.Op = composer.OpTruthy
	}
	if f["path"] == nil && f["op"] != nil && len(es) > 0 {
		t.invalid(n, path, "condition has an op but no path: use path: \"\" for the whole value")
	}
	if v := f["value"]; v != nil {
		c.Value, _ = t.jsonValue(v, path+".value", depth)
		if c.Value == nil {
			c.Value = []byte("null")
		}
	}
	for _, key := range []string{"all", "any"} {
		l := f[key]
		if l == nil {
			continue
		}
		subs := []composer.Cond{}
		if l.Kind != yaml.SequenceNode {
			t.invalid(l, path+"."+key, "%s must be a list of conditions, not %s", key, kindName(l))
			subs = append(subs, ok())
		}
		for i, s := range l.Content {
			if l.Kind == yaml.SequenceNode {
				subs = append(subs, t.cond(s, fmt.Sprintf("%s.%s[%d]", path, key, i), depth+1))
			}
		}
		if key == "all" {
			c.All = subs
		} else {
			c.Any = subs
		}
	}
	if v := f["not"]; v != nil {
		s := t.cond(v, path+".not", depth+1)
		c.Not = &s
	}
	return c
}
