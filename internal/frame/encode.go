package frame

import (
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"strconv"
)

// Offsets of the fixed part of the header (see the layout in doc.go); the
// first ones are the same in both versions.
const (
	offMagic       = 4
	offVersion     = 7
	offKind        = 8
	offCode        = 9
	offPayloadKind = 10
	offFlags       = 11
	offSeq         = 12
	offSpecVersion = 20
	offBranch      = 28
	offAttempt     = 32
	offDeadline    = 34

	numStrings = 9
	tagLen     = 32
	digestLen  = 32
	// levelLen is the fixed part of one Outer level: slot, holder length.
	levelLen = 4 + 2
	// reportLen is the fixed part of the report section: kind, duration,
	// instance length, activation length.
	reportLen = 1 + 8 + 2 + 2

	// flagReport in the flags byte: the report section follows the Outer
	// levels (version 3, KindLog only).
	flagReport = 0x01
	// flagPlaced in the flags byte: the placements section follows the
	// report section (only with flagReport). No other flag is defined.
	flagPlaced = 0x02
	// placementLen is the fixed part of one placement: branch, step
	// length, instance length, level count.
	placementLen = 4 + 2 + 2 + 1
)

// layout is where a version puts the fields after Deadline.
type layout struct {
	acceptBy int // -1: no such field
	size     int
	digest   int // -1: no such field
	strings  int
	// minHeader is the header of a frame whose strings are all empty and
	// that has no Outer levels (the level count is one byte) and no report.
	minHeader int
	// report: the version has the report section (flagReport).
	report bool
}

var (
	layoutV3 = layout{acceptBy: 42, size: 50, digest: 58, strings: 90, minHeader: 90 + 2*numStrings + 1 + tagLen, report: true}
	layoutV2 = layout{acceptBy: -1, size: 42, digest: -1, strings: 50, minHeader: 50 + 2*numStrings + 1 + tagLen}
)

// layoutOf returns the layout f is encoded in.
func layoutOf(f *Frame) *layout {
	if f.legacy {
		return &layoutV2
	}
	return &layoutV3
}

const magic = "WRF"

// stringLimits names the string fields in wire order, with their limits.
var stringLimits = [numStrings]struct {
	name string
	max  int
}{
	{"run id", MaxRunID},
	{"workflow", MaxWorkflow},
	{"step", MaxStep},
	{"reply to", MaxReplyTo},
	{"namespace", MaxNamespace},
	{"target", MaxTarget},
	{"reason", MaxReason},
	{"ref", MaxRef},
	{"holder", MaxHolder},
}

// stringsOf returns f's string fields in wire order.
func stringsOf(f *Frame) [numStrings]string {
	return [numStrings]string{f.RunID, f.Workflow, f.Step, f.ReplyTo, f.Namespace, f.Target, f.Reason, f.Ref, f.Holder}
}

// HeaderLen returns the length of f's encoded header, or an *EncodeError if
// f cannot be encoded.
func HeaderLen(f *Frame) (int, error) {
	if !f.Kind.Valid() {
		return 0, &EncodeError{"kind", "unknown kind " + strconv.Itoa(int(f.Kind))}
	}
	if !f.Code.Valid() {
		return 0, &EncodeError{"code", "unknown code " + strconv.Itoa(int(f.Code))}
	}
	switch f.PayloadKind {
	case PayloadInline:
		if f.Size != uint64(len(f.Payload)) {
			return 0, &EncodeError{"size", "size " + strconv.FormatUint(f.Size, 10) + " != payload length " + strconv.Itoa(len(f.Payload))}
		}
		if f.Ref != "" {
			return 0, &EncodeError{"ref", "set on an inline payload"}
		}
	case PayloadShm, PayloadBlob, PayloadShmPooled:
		if len(f.Payload) != 0 {
			return 0, &EncodeError{"payload", "inline bytes on a " + f.PayloadKind.String() + " payload"}
		}
		if f.Ref == "" {
			return 0, &EncodeError{"ref", "empty on a " + f.PayloadKind.String() + " payload"}
		}
	default:
		return 0, &EncodeError{"payload kind", "unknown payload kind " + strconv.Itoa(int(f.PayloadKind))}
	}
	lay := layoutOf(f)
	if f.legacy {
		if f.AcceptBy != 0 {
			return 0, &EncodeError{"accept by", "set on a version " + strconv.Itoa(LegacyVersion) + " frame"}
		}
	} else if f.Digest != ([digestLen]byte{}) && (f.PayloadKind != PayloadInline || len(f.Payload) == 0) {
		return 0, &EncodeError{"digest", "set on an empty or " + f.PayloadKind.String() + " payload"}
	}
	n := lay.minHeader
	for i, s := range stringsOf(f) {
		if len(s) > stringLimits[i].max {
			return 0, &EncodeError{stringLimits[i].name, overLimit(len(s), stringLimits[i].max)}
		}
		n += len(s)
	}
	if len(f.Outer) > MaxDepth {
		return 0, &EncodeError{"outer", overLimit(len(f.Outer), MaxDepth)}
	}
	for _, l := range f.Outer {
		if len(l.Holder) > MaxHolder {
			return 0, &EncodeError{"outer holder", overLimit(len(l.Holder), MaxHolder)}
		}
		n += levelLen + len(l.Holder)
	}
	if !f.Report.IsZero() {
		m, err := reportSize(f)
		if err != nil {
			return 0, err
		}
		n += m
	}
	if n > MaxHeader { // only with a report's placements
		return 0, &EncodeError{"header length", overLimit(n, MaxHeader)}
	}
	return n, nil
}

