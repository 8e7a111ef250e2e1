package cond_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/internal/cond"
)

// test returns the condition {path, op, value}; value "" means none.
func test(path string, op cond.Op, value string) cond.Cond {
	c := cond.Cond{Path: path, Op: op}
	if value != "" {
		c.Value = json.RawMessage(value)
	}
	return c
}

func TestEval(t *testing.T) {
	doc := `{"a":{"b":3,"s":"kiwi","z":0,"e":"","n":null,"f":false,"arr":[],"obj":{}},"items":[{"p":1.5},{"p":2}],"big":1e400}`
	tests := []struct {
		name string
		cond cond.Cond
		want bool
	}{
		{"eq number", test("a.b", cond.OpEq, "3"), true},
		{"eq number other form", test("a.b", cond.OpEq, "3.0"), true},
		{"eq string", test("a.s", cond.OpEq, `"kiwi"`), true},
		{"eq type mismatch", test("a.b", cond.OpEq, `"3"`), false},
		{"eq object", test("items[0]", cond.OpEq, `{"p":1.5}`), true},
		{"eq object differs", test("items[0]", cond.OpEq, `{"p":1.5,"q":1}`), false},
		{"eq array", test("a.arr", cond.OpEq, `[]`), true},
		{"eq null", test("a.n", cond.OpEq, `null`), true},
		{"eq missing", test("nope", cond.OpEq, `null`), false},
		{"ne", test("a.b", cond.OpNe, "4"), true},
		{"ne equal", test("a.b", cond.OpNe, "3"), false},
		{"ne missing", test("nope", cond.OpNe, "1"), true},
		{"lt", test("items[1].p", cond.OpLt, "2.5"), true},
		{"le equal", test("items[1].p", cond.OpLe, "2"), true},
		{"gt", test("a.b", cond.OpGt, "2"), true},
		{"gt false", test("a.b", cond.OpGt, "3"), false},
		{"ge", test("a.b", cond.OpGe, "3"), true},
		{"lt strings", test("a.s", cond.OpLt, `"lemon"`), true},
		{"lt mixed types", test("a.s", cond.OpLt, `5`), false},
		{"gt huge number", test("big", cond.OpGt, `1e300`), true},
		{"lt objects", test("a.obj", cond.OpLt, `{}`), false},
		{"exists", test("a.n", cond.OpExists, ""), true},
		{"exists missing", test("a.q", cond.OpExists, ""), false},
		{"exists index out of range", test("items[5]", cond.OpExists, ""), false},
		{"exists key on array", test("items.p", cond.OpExists, ""), false},
		{"exists whole value", test("", cond.OpExists, ""), true},
		{"truthy number", test("a.b", cond.OpTruthy, ""), true},
		{"truthy zero", test("a.z", cond.OpTruthy, ""), false},
		{"truthy empty string", test("a.e", cond.OpTruthy, ""), false},
		{"truthy null", test("a.n", cond.OpTruthy, ""), false},
		{"truthy false", test("a.f", cond.OpTruthy, ""), false},
		{"truthy empty array", test("a.arr", cond.OpTruthy, ""), true},
		{"truthy empty object", test("a.obj", cond.OpTruthy, ""), true},
		{"truthy missing", test("x.y", cond.OpTruthy, ""), false},
		{"all", cond.Cond{All: []cond.Cond{test("a.b", cond.OpEq, "3"), test("a.s", cond.OpExists, "")}}, true},
		{"all one false", cond.Cond{All: []cond.Cond{test("a.b", cond.OpEq, "3"), test("a.z", cond.OpTruthy, "")}}, false},
		{"any", cond.Cond{Any: []cond.Cond{test("a.z", cond.OpTruthy, ""), test("a.s", cond.OpExists, "")}}, true},
		{"any none", cond.Cond{Any: []cond.Cond{test("a.z", cond.OpTruthy, ""), test("q", cond.OpExists, "")}}, false},
		{"not", cond.Cond{Not: &cond.Cond{Path: "a.z", Op: cond.OpTruthy}}, true},
		{"nested", cond.Cond{Not: &cond.Cond{Any: []cond.Cond{{Not: &cond.Cond{Path: "a", Op: cond.OpExists}}}}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.cond.Eval([]byte(doc))
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
		cond  cond.Cond
		value string
	}{
		{"empty condition", cond.Cond{}, `{}`},
		{"unknown op", test("a", "~", "1"), `{}`},
		{"comparison without value", test("a", cond.OpEq, ""), `{}`},
		{"exists with value", test("a", cond.OpExists, "1"), `{}`},
		{"bad value JSON", test("a", cond.OpEq, "{"), `{}`},
		{"bad path", test("a..b", cond.OpTruthy, ""), `{}`},
		{"bad index", test("a[-1]", cond.OpTruthy, ""), `{}`},
		{"two kinds", cond.Cond{Path: "a", Op: cond.OpTruthy, All: []cond.Cond{test("a", cond.OpTruthy, "")}}, `{}`},
		{"empty all", cond.Cond{All: []cond.Cond{}}, `{}`},
		{"bad nested", cond.Cond{Not: &cond.Cond{}}, `{}`},
		{"value not JSON", test("a", cond.OpTruthy, ""), `{`},
		{"two values", test("a", cond.OpTruthy, ""), `{} {}`},
		{"empty value", test("a", cond.OpTruthy, ""), ``},
		{"op spelled eq (parsers map it)", test("a", "eq", "1"), `{}`},
		{"bad deep in any", cond.Cond{Any: []cond.Cond{test("a", cond.OpTruthy, ""), {Not: &cond.Cond{Path: "a", Op: cond.OpGt}}}}, `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := tt.cond.Eval([]byte(tt.value)); err == nil {
				t.Errorf("got %v, nil; want an error", got)
			}
		})
	}
}

func TestParsePath(t *testing.T) {
	tests := []struct {
		path string
		want []cond.PathElem
		bad  bool
	}{
		{path: ""},
		{path: "a", want: []cond.PathElem{{Key: "a", Index: -1}}},
		{path: "a.b[2].c", want: []cond.PathElem{{Key: "a", Index: -1}, {Key: "b", Index: -1}, {Index: 2}, {Key: "c", Index: -1}}},
		{path: "[0][1]", want: []cond.PathElem{{Index: 0}, {Index: 1}}},
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
			got, err := cond.ParsePath(tt.path)
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

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		data string
		want string // "" means an error
	}{
		{"test", `{"path":"a.b","op":"!=","value":3}`, `{"path":"a.b","op":"!=","value":3}`},
		{"nested", `{"all":[{"path":"a","op":"exists"},{"not":{"any":[{"op":"truthy"}]}}]}`, `{"all":[{"path":"a","op":"exists"},{"not":{"any":[{"op":"truthy"}]}}]}`},
		{"blanks around", " {\"op\":\"truthy\"}\n", `{"op":"truthy"}`},
		{"null value", `{"path":"a","op":"==","value":null}`, `{"path":"a","op":"==","value":null}`},
		{"unknown field", `{"path":"a","op":"exists","when":1}`, ""},
		{"unknown field nested", `{"not":{"op":"exists","x":1}}`, ""},
		{"trailing data", `{"op":"truthy"} {}`, ""},
		{"not JSON", `{"op":`, ""},
		{"invalid condition", `{"path":"a","op":"=="}`, ""},
		{"empty all", `{"all":[]}`, ""},
		{"null", `null`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := cond.Parse([]byte(tt.data))
			if tt.want == "" {
				if err == nil {
					t.Fatalf("got %+v, want an error", c)
				}
				if !errors.Is(err, cond.ErrInvalid) {
					t.Errorf("error %v does not wrap ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.Marshal(c)
			if err != nil || string(got) != tt.want {
				t.Errorf("marshals to %s, %v; want %s", got, err, tt.want)
			}
		})
	}
}

// TestValidateNames checks that Validate says where the problem is.
func TestValidateNames(t *testing.T) {
	tests := []struct {
		cond cond.Cond
		want string
	}{
		{cond.Cond{Path: "a", Op: "like"}, `cond: invalid condition: unknown op "like"`},
		{cond.Cond{All: []cond.Cond{test("a", cond.OpTruthy, ""), {Not: &cond.Cond{Path: "a[", Op: cond.OpExists}}}}, `at all[1].not: path "a[": unclosed [`},
		{cond.Cond{Any: []cond.Cond{{Any: []cond.Cond{}}}}, "at any[0]: any needs at least one condition"},
	}
	for _, tt := range tests {
		err := tt.cond.Validate()
		if err == nil || !errors.Is(err, cond.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate(%+v) = %v, want an ErrInvalid containing %q", tt.cond, err, tt.want)
		}
	}
}

// TestNodeErrors checks that a node reports all of its own problems and
// none of its children's.
func TestNodeErrors(t *testing.T) {
	tests := []struct {
		name string
		cond cond.Cond
		want int
	}{
		{"good test", test("a", cond.OpEq, "1"), 0},
		{"bad path and no value", cond.Cond{Path: "a..b", Op: cond.OpLt}, 2},
		{"bad child not counted", cond.Cond{Not: &cond.Cond{}}, 0},
		{"bad children not counted", cond.Cond{All: []cond.Cond{{}, {Op: "?"}}}, 0},
		{"mixed", cond.Cond{Op: cond.OpTruthy, Not: &cond.Cond{}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cond.NodeErrors(); len(got) != tt.want {
				t.Errorf("got %v, want %d problems", got, tt.want)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	doc := map[string]any{"a": []any{"x", map[string]any{"b": nil}}}
	tests := []struct {
		path string
		want any
		ok   bool
	}{
		{"a[0]", "x", true},
		{"a[1].b", nil, true},
		{"a[2]", nil, false},
		{"a.b", nil, false},
		{"a[0].c", nil, false},
	}
	for _, tt := range tests {
		p, err := cond.ParsePath(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := cond.Lookup(doc, p)
		if ok != tt.ok || got != tt.want {
			t.Errorf("Lookup(%q) = %v, %v; want %v, %v", tt.path, got, ok, tt.want, tt.ok)
		}
	}
}
