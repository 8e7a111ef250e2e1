package parse

import (
	"fmt"
	"strings"
	"time"

	"github.com/wsk-route/wsk-route/composer"
	"gopkg.in/yaml.v3"
)

// actionFields are the keys of one declared action.
var actionFields = []string{"code", "kind", "main", "image", "limits", "params", "annotations"}

// actions reads the actions section: a mapping from action name to its
// definition, or to its code file (shorthand).
func (t *tree) actions(n *yaml.Node) []*composer.ActionDef {
	es, ok := t.entries(n, ".actions", "actions")
	if !ok {
		return nil
	}
	if len(es) > composer.MaxSteps {
		t.invalid(n, ".actions", "%d actions declared, more than %d", len(es), composer.MaxSteps)
		return nil
	}
	out := make([]*composer.ActionDef, 0, len(es))
	for _, e := range es {
		path := ".actions." + e.key
		a := &composer.ActionDef{Meta: composer.Meta{Pos: t.at(e.keyN), Path: path}, Name: e.key, Fields: map[string]composer.Position{}}
		v := e.value
		if !t.checkAlias(v, path) {
			continue // reported; a definition not read is not validated
		}
		if v.Kind == yaml.ScalarNode { // name: code
			if a.Code, ok = t.str(v, path, "action "+e.key+" (its code file, or a mapping)"); ok {
				a.Fields["code"] = t.at(v)
				out = append(out, a)
			}
			continue
		}
		aes, ok := t.entries(v, path, "action "+e.key+" (its code file, or a mapping)")
		if !ok {
			continue
		}
		out = append(out, a)
		f := t.fields(aes, &a.Meta, v, path, actionFields)
		for k, fv := range f {
			a.Fields[k] = t.at(fv)
		}
		strField := func(key string, dst *string) {
			if fv := f[key]; fv != nil {
				*dst, _ = t.str(fv, path+"."+key, key)
			}
		}
		strField("code", &a.Code)
		strField("kind", &a.Kind)
		strField("main", &a.Main)
		strField("image", &a.Image)
		if fv := f["limits"]; fv != nil {
			t.limits(a, fv, path+".limits")
		}
		if fv := f["params"]; fv != nil {
			a.Params = t.keyValues(fv, path+".params", "params")
		}
		if fv := f["annotations"]; fv != nil {
			a.Annotations = t.keyValues(fv, path+".annotations", "annotations")
		}
	}
	return out
}

// limits reads an action's limits: timeout (milliseconds, or a duration
// like 30s), memory and logs (MB), concurrency.
func (t *tree) limits(a *composer.ActionDef, n *yaml.Node, path string) {
	es, ok := t.entries(n, path, "limits")
	if !ok {
		return
	}
	var m composer.Meta
	f := t.fields(es, &m, n, path, []string{"timeout", "memory", "logs", "concurrency"})
	for _, u := range m.Unknown {
		t.l = append(t.l, composer.Errorf(composer.ErrUnknownField, u.Pos, u.Path, "unknown field %q in the limits of action %s: want timeout, memory, logs or concurrency", u.Key, a.Name))
	}
	for k, fv := range f {
		a.Fields["limits."+k] = t.at(fv)
	}
	if v := f["timeout"]; v != nil {
		if v.Kind == yaml.ScalarNode && v.ShortTag() == "!!str" {
			d, err := time.ParseDuration(v.Value)
			if err != nil {
				t.invalid(v, path+".timeout", "timeout %q is not milliseconds nor a duration like 30s or 5m", v.Value)
			}
			a.Limits.Timeout = d
		} else if ms, ok := t.integer(v, path+".timeout", "timeout (milliseconds, or a duration like 30s)"); ok {
			a.Limits.Timeout = time.Duration(ms) * time.Millisecond
		}
	}
	intField := func(key string, dst *int) {
		if v := f[key]; v != nil {
			*dst, _ = t.integer(v, path+"."+key, key)
		}
	}
	intField("memory", &a.Limits.MemoryMB)
	intField("logs", &a.Limits.LogsMB)
	intField("concurrency", &a.Limits.Concurrency)
}

// keyValues reads a mapping of keys to JSON values, in file order.
func (t *tree) keyValues(n *yaml.Node, path, what string) []composer.KeyValue {
	es, ok := t.entries(n, path, what)
	if !ok {
		return nil
	}
	out := make([]composer.KeyValue, 0, len(es))
	for _, e := range es {
		raw, ok := t.jsonValue(e.value, fmt.Sprintf("%s.%s", path, e.key), 1)
		if ok {
			out = append(out, composer.KeyValue{Key: e.key, Value: raw})
		}
	}
	return out
}

