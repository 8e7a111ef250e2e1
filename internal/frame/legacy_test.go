package frame_test

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/wsk-route/wsk-route/internal/frame"
)

// legacyFrames are the round-trip frames signed as a version 2 sender
// signed them (no AcceptBy and no Report in that version).
func legacyFrames() []namedFrame {
	var fs []namedFrame
	for _, tc := range roundTripFrames() {
		f := tc.f
		f.AcceptBy, f.Report = 0, frame.Report{}
		frame.SignLegacy(&f, key)
		fs = append(fs, namedFrame{tc.name, f})
	}
	return fs
}

// Version 2 frames decode (whole, or from a stream within
// MaxLegacyPayload), verify with that version's tag, re-encode to the same
// bytes, and a changed payload no longer verifies.
func TestLegacyFrames(t *testing.T) {
	for _, tc := range legacyFrames() {
		t.Run(tc.name, func(t *testing.T) {
			enc, err := frame.Encode(nil, &tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if enc[7] != frame.LegacyVersion {
				t.Fatalf("version byte %d, want %d", enc[7], frame.LegacyVersion)
			}
			var got frame.Frame
			if _, err := frame.Decode(enc, &got, 0); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got.WireVersion() != frame.LegacyVersion || !got.Verify(key) || !equal(&got, &tc.f) {
				t.Fatalf("Decode = %+v (version %d, verifies %v), want %+v", got, got.WireVersion(), got.Verify(key), tc.f)
			}
			again, err := frame.Encode(nil, &got)
			if err != nil || !bytes.Equal(again, enc) {
				t.Fatalf("re-encoding differs (%v)", err)
			}
			if len(tc.f.Payload) <= frame.MaxLegacyPayload {
				fs, err := readAll(iotest.HalfReader(bytes.NewReader(enc)), 0)
				if err != io.EOF || len(fs) != 1 || !fs[0].Verify(key) || fs[0].WireVersion() != frame.LegacyVersion {
					t.Fatalf("Reader: %d frames, %v", len(fs), err)
				}
			}
			if tc.f.PayloadKind == frame.PayloadInline && len(tc.f.Payload) > 0 {
				bad := bytes.Clone(enc)
				bad[len(bad)-1] ^= 1
				if _, err := frame.Decode(bad, &got, 0); err != nil {
					t.Fatal(err)
				}
				if got.Verify(key) {
					t.Error("Verify = true after changing a payload byte")
				}
			}
			// Sign makes it a version 3 frame.
			got.Sign(key)
			if v3, _ := frame.Encode(nil, &got); v3[7] != frame.Version || !got.Verify(key) {
				t.Errorf("a re-signed version 2 frame encodes as version %d", v3[7])
			}
		})
	}
}

// A Reader bounds a version 2 inline payload by MaxLegacyPayload whatever
// its own bound: such a payload is read before it can be authenticated.
func TestReaderLegacyPayloadBound(t *testing.T) {
	for _, n := range []int{frame.MaxLegacyPayload, frame.MaxLegacyPayload + 1} {
		f := typical(make([]byte, n))
		frame.SignLegacy(&f, key)
		enc, _ := frame.Encode(nil, &f)
		r := frame.NewReader(bytes.NewReader(enc), 1<<30)
		var got frame.Frame
		err := r.Next(&got)
		var de *frame.DecodeError
		switch {
		case n <= frame.MaxLegacyPayload && err != nil:
			t.Errorf("payload of %d: %v", n, err)
		case n > frame.MaxLegacyPayload && (!errors.As(err, &de) || de.Field != "size"):
			t.Errorf("payload of %d: %v, want a DecodeError for size", n, err)
		case n > frame.MaxLegacyPayload && got.WireVersion() != frame.LegacyVersion:
			t.Errorf("refused version 2 frame has version %d: its refusal would not be readable", got.WireVersion())
		}
	}
}
