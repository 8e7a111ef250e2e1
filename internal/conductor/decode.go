package conductor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Limits bound what Decode accepts. The zero value gives the defaults.
type Limits struct {
	// MaxBytes bounds the document. Zero means 4 MiB.
	MaxBytes int
	// MaxNodes bounds the combinators, before lowering. Zero means 10000.
	MaxNodes int
	// MaxDepth bounds combinator nesting. Zero means 200.
	MaxDepth int
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = 4 << 20
	}
	if l.MaxNodes <= 0 {
		l.MaxNodes = 10000
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = 200
	}
	return l
}

// Node is one combinator of a composition. After Decode every node is one
// of composer's primitive combinators: sequence, action, function,
// finally, let, mask, try, if_nosave, while_nosave, dowhile_nosave,
// parallel, map, async, dynamic.
type Node struct {
	Type string
	// Path is the node's JSON path in the composition as composer labels
	// it ("" for the root, ".components[1]", ".test"); HasPath is false for
	// nodes made by lowering, which have none.
	Path    string
	HasPath bool
	// Name is an action's fully qualified name.
	Name string
	// Kind and Code are a function's exec.
	Kind, Code string
	// Decls are a let's declarations, in JavaScript's key order.
	Decls []Binding
	// Components are the components of sequence, let, mask, parallel,
	// map and async.
	Components []*Node
	// The arguments of the other combinators.
	Test, Consequent, Alternate, Body, Handler, Finalizer *Node

	// before lowering only
	count float64 // repeat, retry
	value any     // literal, value
}

// Binding is one let variable.
type Binding struct {
	Name  string
	Value any
}

// InlineAction is an action defined in the composition, which deploying
// the composition creates (composer's compile() lists them in "actions").
type InlineAction struct {
	Name   string
	Action json.RawMessage
}

// Composition is a decoded composition.
type Composition struct {
	// Root is the lowered composition.
	Root *Node
	// Actions are the inline action definitions.
	Actions []InlineAction
	// Version is composer's version from compile(), if given.
	Version string
}

// Decode reads composer JSON: compile()'s output or a bare combinator. It
// reports every problem it finds, each with its JSON path, wrapping
// ErrInvalid (or ErrTooLarge).
func Decode(data []byte, lim Limits) (*Composition, error) {
	lim = lim.withDefaults()
	if len(data) > lim.MaxBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(data), lim.MaxBytes)
	}
	var top map[string]json.RawMessage
	if err := strictJSON(data, &top); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	d := &decoder{lim: lim}
	c := &Composition{}
	if _, bare := top["type"]; bare {
		root := d.node(data, "", 0)
		if root != nil && len(d.errs) == 0 {
			label(root, "")
			c.Root = lower(root)
		}
		return c, d.err()
	}
	for k := range top {
		switch k {
		case "composition", "ast", "version", "actions":
		default:
			d.errorf("", "unknown field %q (want composition, ast, version, actions, or a combinator with a type)", k)
		}
	}
	if v, ok := top["version"]; ok {
		if err := json.Unmarshal(v, &c.Version); err != nil {
			d.errorf(".version", "not a string")
		}
	}
	if v, ok := top["actions"]; ok {
		var acts []map[string]json.RawMessage
		if err := json.Unmarshal(v, &acts); err != nil {
			d.errorf(".actions", "not an array of objects")
		}
		for i, a := range acts {
			var name string
			if err := json.Unmarshal(a["name"], &name); err != nil {
				d.errorf(fmt.Sprintf(".actions[%d].name", i), "not a string")
				continue
			}
			fq, err := fqn(name)
			if err != nil {
				d.errorf(fmt.Sprintf(".actions[%d].name", i), "%v", err)
				continue
			}
			c.Actions = append(c.Actions, InlineAction{Name: fq, Action: a["action"]})
		}
	}
	var root *Node
	switch {
	case top["composition"] != nil:
		// what composer's conductor runs: already labelled and lowered
		root = d.node(top["composition"], "", 0)
		if root != nil && len(d.errs) == 0 {
			c.Root = lower(root)
		}
	case top["ast"] != nil:
		root = d.node(top["ast"], "", 0)
		if root != nil && len(d.errs) == 0 {
			label(root, "")
			c.Root = lower(root)
		}
	default:
		d.errorf("", "neither composition nor ast: nothing to run")
	}
	return c, d.err()
}

