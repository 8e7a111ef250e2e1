package parse

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/wsk-route/wsk-route/composer"
	"github.com/wsk-route/wsk-route/internal/conductor"
	"gopkg.in/yaml.v3"
)

// Composer reads the JSON that openwhisk-composer's compose emits: the
// {"composition", "ast", "version", "actions"} form or a bare combinator
// {"type": ...}. Composer JSON always runs with composer's semantics: the
// workflow's Composition is the document, which the entry conducts
// (package internal/conductor: every combinator of composer v0.12), and
// Root is nil. The document is checked here as the conductor will read
// it (conductor.Decode: the "composition" when present, else the "ast";
// a document the conductor refuses is never accepted), every problem
// named with its position and JSON path in the document; keys repeated
// in a mapping are refused too, since which one the author meant cannot
// be told. The "actions" (the action definitions composer embeds: name,
// exec, limits, parameters, annotations) become the workflow's Actions,
// with their code inline, validated as composer.Validate validates a
// YAML file's actions, as are the workflow's name and namespace. The
// workflow is named after file (its base name without extension);
// callers may rename it.
func Composer(file string, data []byte) (*composer.Workflow, error) {
	t := &tree{problems: problems{file: file}}
	root, ok := t.jsonDocument(data)
	if !ok {
		return nil, t.l.Err()
	}
	name := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	w := &composer.Workflow{Meta: composer.Meta{Pos: t.at(root)}, Name: name, Composition: data}
	if root.Kind != yaml.MappingNode {
		t.invalid(root, "", "a composition must be a JSON object, not %s", kindName(root))
		return nil, t.l.Err()
	}
	// The composition, where it is in the document and its key there
	// ("" for a bare combinator), told apart as conductor.Decode does.
	comp, compPath, compKey := root, "", ""
	if !hasKey(root, "type") {
		comp = nil
		es, _ := t.entries(root, "", "a composition")
		f := t.fields(es, &w.Meta, root, "", []string{"composition", "ast", "version", "actions"})
		if v := f["version"]; v != nil {
			t.str(v, ".version", "version")
		}
		if a := f["actions"]; a != nil {
			w.Actions = t.composerActions(a)
		}
		for _, k := range []string{"composition", "ast"} { // what the conductor runs
			if f[k] != nil {
				comp, compPath, compKey = f[k], "."+k, k
				break
			}
		}
		if comp == nil {
			t.invalid(root, "", "neither composition nor ast: nothing to run")
		}
	}
	if comp != nil {
		t.uniqueKeys(comp, compPath)
	}
	_, derr := conductor.Decode(data, conductor.Limits{})
	if derr != nil && comp != nil {
		if compKey == "" {
			t.conductorProblems(derr, comp, "")
		} else if err := decodeMember(data, compKey); err != nil {
			// The composition alone, so that every path is in it: the
			// rest of the document is checked above.
			t.conductorProblems(err, comp, compPath)
		}
	}
	// The name, namespace and actions, as Validate checks a YAML file's.
	if err := composer.Validate(w, composer.Options{}); err != nil {
		t.l = append(t.l, err.(composer.ErrorList)...)
	}
	if derr != nil && len(t.l) == 0 {
		t.conductorProblems(derr, root, "") // never accept what the entry refuses
	}
	sortProblems(t.l)
	if err := t.l.Err(); err != nil {
		return nil, err
	}
	return w, nil
}

// hasKey reports whether mapping n has key k.
func hasKey(n *yaml.Node, k string) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == k {
			return true
		}
	}
	return false
}

// decodeMember checks the member key of the JSON object data as
// conductor.Decode checks it, alone in a document.
func decodeMember(data []byte, key string) error {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return fmt.Errorf("%w: %v", conductor.ErrInvalid, err)
	}
	doc := append([]byte(`{"`+key+`":`), top[key]...)
	_, err := conductor.Decode(append(doc, '}'), conductor.Limits{})
	return err
}

// uniqueKeys reports every key repeated in a mapping at or under n.
func (t *tree) uniqueKeys(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.MappingNode:
		es, _ := t.entries(n, path, "an object")
		for _, e := range es {
			t.uniqueKeys(e.value, path+"."+e.key)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			t.uniqueKeys(c, fmt.Sprintf("%s[%d]", path, i))
		}
	}
}

// conductorProblems reports the problems in err, conductor.Decode's
// error for the composition n at path in the document: each at the node
// its JSON path names (as far as the document goes), in path order.
func (t *tree) conductorProblems(err error, n *yaml.Node, path string) {
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	l := make(composer.ErrorList, 0, len(errs))
	for _, e := range errs {
		sentinel, prefix := composer.ErrInvalid, conductor.ErrInvalid
		if errors.Is(e, conductor.ErrTooLarge) {
			sentinel, prefix = composer.ErrTooLarge, conductor.ErrTooLarge
		}
		// conductor's messages: "<sentinel>: at composition<path>: why",
		// or "<sentinel>: why" for the whole composition.
		msg := strings.TrimPrefix(e.Error(), prefix.Error()+": ")
		at := ""
		if rest, ok := strings.CutPrefix(msg, "at composition"); ok {
			if p, why, ok := strings.Cut(rest, ": "); ok {
				at, msg = p, why
			}
		}
		l = append(l, composer.Errorf(sentinel, t.at(lookup(n, at)), path+at, "%s", msg))
	}
	sort.SliceStable(l, func(i, j int) bool {
		a, b := l[i], l[j]
		switch {
		case a.Pos.Line != b.Pos.Line:
			return a.Pos.Line < b.Pos.Line
		case a.Pos.Col != b.Pos.Col:
			return a.Pos.Col < b.Pos.Col
		case a.Path != b.Path:
			return a.Path < b.Path
		}
		return a.Msg < b.Msg // the conductor's order follows Go's map order
	})
	t.l = append(t.l, l...)
}

// lookup returns the node at JSON path p (".key", "[i]", ...) under n,
// or the deepest one on the way that the document has. Of keys repeated,
// the last counts, as for the conductor.
func lookup(n *yaml.Node, p string) *yaml.Node {
	for p != "" {
		var next *yaml.Node
		switch p[0] {
		case '.':
			key := p[1:]
			if i := strings.IndexAny(key, ".["); i >= 0 {
				key = key[:i]
			}
			p = p[1+len(key):]
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == key {
						next = n.Content[i+1]
					}
				}
			}
		case '[':
			end := strings.IndexByte(p, ']')
			if end < 0 {
				return n
			}
			i, err := strconv.Atoi(p[1:end])
			p = p[end+1:]
			if err == nil && n.Kind == yaml.SequenceNode && i >= 0 && i < len(n.Content) {
				next = n.Content[i]
			}
		}
		if next == nil {
			return n
		}
		n = next
	}
	return n
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

// File reads a workflow file, choosing the format by extension: ".json"
// is openwhisk-composer's JSON, anything else the wsk-route YAML.
func File(name string, data []byte) (*composer.Workflow, error) {
	if strings.EqualFold(filepath.Ext(name), ".json") {
		return Composer(name, data)
	}
	return YAML(name, data)
}
