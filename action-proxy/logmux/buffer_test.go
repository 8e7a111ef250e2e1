package logmux_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/logmux"
)

// clock returns a Now that starts at 12:00:00 UTC and moves 1 ms a call.
func clock() func() time.Time {
	t := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	return func() time.Time {
		t = t.Add(time.Millisecond)
		return t
	}
}

// write is one Write of a test: to stdout ("out") or stderr ("err").
type write struct {
	stream, text string
}

func TestBuffer(t *testing.T) {
	for _, tc := range []struct {
		name   string
		limit  int
		writes []write
		want   string
	}{
		{
			name:   "lines of both streams, each stamped when it ended",
			limit:  1 << 20,
			writes: []write{{"out", "one\ntw"}, {"err", "oops\n"}, {"out", "o\n"}},
			want: "2026-12-07T12:00:00.001Z stdout: one\n" +
				"2026-12-07T12:00:00.002Z stderr: oops\n" +
				"2026-12-07T12:00:00.003Z stdout: two\n",
		},
		{
			name:   "the first line of a write ends at once",
			limit:  1 << 20,
			writes: []write{{"out", "a\nb\n"}},
			want: "2026-12-07T12:00:00.001Z stdout: a\n" +
				"2026-12-07T12:00:00.002Z stdout: b\n",
		},
		{
			name:   "an unfinished line is ended by Bytes",
			limit:  1 << 20,
			writes: []write{{"err", "no newline"}},
			want:   "2026-12-07T12:00:00.001Z stderr: no newline\n",
		},
		{
			name:   "empty lines and carriage returns",
			limit:  1 << 20,
			writes: []write{{"out", "\r\n\n"}},
			want: "2026-12-07T12:00:00.001Z stdout: \n" +
				"2026-12-07T12:00:00.002Z stdout: \n",
		},
		{
			name:   "over the limit: the lines that fit, then a count of the rest",
			limit:  80,
			writes: []write{{"out", "kept\n"}, {"err", "too long for what is left\n"}, {"out", "short\n"}},
			want: "2026-12-07T12:00:00.001Z stdout: kept\n" +
				"2026-12-07T12:00:00.003Z stderr: [wsk-route: 30 more bytes of log output dropped, over the 80-byte limit]\n",
		},
		{
			name:   "a line longer than the limit",
			limit:  80,
			writes: []write{{"out", strings.Repeat("x", 50)}, {"out", strings.Repeat("x", 50) + "\nafter\n"}},
			want:   "2026-12-07T12:00:00.001Z stderr: [wsk-route: 105 more bytes of log output dropped, over the 80-byte limit]\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &logmux.Buffer{Limit: tc.limit, Now: clock()}
			for _, w := range tc.writes {
				to := b.Stdout()
				if w.stream == "err" {
					to = b.Stderr()
				}
				fmt.Fprint(to, w.text)
			}
			if got := string(b.Bytes()); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// A line that never ends does not grow past the limit.
func TestBufferBoundsAnUnfinishedLine(t *testing.T) {
	b := &logmux.Buffer{Limit: 1 << 10, Now: clock()}
	chunk := strings.Repeat("y", 4<<10)
	for range 256 {
		fmt.Fprint(b.Stdout(), chunk)
	}
	got := b.Bytes()
	if len(got) > 2<<10 {
		t.Fatalf("kept %d bytes, limit 1 KiB", len(got))
	}
	if !strings.Contains(string(got), "more bytes of log output dropped") {
		t.Fatalf("no note of the dropped bytes: %q", got)
	}
}

// A Buffer takes a run's output from both Muxes, and keeps each line's
// stream.
func TestBufferBehindMuxes(t *testing.T) {
	var main syncBuf
	out, err := logmux.New(&main)
	if err != nil {
		t.Fatal(err)
	}
	errs, err := logmux.New(&main)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	run := &logmux.Buffer{Limit: 1 << 20}
	if err := out.Switch(ctx, run.Stdout()); err != nil {
		t.Fatal(err)
	}
	if err := errs.Switch(ctx, run.Stderr()); err != nil {
		t.Fatal(err)
	}
	out.W.WriteString("to stdout\n")
	errs.W.WriteString("to stderr\n")
	if err := out.Switch(ctx, &main); err != nil {
		t.Fatal(err)
	}
	if err := errs.Switch(ctx, &main); err != nil {
		t.Fatal(err)
	}
	got := string(run.Bytes())
	for _, want := range []string{" stdout: to stdout\n", " stderr: to stderr\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("run logs %q lack %q", got, want)
		}
	}
	out.Close()
	errs.Close()
	if main.String() != "" {
		t.Errorf("the proxy's streams got %q", main.String())
	}
}
