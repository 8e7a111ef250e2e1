// Package frame is the versioned, length-prefixed binary frame of
// wsk-route's data plane: the unit a proxy hands to the next step's
// instance, over a unix socket (with the payload inline or in a shm
// segment), over TCP, or through the host agents' relay.
//
// It only encodes and decodes: it does no I/O of its own except that a
// [Reader] reads from the io.Reader it is given. It uses the standard
// library only.
//
// # Usage
//
// A sender fills a [Frame], calls [Frame.Sign] with its namespace's key
// (which sets the payload's Digest and the Tag), then [AppendHeader] into a
// reused buffer and writes net.Buffers{hdr, f.Payload} in one vectored
// write, so an inline payload is never copied. Seq is not covered by the
// tag, so the transport may set it after signing.
//
// A receiver either calls [Decode] on a buffer holding whole frames (the
// decoded Payload aliases that buffer) or wraps a stream in a [Reader] (each
// Payload is a new slice the caller owns). It then checks [Frame.Verify]
// against the key of the namespace the frame names, and answers every frame
// with a KindAck built by [AckFor]. On a stream from peers it does not
// trust, it reads the header alone ([Reader.NextHeader]), verifies it, and
// only then reads the payload ([Reader.ReadPayload]): a peer without the
// key never gets more than a header's worth of memory (MaxHeader).
//
// A step reports to the run's entry in a KindLog frame: its [Report] says
// that the step ran (and for how long; its logs are the payload), that it
// runs on an instance, or that it went to an OpenWhisk activation. A done
// report may list where the step's result went ([Placement]: the step
// executions it handed it to, and the instances that took them). The
// report is part of the header, so it is verified with it, before the
// payload is read.
//
// Decoding is strict: every length is checked against its limit before it
// is used, unknown kinds, codes, payload kinds, report kinds and flags are
// refused (and a report on any frame but a log frame, or a negative report
// duration), an inline payload must match the header's digest, and the header must be
// exactly as long as its length prefix says, so every frame has one
// encoding and re-encoding a decoded frame gives the same bytes. Decoding
// never panics, never allocates from an unchecked length and, for the
// Reader, never waits for more bytes than the length fields promise.
//
// # Trust model of the tag
//
// Tag = HMAC-SHA256(key, auth), where auth is the header without its
// length prefix, Seq and Tag (bytes 4..11 and 20..H-32 below). The header
// carries Digest, SHA-256 of the inline payload (zero for an empty or a
// shm or blob payload), and the decoders refuse a payload that does not
// match it, so the tag authenticates the payload too, and a receiver can
// check the tag before it reads a byte of the payload. For shm and blob
// payloads the tag covers Ref and Size, not the referenced bytes. The
// content of a shm segment is protected by the per-namespace shm directory
// (only containers of that namespace can open it), and a blob by the host
// agent that serves it; the tag only proves which namespace pointed at it.
//
// AcceptBy is covered by the tag too: a relay or an attacker cannot extend
// the window in which a receiver may accept a frame. So is a log frame's
// Report, flag and section both.
//
// # Versions accepted
//
// Encoders write version 3. Decoders accept version 3 and version 2
// (LegacyVersion), so that proxies and agents of both can talk during a
// rolling deploy. A version 2 tag is HMAC-SHA256(key, auth || digest) with
// the digest of the payload (or of Ref and Size) outside the header, so it
// cannot be checked before the payload is read: a [Reader] bounds a
// version 2 inline payload by MaxLegacyPayload (64 KiB), whatever its own
// bound. A frame decoded from version 2 is verified and re-encoded as
// version 2 (a relay forwards it unchanged, an ack to it is version 2);
// [Frame.Sign] makes it version 3. Version 1 and any other version are
// refused with a "version" error.
//
// # Wire layout (version 3)
//
// All integers are big-endian. H is the total header length, the length
// prefix included; the inline payload follows the header.
//
//	offset  size  field
//	0       4     H: u32 header length, 141 <= H <= MaxHeader (16 KiB)
//	4       3     magic "WRF"
//	7       1     version (3)
//	8       1     Kind (1..6: step, result, error, ack, log, handover)
//	9       1     Code (0..10)
//	10      1     PayloadKind (0 inline, 1 shm, 2 blob, 3 shm-pooled)
//	11      1     flags: 0x01 = a report section follows the Outer
//	              levels (KindLog only); 0x02 = a placements section
//	              follows the report (only with 0x01); all other bits
//	              must be 0
//	12      8     Seq            (not covered by the tag)
//	20      8     SpecVersion
//	28      4     Branch
//	32      2     Attempt
//	34      8     Deadline (i64, unix ns, 0 = none)
//	42      8     AcceptBy (i64, unix ns, wall clock, 0 = none)
//	50      8     Size (payload size)
//	58      32    Digest: SHA-256 of the inline payload; all zero when
//	              Size is 0 or the payload is not inline
//	90      ...   nine strings, each u16 length then bytes, in this order:
//	              RunID (<= 64), Workflow (<= 256), Step (<= 256),
//	              ReplyTo (<= 1024), Namespace (<= 256), Target (<= 512),
//	              Reason (<= 4096), Ref (<= 256), Holder (<= 512)
//	...     1     D: number of Outer levels, 0 <= D <= MaxDepth (8)
//	...     ...   D levels, outermost first, each: u32 Slot, then Holder
//	              as u16 length (<= 512) and bytes
//	...     ...   report section, only when flags has 0x01 (13 bytes and
//	              the strings): u8 Report.Kind (1..3: done, started,
//	              fallback), i64 Duration (ns, >= 0), Instance as u16
//	              length (<= 512) and bytes, Activation as u16 length
//	              (<= 64) and bytes
//	...     ...   placements section, only when flags has 0x02: u8 count
//	              P (1..MaxPlaced, 64), then P placements, each: u32
//	              Branch, Step as u16 length (<= 256) and bytes, Instance
//	              as u16 length (<= 512) and bytes, u8 level count (<= 8)
//	              and the levels as above
//	H-32    32    Tag
//	H       Size  inline payload (PayloadInline only; none otherwise)
//
// Version 3 added AcceptBy, Digest and CodeLate, and lowered MaxHeader
// from 64 KiB to 16 KiB (the largest header without placements is 12106
// bytes: every string and level at its limit, and a report with both its
// strings at theirs).
// The report flag and section came later within version 3, and the
// placements after them: a frame without them is encoded as before, while
// a decoder that predates them refuses a frame that has one (its "flags"
// error). With placements a header can reach MaxHeader: a report with
// more placements than fit is an encode error (the sender splits them). Version 2 is the
// same without AcceptBy, Digest and the report (its flags must be 0): Size
// at 42, the strings at 50, 101 <= H. Version 2 added Holder, Outer and
// KindHandover to version 1.
//
// An inline frame has an empty Ref and Size = len(Payload) <= the
// receiver's maxPayload; a shm or blob frame has a non-empty Ref, no inline
// bytes, and Size is the size of the referenced payload.
package frame
