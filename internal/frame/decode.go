package frame

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strconv"
	"time"
)

// prefixLen is how many bytes checkPrefix needs: length, magic, version.
const prefixLen = 8

// checkPrefix checks the magic and version in p (at least prefixLen bytes)
// and returns the header length H after checking it against its bounds,
// and the layout of the version. Magic and version are checked first so
// that a peer speaking another protocol is told so, not that its "length"
// is too big.
func checkPrefix(p []byte) (int, *layout, error) {
	if string(p[offMagic:offVersion]) != magic {
		return 0, nil, &DecodeError{"magic", fmt.Sprintf("got %q, want %q", p[offMagic:offVersion], magic)}
	}
	var lay *layout
	switch p[offVersion] {
	case Version:
		lay = &layoutV3
	case LegacyVersion:
		lay = &layoutV2
	default:
		return 0, nil, &DecodeError{"version", "got " + strconv.Itoa(int(p[offVersion])) + ", want " + strconv.Itoa(Version) + " or " + strconv.Itoa(LegacyVersion)}
	}
	h := binary.BigEndian.Uint32(p)
	if h > MaxHeader {
		return 0, nil, &DecodeError{"header length", fmt.Sprintf("length %d over limit %d", h, MaxHeader)}
	}
	if h < uint32(lay.minHeader) {
		return 0, nil, &DecodeError{"header length", fmt.Sprintf("length %d under minimum %d", h, lay.minHeader)}
	}
	return int(h), lay, nil
}

