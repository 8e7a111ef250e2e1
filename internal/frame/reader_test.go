package frame_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/wsk-route/wsk-route/internal/frame"
)

// stream encodes every round-trip frame, one after the other.
func stream(t testing.TB) ([]byte, []frame.Frame) {
	var b []byte
	var fs []frame.Frame
	for _, tc := range roundTripFrames() {
		var err error
		if b, err = frame.Encode(b, &tc.f); err != nil {
			t.Fatal(err)
		}
		fs = append(fs, tc.f)
	}
	return b, fs
}

// readAll reads frames until an error and returns them and the error.
func readAll(r io.Reader, maxPayload int) ([]frame.Frame, error) {
	fr := frame.NewReader(r, maxPayload)
	var fs []frame.Frame
	for {
		var f frame.Frame
		if err := fr.Next(&f); err != nil {
			return fs, err
		}
		fs = append(fs, f)
	}
}

func checkFrames(t *testing.T, got, want []frame.Frame) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("read %d frames, want %d", len(got), len(want))
	}
	for i := range got {
		if !equal(&got[i], &want[i]) {
			t.Errorf("frame %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// halves delivers b in two reads split at i.
func halves(b []byte, i int) io.Reader {
	return io.MultiReader(bytes.NewReader(b[:i]), bytes.NewReader(b[i:]))
}

func TestReader(t *testing.T) {
	b, want := stream(t)
	readers := []struct {
		name string
		r    func() io.Reader
	}{
		{"whole", func() io.Reader { return bytes.NewReader(b) }},
		{"one byte at a time", func() io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) }},
		{"half reads", func() io.Reader { return iotest.HalfReader(bytes.NewReader(b)) }},
		{"two halves", func() io.Reader { return halves(b, len(b)/2) }},
		{"two halves inside the first header", func() io.Reader { return halves(b, 5) }},
		{"data with EOF", func() io.Reader { return iotest.DataErrReader(bytes.NewReader(b)) }},
	}
	for _, tc := range readers {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readAll(tc.r(), 0)
			if err != io.EOF {
				t.Errorf("Next at the end = %v, want io.EOF", err)
			}
			checkFrames(t, got, want)
		})
	}
}

func TestReaderEverySplit(t *testing.T) {
	var b []byte
	var want []frame.Frame
	for _, tc := range someFrames() {
		b, _ = frame.Encode(b, &tc.f)
		want = append(want, tc.f)
	}
	for i := range len(b) + 1 {
		got, err := readAll(halves(b, i), 0)
		if err != io.EOF {
			t.Fatalf("split at %d: Next at the end = %v, want io.EOF", i, err)
		}
		checkFrames(t, got, want)
	}
}

func TestReaderPayloadIsOwned(t *testing.T) {
	f1, f2 := typical([]byte("first")), typical([]byte("second"))
	b, _ := frame.Encode(nil, &f1)
	b, _ = frame.Encode(b, &f2)
	r := frame.NewReader(bytes.NewReader(b), 0)
	var a, c frame.Frame
	if err := r.Next(&a); err != nil {
		t.Fatal(err)
	}
	if err := r.Next(&c); err != nil {
		t.Fatal(err)
	}
	clear(b)
	if string(a.Payload) != "first" || string(c.Payload) != "second" || a.Step != "charge" {
		t.Errorf("payloads after the next read and clearing the input: %q, %q, step %q", a.Payload, c.Payload, a.Step)
	}
}

func TestReaderTruncated(t *testing.T) {
	b, _ := stream(t)
	first, _ := frame.Encode(nil, &roundTripFrames()[1].f)
	for _, cut := range []int{1, 7, 8, 60, len(first) - 1, len(first) + 3} {
		got, err := readAll(iotest.OneByteReader(bytes.NewReader(b[:cut])), 0)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("cut at %d: error = %v, want io.ErrUnexpectedEOF", cut, err)
		}
		if cut > len(first) && len(got) != 1 {
			t.Errorf("cut at %d: read %d frames before the error, want 1", cut, len(got))
		}
	}
}

