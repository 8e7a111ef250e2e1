package frame_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/frame"
)

// full returns a frame with every field set, each string at its limit.
func full() frame.Frame {
	f := frame.Frame{
		Kind:        frame.KindStep,
		Seq:         1<<64 - 1,
		RunID:       strings.Repeat("r", frame.MaxRunID),
		Workflow:    strings.Repeat("w", frame.MaxWorkflow),
		SpecVersion: 1<<64 - 2,
		Step:        strings.Repeat("s", frame.MaxStep),
		Branch:      1<<32 - 1,
		Attempt:     1<<16 - 1,
		Deadline:    -1 << 63,
		ReplyTo:     strings.Repeat("p", frame.MaxReplyTo),
		Namespace:   strings.Repeat("n", frame.MaxNamespace),
		Target:      strings.Repeat("t", frame.MaxTarget),
		Holder:      strings.Repeat("h", frame.MaxHolder),
		Code:        frame.CodeStepFailed,
		Reason:      strings.Repeat("é", frame.MaxReason/2),
		Payload:     []byte(`{"hello":"world"}`),
	}
	f.Size = uint64(len(f.Payload))
	for i := range f.Tag {
		f.Tag[i] = byte(i + 1)
	}
	return f
}

// typical returns a step frame as a proxy would send it.
func typical(payload []byte) frame.Frame {
	return frame.Frame{
		Kind:        frame.KindStep,
		Seq:         42,
		RunID:       "0f8c2a9e-5b1d-4c3e-9a7f-2d6b8e1c4a90",
		Workflow:    "/guest/shop/checkout",
		SpecVersion: 7,
		Step:        "charge",
		Branch:      3,
		Attempt:     1,
		Deadline:    1_800_000_000_000_000_000,
		ReplyTo:     "tcp:10.0.0.7:7700",
		Namespace:   "guest",
		Target:      "host-a/4f1c9d",
		Payload:     payload,
		Size:        uint64(len(payload)),
	}
}

// logFrame returns a log frame reporting r, as a step sends it to the
// run's entry, with logs as its payload.
func logFrame(r frame.Report, logs []byte) frame.Frame {
	f := typical(logs)
	f.Kind, f.Report = frame.KindLog, r
	return f
}

// fullReport is a report with every field set, each string at its limit.
func fullReport() frame.Report {
	return frame.Report{
		Kind:       frame.ReportFallback,
		Instance:   strings.Repeat("i", frame.MaxHolder),
		Duration:   1<<63 - 1,
		Activation: strings.Repeat("a", frame.MaxActivation),
	}
}

type namedFrame struct {
	name string
	f    frame.Frame
}