// reportSize checks f's non-zero Report and returns the length of its
// section.
func reportSize(f *Frame) (int, error) {
	r := &f.Report
	switch {
	case f.legacy:
		return 0, &EncodeError{"report", "set on a version " + strconv.Itoa(LegacyVersion) + " frame"}
	case f.Kind != KindLog:
		return 0, &EncodeError{"report", "set on a " + f.Kind.String() + " frame"}
	case r.Kind == 0:
		return 0, &EncodeError{"report kind", "0 (no report) with other report fields set"}
	case !r.Kind.Valid():
		return 0, &EncodeError{"report kind", "unknown report kind " + strconv.Itoa(int(r.Kind))}
	case r.Duration < 0:
		return 0, &EncodeError{"report duration", "negative duration " + r.Duration.String()}
	case len(r.Instance) > MaxHolder:
		return 0, &EncodeError{"report instance", overLimit(len(r.Instance), MaxHolder)}
	case len(r.Activation) > MaxActivation:
		return 0, &EncodeError{"report activation", overLimit(len(r.Activation), MaxActivation)}
	case len(r.Placed) > MaxPlaced:
		return 0, &EncodeError{"report placed", overLimit(len(r.Placed), MaxPlaced)}
	}
	n := reportLen + len(r.Instance) + len(r.Activation)
	if len(r.Placed) > 0 {
		n++ // the count
	}
	for _, pl := range r.Placed {
		switch {
		case len(pl.Step) > MaxStep:
			return 0, &EncodeError{"placed step", overLimit(len(pl.Step), MaxStep)}
		case len(pl.Instance) > MaxHolder:
			return 0, &EncodeError{"placed instance", overLimit(len(pl.Instance), MaxHolder)}
		case len(pl.Outer) > MaxDepth:
			return 0, &EncodeError{"placed outer", overLimit(len(pl.Outer), MaxDepth)}
		}
		for _, l := range pl.Outer {
			if len(l.Holder) > MaxHolder {
				return 0, &EncodeError{"placed outer holder", overLimit(len(l.Holder), MaxHolder)}
			}
		}
		n += PlacementLen(pl)
	}
	return n, nil
}

// PlacementLen is the number of header bytes pl takes in a report: for a
// sender that bounds the placements it folds into one (see MaxHeader).
func PlacementLen(pl Placement) int {
	n := placementLen + len(pl.Step) + len(pl.Instance)
	for _, l := range pl.Outer {
		n += levelLen + len(l.Holder)
	}
	return n
}

// AppendHeader appends the encoding of everything but the inline payload
// bytes (length prefix, magic, version, fixed fields, strings, levels,
// report, tag) to dst and returns the extended slice; the transport writes
// net.Buffers{hdr, f.Payload}. It does not allocate when dst has room for
// the header. It returns an *EncodeError (and dst unchanged) for any field
// over its limit, an unknown kind, code or payload kind, Size !=
// len(Payload) for an inline payload, a Ref that does not match the
// payload kind, a Digest on an empty or non-inline payload, an AcceptBy
// on a LegacyVersion frame, a non-zero Report on a LegacyVersion frame or
// on any kind but KindLog, or a Report with a zero or unknown Kind or a
// negative Duration.
//
// It writes f.Digest; when that is zero and the inline payload is not
// empty (an unsigned frame) it writes SHA-256 of the payload instead, so
// that the frame decodes.
func AppendHeader(dst []byte, f *Frame) ([]byte, error) {
	n, err := HeaderLen(f)
	if err != nil {
		return dst, err
	}
	dst = slices.Grow(dst, n)
	return appendHeader(dst, f, n), nil
}

