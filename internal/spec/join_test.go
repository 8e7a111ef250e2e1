package spec_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/internal/spec"
)

// joinSpec: a forks to b and c (c forks nothing but fans out to c1, c2),
// all meet in j, which goes on to d.
const joinSpec = `{"workflow":"w","namespace":"ns","start":["a"],"steps":{
 "a":{"action":"/ns/a","fork":"j","next":["b","c"]},
 "b":{"action":"/ns/b","in":"j","next":["j"]},
 "c":{"action":"/ns/c","in":"j","next":["c1","c2"]},
 "c1":{"action":"/ns/c1","in":"j","next":["j"]},
 "c2":{"action":"/ns/c2","in":"j","next":["j"]},
 "j":{"action":"","join":{"merge":"array"},"next":["d"]},
 "d":{"action":"/ns/d"}}}`

func TestJoin(t *testing.T) {
	sp, err := spec.Parse([]byte(joinSpec))
	if err != nil {
		t.Fatal(err)
	}
	if n := sp.Paths(); n != 1 {
		t.Errorf("Paths = %d, want 1: the region's paths end in the join, which has one", n)
	}
	if n := sp.JoinSlots("j"); n != 3 {
		t.Errorf("JoinSlots(j) = %d, want 3", n)
	}
	hops, _ := sp.Route("a", 0, []byte(`{}`))
	slots := func(hs []spec.Hop) []uint32 {
		var out []uint32
		for _, h := range hs {
			s, b := spec.SplitBranch(h.Branch)
			if b != 0 {
				t.Errorf("hop %v carries the fork's branch %d, want 0", h, b)
			}
			out = append(out, s)
		}
		return out
	}
	if got := slots(hops); len(got) != 2 || got[0] != 0 || got[1] != 1 {
		t.Errorf("a's hops have slots %v, want [0 1]", got)
	}
	cHops, _ := sp.Route("c", hops[1].Branch, []byte(`{}`))
	if got := slots(cHops); len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Errorf("c's hops have slots %v, want [1 2]", got)
	}
	toJ, _ := sp.Route("c2", cHops[1].Branch, []byte(`{}`))
	if len(toJ) != 1 || toJ[0].Step != "j" || !sp.IsJoin("j") {
		t.Errorf("c2's hop %v, want the join", toJ)
	}
	if after := sp.JoinHops("j", 0); len(after) != 1 || after[0].Step != "d" || after[0].Branch != 0 {
		t.Errorf("JoinHops(j) = %v, want d on branch 0", after)
	}
	merged := spec.MergeJoin(&spec.Join{Merge: spec.MergeObject, Names: []string{"x", "y"}}, map[uint32][]byte{1: []byte(`2`), 0: []byte(`1`)})
	var m map[string]int
	if err := json.Unmarshal(merged, &m); err != nil || m["x"] != 1 || m["y"] != 2 {
		t.Errorf("object merge = %s, want {x:1, y:2}", merged)
	}
	if arr := spec.MergeJoin(&spec.Join{Merge: spec.MergeArray}, map[uint32][]byte{1: []byte(`"b"`), 0: []byte(`"a"`)}); string(arr) != `["a","b"]` {
		t.Errorf("array merge = %s, want slot order", arr)
	}
}