// decodeHeader decodes the header h (exactly H bytes, prefix already checked
// by checkPrefix, in layout lay) into f, and returns the number of inline
// payload bytes that follow it, checked against maxPayload (> 0). All
// strings share one new allocation, so f keeps nothing of h. The payload's
// digest is not checked here: see checkDigest.
func decodeHeader(h []byte, lay *layout, f *Frame, maxPayload int) (int, error) {
	kind := Kind(h[offKind])
	if !kind.Valid() {
		return 0, &DecodeError{"kind", "unknown kind " + strconv.Itoa(int(kind))}
	}
	code := Code(h[offCode])
	if !code.Valid() {
		return 0, &DecodeError{"code", "unknown code " + strconv.Itoa(int(code))}
	}
	pk := PayloadKind(h[offPayloadKind])
	if !pk.Valid() {
		return 0, &DecodeError{"payload kind", "unknown payload kind " + strconv.Itoa(int(pk))}
	}
	flags := h[offFlags]
	if flags&^(flagReport|flagPlaced) != 0 {
		return 0, &DecodeError{"flags", "unknown flags " + strconv.Itoa(int(flags&^(flagReport|flagPlaced)))}
	}
	hasReport, hasPlaced := flags&flagReport != 0, flags&flagPlaced != 0
	if hasPlaced && !hasReport {
		return 0, &DecodeError{"report placed", "placements flag set without a report"}
	}
	if hasReport && !lay.report {
		return 0, &DecodeError{"report", "flag set on a version " + strconv.Itoa(int(h[offVersion])) + " frame"}
	}
	if hasReport && kind != KindLog {
		return 0, &DecodeError{"report", "flag set on a " + kind.String() + " frame"}
	}
	size := binary.BigEndian.Uint64(h[lay.size:])
	offStrings := lay.strings

	// Walk the strings once, checking every length before using it.
	var offs [numStrings][2]int
	end := len(h) - tagLen
	p, total := offStrings, 0
	for i := range numStrings {
		var err error
		if offs[i], p, err = walkString(h, p, end, stringLimits[i].name, stringLimits[i].max); err != nil {
			return 0, err
		}
		total += offs[i][1] - offs[i][0]
	}
	// The Outer levels: a count, then slot, holder length, holder each.
	var outerOffs levelOffs
	var err error
	if p, err = outerOffs.walk(h, p, end, "outer"); err != nil {
		return 0, err
	}
	total += outerOffs.strings
	// The report section: kind, duration, instance, activation.
	var report Report
	var reportStrs [2][2]int // instance, activation: start, end
	if hasReport {
		if end-p < reportLen {
			return 0, &DecodeError{"report", "section past end of header"}
		}
		report.Kind = ReportKind(h[p])
		if !report.Kind.Valid() {
			return 0, &DecodeError{"report kind", "unknown report kind " + strconv.Itoa(int(report.Kind))}
		}
		report.Duration = time.Duration(binary.BigEndian.Uint64(h[p+1:]))
		if report.Duration < 0 {
			return 0, &DecodeError{"report duration", "negative duration " + strconv.FormatInt(int64(report.Duration), 10) + "ns"}
		}
		p += 1 + 8
		for i, s := range [2]struct {
			name string
			max  int
		}{{"report instance", MaxHolder}, {"report activation", MaxActivation}} {
			var err error
			if reportStrs[i], p, err = walkString(h, p, end, s.name, s.max); err != nil {
				return 0, err
			}
			total += reportStrs[i][1] - reportStrs[i][0]
		}
	}
	// The placements: a count, then branch, step, instance and levels each.
	var placed []placementOffs
	if hasPlaced {
		if end-p < 1 {
			return 0, &DecodeError{"report placed", "count past end of header"}
		}
		count := int(h[p])
		p++
		if count == 0 || count > MaxPlaced {
			return 0, &DecodeError{"report placed", fmt.Sprintf("count %d, want 1 to %d", count, MaxPlaced)}
		}
		placed = make([]placementOffs, count)
		for i := range placed {
			if p, err = placed[i].walk(h, p, end); err != nil {
				return 0, err
			}
			total += placed[i].strings
		}
	}
	if p != end {
		return 0, &DecodeError{"header length", fmt.Sprintf("%d bytes left after the strings, levels and report", end-p)}
	}

	refLen := offs[7][1] - offs[7][0]
	payload := 0
	switch pk {
	case PayloadInline:
		if refLen != 0 {
			return 0, &DecodeError{"ref", "set on an inline payload"}
		}
		if size > uint64(maxPayload) {
			return 0, &DecodeError{"size", fmt.Sprintf("inline payload %d over limit %d", size, maxPayload)}
		}
		payload = int(size)
	default:
		if refLen == 0 {
			return 0, &DecodeError{"ref", "empty on a " + pk.String() + " payload"}
		}
	}
	var digest [digestLen]byte
	if lay.digest >= 0 {
		copy(digest[:], h[lay.digest:])
		if (pk != PayloadInline || size == 0) && digest != ([digestLen]byte{}) {
			return 0, &DecodeError{"digest", "set on an empty or " + pk.String() + " payload"}
		}
	} else if pk != PayloadInline {
		// The digest a LegacyVersion tag covers for a reference.
		digest = refDigest(h[offs[7][0]:offs[7][1]], size)
	}
	var acceptBy int64
	if lay.acceptBy >= 0 {
		acceptBy = int64(binary.BigEndian.Uint64(h[lay.acceptBy:]))
	}

	// One allocation for all strings: copy the string area and slice it.
	var all string
	if total > 0 {
		all = string(h[offStrings:end])
	}
	slice := func(o [2]int) string {
		if o[0] == o[1] {
			return ""
		}
		return all[o[0]-offStrings : o[1]-offStrings]
	}
	sub := func(i int) string { return slice(offs[i]) }
	outer := outerOffs.levels(h, slice)
	if hasReport {
		report.Instance = slice(reportStrs[0])
		report.Activation = slice(reportStrs[1])
	}
	if len(placed) > 0 {
		report.Placed = make([]Placement, len(placed))
		for i, o := range placed {
			report.Placed[i] = Placement{Step: slice(o.step), Branch: o.branch, Instance: slice(o.instance), Outer: o.levs.levels(h, slice)}
		}
	}
	*f = Frame{
		Kind:        kind,
		Seq:         binary.BigEndian.Uint64(h[offSeq:]),
		RunID:       sub(0),
		Workflow:    sub(1),
		SpecVersion: binary.BigEndian.Uint64(h[offSpecVersion:]),
		Step:        sub(2),
		Branch:      binary.BigEndian.Uint32(h[offBranch:]),
		Attempt:     binary.BigEndian.Uint16(h[offAttempt:]),
		Deadline:    int64(binary.BigEndian.Uint64(h[offDeadline:])),
		AcceptBy:    acceptBy,
		ReplyTo:     sub(3),
		Namespace:   sub(4),
		Target:      sub(5),
		Code:        code,
		Reason:      sub(6),
		PayloadKind: pk,
		Ref:         sub(7),
		Holder:      sub(8),
		Outer:       outer,
		Report:      report,
		Size:        size,
		Digest:      digest,
		legacy:      lay == &layoutV2,
	}
	copy(f.Tag[:], h[end:])
	return payload, nil
}

// walkString checks the string at h[p:end], a u16 length then its bytes,
// against limit (name says which, in errors), and returns where its bytes
// are and the offset after it.
func walkString(h []byte, p, end int, name string, limit int) (at [2]int, next int, err error) {
	if end-p < 2 {
		return at, 0, &DecodeError{name, "length past end of header"}
	}
	n := int(binary.BigEndian.Uint16(h[p:]))
	p += 2
	if n > limit {
		return at, 0, &DecodeError{name, overLimit(n, limit)}
	}
	if n > end-p {
		return at, 0, &DecodeError{name, fmt.Sprintf("length %d past end of header", n)}
	}
	return [2]int{p, p + n}, p + n, nil
}

// levelOffs are where a header's levels are (Outer, or a placement's).
type levelOffs struct {
	depth   int
	offs    [MaxDepth][3]int // slot offset, holder start, holder end
	strings int              // bytes of holders
}