func TestReaderLargePayload(t *testing.T) {
	// Larger than the Reader's up-front allocation, so it grows as it reads.
	f := typical(bytes.Repeat([]byte("0123456789abcdef"), 3<<20/16+1))
	b, _ := frame.Encode(nil, &f)
	for _, name := range []string{"whole", "half reads"} {
		var r io.Reader = bytes.NewReader(b)
		if name == "half reads" {
			r = iotest.HalfReader(r)
		}
		got, err := readAll(r, 0)
		if err != io.EOF {
			t.Errorf("%s: error = %v, want io.EOF", name, err)
		}
		checkFrames(t, got, []frame.Frame{f})
	}
	got, err := readAll(bytes.NewReader(b[:len(b)-1]), 0)
	if !errors.Is(err, io.ErrUnexpectedEOF) || len(got) != 0 {
		t.Errorf("truncated large payload: %d frames, %v; want 0, io.ErrUnexpectedEOF", len(got), err)
	}
}

func TestReaderBadFrameIsSticky(t *testing.T) {
	good := typical([]byte("ok"))
	b, _ := frame.Encode(nil, &good)
	b = append(b, rawFrame([9]string{2: strings.Repeat("s", 300)}, "", nil)...)
	b, _ = frame.Encode(b, &good)
	r := frame.NewReader(bytes.NewReader(b), 0)
	var f frame.Frame
	if err := r.Next(&f); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		err := r.Next(&f)
		var de *frame.DecodeError
		if !errors.As(err, &de) || de.Field != "step" {
			t.Errorf("call %d: Next = %v, want a DecodeError for step", i, err)
		}
	}
}

func TestReaderMaxPayload(t *testing.T) {
	f := typical(make([]byte, 100))
	b, _ := frame.Encode(nil, &f)
	if _, err := readAll(bytes.NewReader(b), 100); err != io.EOF {
		t.Errorf("payload at the limit: %v, want io.EOF", err)
	}
	_, err := readAll(bytes.NewReader(b), 99)
	var de *frame.DecodeError
	if !errors.As(err, &de) || de.Field != "size" {
		t.Errorf("payload over the limit: %v, want a DecodeError for size", err)
	}
}

// A peer announcing a large payload and sending nothing costs at most the
// Reader's first chunk, and ends with ErrUnexpectedEOF.
func TestReaderAnnouncedPayloadNotSent(t *testing.T) {
	f := typical(nil)
	f.Size = frame.DefaultMaxPayload
	f.Payload = make([]byte, 0) // only the header is written below
	hdr := rawHeaderFor(t, &f)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := readAll(bytes.NewReader(hdr), 0)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("error = %v, want io.ErrUnexpectedEOF", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 8<<20 {
		t.Errorf("allocated %d bytes for a payload that never came, want <= 8 MiB", n)
	}
}

// rawHeaderFor encodes f's header with f.Size kept as is.
func rawHeaderFor(t *testing.T, f *frame.Frame) []byte {
	size := f.Size
	f.Size = 0
	hdr, err := frame.AppendHeader(nil, f)
	if err != nil {
		t.Fatal(err)
	}
	f.Size = size
	binary.BigEndian.PutUint64(hdr[offSize:], size)
	return hdr
}

type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

func TestReaderNoProgress(t *testing.T) {
	err := frame.NewReader(zeroReader{}, 0).Next(new(frame.Frame))
	if !errors.Is(err, io.ErrNoProgress) {
		t.Errorf("Next on a reader that returns (0, nil) = %v, want io.ErrNoProgress", err)
	}
}

func TestReaderReadError(t *testing.T) {
	boom := errors.New("connection reset")
	b, _ := stream(t)
	r := io.MultiReader(bytes.NewReader(b[:30]), iotest.ErrReader(boom))
	_, err := readAll(r, 0)
	if !errors.Is(err, boom) {
		t.Errorf("error = %v, want it to wrap %v", err, boom)
	}
}

// Headers that straddle the end of the Reader's buffer make it move the
// buffered bytes to the front instead of growing.
func TestReaderCompactsBuffer(t *testing.T) {
	var b []byte
	var want []frame.Frame
	for i := range 6 {
		f := typical([]byte{byte(i)})
		f.Kind, f.Code, f.Reason = frame.KindError, frame.CodeStepFailed, strings.Repeat(string(rune('a'+i)), 3000)
		b, _ = frame.Encode(b, &f)
		want = append(want, f)
	}
	for _, r := range []io.Reader{bytes.NewReader(b), iotest.HalfReader(bytes.NewReader(b))} {
		got, err := readAll(r, 0)
		if err != io.EOF {
			t.Errorf("error = %v, want io.EOF", err)
		}
		checkFrames(t, got, want)
	}
}

func TestReaderTruncatedWithDataAndEOF(t *testing.T) {
	for _, size := range []int{100, 10000} {
		f := typical(bytes.Repeat([]byte("z"), size))
		b, _ := frame.Encode(nil, &f)
		_, err := readAll(iotest.DataErrReader(bytes.NewReader(b[:len(b)-10])), 0)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("payload of %d: error = %v, want io.ErrUnexpectedEOF", size, err)
		}
	}
}

