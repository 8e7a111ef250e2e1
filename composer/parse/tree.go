package parse

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/wsk-route/wsk-route/composer"
	"gopkg.in/yaml.v3"
)

// tree walks a yaml.Node document (YAML, or JSON read as YAML) and
// records problems as it goes.
type tree struct {
	problems
}

// entry is one key of a mapping.
type entry struct {
	key   string
	keyN  *yaml.Node
	value *yaml.Node
}

// at returns the position of n.
func (t *tree) at(n *yaml.Node) composer.Position { return t.pos(n.Line, n.Column) }

func (t *tree) errf(sentinel error, n *yaml.Node, path, format string, args ...any) {
	t.add(sentinel, n.Line, n.Column, path, format, args...)
}

func (t *tree) invalid(n *yaml.Node, path, format string, args ...any) {
	t.errf(composer.ErrInvalid, n, path, format, args...)
}

// kindName names a node's kind for messages.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return fmt.Sprintf("the string %q", n.Value)
		case "!!null":
			return "null"
		}
		return n.Value
	case yaml.AliasNode:
		return "an alias"
	}
	return "nothing"
}

// checkAlias reports an alias or anchor, which the formats do not allow
// (they would let one file expand exponentially).
func (t *tree) checkAlias(n *yaml.Node, path string) bool {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		t.invalid(n, path, "anchors and aliases are not supported: repeat the step")
		return false
	}
	return true
}

// entries returns the keys of mapping n in order, reporting repeated and
// non-string keys; ok is false when n is not a mapping.
func (t *tree) entries(n *yaml.Node, path, what string) ([]entry, bool) {
	if !t.checkAlias(n, path) {
		return nil, false
	}
	if n.Kind != yaml.MappingNode {
		t.invalid(n, path, "%s must be a mapping, not %s", what, kindName(n))
		return nil, false
	}
	out := make([]entry, 0, len(n.Content)/2)
	seen := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || (k.ShortTag() != "!!str" && k.ShortTag() != "!!int" && k.ShortTag() != "!!bool" && k.ShortTag() != "!!float") {
			t.invalid(k, path, "keys must be strings, not %s", kindName(k))
			continue
		}
		if line, dup := seen[k.Value]; dup {
			t.invalid(k, path, "key %q repeated (first at line %d)", k.Value, line)
			continue
		}
		seen[k.Value] = k.Line
		out = append(out, entry{key: k.Value, keyN: k, value: v})
	}
	return out, true
}

// fields checks the keys of a mapping against the allowed set: unknown
// keys go to m.Unknown (reported by Validate) and required ones that are
// missing are reported here. It returns the values by key.
func (t *tree) fields(es []entry, m *composer.Meta, n *yaml.Node, prefix string, allowed []string, required ...string) map[string]*yaml.Node {
	out := make(map[string]*yaml.Node, len(es))
	for _, e := range es {
		ok := false
		for _, a := range allowed {
			if e.key == a {
				ok = true
				break
			}
		}
		if !ok {
			m.Unknown = append(m.Unknown, composer.Field{Key: e.key, Path: prefix + "." + e.key, Pos: t.at(e.keyN)})
			continue
		}
		out[e.key] = e.value
	}
	for _, r := range required {
		if out[r] == nil {
			t.invalid(n, prefix, "missing field %q", r)
		}
	}
	return out
}

// str reads a string scalar.
func (t *tree) str(n *yaml.Node, path, what string) (string, bool) {
	if !t.checkAlias(n, path) {
		return "", false
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		t.invalid(n, path, "%s must be a string, not %s", what, kindName(n))
		return "", false
	}
	return n.Value, true
}

// integer reads an integer scalar.
func (t *tree) integer(n *yaml.Node, path, what string) (int, bool) {
	if !t.checkAlias(n, path) {
		return 0, false
	}
	if n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!int" || n.ShortTag() == "!!float") {
		var v int64
		if err := n.Decode(&v); err == nil && v >= -1<<31 && v < 1<<31 {
			return int(v), true
		}
		if f, err := strconv.ParseFloat(n.Value, 64); err == nil && f == float64(int32(f)) {
			return int(f), true
		}
	}
	t.invalid(n, path, "%s must be an integer, not %s", what, kindName(n))
	return 0, false
}

// jsonValue converts n to JSON.
func (t *tree) jsonValue(n *yaml.Node, path string, depth int) (json.RawMessage, bool) {
	v, ok := t.plain(n, path, depth)
	if !ok {
		return nil, false
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.invalid(n, path, "value cannot be JSON: %v", err)
		return nil, false
	}
	return b, true
}

// plain converts n to Go values that encoding/json can write.
func (t *tree) plain(n *yaml.Node, path string, depth int) (any, bool) {
	if depth > MaxDepth {
		t.invalid(n, path, "value nests deeper than %d levels", MaxDepth)
		return nil, false
	}
	if !t.checkAlias(n, path) {
		return nil, false
	}
	switch n.Kind {
	case yaml.MappingNode:
		es, _ := t.entries(n, path, "value")
		m := make(map[string]any, len(es))
		for _, e := range es {
			v, ok := t.plain(e.value, path+"."+e.key, depth+1)
			if !ok {
				return nil, false
			}
			m[e.key] = v
		}
		return m, true
	case yaml.SequenceNode:
		a := make([]any, 0, len(n.Content))
		for i, c := range n.Content {
			v, ok := t.plain(c, fmt.Sprintf("%s[%d]", path, i), depth+1)
			if !ok {
				return nil, false
			}
			a = append(a, v)
		}
		return a, true
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return n.Value, true
		case "!!null":
			return nil, true
		case "!!bool":
			var b bool
			if err := n.Decode(&b); err == nil {
				return b, true
			}
		case "!!int", "!!float":
			var f float64
			if err := n.Decode(&f); err == nil {
				if i, err := strconv.ParseInt(n.Value, 10, 64); err == nil {
					return i, true
				}
				if f != f || f > 1e308 || f < -1e308 {
					t.invalid(n, path, "number %s has no JSON form", n.Value)
					return nil, false
				}
				return f, true
			}
		}
		t.invalid(n, path, "scalar %s of type %s has no JSON form", n.Value, n.ShortTag())
		return nil, false
	}
	t.invalid(n, path, "value has no JSON form")
	return nil, false
}
