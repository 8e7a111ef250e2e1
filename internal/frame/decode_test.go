package frame_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/frame"
)

// Offsets in a version 3 header (see doc.go).
const (
	offAcceptBy = 42
	offSize     = 50
	offDigest   = 58
	offStrings  = 90
	minHeader   = offStrings + 2*9 + 1 + 32
)

// rawFrame builds a version 3 header by hand, without the encoder's
// checks: the fixed part of a minimal step frame (zero digest), the strings
// in wire order, the Outer section (levels: "" means none, a zero count), a
// zero tag, the length prefix; then mod patches the bytes.
func rawFrame(strs [9]string, levels string, mod func(b []byte)) []byte {
	min := frame.Frame{Kind: frame.KindStep}
	b, _ := frame.Encode(nil, &min)
	b = b[:offStrings]
	for _, s := range strs {
		b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
		b = append(b, s...)
	}
	if levels == "" {
		levels = "\x00"
	}
	b = append(b, levels...)
	b = append(b, make([]byte, 32)...)
	binary.BigEndian.PutUint32(b, uint32(len(b)))
	if mod != nil {
		mod(b)
	}
	return b
}

// withoutLevelCount drops the level count byte (just before the tag) of a
// raw frame without levels: a version 1 layout with a later version byte.
func withoutLevelCount(b []byte) []byte {
	out := append(append([]byte(nil), b[:len(b)-33]...), b[len(b)-32:]...)
	binary.BigEndian.PutUint32(out, uint32(len(out)))
	return out
}

// reportSection is a report section as doc.go lays it out, for rawFrame's
// levels (after the level count).
func reportSection(kind byte, dur int64, instance, activation string) string {
	b := []byte{kind}
	b = binary.BigEndian.AppendUint64(b, uint64(dur))
	b = binary.BigEndian.AppendUint16(b, uint16(len(instance)))
	b = append(b, instance...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(activation)))
	return string(append(b, activation...))
}

// asLog makes a raw frame a log frame with the report flag set.
func asLog(b []byte) { b[8], b[11] = byte(frame.KindLog), 0x01 }

// asPlacedLog makes a raw frame a log frame with the report and
// placements flags set.
func asPlacedLog(b []byte) { b[8], b[11] = byte(frame.KindLog), 0x03 }

// placement is one encoded placement with no levels, or one level of
// slot 0 held by holder when holder is set.
func placement(branch uint32, step, instance, holder string) string {
	b := binary.BigEndian.AppendUint32(nil, branch)
	b = binary.BigEndian.AppendUint16(b, uint16(len(step)))
	b = append(b, step...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(instance)))
	b = append(b, instance...)
	if holder == "" {
		return string(append(b, 0))
	}
	b = append(b, 1, 0, 0, 0, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(len(holder)))
	return string(append(b, holder...))
}

// legacyLog is a version 2 log frame (no report in that version) with the
// flags byte set to flags.
func legacyLog(flags byte) []byte {
	f := frame.Frame{Kind: frame.KindLog}
	frame.SignLegacy(&f, key)
	b, _ := frame.Encode(nil, &f)
	b[11] = flags
	return b
}