// roundTripFrames is the round-trip table, also the fuzz seeds.
func roundTripFrames() []namedFrame {
	var fs []namedFrame
	add := func(name string, f frame.Frame) { fs = append(fs, namedFrame{name, f}) }
	add("minimal step", frame.Frame{Kind: frame.KindStep})
	add("typical step", typical([]byte(`{"order":17}`)))
	add("every field at its limit", full())
	add("empty payload", typical(nil))
	add("64 KiB payload", typical(bytes.Repeat([]byte{0xA5}, 64<<10)))
	for _, k := range []frame.Kind{frame.KindStep, frame.KindResult, frame.KindError, frame.KindAck, frame.KindLog, frame.KindHandover} {
		f := typical([]byte("x"))
		f.Kind = k
		add("kind "+k.String(), f)
	}
	for c := frame.CodeOK; c <= frame.CodeStepFailed; c++ {
		f := typical(nil)
		f.Kind, f.Code, f.Reason = frame.KindAck, c, "because "+c.String()
		add("code "+c.String(), f)
	}
	shm := typical(nil)
	shm.PayloadKind, shm.Ref, shm.Size = frame.PayloadShm, "wskr-guest-0f8c2a9e-charge-3", 10<<20
	add("shm payload", shm)
	pooled := typical(nil)
	pooled.PayloadKind, pooled.Ref, pooled.Size = frame.PayloadShmPooled, "wskr-guest-0f8c2a9e-pool-7", 64<<10
	add("pooled shm payload", pooled)
	blob := typical(nil)
	blob.PayloadKind, blob.Ref, blob.Size = frame.PayloadBlob, strings.Repeat("b", frame.MaxRef), 1<<40
	add("blob payload", blob)
	held := typical([]byte(`{"slot":1}`))
	held.Holder = "host-a/4f1c"
	add("region frame with a join holder", held)
	nested := typical([]byte(`{"slot":2}`))
	nested.Holder, nested.Outer = "host-b/77", []frame.Level{{Slot: 3, Holder: "host-a/4f1c"}, {Slot: 0}}
	add("nested region frame", nested)
	deepest := typical(nil)
	for i := range frame.MaxDepth {
		deepest.Outer = append(deepest.Outer, frame.Level{Slot: uint32(1<<32 - 1 - i), Holder: strings.Repeat("o", frame.MaxHolder)})
	}
	add("MaxDepth levels, holders at their limit", deepest)
	neg := typical([]byte("y"))
	neg.Deadline = -5
	add("negative deadline", neg)
	window := typical([]byte(`{"w":1}`))
	window.AcceptBy = 1_800_000_000_500_000_000
	add("accept window", window)
	signed := typical([]byte(`{"signed":true}`))
	signed.AcceptBy = -1
	signed.Sign([]byte("k"))
	add("signed, digest set", signed)
	add("report done", logFrame(frame.Report{Kind: frame.ReportDone, Instance: "host-a/4f1c", Duration: 123 * time.Millisecond}, []byte("2024-05-01T00:00:00Z stdout: hi\n")))
	add("report done, zero duration, no logs", logFrame(frame.Report{Kind: frame.ReportDone, Instance: "host-a/4f1c"}, nil))
	add("report started", logFrame(frame.Report{Kind: frame.ReportStarted, Instance: "host-b/77"}, nil))
	add("report fallback", logFrame(frame.Report{Kind: frame.ReportFallback, Instance: "host-a/4f1c", Activation: "8c2b5e0f4a7d4e1b9c2b5e0f4a7d4e1b"}, nil))
	add("report with every field set", logFrame(frame.Report{Kind: frame.ReportDone, Instance: "i", Duration: 1, Activation: "a"}, []byte("l")))
	limit := logFrame(fullReport(), nil)
	limit.Holder, limit.Outer = "host-b/77", []frame.Level{{Slot: 2, Holder: "host-a/4f1c"}}
	add("report at its limits, after levels", limit)
	add("report done with placements", logFrame(frame.Report{Kind: frame.ReportDone, Instance: "host-a/4f1c", Duration: 2 * time.Millisecond,
		Placed: []frame.Placement{
			{Step: "ship", Branch: 0, Instance: "host-b/77"},
			{Step: "bill", Branch: 1<<20 | 1, Instance: "host-a/9", Outer: []frame.Level{{Slot: 1, Holder: "host-a/4f1c"}, {Slot: 4}}},
		}}, []byte("log\n")))
	many := frame.Report{Kind: frame.ReportDone, Instance: "host-a/4f1c"}
	for i := range frame.MaxPlaced {
		many.Placed = append(many.Placed, frame.Placement{Step: "e", Branch: uint32(i), Instance: "host-c/1", Outer: []frame.Level{{Slot: uint32(i)}}})
	}
	add("MaxPlaced placements", logFrame(many, nil))
	wide := frame.Report{Kind: frame.ReportDone, Placed: []frame.Placement{{Step: strings.Repeat("s", frame.MaxStep), Branch: 1<<32 - 1, Instance: strings.Repeat("i", frame.MaxHolder)}}}
	for i := range frame.MaxDepth {
		wide.Placed[0].Outer = append(wide.Placed[0].Outer, frame.Level{Slot: uint32(i), Holder: strings.Repeat("o", frame.MaxHolder/2)})
	}
	add("a placement at its limits", logFrame(wide, nil))
	signedLog := logFrame(frame.Report{Kind: frame.ReportDone, Instance: "host-a/4f1c", Duration: time.Second}, []byte("logs"))
	signedLog.Sign([]byte("k"))
	add("signed report", signedLog)
	return fs
}

// equal compares frames, treating nil and empty payloads alike, and a zero
// Digest on a non-empty inline payload (an unsigned frame) as the digest
// the encoder writes for it.
func equal(a, b *frame.Frame) bool {
	x, y := *a, *b
	x.Payload, y.Payload = nil, nil
	x.Digest, y.Digest = digestOf(a), digestOf(b)
	return reflect.DeepEqual(x, y) && bytes.Equal(a.Payload, b.Payload)
}

