package spec

import (
	"fmt"
	"testing"
)

// TestPlaceOf decodes the branch numbers the spec's own hops give: the
// branches of an object join, of an array join, the elements of a map
// inside a branch, and the result paths of a run that ends in several.
func TestPlaceOf(t *testing.T) {
	s := mustParse(t, `{"workflow":"w","namespace":"ns","start":["f"],"steps":{
	 "f":{"action":"/ns/f","fork":"j","next":["a","b","mp"]},
	 "a":{"action":"/ns/a","in":"j","next":["j"]},
	 "b":{"action":"/ns/b","in":"j","next":["j"]},
	 "mp":{"action":"","in":"j","map":{"over":"items"},"fork":"mj","next":["m"]},
	 "m":{"action":"/ns/m","in":"mj","next":["mj"]},
	 "mj":{"action":"","in":"j","join":{"merge":"array"},"next":["j"]},
	 "j":{"action":"","join":{"merge":"object","names":["left","right","each"]},"next":["x","y"]},
	 "x":{"action":"/ns/x"},
	 "y":{"action":"/ns/y"}}}`)
	placeOf := map[string]string{}
	for _, h := range routeOf(t, s, "f") {
		placeOf[h.Step] = s.PlaceOf(h.Step, h.Branch).String()
		if h.Step == "mp" {
			for i := range 3 {
				for _, e := range s.MapHops("mp", i, h.Branch) {
					if got, want := s.PlaceOf(e.Step, e.Branch).String(), fmt.Sprintf("element %d", i); got != want {
						t.Errorf("map element %d: step %s branch %d: got %q, want %q", i, e.Step, e.Branch, got, want)
					}
				}
			}
		}
	}
	for _, h := range s.JoinHops("j", 0) {
		placeOf[h.Step] = s.PlaceOf(h.Step, h.Branch).String()
	}
	for step, want := range map[string]string{"a": "branch left", "b": "branch right", "mp": "branch each", "x": "branch 1 of 2", "y": "branch 2 of 2"} {
		if got := placeOf[step]; got != want {
			t.Errorf("step %s: got %q, want %q (all: %v)", step, got, want, placeOf)
		}
	}

	arr := mustParse(t, `{"workflow":"w","namespace":"ns","start":["f"],"steps":{
	 "f":{"action":"/ns/f","fork":"j","next":["a","b"]},
	 "a":{"action":"/ns/a","in":"j","next":["j"]},
	 "b":{"action":"/ns/b","in":"j","next":["j"]},
	 "j":{"action":"","join":{"merge":"array"}}}}`)
	for i, h := range routeOf(t, arr, "f") {
		p := arr.PlaceOf(h.Step, h.Branch)
		if p.Join != "j" || p.Index != i || p.Of != 2 || p.Map || p.Name != "" {
			t.Errorf("array join, step %s branch %d: got %+v, want slot %d of 2 in j", h.Step, h.Branch, p, i)
		}
	}
	if got := arr.PlaceOf("f", 0).String(); got != "" {
		t.Errorf("the one path of a run: got %q, want nothing", got)
	}

	// A run that ends in two paths: the step before them shares both, and
	// names no branch; the steps on them name theirs.
	paths := mustParse(t, `{"workflow":"w","namespace":"ns","start":["s"],"steps":{
	 "s":{"action":"/ns/s","next":["u","t"]},
	 "u":{"action":"/ns/u"},
	 "t":{"action":"/ns/t","next":["l"]},
	 "l":{"action":"/ns/l"}}}`)
	for _, tc := range []struct {
		step   string
		branch uint32
		want   string
	}{{"s", 0, ""}, {"u", 0, "branch 1 of 2"}, {"t", 1, "branch 2 of 2"}, {"l", 1, "branch 2 of 2"}} {
		if got := paths.PlaceOf(tc.step, tc.branch).String(); got != tc.want {
			t.Errorf("two result paths, step %s branch %d: got %q, want %q", tc.step, tc.branch, got, tc.want)
		}
	}
}

// routeOf returns where step id's result goes on branch 0, failing t on
// an error.
func routeOf(t *testing.T, s *Spec, id string) []Hop {
	t.Helper()
	hops, err := s.Route(id, 0, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	return hops
}

func mustParse(t *testing.T, js string) *Spec {
	t.Helper()
	s, err := Parse([]byte(js))
	if err != nil {
		t.Fatalf("parsing the spec: %v", err)
	}
	return s
}