// NextHeader reads a header without its payload; the payload is then read
// (ReadPayload), skipped (Discard), or skipped by the next NextHeader.
func TestReaderTwoSteps(t *testing.T) {
	var b []byte
	var want []frame.Frame
	for i, size := range []int{0, 5, 3 << 20, 70, 9, 4} {
		f := typical(bytes.Repeat([]byte{byte('a' + i)}, size))
		f.Sign(key)
		b, _ = frame.Encode(b, &f)
		want = append(want, f)
	}
	shm := typical(nil)
	shm.PayloadKind, shm.Ref, shm.Size = frame.PayloadShm, "seg", 1<<20
	b, _ = frame.Encode(b, &shm)
	want = append(want, shm)
	for _, name := range []string{"whole", "one byte"} {
		var in io.Reader = bytes.NewReader(b)
		if name == "one byte" {
			in = iotest.OneByteReader(in)
		}
		r := frame.NewReader(in, 0)
		for i, w := range want {
			var f frame.Frame
			if err := r.NextHeader(&f); err != nil {
				t.Fatalf("%s: frame %d: NextHeader: %v", name, i, err)
			}
			if f.Payload != nil || f.Size != w.Size || !f.Verify(key) && i < 6 {
				t.Fatalf("%s: frame %d: header %+v", name, i, f)
			}
			switch i % 3 {
			case 0: // read
				if w.PayloadKind != frame.PayloadInline {
					break
				}
				if err := r.ReadPayload(&f); err != nil || !bytes.Equal(f.Payload, w.Payload) {
					t.Fatalf("%s: frame %d: ReadPayload: %v", name, i, err)
				}
			case 1: // discard
				if err := r.Discard(); err != nil {
					t.Fatalf("%s: frame %d: Discard: %v", name, i, err)
				}
			} // 2: left for the next NextHeader
		}
		if err := r.NextHeader(new(frame.Frame)); err != io.EOF {
			t.Errorf("%s: at the end: %v, want io.EOF", name, err)
		}
	}
}

func TestReaderDigestMismatch(t *testing.T) {
	f := typical([]byte("payload"))
	f.Sign(key)
	f.Seq = 77
	b, _ := frame.Encode(nil, &f)
	b[len(b)-1] ^= 1
	r := frame.NewReader(bytes.NewReader(b), 0)
	var got frame.Frame
	if err := r.NextHeader(&got); err != nil || !got.Verify(key) {
		t.Fatalf("NextHeader = %v, verifies %v; want the header intact", err, got.Verify(key))
	}
	err := r.ReadPayload(&got)
	var de *frame.DecodeError
	if !errors.As(err, &de) || de.Field != "digest" || got.Seq != 77 || got.Payload != nil {
		t.Fatalf("ReadPayload = %v (seq %d, payload %q), want a DecodeError for digest, seq 77, no payload", err, got.Seq, got.Payload)
	}
	if err2 := r.NextHeader(&got); err2 != err {
		t.Errorf("after a bad payload NextHeader = %v, want the same error", err2)
	}
}

func TestReadPayloadWithoutHeader(t *testing.T) {
	f := typical([]byte("x"))
	r := frame.NewReader(bytes.NewReader(nil), 0)
	if err := r.ReadPayload(&f); err == nil {
		t.Error("ReadPayload before any header = nil error")
	}
}

