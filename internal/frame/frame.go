package frame

import (
	"strconv"
	"time"
)

// Version is the wire format version this package writes. Decoders also
// accept LegacyVersion (see the package doc).
const Version = 3

// LegacyVersion is the older version decoders still accept, for rolling
// deploys: its tag covers the payload, so it cannot be verified before the
// payload is read, and a [Reader] bounds its inline payload by
// MaxLegacyPayload. A frame decoded from it is re-encoded in it.
const LegacyVersion = 2

// MaxHeader bounds the encoded header (everything but the inline payload),
// in bytes. Frames within the string limits below always fit (the largest,
// a log frame with a report, is 12106 bytes) but for a report's
// placements, which the sender must split when they do not.
const MaxHeader = 16 << 10

// DefaultMaxPayload is the bound on an inline payload used when a caller
// passes a maxPayload <= 0.
const DefaultMaxPayload = 1 << 30

// MaxLegacyPayload bounds the inline payload of a LegacyVersion frame read
// by a [Reader], whatever its maxPayload: such a frame can only be
// authenticated once its payload is in memory.
const MaxLegacyPayload = 64 << 10

// Limits on the string fields, in bytes.
const (
	MaxRunID     = 64
	MaxWorkflow  = 256
	MaxStep      = 256
	MaxReplyTo   = 1024
	MaxNamespace = 256
	MaxTarget    = 512
	MaxReason    = 4096
	MaxRef       = 256
	MaxHolder    = MaxTarget
	// MaxActivation bounds Report.Activation, an OpenWhisk activation id
	// (32 hex digits today).
	MaxActivation = 64
	// MaxDepth bounds Outer: the join regions and loops around a frame.
	MaxDepth = 8
)

// Kind says what a frame is for.
type Kind uint8

// The kinds of frame.
const (
	KindStep   Kind = 1 + iota // input for a step: run Step with Payload
	KindResult                 // a step's output delivered to the run's ReplyTo (final or branch result)
	KindError                  // the run failed; Reason names the step and why; delivered to ReplyTo
	KindAck                    // answer to one frame (same Seq): Code OK = accepted, else refused with Reason
	KindLog                    // a step's Report, with its captured logs (Payload) when it ran, delivered to ReplyTo
	// KindHandover asks the join holder Target for the join Step (on the
	// fork's Branch) of run RunID: it sends the results it holds to the
	// run's entry and takes no more (version 2).
	KindHandover
)

var kindNames = [...]string{KindStep: "step", KindResult: "result", KindError: "error", KindAck: "ack", KindLog: "log", KindHandover: "handover"}

// Valid reports whether k is one of the kinds above.
func (k Kind) Valid() bool { return k >= KindStep && k <= KindHandover }