func TestDecodeMustFail(t *testing.T) {
	var none [9]string
	type tc struct {
		name       string
		in         []byte
		maxPayload int
		field      string
	}
	tests := []tc{
		{"wrong magic", rawFrame(none, "", func(b []byte) { b[4] = 'X' }), 0, "magic"},
		{"http request", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n" + strings.Repeat(" ", 100)), 0, "magic"},
		{"version 0", rawFrame(none, "", func(b []byte) { b[7] = 0 }), 0, "version"},
		{"version 1 (before Holder)", rawFrame(none, "", func(b []byte) { b[7] = 1 }), 0, "version"},
		{"version 4", rawFrame(none, "", func(b []byte) { b[7] = 4 }), 0, "version"},
		{"version 3 frame with a version 2 byte", rawFrame(none, "", func(b []byte) { b[7] = 2 }), 0, "header length"},
		{"header length under minimum", rawFrame(none, "", func(b []byte) { binary.BigEndian.PutUint32(b, minHeader-1) }), 0, "header length"},
		{"header length zero", rawFrame(none, "", func(b []byte) { binary.BigEndian.PutUint32(b, 0) }), 0, "header length"},
		{"header length over MaxHeader", rawFrame(none, "", func(b []byte) { binary.BigEndian.PutUint32(b, frame.MaxHeader+1) }), 0, "header length"},
		{"header length huge", rawFrame(none, "", func(b []byte) { binary.BigEndian.PutUint32(b, 1<<32-1) }), 0, "header length"},
		{"bytes left after strings", rawFrame(none, "\x00xyz", nil), 0, "header length"},
		{"no level count", withoutLevelCount(rawFrame([9]string{0: "r"}, "", nil)), 0, "outer"},
		{"no level count, no strings", withoutLevelCount(rawFrame(none, "", nil)), 0, "header length"},
		{"depth over MaxDepth", rawFrame(none, "\x09", nil), 0, "outer"},
		{"level cut off", rawFrame(none, "\x01\x00\x00", nil), 0, "outer"},
		{"level holder past end", rawFrame(none, "\x01\x00\x00\x00\x07\x00\x05ab", nil), 0, "outer holder"},
		{"level holder over limit", rawFrame(none, "\x01\x00\x00\x00\x07\x02\x01", nil), 0, "outer holder"},
		{"bytes left after levels", rawFrame(none, "\x01\x00\x00\x00\x07\x00\x01hx", nil), 0, "header length"},
		{"kind 0", rawFrame(none, "", func(b []byte) { b[8] = 0 }), 0, "kind"},
		{"kind 7", rawFrame(none, "", func(b []byte) { b[8] = 7 }), 0, "kind"},
		{"code 11", rawFrame(none, "", func(b []byte) { b[9] = 11 }), 0, "code"},
		{"code 255", rawFrame(none, "", func(b []byte) { b[9] = 255 }), 0, "code"},
		{"payload kind 4", rawFrame(none, "", func(b []byte) { b[10] = 4 }), 0, "payload kind"},
		{"flags 0x04", rawFrame(none, "", func(b []byte) { b[11] = 4 }), 0, "flags"},
		{"placements flag without a report", rawFrame(none, "", func(b []byte) { b[11] = 2 }), 0, "report placed"},
		{"flags 0x80", rawFrame(none, "", func(b []byte) { b[11] = 0x80 }), 0, "flags"},
		{"flags 0x81 on a log frame with a report", rawFrame(none, "\x00"+reportSection(1, 0, "h", ""), func(b []byte) { asLog(b); b[11] = 0x81 }), 0, "flags"},
		{"flags 0x04 on a version 2 frame", legacyLog(4), 0, "flags"},
		{"report and placements flags on a version 2 log frame", legacyLog(3), 0, "report"},
		{"report flag on a step frame", rawFrame(none, "\x00"+reportSection(1, 0, "h", ""), func(b []byte) { b[11] = 1 }), 0, "report"},
		{"report flag on a result frame", rawFrame(none, "\x00"+reportSection(1, 0, "h", ""), func(b []byte) { b[8], b[11] = byte(frame.KindResult), 1 }), 0, "report"},
		{"report flag on a version 2 log frame", legacyLog(1), 0, "report"},
		{"report flag without a section", rawFrame(none, "", asLog), 0, "report"},
		{"report section cut short", rawFrame(none, "\x00"+reportSection(1, 0, "", "")[:12], asLog), 0, "report"},
		{"report kind 0", rawFrame(none, "\x00"+reportSection(0, 0, "", ""), asLog), 0, "report kind"},
		{"placements count past end", rawFrame(none, "\x00"+reportSection(1, 0, "h", ""), asPlacedLog), 0, "report placed"},
		{"placements count 0", rawFrame(none, "\x00"+reportSection(1, 0, "h", "")+"\x00", asPlacedLog), 0, "report placed"},
		{"placements count over MaxPlaced", rawFrame(none, "\x00"+reportSection(1, 0, "h", "")+"\x41"+strings.Repeat(placement(1, "s", "i", ""), 65), asPlacedLog), 0, "report placed"},
		{"placement cut off", rawFrame(none, "\x00"+reportSection(1, 0, "h", "")+"\x01\x00\x00", asPlacedLog), 0, "placed"},
		{"placement step over limit", rawFrame(none, "\x00"+reportSection(1, 0, "h", "")+"\x01\x00\x00\x00\x01\x01\x01", asPlacedLog), 0, "placed step"},
		{"placement instance past end", rawFrame(none, "\x00"+reportSection(1, 0, "h", "")+"\x01\x00\x00\x00\x01\x00\x01s\x00\x09ab", asPlacedLog), 0, "placed instance"},
		{"placement without its level count", rawFrame(none, "\x00"+reportSection(1, 0, "h", "")+"\x01\x00\x00\x00\x01\x00\x01s\x00\x01i", asPlacedLog), 0, "placed outer"},
		{"placement depth over MaxDepth", rawFrame(none, "\x00"+reportSection(1, 0, "h", "")+"\x01\x00\x00\x00\x01\x00\x01s\x00\x01i\x09", asPlacedLog), 0, "placed outer"},
		{"placement level holder over limit", rawFrame(none, "\x00"+reportSection(1, 0, "h", "")+"\x01"+placement(1, "s", "i", "")[:10]+"\x01\x00\x00\x00\x01\x02\x01", asPlacedLog), 0, "placed outer holder"},
		{"bytes left after placements", rawFrame(none, "\x00"+reportSection(1, 0, "h", "")+"\x01"+placement(1, "s", "i", "")+"x", asPlacedLog), 0, "header length"},
		{"report kind 0 with fields", rawFrame(none, "\x00"+reportSection(0, 5, "h", "a"), asLog), 0, "report kind"},
		{"report kind 4", rawFrame(none, "\x00"+reportSection(4, 0, "h", ""), asLog), 0, "report kind"},
		{"report kind 255", rawFrame(none, "\x00"+reportSection(255, 0, "h", ""), asLog), 0, "report kind"},
		{"report duration -1", rawFrame(none, "\x00"+reportSection(1, -1, "h", ""), asLog), 0, "report duration"},
		{"report duration min int64", rawFrame(none, "\x00"+reportSection(1, -1<<63, "h", ""), asLog), 0, "report duration"},
		{"report instance over limit", rawFrame(none, "\x00"+reportSection(1, 0, strings.Repeat("i", frame.MaxHolder+1), ""), asLog), 0, "report instance"},
		{"report instance past end", rawFrame(none, "\x00"+reportSection(1, 0, "", "")[:9]+"\x00\x05ab", asLog), 0, "report instance"},
		{"report activation over limit", rawFrame(none, "\x00"+reportSection(3, 0, "h", strings.Repeat("a", frame.MaxActivation+1)), asLog), 0, "report activation"},
		{"report activation length cut off", rawFrame(none, "\x00"+reportSection(3, 0, "", "")[:9]+"\x00\x03abc", asLog), 0, "report activation"},
		{"report activation past end", rawFrame(none, "\x00"+reportSection(3, 0, "", "")[:11]+"\x00\x05ab", asLog), 0, "report activation"},
		{"bytes left after the report", rawFrame(none, "\x00"+reportSection(1, 0, "h", "")+"x", asLog), 0, "header length"},
		{"report section without the flag", rawFrame(none, "\x00"+reportSection(1, 0, "h", ""), func(b []byte) { b[8] = byte(frame.KindLog) }), 0, "header length"},
		{"run id past end of header", rawFrame(none, "", func(b []byte) { binary.BigEndian.PutUint16(b[offStrings:], 60) }), 0, "run id"},
		{"last string (holder) cut off", rawFrame(none, "", func(b []byte) { binary.BigEndian.PutUint16(b[offStrings:], 2) }), 0, "holder"},
		{"inline size over maxPayload", rawFrame(none, "", func(b []byte) { binary.BigEndian.PutUint64(b[offSize:], 11) }), 10, "size"},
		{"inline size over default maxPayload", rawFrame(none, "", func(b []byte) { binary.BigEndian.PutUint64(b[offSize:], frame.DefaultMaxPayload+1) }), 0, "size"},
		{"inline size 2^64-1", rawFrame(none, "", func(b []byte) { binary.BigEndian.PutUint64(b[offSize:], 1<<64-1) }), 0, "size"},
		{"digest on an empty payload", rawFrame(none, "", func(b []byte) { b[offDigest+31] = 1 }), 0, "digest"},
		{"digest on a shm payload", rawFrame([9]string{7: "seg"}, "", func(b []byte) { b[10] = byte(frame.PayloadShm); b[offDigest] = 1 }), 0, "digest"},
		{"payload does not match its digest", withPayload(rawFrame(none, "", nil), "abc", func(d []byte) { d[0] ^= 1 }), 0, "digest"},
		{"payload with a zero digest", withPayload(rawFrame(none, "", nil), "abc", func(d []byte) { clear(d) }), 0, "digest"},
		{"inline with ref", rawFrame([9]string{7: "seg"}, "", nil), 0, "ref"},
		{"shm without ref", rawFrame(none, "", func(b []byte) { b[10] = byte(frame.PayloadShm) }), 0, "ref"},
		{"blob without ref", rawFrame(none, "", func(b []byte) { b[10] = byte(frame.PayloadBlob) }), 0, "ref"},
	}
	names := []string{"run id", "workflow", "step", "reply to", "namespace", "target", "reason", "ref", "holder"}
	limits := []int{frame.MaxRunID, frame.MaxWorkflow, frame.MaxStep, frame.MaxReplyTo, frame.MaxNamespace, frame.MaxTarget, frame.MaxReason, frame.MaxRef, frame.MaxHolder}
	for i, name := range names {
		var strs [9]string
		strs[i] = strings.Repeat("x", limits[i]+1)
		in := rawFrame(strs, "", nil)
		if name == "ref" {
			in[10] = byte(frame.PayloadShm)
		}
		tests = append(tests, tc{name + " over limit", in, 0, name})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var f frame.Frame
			n, err := frame.Decode(tc.in, &f, tc.maxPayload)
			var de *frame.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("Decode = %d, %v; want a *DecodeError", n, err)
			}
			if de.Field != tc.field {
				t.Errorf("DecodeError.Field = %q (%v), want %q", de.Field, err, tc.field)
			}
			if n != 0 {
				t.Errorf("Decode used %d bytes on error, want 0", n)
			}
		})
	}
}

