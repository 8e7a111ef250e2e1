package frame_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/wsk-route/wsk-route/internal/frame"
)

func TestAllocs(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("allocation counts are not meaningful under coverage or -race")
	}
	f := typical(bytes.Repeat([]byte("p"), 1024))
	f.Sign(key)
	enc, _ := frame.Encode(nil, &f)
	buf := make([]byte, 0, frame.MaxHeader)

	if n := testing.AllocsPerRun(100, func() {
		if _, err := frame.AppendHeader(buf[:0], &f); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("AppendHeader into a buffer with room: %v allocs, want 0", n)
	}
	var got frame.Frame
	if n := testing.AllocsPerRun(100, func() {
		if _, err := frame.Decode(enc, &got, 0); err != nil {
			t.Fatal(err)
		}
	}); n > 2 {
		t.Errorf("Decode: %v allocs, want <= 2", n)
	}
	empty, _ := frame.Encode(nil, &frame.Frame{Kind: frame.KindAck})
	if n := testing.AllocsPerRun(100, func() {
		if _, err := frame.Decode(empty, &got, 0); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Decode of a frame with no strings: %v allocs, want 0", n)
	}
	lf := logFrame(frame.Report{Kind: frame.ReportDone, Instance: "host-a/4f1c", Duration: 42}, bytes.Repeat([]byte("l"), 1024))
	lf.Sign(key)
	if n := testing.AllocsPerRun(100, func() {
		if _, err := frame.AppendHeader(buf[:0], &lf); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("AppendHeader of a log frame with a report: %v allocs, want 0", n)
	}
	logEnc, _ := frame.Encode(nil, &lf)
	if n := testing.AllocsPerRun(100, func() {
		if _, err := frame.Decode(logEnc, &got, 0); err != nil {
			t.Fatal(err)
		}
	}); n > 1 {
		t.Errorf("Decode of a log frame with a report: %v allocs, want <= 1 (the strings, report's included)", n)
	}
	if n := testing.AllocsPerRun(100, func() { lf.Sign(key) }); n != 0 {
		t.Errorf("Sign of a log frame with a report: %v allocs, want 0", n)
	}
	r := frame.NewReader(&loopReader{b: enc}, 0)
	if n := testing.AllocsPerRun(100, func() {
		if err := r.Next(&got); err != nil {
			t.Fatal(err)
		}
	}); n > 2 {
		t.Errorf("Reader.Next: %v allocs, want <= 2 (strings, payload)", n)
	}
}

// loopReader repeats b forever.
type loopReader struct {
	b []byte
	i int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := copy(p, l.b[l.i:])
	l.i = (l.i + n) % len(l.b)
	return n, nil
}

var benchSizes = []int{1 << 10, 64 << 10}

func BenchmarkAppendHeader(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			f := typical(make([]byte, size))
			buf := make([]byte, 0, frame.MaxHeader)
			hdr, _ := frame.AppendHeader(buf, &f)
			b.SetBytes(int64(len(hdr) + size))
			b.ReportAllocs()
			for b.Loop() {
				frame.AppendHeader(buf[:0], &f)
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			f := typical(make([]byte, size))
			enc, _ := frame.Encode(nil, &f)
			var got frame.Frame
			b.SetBytes(int64(len(enc)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := frame.Decode(enc, &got, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkReader(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			f := typical(make([]byte, size))
			enc, _ := frame.Encode(nil, &f)
			r := frame.NewReader(&loopReader{b: enc}, 0)
			var got frame.Frame
			b.SetBytes(int64(len(enc)))
			b.ReportAllocs()
			for b.Loop() {
				if err := r.Next(&got); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSign(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			f := typical(make([]byte, size))
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				f.Sign(key)
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	f := typical(make([]byte, 1<<10))
	f.Sign(key)
	b.SetBytes(1 << 10)
	b.ReportAllocs()
	for b.Loop() {
		if !f.Verify(key) {
			b.Fatal("Verify = false")
		}
	}
}

func TestSignAllocs(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("allocation counts are not meaningful under coverage or -race")
	}
	f := typical(make([]byte, 1024))
	if n := testing.AllocsPerRun(100, func() { f.Sign(key) }); n != 0 {
		t.Errorf("Sign: %v allocs, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { f.Verify(key) }); n != 0 {
		t.Errorf("Verify: %v allocs, want 0", n)
	}
}
