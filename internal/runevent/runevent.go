package runevent

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Kinds of events.
const (
	KindStep = "step" // one step's report reached the entry
	KindEnd  = "end"  // the run ended: Error is empty when it succeeded
)

// Limits of one event.
const (
	// MaxRunID is the longest run id, as frame.MaxRunID.
	MaxRunID = 64
	// MaxLogs bounds the logs one step event carries; the rest is cut and
	// counted in LogsCut.
	MaxLogs = 16 << 10
	// MaxError bounds the error text of an end event.
	MaxError = 4 << 10
	// maxName bounds a step or instance name.
	maxName = 512
)

// ErrBad is wrapped by the errors of Check and CheckRun.
var ErrBad = errors.New("runevent: bad event")

// Event is one event of a run.
type Event struct {
	// Run is the run's id (an entry's run id is its activation id).
	Run string `json:"run"`
	// Seq numbers the run's events from 1, in publishing order.
	Seq uint64 `json:"seq"`
	// Kind is KindStep or KindEnd.
	Kind string `json:"kind"`
	// Step, Branch, Instance and DurationNS describe the step of a step
	// event: its id in the spec, its branch, the instance that ran it, and
	// how long it ran.
	Step       string `json:"step,omitempty"`
	Branch     uint32 `json:"branch,omitempty"`
	Instance   string `json:"instance,omitempty"`
	DurationNS int64  `json:"duration_ns,omitempty"`
	// Logs are the step's stdout and stderr lines, at most MaxLogs bytes
	// (valid UTF-8); LogsCut counts the bytes left out.
	Logs    string `json:"logs,omitempty"`
	LogsCut int    `json:"logs_cut,omitempty"`
	// Activation is the step's activation id (StepActivationID), or for a
	// step that went through the OpenWhisk API (Fallback) that
	// activation's, which OpenWhisk recorded itself; "" from an older
	// entry.
	Activation string `json:"activation,omitempty"`
	Fallback   bool   `json:"fallback,omitempty"`
	// Unwatched marks the end event of a run nobody follows: the entry
	// sends it for the run metrics, and the agent does not store it.
	Unwatched bool `json:"unwatched,omitempty"`
	// Error is why the run failed (end events only); empty: it succeeded.
	Error string `json:"error,omitempty"`
	// Dropped counts the run's events the entry could not send (end
	// events only).
	Dropped uint64 `json:"dropped,omitempty"`
	// TimeMS is when the entry published the event, in Unix milliseconds.
	TimeMS int64 `json:"time_ms,omitempty"`
}

// Duration returns the step's duration.
func (e *Event) Duration() time.Duration { return time.Duration(e.DurationNS) }

// CheckRun reports whether id can be a run id: 1 to MaxRunID letters,
// digits, '-' or '_' (the rules of route.RunOptions.ID).
func CheckRun(id string) error {
	if id == "" || len(id) > MaxRunID {
		return fmt.Errorf("%w: run id %q must have 1 to %d bytes", ErrBad, id, MaxRunID)
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("%w: run id %q: %q is not a letter, digit, '-' or '_'", ErrBad, id, c)
		}
	}
	return nil
}

// Check reports whether e can be stored: a good run id, a Seq, a known
// kind, and fields within their limits.
func (e *Event) Check() error {
	if err := CheckRun(e.Run); err != nil {
		return err
	}
	switch {
	case e.Seq == 0:
		return fmt.Errorf("%w: run %s: seq 0", ErrBad, e.Run)
	case e.Kind != KindStep && e.Kind != KindEnd:
		return fmt.Errorf("%w: run %s: kind %q is not %q or %q", ErrBad, e.Run, e.Kind, KindStep, KindEnd)
	case e.Kind == KindStep && e.Step == "":
		return fmt.Errorf("%w: run %s: step event %d without a step", ErrBad, e.Run, e.Seq)
	case len(e.Step) > maxName || len(e.Instance) > maxName || len(e.Activation) > maxName:
		return fmt.Errorf("%w: run %s: step or instance name longer than %d bytes", ErrBad, e.Run, maxName)
	case len(e.Logs) > MaxLogs:
		return fmt.Errorf("%w: run %s: %d bytes of logs, more than %d", ErrBad, e.Run, len(e.Logs), MaxLogs)
	case len(e.Error) > MaxError:
		return fmt.Errorf("%w: run %s: %d bytes of error, more than %d", ErrBad, e.Run, len(e.Error), MaxError)
	case e.DurationNS < 0 || e.LogsCut < 0:
		return fmt.Errorf("%w: run %s: negative duration or cut", ErrBad, e.Run)
	}
	return nil
}