// Encode appends the whole frame, header and inline payload, to dst in one
// slice (for tests and small frames). Errors are those of [AppendHeader].
func Encode(dst []byte, f *Frame) ([]byte, error) {
	n, err := HeaderLen(f)
	if err != nil {
		return dst, err
	}
	dst = slices.Grow(dst, n+len(f.Payload))
	dst = appendHeader(dst, f, n)
	return append(dst, f.Payload...), nil
}

// appendHeader writes a header of length n for a frame HeaderLen accepted.
func appendHeader(dst []byte, f *Frame, n int) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(n))
	dst = appendAuthHead(dst, f)
	dst = binary.BigEndian.AppendUint64(dst, f.Seq)
	dst = appendAuthTail(dst, f)
	return append(dst, f.Tag[:]...)
}

// appendAuthHead appends header bytes 4..11: magic, version, kind, code,
// payload kind, flags.
func appendAuthHead(dst []byte, f *Frame) []byte {
	dst = append(dst, magic...)
	v := byte(Version)
	if f.legacy {
		v = LegacyVersion
	}
	var flags byte
	if f.Report.Kind != 0 {
		flags |= flagReport
	}
	if len(f.Report.Placed) > 0 {
		flags |= flagPlaced
	}
	return append(dst, v, byte(f.Kind), byte(f.Code), byte(f.PayloadKind), flags)
}

// digestOf returns the Digest to encode for f: f.Digest, or, when that is
// zero on a non-empty inline payload, SHA-256 of the payload.
func digestOf(f *Frame) [digestLen]byte {
	if f.Digest == ([digestLen]byte{}) && f.PayloadKind == PayloadInline && len(f.Payload) > 0 {
		return sha256.Sum256(f.Payload)
	}
	return f.Digest
}

// appendAuthTail appends header bytes 20..H-32: the fixed fields after Seq
// (AcceptBy and Digest in version 3), the strings, the Outer levels and
// the report section (when f has a Report).
func appendAuthTail(dst []byte, f *Frame) []byte {
	dst = binary.BigEndian.AppendUint64(dst, f.SpecVersion)
	dst = binary.BigEndian.AppendUint32(dst, f.Branch)
	dst = binary.BigEndian.AppendUint16(dst, f.Attempt)
	dst = binary.BigEndian.AppendUint64(dst, uint64(f.Deadline))
	if !f.legacy {
		dst = binary.BigEndian.AppendUint64(dst, uint64(f.AcceptBy))
	}
	dst = binary.BigEndian.AppendUint64(dst, f.Size)
	if !f.legacy {
		d := digestOf(f)
		dst = append(dst, d[:]...)
	}
	for _, s := range stringsOf(f) {
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(s)))
		dst = append(dst, s...)
	}
	dst = appendLevels(dst, f.Outer)
	if r := &f.Report; r.Kind != 0 {
		dst = append(dst, byte(r.Kind))
		dst = binary.BigEndian.AppendUint64(dst, uint64(r.Duration))
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(r.Instance)))
		dst = append(dst, r.Instance...)
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(r.Activation)))
		dst = append(dst, r.Activation...)
		if len(r.Placed) > 0 {
			dst = append(dst, byte(len(r.Placed)))
		}
		for _, pl := range r.Placed {
			dst = binary.BigEndian.AppendUint32(dst, pl.Branch)
			dst = binary.BigEndian.AppendUint16(dst, uint16(len(pl.Step)))
			dst = append(dst, pl.Step...)
			dst = binary.BigEndian.AppendUint16(dst, uint16(len(pl.Instance)))
			dst = append(dst, pl.Instance...)
			dst = appendLevels(dst, pl.Outer)
		}
	}
	return dst
}

// appendLevels appends a level count and the levels.
func appendLevels(dst []byte, levels []Level) []byte {
	dst = append(dst, byte(len(levels)))
	for _, l := range levels {
		dst = binary.BigEndian.AppendUint32(dst, l.Slot)
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(l.Holder)))
		dst = append(dst, l.Holder...)
	}
	return dst
}
