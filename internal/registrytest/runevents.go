package registrytest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/runevent"
)

// RunEventStore is the run event store RunEvents checks: the agent's
// RunEvents interface plus the readers' long poll.
type RunEventStore interface {
	AppendRunEvent(ctx context.Context, namespace, run string, ev runevent.Event) error
	RunEvents(ctx context.Context, namespace, run string, after uint64, wait time.Duration) ([]runevent.Event, uint64, error)
}

// RunEvents runs the run event contract as subtests of t. open returns a
// fresh store that keeps a run's events for retention after its first
// one; expiry is checked with minRetention, the shortest the
// implementation takes. conv gives its error prefix and ErrBadName.
func RunEvents(t *testing.T, conv Conventions, minRetention time.Duration, open func(t *testing.T, retention time.Duration) RunEventStore) {
	t.Helper()
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, s RunEventStore)
	}{
		{"AppendRead", testRunEventsAppendRead},
		{"LongPollWakes", testRunEventsLongPoll},
		{"NamespaceIsolation", testRunEventsIsolation},
		{"Refused", func(t *testing.T, s RunEventStore) { testRunEventsRefused(t, s, conv) }},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, open(t, time.Hour)) })
	}
	t.Run("Expiry", func(t *testing.T) {
		t.Parallel()
		testRunEventsExpiry(t, open(t, minRetention), minRetention)
	})
}

// StepEvent returns step event seq of run.
func StepEvent(run string, seq uint64) runevent.Event {
	return runevent.Event{Run: run, Seq: seq, Kind: runevent.KindStep, Step: fmt.Sprintf("s%d", seq), Branch: uint32(seq % 2),
		Instance: "host-1/c1", DurationNS: int64(seq) * 1000, Logs: fmt.Sprintf("line %d\n", seq)}
}

func appendEvents(t *testing.T, ctx context.Context, s RunEventStore, ns string, evs ...runevent.Event) {
	t.Helper()
	for _, ev := range evs {
		if err := s.AppendRunEvent(ctx, ns, ev.Run, ev); err != nil {
			t.Fatalf("AppendRunEvent(%s, %s, seq %d): %v", ns, ev.Run, ev.Seq, err)
		}
	}
}

func seqs(evs []runevent.Event) []uint64 {
	out := make([]uint64, len(evs))
	for i, ev := range evs {
		out[i] = ev.Seq
	}
	return out
}

func testRunEventsAppendRead(t *testing.T, s RunEventStore) {
	ctx := Context(t, 30*time.Second)
	end := runevent.Event{Run: "run-a", Seq: 4, Kind: runevent.KindEnd, Error: "route: run run-a failed at step s3: boom", Dropped: 1}
	appendEvents(t, ctx, s, "guest", StepEvent("run-a", 1), StepEvent("run-a", 2), StepEvent("run-a", 3), end)
	evs, next, err := s.RunEvents(ctx, "guest", "run-a", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(seqs(evs)) != "[1 2 3 4]" || next != 4 {
		t.Fatalf("RunEvents(after 0) = seqs %v, next %d; want [1 2 3 4], 4", seqs(evs), next)
	}
	if evs[1] != StepEvent("run-a", 2) || evs[3] != end {
		t.Errorf("events read back as %+v and %+v, want %+v and %+v", evs[1], evs[3], StepEvent("run-a", 2), end)
	}
	for _, tc := range []struct {
		after    uint64
		want     string
		wantNext uint64
	}{
		{2, "[3 4]", 4},
		{4, "[]", 4},
		{9, "[]", 9},
	} {
		evs, next, err := s.RunEvents(ctx, "guest", "run-a", tc.after, 0)
		if err != nil || fmt.Sprint(seqs(evs)) != tc.want || next != tc.wantNext {
			t.Errorf("RunEvents(after %d) = %v, next %d, %v; want %s, %d", tc.after, seqs(evs), next, err, tc.want, tc.wantNext)
		}
	}
	evs, next, err = s.RunEvents(ctx, "guest", "no-such-run", 0, 0)
	if err != nil || len(evs) != 0 || next != 0 {
		t.Errorf("RunEvents of an unknown run = %v, %d, %v; want none, 0, nil", evs, next, err)
	}
}

func testRunEventsLongPoll(t *testing.T, s RunEventStore) {
	ctx := Context(t, 60*time.Second)
	// A wait with nothing to read ends by itself, empty.
	start := time.Now()
	evs, next, err := s.RunEvents(ctx, "guest", "run-b", 0, 300*time.Millisecond)
	if took := time.Since(start); err != nil || len(evs) != 0 || next != 0 || took > 10*time.Second {
		t.Fatalf("an empty wait of 300ms = %v, %d, %v after %v; want none, 0, nil, well within 10 s", evs, next, err, took)
	}
	// A waiting reader wakes up for the next event, long before its wait ends.
	type answer struct {
		evs  []runevent.Event
		next uint64
		err  error
		took time.Duration
	}
	appendEvents(t, ctx, s, "guest", StepEvent("run-b", 1))
	got := make(chan answer, 1)
	go func() {
		start := time.Now()
		evs, next, err := s.RunEvents(ctx, "guest", "run-b", 1, 40*time.Second)
		got <- answer{evs, next, err, time.Since(start)}
	}()
	appendEvents(t, ctx, s, "guest", StepEvent("run-b", 2))
	select {
	case a := <-got:
		if a.err != nil || fmt.Sprint(seqs(a.evs)) != "[2]" || a.next != 2 || a.took > 20*time.Second {
			t.Errorf("the waiting reader got %v, next %d, %v after %v; want [2], 2 before its 40 s wait ended", seqs(a.evs), a.next, a.err, a.took)
		}
	case <-ctx.Done():
		t.Fatal("the waiting reader did not return")
	}
	// A cancelled wait returns at once.
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.RunEvents(cctx, "guest", "run-b", 2, 40*time.Second)
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Error("RunEvents did not return within 10 s of its context's cancel")
	}
}