func TestStartJoin(t *testing.T) {
	sp, err := spec.Parse([]byte(`{"workflow":"w","namespace":"ns","start":["a","b"],"start_join":"j","steps":{
	 "a":{"action":"/ns/a","in":"j","next":["j"]},"b":{"action":"/ns/b","in":"j","next":["j"]},
	 "j":{"action":"","join":{"merge":"array"}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if sp.Paths() != 1 || sp.JoinSlots("j") != 2 {
		t.Errorf("Paths %d, JoinSlots %d; want 1 and 2", sp.Paths(), sp.JoinSlots("j"))
	}
	if hops := sp.StartHops(); len(hops) != 2 || hops[1].Branch != spec.JoinBranch(1, 0) {
		t.Errorf("StartHops = %v, want slots 0 and 1", hops)
	}
}

func TestJoinRefused(t *testing.T) {
	wrap := func(steps string) string {
		return `{"workflow":"w","namespace":"ns","start":["a"],"steps":{` + steps + `}}`
	}
	for _, tc := range []struct{ name, spec, want string }{
		{"join with an action", wrap(`"a":{"action":"/ns/a","fork":"j","next":["j"]},"j":{"action":"/ns/x","join":{"merge":"array"}}`), "a join only merges"},
		{"unknown merge", wrap(`"a":{"action":"/ns/a","fork":"j","next":["j"]},"j":{"action":"","join":{"merge":"sum"}}`), "merge \"sum\""},
		{"join without fork", wrap(`"a":{"action":"/ns/a","next":["b"]},"b":{"action":"/ns/b","in":"j","next":["j"]},"j":{"action":"","join":{"merge":"array"}}`), "without being its fork"},
		{"names count", wrap(`"a":{"action":"/ns/a","fork":"j","next":["b","c"]},"b":{"action":"/ns/b","in":"j","next":["j"]},"c":{"action":"/ns/c","in":"j","next":["j"]},"j":{"action":"","join":{"merge":"object","names":["x"]}}`), "has 1 names"},
		{"region leaks", wrap(`"a":{"action":"/ns/a","fork":"j","next":["b","c"]},"b":{"action":"/ns/b","in":"j","next":["j"]},"c":{"action":"/ns/c","in":"j"},"j":{"action":"","join":{"merge":"array"}}`), "must reach its join"},
		{"region leaks to a step", wrap(`"a":{"action":"/ns/a","fork":"j","next":["b","c"]},"b":{"action":"/ns/b","in":"j","next":["j"]},"c":{"action":"/ns/c","in":"j","next":["d"]},"d":{"action":"/ns/d"},"j":{"action":"","join":{"merge":"array"}}`), "neither join"},
		{"nested", wrap(`"a":{"action":"/ns/a","fork":"j","next":["b"]},"b":{"action":"/ns/b","in":"j","fork":"k","next":["k"]},"k":{"action":"","join":{"merge":"array"},"next":["j"]},"j":{"action":"","join":{"merge":"array"}}`), "do not nest"},
		{"entering a region", wrap(`"a":{"action":"/ns/a","next":["b"]},"x":{"action":"/ns/x","fork":"j","next":["b"]},"b":{"action":"/ns/b","in":"j","next":["j"]},"j":{"action":"","join":{"merge":"array"}}`), "without being its fork"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := spec.Parse([]byte(tc.spec))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

const mapSpec = `{"workflow":"w","namespace":"ns","start":["a"],"steps":{
 "a":{"action":"/ns/a","next":["m"]},
 "m":{"action":"","map":{"over":"order.items","concurrency":4},"fork":"j","next":["b"]},
 "b":{"action":"/ns/b","in":"j","next":["j"]},
 "j":{"action":"","join":{"merge":"array"},"next":["c"]},
 "c":{"action":"/ns/c"}}}`

func TestMap(t *testing.T) {
	sp, err := spec.Parse([]byte(mapSpec))
	if err != nil {
		t.Fatal(err)
	}
	if !sp.IsMap("m") || sp.JoinSlots("j") != -1 || sp.Paths() != 1 {
		t.Fatalf("IsMap %v, JoinSlots %d, Paths %d; want true, -1 (one per element), 1", sp.IsMap("m"), sp.JoinSlots("j"), sp.Paths())
	}
	if hops, _ := sp.Route("a", 0, []byte(`{}`)); len(hops) != 1 || hops[0].Step != "m" {
		t.Errorf("a's hops %v, want the map", hops)
	}
	if hops := sp.MapHops("m", 3, 0); len(hops) != 1 || hops[0].Step != "b" || hops[0].Branch != spec.JoinBranch(3, 0) {
		t.Errorf("MapHops(m, 3) = %v, want b in slot 3", hops)
	}
	for _, tc := range []struct {
		value string
		n     int
		fails bool
	}{
		{`{"order":{"items":[1,{"x":2},"three"]}}`, 3, false},
		{`{"order":{"items":[]}}`, 0, false},
		{`{"order":{"items":12345678901234567890}}`, 0, true},
		{`{"order":{}}`, 0, true},
		{`not json`, 0, true},
	} {
		elems, err := sp.Elements("m", []byte(tc.value))
		if (err != nil) != tc.fails || len(elems) != tc.n {
			t.Errorf("Elements(%s) = %d elements, %v; want %d, failing %v", tc.value, len(elems), err, tc.n, tc.fails)
		}
	}
	elems, _ := sp.Elements("m", []byte(`{"order":{"items":[12345678901234567890,{"x":2}]}}`))
	if string(elems[0]) != "12345678901234567890" || string(elems[1]) != `{"x":2}` {
		t.Errorf("elements %s, want them as they were (numbers exact)", elems)
	}
}

func TestMapRefused(t *testing.T) {
	for _, tc := range []struct{ name, spec, want string }{
		{"two results per element", strings.Replace(mapSpec, `"b":{"action":"/ns/b","in":"j","next":["j"]}`, `"b":{"action":"/ns/b","in":"j","next":["b1","b2"]},"b1":{"action":"/ns/b1","in":"j","next":["j"]},"b2":{"action":"/ns/b2","in":"j","next":["j"]}`, 1), "2 results per element"},
		{"object join", strings.Replace(mapSpec, `"join":{"merge":"array"}`, `"join":{"merge":"object","names":["x"]}`, 1), "merges into an array"},
		{"negative concurrency", strings.Replace(mapSpec, `"concurrency":4`, `"concurrency":-1`, 1), "concurrency -1"},
		{"bad path", strings.Replace(mapSpec, `"order.items"`, `"order[x"`, 1), "over"},
		{"map with an action", strings.Replace(mapSpec, `"m":{"action":""`, `"m":{"action":"/ns/m"`, 1), "a map only distributes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := spec.Parse([]byte(tc.spec))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
