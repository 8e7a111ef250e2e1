package spec_test

import (
	"encoding/json"
	"fmt"
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
		{"nested join outside the region of its fork", wrap(`"a":{"action":"/ns/a","fork":"j","next":["b"]},"b":{"action":"/ns/b","in":"j","fork":"k","next":["c"]},"c":{"action":"/ns/c","in":"k","next":["k"]},"k":{"action":"","join":{"merge":"array"},"next":["j"]},"j":{"action":"","join":{"merge":"array"}}`), "are not in the same region"},
		{"nested join ends the run", wrap(`"a":{"action":"/ns/a","fork":"j","next":["b"]},"b":{"action":"/ns/b","in":"j","fork":"k","next":["c"]},"c":{"action":"/ns/c","in":"k","next":["k"]},"k":{"action":"","in":"j","join":{"merge":"array"}},"j":{"action":"","join":{"merge":"array"}}`), "its merge ends the run"},
		{"joins in each other's regions", wrap(`"a":{"action":"/ns/a","fork":"j","next":["j"]},"j":{"action":"","in":"k","join":{"merge":"array"},"next":["k"]},"k":{"action":"","in":"j","join":{"merge":"array"},"next":["j"]}`), "cycle"},
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

// nestedSpec: a forks into b and m; b is one path; m maps its input's
// array through c, which forks into d and e joined by k; the map's join
// is mj, and b and mj meet in j, which goes on to z. Regions: j holds b,
// m and mj; mj holds c and k; k holds d and e.
const nestedSpec = `{"workflow":"w","namespace":"ns","start":["a"],"steps":{
 "a":{"action":"/ns/a","fork":"j","next":["b","m"]},
 "b":{"action":"/ns/b","in":"j","next":["j"]},
 "m":{"action":"","in":"j","map":{"over":"items"},"fork":"mj","next":["c"]},
 "c":{"action":"/ns/c","in":"mj","fork":"k","next":["d","e"]},
 "d":{"action":"/ns/d","in":"k","next":["k"]},
 "e":{"action":"/ns/e","in":"k","next":["k"]},
 "k":{"action":"","in":"mj","join":{"merge":"object","names":["d","e"]},"next":["mj"]},
 "mj":{"action":"","in":"j","join":{"merge":"array"},"next":["j"]},
 "j":{"action":"","join":{"merge":"array"},"next":["z"]},
 "z":{"action":"/ns/z"}}}`

func TestNestedRegions(t *testing.T) {
	sp, err := spec.Parse([]byte(nestedSpec))
	if err != nil {
		t.Fatal(err)
	}
	if sp.Paths() != 1 || sp.JoinSlots("j") != 2 || sp.JoinSlots("k") != 2 || sp.JoinSlots("mj") != -1 {
		t.Errorf("Paths %d, JoinSlots j %d k %d mj %d; want 1, 2 (b, and the map as one path), 2, -1", sp.Paths(), sp.JoinSlots("j"), sp.JoinSlots("k"), sp.JoinSlots("mj"))
	}
	for id, want := range map[string]bool{"a": false, "b": false, "m": true, "c": true, "d": false, "k": true, "mj": true, "j": false} {
		if got := sp.IsNested(id); got != want {
			t.Errorf("IsNested(%s) = %v, want %v", id, got, want)
		}
	}
	b := func(slot, branch uint32) uint32 { return spec.JoinBranch(slot, branch) }
	for _, tc := range []struct {
		name string
		got  []spec.Hop
		want []spec.Hop
	}{
		{"a forks j", must(sp.Route("a", 0, nil)), []spec.Hop{{"b", b(0, 0)}, {"m", b(1, 0)}}},
		{"element 2 of m, in slot 1 of j", sp.MapHops("m", 2, b(1, 0)), []spec.Hop{{"c", b(2, 0)}}},
		{"c forks k (its slot in mj goes on the side)", must(sp.Route("c", b(2, 0), nil)), []spec.Hop{{"d", b(0, 0)}, {"e", b(1, 0)}}},
		{"k goes on in mj's region, slot 2", sp.JoinHops("k", b(2, 0)), []spec.Hop{{"mj", b(2, 0)}}},
		{"mj goes on in j's region, slot 1", sp.JoinHops("mj", b(1, 0)), []spec.Hop{{"j", b(1, 0)}}},
		{"j goes on", sp.JoinHops("j", 0), []spec.Hop{{"z", 0}}},
	} {
		if fmt.Sprint(tc.got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: hops %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}

func must(h []spec.Hop, err error) []spec.Hop {
	if err != nil {
		panic(err)
	}
	return h
}

func TestNestingDepth(t *testing.T) {
	// Regions nested depth deep: fork fi opens ji, the region of ji-1.
	build := func(depth int) string {
		var steps []string
		for i := 1; i <= depth; i++ {
			in := ""
			if i > 1 {
				in = fmt.Sprintf(`"in":"j%d",`, i-1)
			}
			next := fmt.Sprintf("f%d", i+1)
			if i == depth {
				next = fmt.Sprintf("j%d", i)
			}
			steps = append(steps, fmt.Sprintf(`"f%d":{"action":"/ns/f",%s"fork":"j%d","next":["%s"]}`, i, in, i, next))
			jnext := `"next":["z"]`
			if i > 1 {
				jnext = fmt.Sprintf(`"in":"j%d","next":["j%d"]`, i-1, i-1)
			}
			steps = append(steps, fmt.Sprintf(`"j%d":{"action":"","join":{"merge":"array"},%s}`, i, jnext))
		}
		steps = append(steps, `"z":{"action":"/ns/z"}`)
		return `{"workflow":"w","namespace":"ns","start":["f1"],"steps":{` + strings.Join(steps, ",") + `}}`
	}
	if _, err := spec.Parse([]byte(build(spec.MaxNesting))); err != nil {
		t.Errorf("%d nested regions: %v", spec.MaxNesting, err)
	}
	if _, err := spec.Parse([]byte(build(spec.MaxNesting + 1))); err == nil || !strings.Contains(err.Error(), "nested join regions") {
		t.Errorf("%d nested regions: %v, want refused for its depth", spec.MaxNesting+1, err)
	}
}