func testRunEventsIsolation(t *testing.T, s RunEventStore) {
	ctx := Context(t, 30*time.Second)
	appendEvents(t, ctx, s, "tenant-a", StepEvent("shared-id", 1))
	appendEvents(t, ctx, s, "tenant-b", StepEvent("shared-id", 1), StepEvent("shared-id", 2))
	for ns, want := range map[string]string{"tenant-a": "[1]", "tenant-b": "[1 2]", "tenant-c": "[]"} {
		evs, _, err := s.RunEvents(ctx, ns, "shared-id", 0, 0)
		if err != nil || fmt.Sprint(seqs(evs)) != want {
			t.Errorf("RunEvents(%s, shared-id) = %v, %v; want %s", ns, seqs(evs), err, want)
		}
	}
}

func testRunEventsRefused(t *testing.T, s RunEventStore, conv Conventions) {
	ctx := Context(t, 30*time.Second)
	for _, tc := range []struct {
		name    string
		ns, run string
		ev      runevent.Event
		badName bool
	}{
		{"namespace with a slash", "a/b", "r", StepEvent("r", 1), true},
		{"empty namespace", "", "r", StepEvent("r", 1), true},
		{"run with a slash", "guest", "r/x", StepEvent("r/x", 1), false},
		{"run too long", "guest", strings.Repeat("r", runevent.MaxRunID+1), StepEvent(strings.Repeat("r", runevent.MaxRunID+1), 1), false},
		{"seq 0", "guest", "r", StepEvent("r", 0), false},
		{"event of another run", "guest", "r", StepEvent("other", 1), false},
		{"unknown kind", "guest", "r", runevent.Event{Run: "r", Seq: 1, Kind: "begin"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.AppendRunEvent(ctx, tc.ns, tc.run, tc.ev)
			if err == nil || !strings.HasPrefix(err.Error(), conv.Prefix+": ") || (tc.badName && !errors.Is(err, conv.ErrBadName)) {
				t.Errorf("AppendRunEvent(%q, %q, %+v) = %v; want a %s error (wrapping ErrBadName: %v)", tc.ns, tc.run, tc.ev, err, conv.Prefix, tc.badName)
			}
			if tc.ev.Run != tc.run || tc.ev.Seq == 0 || tc.ev.Kind == "begin" {
				return
			}
			if _, _, err := s.RunEvents(ctx, tc.ns, tc.run, 0, 0); err == nil || (tc.badName && !errors.Is(err, conv.ErrBadName)) {
				t.Errorf("RunEvents(%q, %q) = %v; want an error (wrapping ErrBadName: %v)", tc.ns, tc.run, err, tc.badName)
			}
		})
	}
}

func testRunEventsExpiry(t *testing.T, s RunEventStore, retention time.Duration) {
	ctx := Context(t, retention+60*time.Second)
	appendEvents(t, ctx, s, "guest", StepEvent("run-x", 1))
	evs, _, err := s.RunEvents(ctx, "guest", "run-x", 0, 0)
	if err != nil || len(evs) != 1 {
		t.Fatalf("RunEvents right after the append = %v, %v; want the event", seqs(evs), err)
	}
	start := time.Now()
	for {
		evs, _, err := s.RunEvents(ctx, "guest", "run-x", 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			break
		}
		if time.Since(start) > retention+45*time.Second {
			t.Fatalf("the run's events are still there %v after the append; retention is %v", time.Since(start), retention)
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(retention / 20):
		}
	}
	if took := time.Since(start); took < retention/2 {
		t.Errorf("the run's events were gone %v after the append; retention is %v", took, retention)
	}
}
