package spec_test

import (
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/internal/spec"
)

// whileSpec: a, then while n < 3 run b and c, then d.
const whileSpec = `{"workflow":"w","namespace":"ns","start":["a"],"steps":{
 "a":{"action":"/ns/a","next":["w"]},
 "w":{"action":"","loop":{"max":10},"switch":[{"when":{"path":"n","op":"<","value":3},"next":["b"]}],"default":["d"]},
 "b":{"action":"/ns/b","in_loop":"w","next":["c"]},
 "c":{"action":"/ns/c","in_loop":"w","next":["w"]},
 "d":{"action":"/ns/d"}}}`

func TestLoop(t *testing.T) {
	sp, err := spec.Parse([]byte(whileSpec))
	if err != nil {
		t.Fatal(err)
	}
	if sp.Paths() != 1 || !sp.IsLoop("w") || sp.LoopMax("w") != 10 {
		t.Errorf("Paths %d, IsLoop %v, LoopMax %d; want 1, true, 10", sp.Paths(), sp.IsLoop("w"), sp.LoopMax("w"))
	}
	for _, tc := range []struct {
		value string
		want  string
	}{{`{"n":1}`, "b"}, {`{"n":3}`, "d"}} {
		hops, err := sp.Route("w", 0, []byte(tc.value))
		if err != nil || len(hops) != 1 || hops[0].Step != tc.want {
			t.Errorf("Route(w, %s) = %v, %v; want %s", tc.value, hops, err, tc.want)
		}
	}
	if !sp.InBody("c", "w") || sp.InBody("d", "w") {
		t.Errorf("InBody(c, w) %v, InBody(d, w) %v; want true, false", sp.InBody("c", "w"), sp.InBody("d", "w"))
	}
}

func TestNestedAndDoWhileLoops(t *testing.T) {
	// a do-while (the body b runs first) whose body holds a while loop v
	// over c; then d.
	sp, err := spec.Parse([]byte(`{"workflow":"w","namespace":"ns","start":["b"],"steps":{
	 "b":{"action":"/ns/b","in_loop":"w","next":["v"]},
	 "v":{"action":"","in_loop":"w","loop":{},"switch":[{"when":{"path":"k","op":"<","value":2},"next":["c"]}],"default":["w"]},
	 "c":{"action":"/ns/c","in_loop":"v","next":["v"]},
	 "w":{"action":"","loop":{},"switch":[{"when":{"path":"n","op":"<","value":3},"next":["b"]}],"default":["d"]},
	 "d":{"action":"/ns/d"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := sp.Loops("c"); strings.Join(got, ",") != "w,v" || sp.LoopMax("v") != spec.DefaultLoopMax {
		t.Errorf("Loops(c) = %v, LoopMax(v) %d; want [w v], %d", got, sp.LoopMax("v"), spec.DefaultLoopMax)
	}
}

func TestLoopRefused(t *testing.T) {
	for _, tc := range []struct{ name, old, new, want string }{
		{"body leaves", `"c":{"action":"/ns/c","in_loop":"w","next":["w"]}`, `"c":{"action":"/ns/c","in_loop":"w","next":["d"]}`, "a body is left through its head"},
		{"body ends the run", `"c":{"action":"/ns/c","in_loop":"w","next":["w"]}`, `"c":{"action":"/ns/c","in_loop":"w"}`, "ends the run"},
		{"body fans out", `"b":{"action":"/ns/b","in_loop":"w","next":["c"]}`, `"b":{"action":"/ns/b","in_loop":"w","next":["c","e"]},"e":{"action":"/ns/e","in_loop":"w","next":["w"]}`, "gives 2 values"},
		{"two cases", `"switch":[{"when":{"path":"n","op":"<","value":3},"next":["b"]}]`, `"switch":[{"when":{"path":"n","op":"<","value":3},"next":["b"]},{"when":{"path":"n","op":">","value":9},"next":["b"]}]`, "exactly one switch case"},
		{"max too big", `"loop":{"max":10}`, `"loop":{"max":1000000}`, "max 1000000"},
		{"head with an action", `"w":{"action":""`, `"w":{"action":"/ns/w"`, "a loop head only tests"},
		{"default in the body", `"default":["d"]`, `"default":["c"]`, "is in its body"},
		{"in_loop names no loop", `"b":{"action":"/ns/b","in_loop":"w"`, `"b":{"action":"/ns/b","in_loop":"a"`, "not a loop head"},
		{"a cycle outside a loop", `"d":{"action":"/ns/d"}`, `"d":{"action":"/ns/d","next":["a"]}`, "cycle"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(whileSpec, tc.old, tc.new, 1)
			if src == whileSpec {
				t.Fatalf("the replacement of %s did not apply", tc.old)
			}
			_, err := spec.Parse([]byte(src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