// walk checks the levels at h[p:end] (a count, then slot, holder length,
// holder each), records where they are and returns the offset after them.
func (l *levelOffs) walk(h []byte, p, end int, what string) (int, error) {
	if end-p < 1 {
		return 0, &DecodeError{what, "level count past end of header"}
	}
	l.depth = int(h[p])
	p++
	if l.depth > MaxDepth {
		return 0, &DecodeError{what, overLimit(l.depth, MaxDepth)}
	}
	for i := range l.depth {
		if end-p < levelLen {
			return 0, &DecodeError{what, fmt.Sprintf("level %d past end of header", i)}
		}
		n := int(binary.BigEndian.Uint16(h[p+4:]))
		if n > MaxHolder {
			return 0, &DecodeError{what + " holder", overLimit(n, MaxHolder)}
		}
		if n > end-p-levelLen {
			return 0, &DecodeError{what + " holder", fmt.Sprintf("length %d past end of header", n)}
		}
		l.offs[i] = [3]int{p, p + levelLen, p + levelLen + n}
		p += levelLen + n
		l.strings += n
	}
	return p, nil
}

// levels returns the levels walk found, their holders cut by slice; nil
// for none.
func (l *levelOffs) levels(h []byte, slice func([2]int) string) []Level {
	if l.depth == 0 {
		return nil
	}
	out := make([]Level, l.depth)
	for i := range l.depth {
		o := l.offs[i]
		out[i] = Level{Slot: binary.BigEndian.Uint32(h[o[0]:]), Holder: slice([2]int{o[1], o[2]})}
	}
	return out
}

// placementOffs are where one placement of a report is.
type placementOffs struct {
	branch         uint32
	step, instance [2]int
	levs           levelOffs
	strings        int // bytes of its strings
}

// walk checks the placement at h[p:end], records where it is and returns
// the offset after it.
func (o *placementOffs) walk(h []byte, p, end int) (int, error) {
	if end-p < 4 {
		return 0, &DecodeError{"placed", "branch past end of header"}
	}
	o.branch = binary.BigEndian.Uint32(h[p:])
	p += 4
	var err error
	if o.step, p, err = walkString(h, p, end, "placed step", MaxStep); err != nil {
		return 0, err
	}
	if o.instance, p, err = walkString(h, p, end, "placed instance", MaxHolder); err != nil {
		return 0, err
	}
	o.strings += o.step[1] - o.step[0] + o.instance[1] - o.instance[0]
	p, err = o.levs.walk(h, p, end, "placed outer")
	o.strings += o.levs.strings
	return p, err
}

// refDigest is the digest a LegacyVersion tag covers for a shm or blob
// payload: SHA-256(u16 len(ref) || ref || u64 size).
func refDigest(ref []byte, size uint64) [digestLen]byte {
	var b [2 + MaxRef + 8]byte
	p := binary.BigEndian.AppendUint16(b[:0], uint16(len(ref)))
	p = append(p, ref...)
	p = binary.BigEndian.AppendUint64(p, size)
	return sha256.Sum256(p)
}

// checkDigest checks the inline payload sum (SHA-256 of the payload) of
// a frame decoded by decodeHeader: it must be f.Digest (version 3), or
// becomes it (LegacyVersion, whose tag covers it). An empty version 3
// payload has a zero digest, which decodeHeader checked.
func checkDigest(f *Frame, sum *[digestLen]byte) error {
	if f.legacy {
		f.Digest = *sum
		return nil
	}
	if f.Size != 0 && *sum != f.Digest {
		return &DecodeError{"digest", "the payload's SHA-256 is not the header's digest"}
	}
	return nil
}

// Decode decodes one whole frame from the start of b into f and returns the
// number of bytes it used (header and inline payload). f.Payload aliases b
// (capacity capped at its length); the strings are copied. maxPayload bounds
// the inline payload; <= 0 means DefaultMaxPayload. It accepts Version and
// LegacyVersion frames (the caller holds, and so has bounded, the bytes).
//
// When b ends before the frame does, Decode returns [ErrShort], which wraps
// io.ErrUnexpectedEOF; any other error is a *[DecodeError], also for an
// inline payload whose SHA-256 is not the header's Digest. On error f is
// unspecified. Decode does not verify the tag: call [Frame.Verify].
func Decode(b []byte, f *Frame, maxPayload int) (n int, err error) {
	if maxPayload <= 0 {
		maxPayload = DefaultMaxPayload
	}
	if len(b) < prefixLen {
		return 0, ErrShort
	}
	h, lay, err := checkPrefix(b)
	if err != nil {
		return 0, err
	}
	if len(b) < h {
		return 0, ErrShort
	}
	p, err := decodeHeader(b[:h], lay, f, maxPayload)
	if err != nil {
		return 0, err
	}
	if len(b)-h < p {
		return 0, ErrShort
	}
	if f.PayloadKind == PayloadInline {
		f.Payload = b[h : h+p : h+p]
		if p > 0 || f.legacy {
			sum := sha256.Sum256(f.Payload)
			if err := checkDigest(f, &sum); err != nil {
				return 0, err
			}
		}
	}
	return h + p, nil
}