// strictJSON decodes one JSON value into v, refusing trailing data.
func strictJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err == nil {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

type decoder struct {
	lim   Limits
	nodes int
	errs  []error
}

func (d *decoder) errorf(path, format string, args ...any) {
	if len(d.errs) >= 50 {
		return
	}
	where := "composition" + path
	d.errs = append(d.errs, fmt.Errorf("%w: at %s: %s", ErrInvalid, where, fmt.Sprintf(format, args...)))
}

func (d *decoder) err() error {
	return errors.Join(d.errs...)
}

// The fields of each combinator (besides type and path), as composer's
// combinator tables declare them: "c" marks a composition argument, "cs"
// the components.
var combinators = map[string]map[string]string{
	"sequence":       {"components": "cs"},
	"seq":            {"components": "cs"},
	"empty":          {},
	"if_nosave":      {"test": "c", "consequent": "c", "alternate": "c?"},
	"if":             {"test": "c", "consequent": "c", "alternate": "c?"},
	"while_nosave":   {"test": "c", "body": "c"},
	"while":          {"test": "c", "body": "c"},
	"dowhile_nosave": {"body": "c", "test": "c"},
	"dowhile":        {"body": "c", "test": "c"},
	"try":            {"body": "c", "handler": "c"},
	"finally":        {"body": "c", "finalizer": "c"},
	"let":            {"declarations": "object", "components": "cs"},
	"mask":           {"components": "cs"},
	"action":         {"name": "name", "action": "object?"},
	"composition":    {"name": "name"},
	"function":       {"function": "object"},
	"async":          {"components": "cs"},
	"parallel":       {"components": "cs"},
	"par":            {"components": "cs"},
	"map":            {"components": "cs"},
	"dynamic":        {},
	"repeat":         {"count": "number", "components": "cs"},
	"retry":          {"count": "number", "components": "cs"},
	"retain":         {"components": "cs"},
	"retain_catch":   {"components": "cs"},
	"merge":          {"components": "cs"},
	"literal":        {"value": "value"},
	"value":          {"value": "value"},
}

// argOrder lists composition arguments in composer's order (labels and
// lowering visit them in this order).
var argOrder = []string{"test", "consequent", "alternate", "body", "handler", "finalizer"}

// node decodes one combinator. A string is an action (composer's task
// shorthand), null is empty.
func (d *decoder) node(raw json.RawMessage, path string, depth int) *Node {
	if depth > d.lim.MaxDepth {
		d.errs = append(d.errs, fmt.Errorf("%w: at composition%s: combinators nest deeper than %d", ErrTooLarge, path, d.lim.MaxDepth))
		return nil
	}
	d.nodes++
	if d.nodes > d.lim.MaxNodes {
		if d.nodes == d.lim.MaxNodes+1 {
			d.errs = append(d.errs, fmt.Errorf("%w: more than %d combinators", ErrTooLarge, d.lim.MaxNodes))
		}
		return nil
	}
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0:
		d.errorf(path, "missing")
		return nil
	case string(raw) == "null":
		return &Node{Type: "sequence"}
	case raw[0] == '"':
		var name string
		if err := json.Unmarshal(raw, &name); err != nil {
			d.errorf(path, "bad string: %v", err)
			return nil
		}
		fq, err := fqn(name)
		if err != nil {
			d.errorf(path, "%v", err)
			return nil
		}
		return &Node{Type: "action", Name: fq}
	case raw[0] != '{':
		d.errorf(path, "a combinator must be an object, an action name or null, not %s", raw[:min(len(raw), 20)])
		return nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		d.errorf(path, "%v", err)
		return nil
	}
	var typ string
	if err := json.Unmarshal(fields["type"], &typ); err != nil || typ == "" {
		d.errorf(path, "combinator without a type")
		return nil
	}
	spec, ok := combinators[typ]
	if !ok {
		d.errorf(path, "unknown combinator %q", typ)
		return nil
	}
	n := &Node{Type: typ}
	if p, ok := fields["path"]; ok {
		if err := json.Unmarshal(p, &n.Path); err != nil {
			d.errorf(path+".path", "not a string")
		}
		n.HasPath = true
	}
	for k := range fields {
		if _, known := spec[k]; !known && k != "type" && k != "path" {
			d.errorf(path, "%s has no field %q", typ, k)
		}
	}
	for k, kind := range spec {
		v, present := fields[k]
		optional := strings.HasSuffix(kind, "?")
		kind = strings.TrimSuffix(kind, "?")
		if !present {
			switch {
			case kind == "cs" || optional:
			default:
				d.errorf(path, "%s needs %q", typ, k)
			}
			continue
		}
		p := path + "." + k
		switch kind {
		case "c":
			c := d.node(v, p, depth+1)
			switch k {
			case "test":
				n.Test = c
			case "consequent":
				n.Consequent = c
			case "alternate":
				n.Alternate = c
			case "body":
				n.Body = c
			case "handler":
				n.Handler = c
			case "finalizer":
				n.Finalizer = c
			}
		case "cs":
			var cs []json.RawMessage
			if err := json.Unmarshal(v, &cs); err != nil {
				d.errorf(p, "not an array")
				continue
			}
			for i, c := range cs {
				n.Components = append(n.Components, d.node(c, fmt.Sprintf("%s[%d]", path+".components", i), depth+1))
			}
		case "name":
			var name string
			if err := json.Unmarshal(v, &name); err != nil {
				d.errorf(p, "Name must be a string")
				continue
			}
			fq, err := fqn(name)
			if err != nil {
				d.errorf(p, "%v", err)
				continue
			}
			n.Name = fq
		case "object":
			switch k {
			case "declarations":
				n.Decls = d.decls(v, p)
			case "function":
				d.function(n, v, p)
			default: // action: an inline definition, deployed, not run
				var o map[string]json.RawMessage
				if err := json.Unmarshal(v, &o); err != nil {
					d.errorf(p, "not an object")
				}
			}
		case "number":
			var x float64
			if err := json.Unmarshal(v, &x); err != nil {
				d.errorf(p, "Invalid argument %q in %q combinator: not a number", k, typ)
			}
			n.count = x
		case "value":
			x, err := DecodeValue(v)
			if err != nil {
				d.errorf(p, "%v", err)
			}
			n.value = x
		}
	}
	if (typ == "if" || typ == "if_nosave") && n.Alternate == nil {
		n.Alternate = &Node{Type: "sequence"} // composer fills it with empty()
	}
	if typ == "composition" { // composer before v0.12: a deployed composition, an action
		n.Type = "action"
	}
	return n
}