// Cap returns s cut to at most n bytes of valid UTF-8 (invalid bytes are
// replaced first) and the number of bytes left out.
func Cap(s string, n int) (string, int) {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s, 0
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut], len(s) - cut
}

// WatchKey is the top-level key of an entry's input that asks the entry
// to publish its run's events: `wsk-route invoke --watch` sets it to
// true, and the entry removes it before the run starts. A run nobody
// follows publishes only its end, marked Unwatched, for the agent's run
// metrics and traces; the agent writes nothing to the registry for it.
const WatchKey = "$wsk-route-watch"

// StepActivationID returns the activation id of one execution of a
// workflow step: 32 lower-case hex digits, as OpenWhisk's ids, derived
// from the run id (the entry's activation id), the step, the branch and,
// for a step inside map elements, outer (the key of the enclosing
// elements; "" for none). The action sees it as __OW_ACTIVATION_ID, its
// activation record carries it, and its user event names it, so all
// three name the same activation; every attempt of the step has it.
func StepActivationID(run, step string, branch uint32, outer string) string {
	key := run + "\x00" + step + "\x00" + strconv.FormatUint(uint64(branch), 10)
	if outer != "" {
		key += "\x00" + outer
	}
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:16])
}

// A run is one W3C trace (www.w3.org/TR/trace-context): its trace id is
// the run id, which is the entry's activation id (32 hex digits), the
// entry's span is EntrySpanID(run), and each direct step's span is
// StepSpanID of its activation id, a child of the entry's. The ids are
// derived, so no frame carries more than the run id, and every component
// (the proxy that gives the action its traceparent, the agent that
// exports the spans) names the same spans.

// EntrySpanID returns the span id (16 hex digits) of run's entry.
func EntrySpanID(run string) string {
	h := sha256.Sum256([]byte("wsk-route entry span\x00" + run))
	return hex.EncodeToString(h[:8])
}

// StepSpanID returns the span id of the step whose activation id is
// activation (StepActivationID): its first 16 hex digits.
func StepSpanID(activation string) string {
	if len(activation) < 16 {
		return ""
	}
	return activation[:16]
}

// IsActivationID reports whether s is an OpenWhisk activation id: 32
// lower-case hex digits.
func IsActivationID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// EntryRun returns the id of the entry's run that run is part of: an
// entry that conducts a composition runs each action as a run of its own,
// "<entry run>-<n>", whose steps belong to the entry's run (its activation
// records are caused by the entry's activation, its spans are in the
// entry's trace). Any other run is its own entry run.
func EntryRun(run string) string {
	if i := strings.LastIndexByte(run, '-'); i > 0 && i < len(run)-1 && IsActivationID(run[:i]) {
		for _, c := range run[i+1:] {
			if c < '0' || c > '9' {
				return run
			}
		}
		return run[:i]
	}
	return run
}

// IsTraceID reports whether run can be a trace id: an activation id (an
// entry's), not all zero.
func IsTraceID(run string) bool {
	return IsActivationID(run) && run != strings.Repeat("0", 32)
}

// TraceParent returns the W3C traceparent header of span in trace,
// sampled: "00-<trace>-<span>-01".
func TraceParent(trace, span string) string {
	return "00-" + trace + "-" + span + "-01"
}
