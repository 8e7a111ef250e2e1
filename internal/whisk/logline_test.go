package whisk_test

import (
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/whisk"
)

func TestLogLine(t *testing.T) {
	at := time.Date(2026, 12, 7, 12, 0, 0, 123_000_000, time.FixedZone("CET", 3600))
	if got, want := whisk.LogLine(at, "stderr", "oops: no"), "2026-12-07T11:00:00.123Z stderr: oops: no"; got != want {
		t.Fatalf("LogLine = %q, want %q", got, want)
	}
	for _, tc := range []struct {
		line, stream, text, shown string
		ok                        bool
	}{
		{"2026-12-07T11:00:00.123Z stdout: hello", "stdout", "hello", "hello", true},
		{"2026-12-07T11:00:00.123Z stderr: oops: no", "stderr", "oops: no", "stderr: oops: no", true},
		{"2026-12-07T11:00:00Z stdout: ", "stdout", "", "", true},
		{"2026-12-07T11:00:00Z stdin: x", "", "", "2026-12-07T11:00:00Z stdin: x", false},
		{"yesterday stdout: x", "", "", "yesterday stdout: x", false},
		{"plain text", "", "", "plain text", false},
		{"", "", "", "", false},
	} {
		_, stream, text, ok := whisk.ParseLogLine(tc.line)
		if stream != tc.stream || text != tc.text || ok != tc.ok {
			t.Errorf("ParseLogLine(%q) = %q, %q, %v; want %q, %q, %v", tc.line, stream, text, ok, tc.stream, tc.text, tc.ok)
		}
		if got := whisk.LogText(tc.line); got != tc.shown {
			t.Errorf("LogText(%q) = %q, want %q", tc.line, got, tc.shown)
		}
	}
}

// Log lines come from other containers' proxies: any line parses without
// a panic, and a line LogLine made gives back its stream and text.
func FuzzParseLogLine(f *testing.F) {
	f.Add("2026-12-07T11:00:00.123Z stdout: hello", "x")
	f.Add("plain", "")
	f.Fuzz(func(t *testing.T, line, text string) {
		whisk.ParseLogLine(line)
		whisk.LogText(line)
		at := time.Unix(1_700_000_000, 5).UTC()
		got, stream, gotText, ok := whisk.ParseLogLine(whisk.LogLine(at, "stderr", text))
		if !ok || stream != "stderr" || gotText != text || !got.Equal(at) {
			t.Fatalf("round trip of %q: %v %q %q %v", text, got, stream, gotText, ok)
		}
	})
}
