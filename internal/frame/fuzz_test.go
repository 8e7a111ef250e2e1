package frame_test

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/wsk-route/wsk-route/internal/frame"
)

const fuzzMaxPayload = 1 << 20

func fuzzSeeds(f *testing.F) [][]byte {
	var seeds [][]byte
	for _, tc := range roundTripFrames() {
		if len(tc.f.Payload) > 4<<10 {
			continue // big seeds make every execution, and minimization, slow
		}
		fr := tc.f
		fr.Sign(key)
		b, err := frame.Encode(nil, &fr)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	// Version 2 frames, still decoded (LegacyVersion).
	for _, tc := range legacyFrames() {
		if len(tc.f.Payload) > 4<<10 {
			continue
		}
		b, err := frame.Encode(nil, &tc.f)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	seeds = append(seeds, withPayload(rawFrame([9]string{2: "step"}, "", nil), "abc", func(d []byte) { d[5] ^= 1 }))
	// Log frames whose report section is cut, unknown or misplaced.
	seeds = append(seeds,
		rawFrame([9]string{2: "step"}, "\x00"+reportSection(2, 0, "h/x", ""), asLog),
		rawFrame([9]string{2: "step"}, "\x00"+reportSection(4, 0, "h/x", ""), asLog),
		rawFrame([9]string{2: "step"}, "\x00"+reportSection(1, -1, "h/x", ""), asLog),
		rawFrame([9]string{2: "step"}, "\x00"+reportSection(3, 0, "h/x", "act")[:14], asLog),
		rawFrame([9]string{2: "step"}, "\x00"+reportSection(1, 9, "h/x", ""), func(b []byte) { b[11] = 1 }),
	)
	seeds = append(seeds, nil, []byte("WRF"), rawFrame([9]string{2: "step"}, "\x00x", nil), rawFrame([9]string{2: "step"}, "\x01\x00\x00\x00\x01\x00\x02h1", nil))
	return seeds
}

// FuzzDecode checks that Decode never panics and that a decoded frame
// re-encodes to exactly the bytes it came from (the encoding is canonical)
// and decodes to the same frame again.
func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var got frame.Frame
		n, err := frame.Decode(b, &got, fuzzMaxPayload)
		if err != nil {
			var de *frame.DecodeError
			if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.As(err, &de) {
				t.Fatalf("Decode error %v is neither short nor a DecodeError", err)
			}
			if n != 0 {
				t.Fatalf("Decode used %d bytes on error", n)
			}
			return
		}
		if n <= 0 || n > len(b) {
			t.Fatalf("Decode used %d of %d bytes", n, len(b))
		}
		got.Verify(key)
		enc, err := frame.Encode(nil, &got)
		if err != nil {
			t.Fatalf("Encode(decoded frame): %v", err)
		}
		if !bytes.Equal(enc, b[:n]) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", enc, b[:n])
		}
		var again frame.Frame
		if _, err := frame.Decode(enc, &again, fuzzMaxPayload); err != nil {
			t.Fatalf("Decode(re-encoded): %v", err)
		}
		if !equal(&again, &got) {
			t.Fatalf("round trip: got %+v, want %+v", again, got)
		}
	})
}

// FuzzReader checks that a Reader fed the input in two chunks, or one byte
// at a time, sees exactly the frames and the error that Decode sees.
func FuzzReader(f *testing.F) {
	seeds := fuzzSeeds(f)
	for i, s := range seeds {
		f.Add(append(bytes.Clone(s), seeds[(i+1)%len(seeds)]...), uint16(len(s)/2))
	}
	f.Fuzz(func(t *testing.T, b []byte, split uint16) {
		// What Decode sees.
		var want []frame.Frame
		var wantErr error
		for rest := b; ; {
			if len(rest) == 0 {
				wantErr = io.EOF
				break
			}
			var fr frame.Frame
			n, err := frame.Decode(rest, &fr, fuzzMaxPayload)
			if err != nil {
				wantErr = err
				break
			}
			if fr.WireVersion() == frame.LegacyVersion && len(fr.Payload) > frame.MaxLegacyPayload {
				wantErr = &frame.DecodeError{Field: "size"} // a Reader bounds these
				break
			}
			fr.Payload = bytes.Clone(fr.Payload)
			want = append(want, fr)
			rest = rest[n:]
		}
		s := min(int(split), len(b))
		for name, r := range map[string]io.Reader{
			"two chunks": halves(b, s),
			"one byte":   iotest.OneByteReader(bytes.NewReader(b)),
		} {
			got, err := readAll(r, fuzzMaxPayload)
			if len(got) != len(want) {
				t.Fatalf("%s: Reader read %d frames, Decode %d (errors %v, %v)", name, len(got), len(want), err, wantErr)
			}
			for i := range got {
				if !equal(&got[i], &want[i]) {
					t.Fatalf("%s: frame %d: Reader %+v, Decode %+v", name, i, got[i], want[i])
				}
			}
			var de, wantDE *frame.DecodeError
			switch {
			case wantErr == io.EOF:
				if err != io.EOF {
					t.Fatalf("%s: Reader ended with %v, want io.EOF", name, err)
				}
			case errors.As(wantErr, &wantDE):
				if !errors.As(err, &de) || de.Field != wantDE.Field {
					t.Fatalf("%s: Reader ended with %v, want %v", name, err, wantErr)
				}
			default:
				if !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("%s: Reader ended with %v, want io.ErrUnexpectedEOF", name, err)
				}
			}
		}
	})
}
