package composer_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/wsk-route/wsk-route/composer"
)

func test(path string, op composer.Op, value string) composer.Cond {
	c := composer.Cond{Path: path, Op: op}
	if value != "" {
		c.Value = json.RawMessage(value)
	}
	return c
}

func TestEval(t *testing.T) {
	doc := `{"a":{"b":3,"s":"kiwi","z":0,"e":"","n":null,"f":false,"arr":[],"obj":{}},"items":[{"p":1.5},{"p":2}],"big":1e400}`
	tests := []struct {
		name string
		cond composer.Cond
		want bool
	}{
		{"eq number", test("a.b", composer.OpEq, "3"), true},
		{"eq number other form", test("a.b", composer.OpEq, "3.0"), true},
		{"eq string", test("a.s", composer.OpEq, `"kiwi"`), true},
		{"eq type mismatch", test("a.b", composer.OpEq, `"3"`), false},
		{"eq object", test("items[0]", composer.OpEq, `{"p":1.5}`), true},
		{"eq object differs", test("items[0]", composer.OpEq, `{"p":1.5,"q":1}`), false},
		{"eq array", test("a.arr", composer.OpEq, `[]`), true},
		{"eq null", test("a.n", composer.OpEq, `null`), true},
		{"eq missing", test("nope", composer.OpEq, `null`), false},
		{"ne", test("a.b", composer.OpNe, "4"), true},
		{"ne equal", test("a.b", composer.OpNe, "3"), false},
		{"ne missing", test("nope", composer.OpNe, "1"), true},
		{"lt", test("items[1].p", composer.OpLt, "2.5"), true},
		{"le equal", test("items[1].p", composer.OpLe, "2"), true},
		{"gt", test("a.b", composer.OpGt, "2"), true},
		{"gt false", test("a.b", composer.OpGt, "3"), false},
		{"ge", test("a.b", composer.OpGe, "3"), true},
		{"lt strings", test("a.s", composer.OpLt, `"lemon"`), true},
		{"lt mixed types", test("a.s", composer.OpLt, `5`), false},
		{"gt huge number", test("big", composer.OpGt, `1e300`), true},
		{"lt objects", test("a.obj", composer.OpLt, `{}`), false},
		{"exists", test("a.n", composer.OpExists, ""), true},
		{"exists missing", test("a.q", composer.OpExists, ""), false},
		{"exists index out of range", test("items[5]", composer.OpExists, ""), false},
		{"exists key on array", test("items.p", composer.OpExists, ""), false},
		{"exists whole value", test("", composer.OpExists, ""), true},
		{"truthy number", test("a.b", composer.OpTruthy, ""), true},
		{"truthy zero", test("a.z", composer.OpTruthy, ""), false},
		{"truthy empty string", test("a.e", composer.OpTruthy, ""), false},
		{"truthy null", test("a.n", composer.OpTruthy, ""), false},
		{"truthy false", test("a.f", composer.OpTruthy, ""), false},
		{"truthy empty array", test("a.arr", composer.OpTruthy, ""), true},
		{"truthy empty object", test("a.obj", composer.OpTruthy, ""), true},
		{"truthy missing", test("x.y", composer.OpTruthy, ""), false},
		{"all", composer.Cond{All: []composer.Cond{test("a.b", composer.OpEq, "3"), test("a.s", composer.OpExists, "")}}, true},
		{"all one false", composer.Cond{All: []composer.Cond{test("a.b", composer.OpEq, "3"), test("a.z", composer.OpTruthy, "")}}, false},
		{"any", composer.Cond{Any: []composer.Cond{test("a.z", composer.OpTruthy, ""), test("a.s", composer.OpExists, "")}}, true},
		{"any none", composer.Cond{Any: []composer.Cond{test("a.z", composer.OpTruthy, ""), test("q", composer.OpExists, "")}}, false},
		{"not", composer.Cond{Not: &composer.Cond{Path: "a.z", Op: composer.OpTruthy}}, true},
		{"nested", composer.Cond{Not: &composer.Cond{Any: []composer.Cond{{Not: &composer.Cond{Path: "a", Op: composer.OpExists}}}}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := composer.Eval(tt.cond, json.RawMessage(doc))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestEvalFails lists conditions and values Eval must refuse.
func TestEvalFails(t *testing.T) {
	tests := []struct {
		name  string
		cond  composer.Cond
		value string
	}{
		{"empty condition", composer.Cond{}, `{}`},
		{"unknown op", test("a", "~", "1"), `{}`},
		{"comparison without value", test("a", composer.OpEq, ""), `{}`},
		{"exists with value", test("a", composer.OpExists, "1"), `{}`},
		{"bad value JSON", test("a", composer.OpEq, "{"), `{}`},
		{"bad path", test("a..b", composer.OpTruthy, ""), `{}`},
		{"bad index", test("a[-1]", composer.OpTruthy, ""), `{}`},
		{"two kinds", composer.Cond{Path: "a", Op: composer.OpTruthy, All: []composer.Cond{test("a", composer.OpTruthy, "")}}, `{}`},
		{"empty all", composer.Cond{All: []composer.Cond{}}, `{}`},
		{"bad nested", composer.Cond{Not: &composer.Cond{}}, `{}`},
		{"value not JSON", test("a", composer.OpTruthy, ""), `{`},
		{"two values", test("a", composer.OpTruthy, ""), `{} {}`},
		{"empty value", test("a", composer.OpTruthy, ""), ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := composer.Eval(tt.cond, json.RawMessage(tt.value)); err == nil {
				t.Errorf("got %v, nil; want an error", got)
			}
		})
	}
}

func TestParsePath(t *testing.T) {
	tests := []struct {
		path string
		want []composer.PathElem
		bad  bool
	}{
		{path: ""},
		{path: "a", want: []composer.PathElem{{Key: "a", Index: -1}}},
		{path: "a.b[2].c", want: []composer.PathElem{{Key: "a", Index: -1}, {Key: "b", Index: -1}, {Index: 2}, {Key: "c", Index: -1}}},
		{path: "[0][1]", want: []composer.PathElem{{Index: 0}, {Index: 1}}},
		{path: ".a", bad: true},
		{path: "a.", bad: true},
		{path: "a..b", bad: true},
		{path: "a[", bad: true},
		{path: "a[x]", bad: true},
		{path: "a[+1]", bad: true},
		{path: "a b", bad: true},
		{path: "a]", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, err := composer.ParsePath(tt.path)
			if tt.bad {
				if err == nil {
					t.Fatalf("got %v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("elem %d: got %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestResolveAction(t *testing.T) {
	tests := []struct{ ns, name, want string }{
		{"guest", "a", "/guest/a"},
		{"guest", "pkg/a", "/guest/pkg/a"},
		{"guest", "/other/a", "/other/a"},
		{"guest", "/other/pkg/a", "/other/pkg/a"},
		{"_", "a", "/_/a"},
		{"guest", "", ""},
		{"guest", "/a", ""},
		{"guest", "a/b/c", ""},
		{"guest", "/n/p/a/b", ""},
		{"guest", "a b", ""},
		{"guest", "a//b", ""},
		{"guest", "../a", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := composer.ResolveAction(tt.ns, tt.name)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("got %q, want an error", got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		err  *composer.Error
		want string
	}{
		{composer.Errorf(composer.ErrInvalid, composer.Position{File: "f.yaml", Line: 3, Col: 7}, ".steps[0]", "bad %s", "x"), "f.yaml:3:7: .steps[0]: bad x"},
		{composer.Errorf(composer.ErrInvalid, composer.Position{File: "f.yaml", Line: 3}, "", "bad"), "f.yaml:3: bad"},
		{composer.Errorf(composer.ErrInvalid, composer.Position{}, ".a", "bad"), ".a: bad"},
		{composer.Errorf(composer.ErrNotSupported, composer.Position{File: "c.json", Line: 1, Col: 2}, ".x", "not supported: let at .x: why"), "c.json:1:2: not supported: let at .x: why"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
	l := composer.ErrorList{tests[0].err, tests[3].err}
	if !errors.Is(l, composer.ErrNotSupported) || !errors.Is(l, composer.ErrInvalid) || errors.Is(l, composer.ErrUnknownAction) {
		t.Error("ErrorList does not unwrap to exactly its sentinels")
	}
	if composer.ErrorList(nil).Err() != nil {
		t.Error("empty ErrorList.Err() is not nil")
	}
}