// String returns "step", "result", "error", "ack", "log", "handover", or
// "Kind(n)".
func (k Kind) String() string {
	if k.Valid() {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Code is the outcome an ack reports, or the failure a KindError reports.
type Code uint8

// The codes.
const (
	CodeOK             Code = iota
	CodeBusy                // receiver busy (an invoker /run has priority): try another instance
	CodeUnknownStep         // receiver does not run that step / workflow / spec version
	CodeBadTag              // authentication tag wrong
	CodeWrongNamespace      // frame's namespace is not the receiver's
	CodeExpired             // deadline passed
	CodeMalformed           // could not decode / inconsistent fields / shm segment missing
	CodeDuplicate           // (run, step, branch) already accepted: senders treat as delivered
	CodeUnavailable         // receiver shutting down or has no action
	CodeStepFailed          // in KindError: the action failed
	// CodeLate: the frame arrived after its AcceptBy; never handed to the
	// receiver's handler (version 3).
	CodeLate
)

var codeNames = [...]string{
	CodeOK:             "ok",
	CodeBusy:           "busy",
	CodeUnknownStep:    "unknown step",
	CodeBadTag:         "bad tag",
	CodeWrongNamespace: "wrong namespace",
	CodeExpired:        "expired",
	CodeMalformed:      "malformed",
	CodeDuplicate:      "duplicate",
	CodeUnavailable:    "unavailable",
	CodeStepFailed:     "step failed",
	CodeLate:           "accept window passed",
}

// Valid reports whether c is one of the codes above.
func (c Code) Valid() bool { return int(c) < len(codeNames) }

// String returns "ok", "busy", "unknown step", "bad tag", ..., "accept
// window passed", or "Code(n)".
func (c Code) String() string {
	if c.Valid() {
		return codeNames[c]
	}
	return "Code(" + strconv.Itoa(int(c)) + ")"
}

// PayloadKind says where a frame's payload is.
type PayloadKind uint8

// The payload kinds.
const (
	PayloadInline PayloadKind = iota // the payload bytes follow the header
	PayloadShm                       // Ref names a shm segment in the namespace's shm directory
	PayloadBlob                      // Ref names a blob held by the producer's host agent
	// PayloadShmPooled: Ref names a segment of the sender's pool in the
	// namespace's shm directory, holding the payload in its first Size
	// bytes (the file may be longer). The sender writes the segment
	// again once the frame is acked: the receiver copies the payload out
	// before it answers, and never maps it.
	PayloadShmPooled
)

var payloadKindNames = [...]string{PayloadInline: "inline", PayloadShm: "shm", PayloadBlob: "blob", PayloadShmPooled: "shm-pooled"}

// Valid reports whether p is one of the payload kinds above.
func (p PayloadKind) Valid() bool { return int(p) < len(payloadKindNames) }

// String returns "inline", "shm", "blob", "shm-pooled", or "PayloadKind(n)".
func (p PayloadKind) String() string {
	if p.Valid() {
		return payloadKindNames[p]
	}
	return "PayloadKind(" + strconv.Itoa(int(p)) + ")"
}

// ReportKind says what a log frame reports.
type ReportKind uint8

// The report kinds.
const (
	ReportDone     ReportKind = iota + 1 // the step ran: Duration, its logs in the payload
	ReportStarted                        // the step runs on Instance (from its sender, once the instance acked)
	ReportFallback                       // the step went to the OpenWhisk activation Activation
)

var reportKindNames = [...]string{ReportDone: "done", ReportStarted: "started", ReportFallback: "fallback"}

// Valid reports whether k is one of the report kinds above (the zero
// ReportKind, no report, is not).
func (k ReportKind) Valid() bool { return k >= ReportDone && k <= ReportFallback }

// String returns "done", "started", "fallback", or "ReportKind(n)".
func (k ReportKind) String() string {
	if k.Valid() {
		return reportKindNames[k]
	}
	return "ReportKind(" + strconv.Itoa(int(k)) + ")"
}

// Report is what a KindLog frame says besides its payload. The codec
// checks each field against its limit, not that the fields fit the kind:
// a field the kind does not use is carried as it is.
type Report struct {
	Kind       ReportKind
	Instance   string        // <= MaxHolder bytes (an instance id)
	Duration   time.Duration // ReportDone: how long the step ran (>= 0)
	Activation string        // ReportFallback: <= MaxActivation bytes
	// Placed are the step executions the reporting step handed its
	// result to, and the instances that took them: the entry learns of
	// them in its report instead of a ReportStarted frame each. At most
	// MaxPlaced.
	Placed []Placement
}

// IsZero reports whether r is the zero Report (no report).
func (r *Report) IsZero() bool {
	return r.Kind == 0 && r.Instance == "" && r.Duration == 0 && r.Activation == "" && len(r.Placed) == 0
}

// Placement is a step execution an instance took: its step, branch and
// the levels around it (as a frame carrying it would have them), and the
// instance.
type Placement struct {
	Step     string // <= MaxStep bytes
	Branch   uint32
	Outer    []Level // <= MaxDepth levels
	Instance string  // <= MaxHolder bytes
}

// MaxPlaced bounds Report.Placed.
const MaxPlaced = 64

// Frame is one decoded frame. The zero value is not a valid frame: Kind must
// be set.
type Frame struct {
	Kind        Kind
	Seq         uint64 // transport-level request id; set by the transport; NOT covered by Tag
	RunID       string // <= MaxRunID bytes
	Workflow    string // <= MaxWorkflow
	SpecVersion uint64
	Step        string // <= MaxStep
	Branch      uint32
	Attempt     uint16
	Deadline    int64 // unix nanoseconds, 0 = none
	// AcceptBy is the wall-clock time (unix nanoseconds, 0 = none) by
	// which the receiver must have accepted the frame: a receiver refuses
	// it with CodeLate once it has passed, and runs it only if its ack
	// reached the sender in time (see package transport). Version 3.
	AcceptBy    int64
	ReplyTo     string // endpoint of the run's entry, <= MaxReplyTo
	Namespace   string // <= MaxNamespace
	Target      string // instance id of the intended receiver (relays use it), <= MaxTarget
	Code        Code
	Reason      string // <= MaxReason
	PayloadKind PayloadKind
	Ref         string // shm segment name or blob id when PayloadKind != PayloadInline, <= MaxRef
	Size        uint64 // payload size: len(Payload) for inline, the referenced size otherwise
	Payload     []byte // inline payload
	// Digest is SHA-256 of the inline payload, or all zero when the
	// payload is empty or not inline (version 3). [Frame.Sign] sets it;
	// the decoders refuse a frame whose payload does not match it, so the
	// tag, which covers the header and so Digest, authenticates the
	// payload too. For a LegacyVersion frame the decoders set it to the
	// digest that version's tag covers (see the package doc).
	Digest [32]byte
	// Holder is the instance id of the proxy that holds the join of the
	// frame's join region (chosen by the step that forked it); empty
	// means the run's entry holds it. <= MaxHolder.
	Holder string
	// Outer are the levels around the frame's step, outermost first
	// (version 2): for each join region its region is nested in, the
	// frame's slot there and that join's holder; for each loop body it is
	// in, the iteration (holder empty). Which level is which follows from
	// the workflow's spec. At most MaxDepth.
	Outer []Level
	// Report is what a KindLog frame reports (version 3); the zero Report
	// (Kind 0) means none, and is the only one other kinds may carry.
	Report Report
	Tag    [32]byte

	// legacy is set by the decoders on a LegacyVersion frame: it is
	// verified and re-encoded in that version. Sign clears it.
	legacy bool
}

// WireVersion returns the version f is encoded in: LegacyVersion for a
// frame decoded from it (and its acks, see [AckFor]), else Version.
func (f *Frame) WireVersion() int {
	if f.legacy {
		return LegacyVersion
	}
	return Version
}

// Level is one enclosing join region of a frame (the slot of the frame's
// path in it, and the instance holding its join, "" = the run's entry),
// or one enclosing loop (the iteration, no holder).
type Level struct {
	Slot   uint32
	Holder string // <= MaxHolder
}

// AckFor returns the ack (KindAck) answering req: same Seq, RunID, Step,
// Branch and Namespace, with code and reason, in req's wire version (so a
// LegacyVersion sender can read it). A reason longer than MaxReason is cut
// to MaxReason bytes (at a UTF-8 boundary) so the ack can always be
// encoded. The ack is unsigned and has no payload.
func AckFor(req *Frame, code Code, reason string) Frame {
	return Frame{
		Kind:      KindAck,
		Seq:       req.Seq,
		RunID:     req.RunID,
		Step:      req.Step,
		Branch:    req.Branch,
		Namespace: req.Namespace,
		Code:      code,
		Reason:    CutReason(reason),
		legacy:    req.legacy,
	}
}

// CutReason cuts reason to at most MaxReason bytes without splitting a
// UTF-8 sequence, so that a frame carrying it can always be encoded.
func CutReason(reason string) string {
	s, n := reason, MaxReason
	if len(s) <= n {
		return s
	}
	i := n
	// Back up over continuation bytes (10xxxxxx), at most 3.
	for j := 0; j < 3 && i > 0 && s[i]&0xC0 == 0x80; j++ {
		i--
	}
	return s[:i]
}
