package spec_test

import (
	"strings"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/spec"
)

// switchSpec: check routes big orders to "manual", others to "auto";
// both end the run, and "flaky" retries and catches into "report".
const switchSpec = `{"workflow":"w","namespace":"ns","start":["check"],"steps":{
 "check":{"action":"/ns/check","switch":[{"when":{"path":"total","op":">","value":1000},"next":["manual"]}],"default":["auto"]},
 "manual":{"action":"/ns/manual"},
 "auto":{"action":"/ns/flaky","retry":{"attempts":3,"backoff_ms":100},"catch":["report"]},
 "report":{"action":"/ns/report"}}}`

func TestRoute(t *testing.T) {
	sp, err := spec.Parse([]byte(switchSpec))
	if err != nil {
		t.Fatal(err)
	}
	if n := sp.Paths(); n != 1 {
		t.Fatalf("Paths = %d, want 1 (a switch is either-or)", n)
	}
	for _, tc := range []struct {
		result, want string
	}{
		{`{"total":5000}`, "manual"},
		{`{"total":10}`, "auto"},
		{`{"other":1}`, "auto"},
		{`[1,2]`, "auto"},
	} {
		hops, err := sp.Route("check", 0, []byte(tc.result))
		if err != nil || len(hops) != 1 || hops[0].Step != tc.want || hops[0].Branch != 0 {
			t.Errorf("Route(check, %s) = %v, %v; want %s", tc.result, hops, err, tc.want)
		}
	}
	if hops, err := sp.Route("manual", 0, []byte(`{}`)); err != nil || len(hops) != 0 {
		t.Errorf("Route(manual) = %v, %v; want none: its result ends the run", hops, err)
	}
	if hops, ok := sp.CatchHops("auto", 0); !ok || len(hops) != 1 || hops[0].Step != "report" {
		t.Errorf("CatchHops(auto) = %v, %v; want report", hops, ok)
	}
	if _, ok := sp.CatchHops("check", 0); ok {
		t.Error("CatchHops(check): a step without catch has one")
	}
	retry := sp.Steps["auto"].Retry
	for n, want := range map[int]time.Duration{1: 0, 2: 100 * time.Millisecond, 3: 200 * time.Millisecond, 4: 400 * time.Millisecond} {
		if got := retry.Backoff(n); got != want {
			t.Errorf("Backoff(%d) = %v, want %v", n, got, want)
		}
	}
}

// TestRouteBranches: a switch in a fan-out keeps its branch number.
func TestRouteBranches(t *testing.T) {
	sp, err := spec.Parse([]byte(`{"workflow":"w","namespace":"ns","start":["a","b"],"steps":{
	 "a":{"action":"/ns/a"},
	 "b":{"action":"/ns/b","switch":[{"when":{"path":"x","op":"exists"},"next":["c"]}],"default":["d"]},
	 "c":{"action":"/ns/c"},"d":{"action":"/ns/d"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if hops := sp.StartHops(); len(hops) != 2 || hops[1].Step != "b" || hops[1].Branch != 1 {
		t.Fatalf("StartHops = %v", hops)
	}
	hops, err := sp.Route("b", 1, []byte(`{"x":null}`))
	if err != nil || len(hops) != 1 || hops[0].Step != "c" || hops[0].Branch != 1 {
		t.Errorf("Route(b, 1) = %v, %v; want c as branch 1", hops, err)
	}
}

func TestRouteRefused(t *testing.T) {
	step := func(s string) string {
		return `{"workflow":"w","namespace":"ns","start":["a"],"steps":{` + s + `}}`
	}
	for _, tc := range []struct{ name, spec, want string }{
		{"switch and next", step(`"a":{"action":"/ns/a","next":["b"],"switch":[{"when":{"path":"x","op":"exists"},"next":["b"]}]},"b":{"action":"/ns/b"}`), "both next and switch"},
		{"default without switch", step(`"a":{"action":"/ns/a","default":["b"]},"b":{"action":"/ns/b"}`), "default without a switch"},
		{"bad condition", step(`"a":{"action":"/ns/a","switch":[{"when":{"path":"x","op":"~"},"next":["b"]}]},"b":{"action":"/ns/b"}`), "case 0"},
		{"unknown case step", step(`"a":{"action":"/ns/a","switch":[{"when":{"path":"x","op":"exists"},"next":["z"]}]}`), "unknown step \"z\""},
		{"unknown catch", step(`"a":{"action":"/ns/a","catch":["z"]}`), "unknown step \"z\""},
		{"zero attempts", step(`"a":{"action":"/ns/a","retry":{"attempts":0}}`), "retry needs 1 to"},
		{"negative backoff", step(`"a":{"action":"/ns/a","retry":{"attempts":2,"backoff_ms":-1}}`), "retry needs 1 to"},
		{"cycle through catch", step(`"a":{"action":"/ns/a","catch":["b"]},"b":{"action":"/ns/b","next":["a"]}`), "cycle"},
		{"cycle through a case", step(`"a":{"action":"/ns/a","switch":[{"when":{"path":"x","op":"exists"},"next":["a"]}]}`), "cycle"},
		{"uneven alternatives", step(`"a":{"action":"/ns/a","switch":[{"when":{"path":"x","op":"exists"},"next":["b","c"]}],"default":["b"]},"b":{"action":"/ns/b"},"c":{"action":"/ns/c"}`), "same number of results"},
		{"uneven catch", step(`"a":{"action":"/ns/a","next":["b"],"catch":["b","c"]},"b":{"action":"/ns/b"},"c":{"action":"/ns/c"}`), "same number of results"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := spec.Parse([]byte(tc.spec))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestValueStep(t *testing.T) {
	sp, err := spec.Parse([]byte(`{"workflow":"w","namespace":"ns","start":["a"],"steps":{
	 "a":{"action":"/ns/a","next":["v"]},"v":{"action":"","value":{"k":1},"next":["b"]},"b":{"action":"/ns/b"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if !sp.IsValue("v") || sp.IsValue("a") || sp.Paths() != 1 {
		t.Errorf("IsValue(v) %v, IsValue(a) %v, Paths %d", sp.IsValue("v"), sp.IsValue("a"), sp.Paths())
	}
	for _, bad := range []string{
		`"v":{"action":"/ns/x","value":1}`,
		`"v":{"action":"","value":1,"retry":{"attempts":2}}`,
	} {
		if _, err := spec.Parse([]byte(`{"workflow":"w","namespace":"ns","start":["v"],"steps":{` + bad + `}}`)); err == nil || !strings.Contains(err.Error(), "only replaces the value") {
			t.Errorf("Parse(%s): %v, want a refusal", bad, err)
		}
	}
}
