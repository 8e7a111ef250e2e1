package runevent_test

import (
	"regexp"
	"testing"

	"github.com/wsk-route/wsk-route/internal/runevent"
)

func TestStepActivationID(t *testing.T) {
	hex32 := regexp.MustCompile(`^[0-9a-f]{32}$`)
	a := runevent.StepActivationID("run1", "upper", 0, "")
	if !hex32.MatchString(a) {
		t.Errorf("StepActivationID = %q, want 32 lower-case hex digits as OpenWhisk's ids", a)
	}
	if b := runevent.StepActivationID("run1", "upper", 0, ""); b != a {
		t.Errorf("same step: %q then %q, want the same id", a, b)
	}
	seen := map[string]string{a: "run1/upper/0"}
	for _, k := range []struct {
		run, step, outer string
		branch           uint32
	}{{"run1", "upper", "", 1}, {"run2", "upper", "", 0}, {"run1", "lower", "", 0}, {"run1u", "pper", "", 0}, {"run1", "upper", "0", 0}} {
		id := runevent.StepActivationID(k.run, k.step, k.branch, k.outer)
		if prev, dup := seen[id]; dup {
			t.Errorf("%v and %s share the id %s", k, prev, id)
		}
		seen[id] = k.run + "/" + k.step
	}
}

func TestEntryRun(t *testing.T) {
	const act = "0123456789abcdef0123456789abcdef"
	for _, tc := range []struct{ run, want string }{
		{act, act},
		{act + "-1", act},
		{act + "-417", act},
		{act + "-", act + "-"},
		{act + "-x1", act + "-x1"},
		{"0123-4", "0123-4"},         // not an activation id before the dash
		{"run-" + act, "run-" + act}, // an id of its own
		{"", ""},
	} {
		if got := runevent.EntryRun(tc.run); got != tc.want {
			t.Errorf("EntryRun(%q) = %q, want %q", tc.run, got, tc.want)
		}
	}
}