// A log frame's report comes with its header: NextHeader returns it, so
// the frame is verified, report included, before its logs are read; a bad
// report is refused from the header alone, with the frame's Seq.
func TestReaderReportHeaderFirst(t *testing.T) {
	r := frame.Report{Kind: frame.ReportDone, Instance: "host-a/4f1c", Duration: 1234567}
	f := logFrame(r, bytes.Repeat([]byte("log line\n"), 1000))
	f.Sign(key)
	b, _ := frame.Encode(nil, &f)
	started := logFrame(frame.Report{Kind: frame.ReportStarted, Instance: "host-b/77"}, nil)
	started.Sign(key)
	b, _ = frame.Encode(b, &started)
	bad := rawFrame(none9(), "\x00"+reportSection(9, 0, "h", ""), func(b []byte) {
		asLog(b)
		binary.BigEndian.PutUint64(b[12:], 99) // Seq
	})
	b = append(b, bad...)
	for _, name := range []string{"whole", "one byte"} {
		var in io.Reader = bytes.NewReader(b)
		if name == "one byte" {
			in = iotest.OneByteReader(in)
		}
		rd := frame.NewReader(in, 0)
		var got frame.Frame
		if err := rd.NextHeader(&got); err != nil {
			t.Fatalf("%s: NextHeader: %v", name, err)
		}
		if !reflect.DeepEqual(got.Report, r) || got.Payload != nil || !got.Verify(key) {
			t.Fatalf("%s: header report %+v, payload %q, verifies %v; want %+v, none, true", name, got.Report, got.Payload, got.Verify(key), r)
		}
		if err := rd.ReadPayload(&got); err != nil || !bytes.Equal(got.Payload, f.Payload) {
			t.Fatalf("%s: ReadPayload: %v", name, err)
		}
		if err := rd.NextHeader(&got); err != nil || !reflect.DeepEqual(got.Report, started.Report) || !got.Verify(key) {
			t.Fatalf("%s: second header: report %+v, %v", name, got.Report, err)
		}
		err := rd.Next(&got)
		var de *frame.DecodeError
		if !errors.As(err, &de) || de.Field != "report kind" || got.Seq != 99 {
			t.Errorf("%s: bad report: %v (seq %d), want a DecodeError for report kind, seq 99", name, err, got.Seq)
		}
	}
}

// timeoutReader returns an error wrapping os.ErrDeadlineExceeded, as a
// net.Conn whose read deadline passed does, before every byte it reads.
type timeoutReader struct {
	r       io.Reader
	timeout bool
}

func (tr *timeoutReader) Read(p []byte) (int, error) {
	if tr.timeout = !tr.timeout; tr.timeout {
		return 0, &net.OpError{Op: "read", Net: "unix", Err: os.ErrDeadlineExceeded}
	}
	return tr.r.Read(p[:1])
}

// A read deadline passing inside a header loses nothing: the next call
// goes on with the same frame (transport's client hands the reading of a
// connection from one waiting Send to the next this way).
func TestReaderDeadlineInHeaderIsNotSticky(t *testing.T) {
	var b []byte
	var want []frame.Frame
	for i, reason := range []string{"", "busy", strings.Repeat("r", 300)} {
		req := frame.Frame{Kind: frame.KindStep, RunID: "run", Workflow: "wf", Step: "s", Namespace: "ns", Seq: uint64(i + 1)}
		ack := frame.AckFor(&req, frame.CodeOK, reason)
		b, _ = frame.Encode(b, &ack)
		want = append(want, ack)
	}
	r := frame.NewReader(&timeoutReader{r: bytes.NewReader(b)}, 0)
	var got []frame.Frame
	timeouts := 0
	for {
		var f frame.Frame
		err := r.Next(&f)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			timeouts++
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d frames: %v", len(got), err)
		}
		got = append(got, f)
	}
	if timeouts < len(b) {
		t.Errorf("%d timeouts for %d bytes: the reader did not see them", timeouts, len(b))
	}
	checkFrames(t, got, want)
}

// Inside a payload, a read deadline is sticky like any other error: the
// bytes already read for the payload are gone.
func TestReaderDeadlineInPayloadIsSticky(t *testing.T) {
	f := frame.Frame{Kind: frame.KindStep, RunID: "run", Workflow: "wf", Step: "s", Namespace: "ns", Payload: bytes.Repeat([]byte("p"), 100)}
	f.Size = uint64(len(f.Payload))
	f.Sign([]byte("0123456789abcdef0123456789abcdef"))
	b, err := frame.Encode(nil, &f)
	if err != nil {
		t.Fatal(err)
	}
	hl, _ := frame.HeaderLen(&f)
	// The header arrives whole; the payload's reads time out.
	r := frame.NewReader(io.MultiReader(bytes.NewReader(b[:hl]), &timeoutReader{r: bytes.NewReader(b[hl:])}), 0)
	var got frame.Frame
	if err := r.Next(&got); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Next = %v, want the deadline error", err)
	}
	if err := r.Next(&got); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Next again = %v, want the same (sticky) error", err)
	}
}
