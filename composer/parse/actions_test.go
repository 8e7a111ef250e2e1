package parse_test

import (
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/composer"
	"github.com/wsk-route/wsk-route/composer/parse"
)

// TestActions reads the actions of both formats into the same model.
func TestActions(t *testing.T) {
	yamlIn := `name: flow
steps: [a, b, pkg/c]
actions:
  a: actions/a.py
  b:
    code: actions/b
    kind: native
    main: run
    limits: {timeout: 1500, memory: 128, logs: 2, concurrency: 4}
    params: {greeting: hi, n: [1, 2]}
    annotations: {team: qa}
  pkg/c: {image: me/img, limits: {timeout: 2m}}
`
	jsonIn := `{"ast": {"type": "sequence", "components": [{"type": "action", "name": "/_/a"}, {"type": "action", "name": "/_/b"}]},
 "actions": [
  {"name": "/_/a", "action": {"exec": {"kind": "python:3", "code": "def main(a):\n    return a\n"}}},
  {"name": "/_/b", "action": {"exec": {"kind": "native", "code": "UEsDBA==", "binary": true, "main": "run"},
    "limits": {"timeout": 1500, "memory": 128, "logs": 2, "concurrency": 4},
    "parameters": [{"key": "greeting", "value": "hi"}, {"key": "n", "value": [1, 2]}],
    "annotations": [{"key": "team", "value": "qa"}]}}]}`
	type want struct {
		pos, name, code, source, kind, kindOf, main, image string
		binary                                             bool
		limits                                             composer.Limits
		params, annotations                                string
	}
	kvs := func(l []composer.KeyValue) string {
		s := ""
		for _, kv := range l {
			s += kv.Key + "=" + string(kv.Value) + ";"
		}
		return s
	}
	b := want{name: "b", kind: "native", kindOf: "native", main: "run", limits: composer.Limits{Timeout: 1500 * time.Millisecond, MemoryMB: 128, LogsMB: 2, Concurrency: 4},
		params: `greeting="hi";n=[1,2];`, annotations: `team="qa";`}
	tests := []struct {
		name string
		read func() (*composer.Workflow, error)
		want []want
	}{
		{"yaml", func() (*composer.Workflow, error) { return parse.YAML("flow.yaml", []byte(yamlIn)) }, []want{
			{pos: "flow.yaml:4:3", name: "a", code: "actions/a.py", kindOf: "python:default"},
			func() want { w := b; w.pos, w.code = "flow.yaml:5:3", "actions/b"; return w }(),
			{pos: "flow.yaml:12:3", name: "pkg/c", image: "me/img", kindOf: "blackbox", limits: composer.Limits{Timeout: 2 * time.Minute}},
		}},
		{"composer json", func() (*composer.Workflow, error) { return parse.Composer("flow.json", []byte(jsonIn)) }, []want{
			{pos: "flow.json:3:3", name: "a", source: "def main(a):\n    return a\n", kind: "python:3", kindOf: "python:3"},
			func() want { w := b; w.pos, w.source, w.binary = "flow.json:4:3", "UEsDBA==", true; return w }(),
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := tc.read()
			if err != nil {
				t.Fatal(err)
			}
			if len(w.Actions) != len(tc.want) {
				t.Fatalf("got %d actions, want %d", len(w.Actions), len(tc.want))
			}
			for i, a := range w.Actions {
				got := want{a.Pos.String(), a.Name, a.Code, a.Source, a.Kind, a.KindOf(), a.Main, a.Image, a.Binary, a.Limits, kvs(a.Params), kvs(a.Annotations)}
				if got != tc.want[i] {
					t.Errorf("action %d:\n got %+v\nwant %+v", i, got, tc.want[i])
				}
			}
		})
	}
}
