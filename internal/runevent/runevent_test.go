package runevent

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCheck(t *testing.T) {
	good := Event{Run: "a1-b_2", Seq: 1, Kind: KindStep, Step: "s"}
	tests := []struct {
		name string
		edit func(*Event)
		ok   bool
	}{
		{"step event", func(*Event) {}, true},
		{"end event without step", func(e *Event) { e.Kind, e.Step = KindEnd, "" }, true},
		{"empty run", func(e *Event) { e.Run = "" }, false},
		{"run with a slash", func(e *Event) { e.Run = "a/b" }, false},
		{"run too long", func(e *Event) { e.Run = strings.Repeat("a", MaxRunID+1) }, false},
		{"seq 0", func(e *Event) { e.Seq = 0 }, false},
		{"unknown kind", func(e *Event) { e.Kind = "start" }, false},
		{"step without step", func(e *Event) { e.Step = "" }, false},
		{"logs too long", func(e *Event) { e.Logs = strings.Repeat("x", MaxLogs+1) }, false},
		{"error too long", func(e *Event) { e.Kind, e.Error = KindEnd, strings.Repeat("x", MaxError+1) }, false},
		{"negative duration", func(e *Event) { e.DurationNS = -1 }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := good
			tc.edit(&e)
			err := e.Check()
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrBad)) {
				t.Errorf("Check(%+v) = %v, want ok=%v (ErrBad when not)", e, err, tc.ok)
			}
		})
	}
}

func TestCap(t *testing.T) {
	tests := []struct {
		in       string
		n        int
		want     string
		wantLeft int
	}{
		{"short", 10, "short", 0},
		{"exactly", 7, "exactly", 0},
		{"cut here", 3, "cut", 5},
		{"héllo", 2, "h", 5}, // é is 2 bytes: not split
		{"a\xffb", 10, "a\uFFFDb", 0},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, left := Cap(tc.in, tc.n)
			if got != tc.want || left != tc.wantLeft || !utf8.ValidString(got) {
				t.Errorf("Cap(%q, %d) = %q, %d; want %q, %d", tc.in, tc.n, got, left, tc.want, tc.wantLeft)
			}
		})
	}
}