// decls reads let declarations: an object, its keys in JavaScript order
// (composer's frame is JSON.parse(JSON.stringify(declarations))).
func (d *decoder) decls(raw json.RawMessage, path string) []Binding {
	v, err := DecodeValue(raw)
	o, ok := v.(*Object)
	if err != nil || !ok {
		d.errorf(path, "Invalid argument \"declarations\" in \"let\" combinator: not an object")
		return nil
	}
	out := make([]Binding, 0, o.Len())
	for _, k := range o.Keys() {
		out = append(out, Binding{Name: k, Value: o.vals[k]})
	}
	return out
}

// function reads {"exec": {"kind", "code"}}; composer also accepts a bare
// exec ({"kind", "code"}) in its function combinator before wrapping it.
func (d *decoder) function(n *Node, raw json.RawMessage, path string) {
	var f struct {
		Exec *struct {
			Kind string  `json:"kind"`
			Code *string `json:"code"`
		} `json:"exec"`
	}
	if err := json.Unmarshal(raw, &f); err != nil || f.Exec == nil || f.Exec.Code == nil {
		d.errorf(path, "a function needs exec.code, a string")
		return
	}
	n.Kind, n.Code = f.Exec.Kind, *f.Exec.Code
	if n.Kind != "" && !strings.HasPrefix(n.Kind, "nodejs") {
		d.errorf(path+".exec.kind", "only JavaScript functions run in a composition, not %q", n.Kind)
	}
}

// fqn qualifies an action name as composer's fqn does: "a" → "/_/a",
// "p/a" → "/_/p/a", "ns/p/a" → "/ns/p/a".
func fqn(name string) (string, error) {
	if strings.TrimSpace(name) == "" {
		return "", errors.New("Name is not valid")
	}
	name = strings.TrimSpace(name)
	parts := strings.Split(name, "/")
	n := len(parts)
	lead := name[0] == '/'
	if n < 1 || n > 4 || (lead && n == 2) || (!lead && n == 4) {
		return "", fmt.Errorf("Name is not valid: %q", name)
	}
	for i, p := range parts {
		if i > 0 && strings.TrimSpace(p) == "" {
			return "", fmt.Errorf("Name is not valid: %q", name)
		}
	}
	switch {
	case lead:
		return name, nil
	case n < 3:
		return "/_/" + name, nil
	default:
		return "/" + name, nil
	}
}

// label gives every node its path, as composer's compile() does before
// lowering: the i-th component of a node at p is p[i] (no ".components"),
// a composition argument is p.name (p.test, p.body).
func label(n *Node, path string) {
	if n == nil {
		return
	}
	n.Path, n.HasPath = path, true
	for i, c := range n.Components {
		label(c, fmt.Sprintf("%s[%d]", path, i))
	}
	for _, a := range argOrder {
		if c := *arg(n, a); c != nil {
			label(c, path+"."+a)
		}
	}
}

func arg(n *Node, name string) **Node {
	switch name {
	case "test":
		return &n.Test
	case "consequent":
		return &n.Consequent
	case "alternate":
		return &n.Alternate
	case "body":
		return &n.Body
	case "handler":
		return &n.Handler
	}
	return &n.Finalizer
}
