package cli

import (
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/internal/spec"
)

// TestPrintPlanNested: the plan says what each step without an action
// does, which join region each step is in, and where regions open.
func TestPrintPlanNested(t *testing.T) {
	sp, err := spec.Parse([]byte(`{"workflow":"w","namespace":"ns","start":["a"],"steps":{
	 "a":{"action":"/ns/a","fork":"j","next":["b","m"]},
	 "b":{"action":"/ns/b","in":"j","next":["j"]},
	 "m":{"action":"","in":"j","map":{"over":"items","concurrency":2},"fork":"mj","next":["c"]},
	 "c":{"action":"/ns/c","in":"mj","next":["mj"]},
	 "mj":{"action":"","in":"j","join":{"merge":"array"},"next":["j"]},
	 "j":{"action":"","join":{"merge":"object","names":["b","m"]}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	out, lines := planLines(sp)
	for step, want := range map[string]string{
		"STEP": "STEP ACTION IN JOIN IN LOOP NEXT",
		"a":    "a /ns/a - - b, m (forks join j)",
		"m":    "m (map over items, 2 at a time) j - c (forks join mj)",
		"c":    "c /ns/c mj - mj",
		"mj":   "mj (join: array) j - j",
		"j":    "j (join: object) - - (result)",
	} {
		if got := lines[step]; got != want {
			t.Errorf("plan line of %s:\n got %q\nwant %q\nplan:\n%s", step, got, want, out)
		}
	}
}

func TestPrintPlanLoop(t *testing.T) {
	sp, err := spec.Parse([]byte(`{"workflow":"w","namespace":"ns","start":["w"],"steps":{
	 "w":{"action":"","loop":{},"switch":[{"when":{"path":"n","op":"<","value":3},"next":["i"]}],"default":["d"]},
	 "i":{"action":"/ns/i","in_loop":"w","next":["w"]},
	 "d":{"action":"/ns/d"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	out, lines := planLines(sp)
	for step, want := range map[string]string{
		"w": `w (loop, at most 1000 times) - - when {"path":"n","op":"<","value":3}: i; else: d`,
		"i": "i /ns/i - w w",
	} {
		if got := lines[step]; got != want {
			t.Errorf("plan line of %s:\n got %q\nwant %q\nplan:\n%s", step, got, want, out)
		}
	}
}

// planLines prints sp's plan and returns it, and its lines by their first
// field with the columns' spacing collapsed.
func planLines(sp *spec.Spec) (string, map[string]string) {
	var out strings.Builder
	printPlan(&out, sp)
	lines := map[string]string{}
	for _, l := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			lines[f[0]] = strings.Join(f, " ")
		}
	}
	return out.String(), lines
}