// withPayload sets the inline payload of a raw frame to p, with its digest
// (then passed to mod), and appends it.
func withPayload(b []byte, p string, mod func(digest []byte)) []byte {
	binary.BigEndian.PutUint64(b[offSize:], uint64(len(p)))
	d := sha256.Sum256([]byte(p))
	copy(b[offDigest:], d[:])
	if mod != nil {
		mod(b[offDigest : offDigest+32])
	}
	return append(b, p...)
}

func TestDecodeErrorText(t *testing.T) {
	in := rawFrame([9]string{2: strings.Repeat("s", 300)}, "", nil)
	var f frame.Frame
	_, err := frame.Decode(in, &f, 0)
	if got, want := err.Error(), "frame: field step: length 300 over limit 256"; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
}

func TestDecodeAcceptsRawFrame(t *testing.T) {
	// The hand builder agrees with the encoder on a valid frame.
	in := rawFrame([9]string{0: "run", 2: "step", 4: "ns", 8: "host-a/c1"}, "\x02\x00\x00\x00\x03\x00\x02h1\x00\x00\x00\x04\x00\x00", nil)
	var f frame.Frame
	if _, err := frame.Decode(in, &f, 0); err != nil {
		t.Fatalf("Decode(raw) = %v", err)
	}
	if f.RunID != "run" || f.Step != "step" || f.Namespace != "ns" || f.Holder != "host-a/c1" || f.Kind != frame.KindStep ||
		len(f.Outer) != 2 || f.Outer[0] != (frame.Level{Slot: 3, Holder: "h1"}) || f.Outer[1] != (frame.Level{Slot: 4}) {
		t.Errorf("Decode(raw) = %+v", f)
	}
	in = withPayload(rawFrame(none9(), "", func(b []byte) { binary.BigEndian.PutUint64(b[offAcceptBy:], 77) }), "hello", nil)
	if _, err := frame.Decode(in, &f, 0); err != nil || string(f.Payload) != "hello" || f.AcceptBy != 77 {
		t.Errorf("Decode(raw with payload and accept by) = %+v, %v", f, err)
	}
	// A log frame: a level, then the report section.
	in = withPayload(rawFrame([9]string{0: "run"}, "\x01\x00\x00\x00\x03\x00\x02h1"+reportSection(3, 1500, "host-a/c1", "act-1"), asLog), "logs", nil)
	want := frame.Report{Kind: frame.ReportFallback, Instance: "host-a/c1", Duration: 1500 * time.Nanosecond, Activation: "act-1"}
	if _, err := frame.Decode(in, &f, 0); err != nil || f.Kind != frame.KindLog || !reflect.DeepEqual(f.Report, want) || f.RunID != "run" ||
		len(f.Outer) != 1 || f.Outer[0] != (frame.Level{Slot: 3, Holder: "h1"}) || string(f.Payload) != "logs" {
		t.Errorf("Decode(raw log frame) = %+v, %v; want report %+v", f, err, want)
	}
	if enc, err := frame.Encode(nil, &f); err != nil || !bytes.Equal(enc, in) {
		t.Errorf("re-encoding the raw log frame differs (%v):\n got %x\nwant %x", err, enc, in)
	}
}

func none9() (s [9]string) { return s }