// digestOf is the Digest f is encoded with.
func digestOf(f *frame.Frame) [32]byte {
	if f.Digest == ([32]byte{}) && f.PayloadKind == frame.PayloadInline && len(f.Payload) > 0 && f.WireVersion() == frame.Version {
		return sha256.Sum256(f.Payload)
	}
	return f.Digest
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range roundTripFrames() {
		t.Run(tc.name, func(t *testing.T) {
			enc, err := frame.Encode(nil, &tc.f)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			hdr, err := frame.AppendHeader([]byte("junk"), &tc.f)
			if err != nil {
				t.Fatalf("AppendHeader: %v", err)
			}
			if got, want := append(hdr[4:], tc.f.Payload...), enc; !bytes.Equal(got, want) {
				t.Fatalf("AppendHeader+payload differs from Encode")
			}
			if n, _ := frame.HeaderLen(&tc.f); n != len(hdr)-4 {
				t.Errorf("HeaderLen = %d, want %d", n, len(hdr)-4)
			}
			var got frame.Frame
			n, err := frame.Decode(append(enc, "next frame"...), &got, 0)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if n != len(enc) {
				t.Errorf("Decode used %d bytes, want %d", n, len(enc))
			}
			if !equal(&got, &tc.f) {
				t.Errorf("Decode = %+v, want %+v", got, tc.f)
			}
			if tc.f.PayloadKind != frame.PayloadInline && got.Payload != nil {
				t.Errorf("Payload = %q on a %v frame, want nil", got.Payload, tc.f.PayloadKind)
			}
		})
	}
}

func TestDecodePayloadAliasesInput(t *testing.T) {
	f := typical([]byte("abc"))
	enc, _ := frame.Encode(nil, &f)
	var got frame.Frame
	if _, err := frame.Decode(enc, &got, 0); err != nil {
		t.Fatal(err)
	}
	enc[len(enc)-1] = 'Z'
	if string(got.Payload) != "abZ" {
		t.Errorf("Payload = %q, want it to alias the input (abZ)", got.Payload)
	}
	if cap(got.Payload) != len(got.Payload) {
		t.Errorf("cap(Payload) = %d, want %d so appends cannot clobber the buffer", cap(got.Payload), len(got.Payload))
	}
	step := got.Step
	copy(enc, make([]byte, len(enc)))
	if step != "charge" || got.Step != "charge" {
		t.Errorf("Step = %q after clearing the input, want the strings copied", got.Step)
	}
}