// composerActions reads the "actions" of openwhisk-composer's JSON: a
// list of {"name": "/_/a", "action": {"exec": {"kind", "code", "main",
// "image", "binary"}, "limits", "parameters", "annotations"}}, the code
// inline. A name in the default namespace "/_/" becomes relative.
func (t *tree) composerActions(n *yaml.Node) []*composer.ActionDef {
	if n.Kind != yaml.SequenceNode {
		t.invalid(n, ".actions", "actions must be a list, not %s", kindName(n))
		return nil
	}
	if len(n.Content) > composer.MaxSteps {
		t.invalid(n, ".actions", "%d actions declared, more than %d", len(n.Content), composer.MaxSteps)
		return nil
	}
	var out []*composer.ActionDef
	for i, c := range n.Content {
		path := fmt.Sprintf(".actions[%d]", i)
		es, ok := t.entries(c, path, "an action definition")
		if !ok {
			continue
		}
		a := &composer.ActionDef{Meta: composer.Meta{Pos: t.at(c), Path: path}, Fields: map[string]composer.Position{}}
		f := t.fields(es, &a.Meta, c, path, []string{"name", "action"}, "name", "action")
		if v := f["name"]; v == nil {
			continue
		} else if name, ok := t.str(v, path+".name", "name"); ok {
			a.Name = name
			if rel, ok := strings.CutPrefix(name, "/"+composer.DefaultNamespace+"/"); ok {
				a.Name = rel
			}
		} else {
			continue
		}
		act := f["action"]
		if act == nil {
			continue
		}
		aes, ok := t.entries(act, path+".action", "action "+a.Name)
		if !ok {
			continue
		}
		ap := path + ".action"
		af := t.fields(aes, &a.Meta, act, ap, []string{"exec", "limits", "parameters", "annotations"}, "exec")
		for k, v := range af {
			a.Fields[k] = t.at(v)
		}
		if ex := af["exec"]; ex != nil {
			ees, ok := t.entries(ex, ap+".exec", "exec")
			if !ok {
				continue
			}
			ef := t.fields(ees, &a.Meta, ex, ap+".exec", []string{"kind", "code", "main", "image", "binary"})
			for k, v := range ef {
				a.Fields[k] = t.at(v)
			}
			for key, dst := range map[string]*string{"kind": &a.Kind, "code": &a.Source, "main": &a.Main, "image": &a.Image} {
				if v := ef[key]; v != nil {
					*dst, _ = t.str(v, ap+".exec."+key, key)
				}
			}
			if v := ef["binary"]; v != nil {
				if v.ShortTag() != "!!bool" {
					t.invalid(v, ap+".exec.binary", "binary must be true or false, not %s", kindName(v))
				} else {
					a.Binary = v.Value == "true"
				}
			}
			if ef["code"] != nil {
				a.Fields["code"] = t.at(ef["code"])
			}
		}
		if v := af["limits"]; v != nil {
			t.limits(a, v, ap+".limits")
		}
		for key, dst := range map[string]*[]composer.KeyValue{"parameters": &a.Params, "annotations": &a.Annotations} {
			if v := af[key]; v != nil {
				*dst = t.keyValueList(v, ap+"."+key, key)
			}
		}
		out = append(out, a)
	}
	return out
}

// keyValueList reads OpenWhisk's [{"key": k, "value": v}, ...].
func (t *tree) keyValueList(n *yaml.Node, path, what string) []composer.KeyValue {
	if n.Kind != yaml.SequenceNode {
		t.invalid(n, path, "%s must be a list of {key, value}, not %s", what, kindName(n))
		return nil
	}
	out := make([]composer.KeyValue, 0, len(n.Content))
	for i, c := range n.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		es, ok := t.entries(c, p, "a "+what+" entry")
		if !ok {
			continue
		}
		var m composer.Meta
		f := t.fields(es, &m, c, p, []string{"key", "value"}, "key", "value")
		for _, u := range m.Unknown {
			t.l = append(t.l, composer.Errorf(composer.ErrUnknownField, u.Pos, u.Path, "unknown field %q in a %s entry: want key and value", u.Key, what))
		}
		if f["key"] == nil || f["value"] == nil {
			continue
		}
		key, ok := t.str(f["key"], p+".key", "key")
		if !ok {
			continue
		}
		if raw, ok := t.jsonValue(f["value"], p+".value", 1); ok {
			out = append(out, composer.KeyValue{Key: key, Value: raw})
		}
	}
	return out
}
