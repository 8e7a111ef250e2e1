package frame_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/wsk-route/wsk-route/internal/frame"
)

var key = []byte("namespace guest key, 32 bytes!!!")

func TestSignVerify(t *testing.T) {
	tamper := []struct {
		name string
		mod  func(f *frame.Frame)
	}{
		{"kind", func(f *frame.Frame) { f.Kind = frame.KindResult }},
		{"run id", func(f *frame.Frame) { f.RunID += "x" }},
		{"workflow", func(f *frame.Frame) { f.Workflow = "/other/wf" }},
		{"spec version", func(f *frame.Frame) { f.SpecVersion++ }},
		{"step", func(f *frame.Frame) { f.Step = "refund" }},
		{"branch", func(f *frame.Frame) { f.Branch++ }},
		{"attempt", func(f *frame.Frame) { f.Attempt++ }},
		{"deadline", func(f *frame.Frame) { f.Deadline++ }},
		{"reply to", func(f *frame.Frame) { f.ReplyTo = "tcp:6.6.6.6:1" }},
		{"namespace", func(f *frame.Frame) { f.Namespace = "mallory" }},
		{"target", func(f *frame.Frame) { f.Target = "host-b/1" }},
		{"holder", func(f *frame.Frame) { f.Holder = "host-m/666" }},
		{"outer level added", func(f *frame.Frame) { f.Outer = []frame.Level{{Slot: 1}} }},
		{"code", func(f *frame.Frame) { f.Code = frame.CodeBusy }},
		{"reason", func(f *frame.Frame) { f.Reason = "r" }},
		{"size", func(f *frame.Frame) { f.Size++ }},
		{"accept by", func(f *frame.Frame) { f.AcceptBy = 1 }},
		{"digest", func(f *frame.Frame) { f.Digest[7] ^= 1 }},
		{"payload kind", func(f *frame.Frame) { f.PayloadKind, f.Ref, f.Payload = frame.PayloadShm, "seg", nil }},
		{"tag", func(f *frame.Frame) { f.Tag[31] ^= 1 }},
		{"string boundary", func(f *frame.Frame) { f.RunID, f.Workflow = f.RunID+f.Workflow[:1], f.Workflow[1:] }},
	}
	for _, tc := range tamper {
		t.Run(tc.name, func(t *testing.T) {
			f := typical([]byte(`{"order":17}`))
			f.Sign(key)
			if !f.Verify(key) {
				t.Fatal("Verify = false on a freshly signed frame")
			}
			tc.mod(&f)
			if f.Verify(key) {
				t.Errorf("Verify = true after changing %s", tc.name)
			}
		})
	}

	// The payload is covered through Digest: a changed payload no longer
	// decodes, and a payload whose digest was changed to match does not
	// verify.
	t.Run("payload byte", func(t *testing.T) {
		f := typical([]byte(`{"order":17}`))
		f.Sign(key)
		enc, _ := frame.Encode(nil, &f)
		enc[len(enc)-3] ^= 1
		var got frame.Frame
		_, err := frame.Decode(enc, &got, 0)
		var de *frame.DecodeError
		if !errors.As(err, &de) || de.Field != "digest" {
			t.Fatalf("Decode after changing a payload byte = %v, want a DecodeError for digest", err)
		}
		f.Payload[3] ^= 1
		f.Digest = sha256.Sum256(f.Payload)
		enc, _ = frame.Encode(nil, &f)
		if _, err := frame.Decode(enc, &got, 0); err != nil {
			t.Fatal(err)
		}
		if got.Verify(key) {
			t.Error("Verify = true for a payload and digest changed after signing")
		}
	})
	// A log frame's report is covered: its flag, kind and every field.
	reportTamper := []struct {
		name string
		mod  func(r *frame.Report)
	}{
		{"report removed", func(r *frame.Report) { *r = frame.Report{} }},
		{"report kind", func(r *frame.Report) { r.Kind = frame.ReportStarted }},
		{"report duration", func(r *frame.Report) { r.Duration++ }},
		{"report instance", func(r *frame.Report) { r.Instance = "host-m/666" }},
		{"report activation", func(r *frame.Report) { r.Activation = "act-2" }},
		{"report string boundary", func(r *frame.Report) { r.Instance, r.Activation = r.Instance+"a", r.Activation[1:] }},
	}
	for _, tc := range reportTamper {
		t.Run(tc.name, func(t *testing.T) {
			f := logFrame(frame.Report{Kind: frame.ReportDone, Instance: "host-a/4f1c", Duration: 5, Activation: "act-1"}, []byte("logs"))
			f.Sign(key)
			if !f.Verify(key) {
				t.Fatal("Verify = false on a freshly signed log frame")
			}
			tc.mod(&f.Report)
			if f.Verify(key) {
				t.Errorf("Verify = true after changing the %s", tc.name)
			}
		})
	}
	t.Run("report added", func(t *testing.T) {
		f := logFrame(frame.Report{}, []byte("logs"))
		f.Sign(key)
		f.Report = frame.Report{Kind: frame.ReportStarted, Instance: "host-m/666"}
		if f.Verify(key) {
			t.Error("Verify = true after adding a report")
		}
	})

	t.Run("seq is not covered", func(t *testing.T) {
		f := typical([]byte("x"))
		f.Sign(key)
		f.Seq++
		if !f.Verify(key) {
			t.Error("Verify = false after changing Seq, want true")
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		f := typical([]byte("x"))
		f.Sign(key)
		if f.Verify([]byte("another namespace")) {
			t.Error("Verify = true with another key")
		}
	})
	t.Run("survives encode and decode", func(t *testing.T) {
		for _, tc := range roundTripFrames() {
			f := tc.f
			f.Sign(key)
			enc, err := frame.Encode(nil, &f)
			if err != nil {
				t.Fatal(err)
			}
			var got frame.Frame
			if _, err := frame.Decode(enc, &got, 0); err != nil {
				t.Fatal(err)
			}
			if !got.Verify(key) {
				t.Errorf("%s: Verify = false after a round trip", tc.name)
			}
		}
	})

	for _, pk := range []frame.PayloadKind{frame.PayloadShm, frame.PayloadBlob} {
		ref := []struct {
			name string
			mod  func(f *frame.Frame)
			ok   bool
		}{
			{"ref", func(f *frame.Frame) { f.Ref = "seg-2" }, false},
			{"size", func(f *frame.Frame) { f.Size = 1 }, false},
			{"payload kind", func(f *frame.Frame) { f.PayloadKind = 3 - f.PayloadKind }, false},
			{"seq", func(f *frame.Frame) { f.Seq = 9 }, true},
		}
		for _, tc := range ref {
			t.Run(pk.String()+" "+tc.name, func(t *testing.T) {
				f := typical(nil)
				f.PayloadKind, f.Ref, f.Size = pk, "seg-1", 1<<20
				f.Sign(key)
				tc.mod(&f)
				if got := f.Verify(key); got != tc.ok {
					t.Errorf("Verify after changing %s = %v, want %v", tc.name, got, tc.ok)
				}
			})
		}
	}
}

// The hand-written HMAC agrees with crypto/hmac, for short, block-sized and
// long keys, auth matches the documented header bytes, and the header's
// digest is SHA-256 of a non-empty inline payload.
func TestTagIsHMACSHA256(t *testing.T) {
	keys := [][]byte{nil, []byte("k"), bytes.Repeat([]byte("b"), 64), bytes.Repeat([]byte("l"), 65), bytes.Repeat([]byte("x"), 200)}
	for _, tc := range roundTripFrames() {
		for _, k := range keys {
			f := tc.f
			f.Sign(k)
			var digest [32]byte
			if f.PayloadKind == frame.PayloadInline && len(f.Payload) > 0 {
				digest = sha256.Sum256(f.Payload)
			}
			auth := frame.AuthBytes(&f)
			hdr, _ := frame.AppendHeader(nil, &f)
			if got := hdr[offDigest : offDigest+32]; !bytes.Equal(got, digest[:]) || f.Digest != digest {
				t.Fatalf("%s: digest in the header %x, Digest %x, want %x", tc.name, got, f.Digest, digest)
			}
			if want := append(bytes.Clone(hdr[4:12]), hdr[20:len(hdr)-32]...); !bytes.Equal(auth, want) {
				t.Fatalf("%s: auth bytes are not header[4:12] || header[20:H-32]", tc.name)
			}
			m := hmac.New(sha256.New, k)
			m.Write(auth)
			if want := m.Sum(nil); !bytes.Equal(f.Tag[:], want) {
				t.Errorf("%s, key of %d bytes: tag %x, want %x", tc.name, len(k), f.Tag, want)
			}
		}
	}
}

// A version 2 tag covers auth || digest, the digest being SHA-256 of the
// inline payload or of (u16 len(Ref), Ref, u64 Size).
func TestLegacyTagIsHMACSHA256(t *testing.T) {
	for _, tc := range roundTripFrames() {
		f := tc.f
		f.AcceptBy, f.Report = 0, frame.Report{}
		frame.SignLegacy(&f, key)
		var digest [32]byte
		if f.PayloadKind == frame.PayloadInline {
			digest = sha256.Sum256(f.Payload)
		} else {
			b := binary.BigEndian.AppendUint16(nil, uint16(len(f.Ref)))
			b = append(b, f.Ref...)
			digest = sha256.Sum256(binary.BigEndian.AppendUint64(b, f.Size))
		}
		hdr, err := frame.AppendHeader(nil, &f)
		if err != nil {
			t.Fatal(err)
		}
		if hdr[7] != frame.LegacyVersion {
			t.Fatalf("%s: version byte %d, want %d", tc.name, hdr[7], frame.LegacyVersion)
		}
		m := hmac.New(sha256.New, key)
		m.Write(hdr[4:12])
		m.Write(hdr[20 : len(hdr)-32])
		m.Write(digest[:])
		if want := m.Sum(nil); !bytes.Equal(f.Tag[:], want) {
			t.Errorf("%s: tag %x, want %x", tc.name, f.Tag, want)
		}
	}
}