func TestStrings(t *testing.T) {
	tests := []struct{ got, want string }{
		{frame.KindStep.String(), "step"},
		{frame.KindResult.String(), "result"},
		{frame.KindError.String(), "error"},
		{frame.KindAck.String(), "ack"},
		{frame.KindLog.String(), "log"},
		{frame.Kind(0).String(), "Kind(0)"},
		{frame.Kind(9).String(), "Kind(9)"},
		{frame.CodeOK.String(), "ok"},
		{frame.CodeBusy.String(), "busy"},
		{frame.CodeUnknownStep.String(), "unknown step"},
		{frame.CodeBadTag.String(), "bad tag"},
		{frame.CodeWrongNamespace.String(), "wrong namespace"},
		{frame.CodeExpired.String(), "expired"},
		{frame.CodeMalformed.String(), "malformed"},
		{frame.CodeDuplicate.String(), "duplicate"},
		{frame.CodeUnavailable.String(), "unavailable"},
		{frame.CodeStepFailed.String(), "step failed"},
		{frame.CodeLate.String(), "accept window passed"},
		{frame.Code(11).String(), "Code(11)"},
		{frame.PayloadInline.String(), "inline"},
		{frame.PayloadShm.String(), "shm"},
		{frame.PayloadBlob.String(), "blob"},
		{frame.PayloadShmPooled.String(), "shm-pooled"},
		{frame.PayloadKind(4).String(), "PayloadKind(4)"},
		{frame.ReportDone.String(), "done"},
		{frame.ReportStarted.String(), "started"},
		{frame.ReportFallback.String(), "fallback"},
		{frame.ReportKind(0).String(), "ReportKind(0)"},
		{frame.ReportKind(4).String(), "ReportKind(4)"},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestEncodeMustFail(t *testing.T) {
	tests := []struct {
		name  string
		mod   func(f *frame.Frame)
		field string
	}{
		{"run id over limit", func(f *frame.Frame) { f.RunID += "x" }, "run id"},
		{"workflow over limit", func(f *frame.Frame) { f.Workflow += "x" }, "workflow"},
		{"step over limit", func(f *frame.Frame) { f.Step += "x" }, "step"},
		{"reply to over limit", func(f *frame.Frame) { f.ReplyTo += "x" }, "reply to"},
		{"namespace over limit", func(f *frame.Frame) { f.Namespace += "x" }, "namespace"},
		{"target over limit", func(f *frame.Frame) { f.Target += "x" }, "target"},
		{"reason over limit", func(f *frame.Frame) { f.Reason += "x" }, "reason"},
		{"ref over limit", func(f *frame.Frame) {
			f.PayloadKind, f.Payload, f.Size, f.Ref = frame.PayloadShm, nil, 1, strings.Repeat("x", frame.MaxRef+1)
		}, "ref"},
		{"kind zero", func(f *frame.Frame) { f.Kind = 0 }, "kind"},
		{"kind unknown", func(f *frame.Frame) { f.Kind = frame.KindHandover + 1 }, "kind"},
		{"code unknown", func(f *frame.Frame) { f.Code = frame.CodeLate + 1 }, "code"},
		{"payload kind unknown", func(f *frame.Frame) { f.PayloadKind = frame.PayloadShmPooled + 1 }, "payload kind"},
		{"inline size too big", func(f *frame.Frame) { f.Size++ }, "size"},
		{"inline size too small", func(f *frame.Frame) { f.Size-- }, "size"},
		{"inline with ref", func(f *frame.Frame) { f.Ref = "seg" }, "ref"},
		{"outer over MaxDepth", func(f *frame.Frame) { f.Outer = make([]frame.Level, frame.MaxDepth+1) }, "outer"},
		{"outer holder over limit", func(f *frame.Frame) {
			f.Outer = []frame.Level{{Holder: strings.Repeat("h", frame.MaxHolder+1)}}
		}, "outer holder"},
		{"shm without ref", func(f *frame.Frame) { f.PayloadKind, f.Payload = frame.PayloadShm, nil }, "ref"},
		{"shm with inline bytes", func(f *frame.Frame) { f.PayloadKind, f.Ref = frame.PayloadShm, "seg" }, "payload"},
		{"blob without ref", func(f *frame.Frame) { f.PayloadKind, f.Payload = frame.PayloadBlob, nil }, "ref"},
		{"digest on an empty payload", func(f *frame.Frame) { f.Payload, f.Size, f.Digest[0] = nil, 0, 1 }, "digest"},
		{"digest on a shm payload", func(f *frame.Frame) {
			f.PayloadKind, f.Payload, f.Size, f.Ref, f.Digest[0] = frame.PayloadShm, nil, 1, "seg", 1
		}, "digest"},
		{"accept by on a version 2 frame", func(f *frame.Frame) { frame.SignLegacy(f, key); f.AcceptBy = 1 }, "accept by"},
		{"report on a step frame", func(f *frame.Frame) { f.Report = frame.Report{Kind: frame.ReportDone} }, "report"},
		{"report on an ack", func(f *frame.Frame) { f.Kind, f.Report = frame.KindAck, frame.Report{Kind: frame.ReportStarted} }, "report"},
		{"report fields without a kind on a step frame", func(f *frame.Frame) { f.Report.Instance = "h/x" }, "report"},
		{"report on a version 2 frame", func(f *frame.Frame) {
			f.Kind = frame.KindLog
			frame.SignLegacy(f, key)
			f.Report = frame.Report{Kind: frame.ReportDone}
		}, "report"},
		{"report fields without a kind", func(f *frame.Frame) { f.Kind, f.Report.Duration = frame.KindLog, 1 }, "report kind"},
		{"report kind unknown", func(f *frame.Frame) { f.Kind, f.Report.Kind = frame.KindLog, frame.ReportFallback+1 }, "report kind"},
		{"report duration negative", func(f *frame.Frame) {
			f.Kind, f.Report = frame.KindLog, frame.Report{Kind: frame.ReportDone, Duration: -1}
		}, "report duration"},
		{"report instance over limit", func(f *frame.Frame) {
			f.Kind, f.Report = frame.KindLog, frame.Report{Kind: frame.ReportDone, Instance: strings.Repeat("i", frame.MaxHolder+1)}
		}, "report instance"},
		{"report activation over limit", func(f *frame.Frame) {
			f.Kind, f.Report = frame.KindLog, frame.Report{Kind: frame.ReportFallback, Activation: strings.Repeat("a", frame.MaxActivation+1)}
		}, "report activation"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := full()
			tc.mod(&f)
			for name, enc := range map[string]func([]byte, *frame.Frame) ([]byte, error){
				"AppendHeader": frame.AppendHeader, "Encode": frame.Encode,
			} {
				out, err := enc([]byte("kept"), &f)
				var ee *frame.EncodeError
				if !errors.As(err, &ee) {
					t.Fatalf("%s error = %v, want an *EncodeError", name, err)
				}
				if ee.Field != tc.field {
					t.Errorf("%s error field = %q (%v), want %q", name, ee.Field, err, tc.field)
				}
				if !strings.HasPrefix(err.Error(), "frame: ") {
					t.Errorf("%s error %q lacks the package prefix", name, err)
				}
				if string(out) != "kept" {
					t.Errorf("%s changed dst on error: %q", name, out)
				}
			}
		})
	}
}

func TestAckFor(t *testing.T) {
	req := typical([]byte("in"))
	req.Sign([]byte("k"))
	ack := frame.AckFor(&req, frame.CodeBusy, "invoker run in progress")
	want := frame.Frame{
		Kind: frame.KindAck, Seq: req.Seq, RunID: req.RunID, Step: req.Step, Branch: req.Branch,
		Namespace: req.Namespace, Code: frame.CodeBusy, Reason: "invoker run in progress",
	}
	if !equal(&ack, &want) {
		t.Errorf("AckFor = %+v, want %+v", ack, want)
	}
	if _, err := frame.Encode(nil, &ack); err != nil {
		t.Errorf("Encode(ack): %v", err)
	}

	long := frame.AckFor(&req, frame.CodeMalformed, strings.Repeat("é", frame.MaxReason)) // 2 bytes per rune
	if len(long.Reason) > frame.MaxReason || !strings.HasPrefix(strings.Repeat("é", frame.MaxReason), long.Reason) {
		t.Errorf("long reason cut to %d bytes, want <= %d at a rune boundary", len(long.Reason), frame.MaxReason)
	}
	odd := frame.AckFor(&req, frame.CodeMalformed, "x"+strings.Repeat("é", frame.MaxReason))
	if len(odd.Reason) != frame.MaxReason-1 {
		t.Errorf("odd reason cut to %d bytes, want %d (rune boundary)", len(odd.Reason), frame.MaxReason-1)
	}
	if _, err := frame.Encode(nil, &odd); err != nil {
		t.Errorf("Encode(ack with long reason): %v", err)
	}

	old := typical([]byte("in"))
	frame.SignLegacy(&old, key)
	oldAck := frame.AckFor(&old, frame.CodeOK, "")
	if v := oldAck.WireVersion(); v != frame.LegacyVersion {
		t.Errorf("ack of a version 2 frame has version %d, want %d (its sender reads no other)", v, frame.LegacyVersion)
	}
	b, err := frame.Encode(nil, &oldAck)
	if err != nil || b[7] != frame.LegacyVersion {
		t.Errorf("Encode(ack of a version 2 frame) = version byte %d, %v; want %d", b[7], err, frame.LegacyVersion)
	}
	if v := ack.WireVersion(); v != frame.Version {
		t.Errorf("ack of a version 3 frame has version %d, want %d", v, frame.Version)
	}
}

// someFrames is the first round-trip frames and two with a report, for
// tests that cut every frame at every byte.
func someFrames() []namedFrame {
	fs := roundTripFrames()
	some := fs[:4:4]
	for _, tc := range fs {
		if tc.name == "report done" || tc.name == "report at its limits, after levels" {
			some = append(some, tc)
		}
	}
	return some
}

func TestDecodeShort(t *testing.T) {
	for _, tc := range someFrames() {
		enc, _ := frame.Encode(nil, &tc.f)
		for i := range len(enc) {
			var f frame.Frame
			n, err := frame.Decode(enc[:i], &f, 0)
			if !errors.Is(err, io.ErrUnexpectedEOF) || n != 0 {
				t.Fatalf("%s: Decode(first %d of %d bytes) = %d, %v; want 0, io.ErrUnexpectedEOF", tc.name, i, len(enc), n, err)
			}
		}
	}
}

// The largest header (a log frame, every string and level at its limit, a
// report with its strings at theirs) fits MaxHeader, and is as long as the
// package doc says.
func TestLargestHeader(t *testing.T) {
	f := full()
	f.Kind, f.Report = frame.KindLog, fullReport()
	for range frame.MaxDepth {
		f.Outer = append(f.Outer, frame.Level{Holder: strings.Repeat("o", frame.MaxHolder)})
	}
	f.Reason = strings.Repeat("r", frame.MaxReason)
	f.PayloadKind, f.Payload, f.Size, f.Ref = frame.PayloadBlob, nil, 1, strings.Repeat("b", frame.MaxRef)
	n, err := frame.HeaderLen(&f)
	if err != nil || n != 12106 || n > frame.MaxHeader {
		t.Errorf("HeaderLen(largest frame) = %d, %v; want 12106 <= MaxHeader (%d)", n, err, frame.MaxHeader)
	}
	// Placements can go past MaxHeader: an encode error, never a frame
	// a decoder refuses.
	f.Report.Kind = frame.ReportDone
	for len(f.Report.Placed) < frame.MaxPlaced {
		f.Report.Placed = append(f.Report.Placed, frame.Placement{Step: strings.Repeat("s", frame.MaxStep), Instance: strings.Repeat("i", frame.MaxHolder)})
	}
	var ee *frame.EncodeError
	if _, err := frame.HeaderLen(&f); !errors.As(err, &ee) || ee.Field != "header length" {
		t.Errorf("HeaderLen(frame with placements past MaxHeader) = %v, want an EncodeError for the header length", err)
	}
}

// A frame without a report encodes as it did before the report section
// existed (flags 0, nothing after the levels): the typical step frame,
// signed with key, byte for byte.
func TestEncodingWithoutReportPinned(t *testing.T) {
	const want = "" +
		"000000ee5752460301000000000000000000002a000000000000000700000003" +
		"000118fae27693b400000000000000000000000000000000000c4e9440b254d6" +
		"7c45fe3d87e976571c429880c4c79fb84c23b105a45d2b68423a002430663863" +
		"326139652d356231642d346333652d396137662d326436623865316334613930" +
		"00142f67756573742f73686f702f636865636b6f757400066368617267650011" +
		"7463703a31302e302e302e373a3737303000056775657374000d686f73742d61" +
		"2f34663163396400000000000000a79171cf607c9c6c7a3db28b07531eed6fe8" +
		"c40b78ee5cd665f082a169f32c007b226f72646572223a31377d"
	f := typical([]byte(`{"order":17}`))
	f.Sign(key)
	b, err := frame.Encode(nil, &f)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(b); got != want {
		t.Errorf("Encode(typical step) =\n%s\nwant\n%s", got, want)
	}
}

// A report is in the header: flag 0x01 set, section after the levels, so
// it grows the header by 13 bytes and its strings, and a frame with the
// zero Report has flags 0 and the header it would have as any other kind.
func TestReportInHeader(t *testing.T) {
	plain := logFrame(frame.Report{}, []byte("logs"))
	n0, err := frame.HeaderLen(&plain)
	if err != nil {
		t.Fatal(err)
	}
	hdr, _ := frame.AppendHeader(nil, &plain)
	if hdr[11] != 0 {
		t.Errorf("flags of a log frame without a report = %#x, want 0", hdr[11])
	}
	r := frame.Report{Kind: frame.ReportFallback, Instance: "host-a/4f1c", Duration: 7, Activation: "act"}
	withReport := logFrame(r, []byte("logs"))
	n1, err := frame.HeaderLen(&withReport)
	if want := n0 + 13 + len(r.Instance) + len(r.Activation); err != nil || n1 != want {
		t.Errorf("HeaderLen(with report) = %d, %v; want %d", n1, err, want)
	}
	hdr, _ = frame.AppendHeader(nil, &withReport)
	if hdr[11] != 0x01 {
		t.Errorf("flags of a log frame with a report = %#x, want 0x01", hdr[11])
	}
	section := hdr[len(hdr)-32-(n1-n0) : len(hdr)-32]
	if want := reportSection(3, 7, r.Instance, r.Activation); string(section) != want {
		t.Errorf("report section = %x, want %x", section, want)
	}
}
