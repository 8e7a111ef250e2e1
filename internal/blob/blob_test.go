package blob_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/blob"
	"github.com/wsk-route/wsk-route/internal/frame"
)

// seg is a valid shm segment name.
const seg = "1764590000000000000-0123456789abcdef.seg"

func TestFormatParseRef(t *testing.T) {
	long := strings.Repeat("h", blob.MaxHost)
	for _, tc := range []struct {
		name, host, segment string
		ok                  bool
	}{
		{"plain", "invoker-1", seg, true},
		{"fqdn", "node-3.cluster.example", seg, true},
		{"longest host", long, seg, true},
		{"host too long", long + "h", seg, false},
		{"empty host", "", seg, false},
		{"dot host", ".", seg, false},
		{"dotdot host", "..", seg, false},
		{"host with slash", "a/b", seg, false},
		{"host with backslash", `a\b`, seg, false},
		{"host with space", "a b", seg, false},
		{"host with newline", "a\nb", seg, false},
		{"host not utf-8", "a\xffb", seg, false},
		{"empty segment", "h", "", false},
		{"traversal", "h", "../" + seg, false},
		{"segment with slash", "h", "x/" + seg, false},
		{"not a segment", "h", "passwd", false},
		{"segment dotdot", "h", "..", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref, err := blob.FormatRef(tc.host, tc.segment)
			if (err == nil) != tc.ok {
				t.Fatalf("FormatRef(%q, %q) = %q, %v; want ok %v", tc.host, tc.segment, ref, err, tc.ok)
			}
			if !tc.ok {
				if !errors.Is(err, blob.ErrBadRef) {
					t.Errorf("error %v does not wrap ErrBadRef", err)
				}
				return
			}
			if len(ref) > frame.MaxRef {
				t.Errorf("ref %d bytes, over frame.MaxRef", len(ref))
			}
			h, s, err := blob.ParseRef(ref)
			if err != nil || h != tc.host || s != tc.segment {
				t.Errorf("ParseRef(%q) = %q, %q, %v; want %q, %q", ref, h, s, err, tc.host, tc.segment)
			}
		})
	}
}

func TestParseRefRefuses(t *testing.T) {
	for _, ref := range []string{
		"", "/", "h/", "/" + seg, seg, "h//" + seg, "h/" + seg + "/x",
		"h/" + seg + "\x00", strings.Repeat("h", 300) + "/" + seg,
	} {
		if h, s, err := blob.ParseRef(ref); err == nil {
			t.Errorf("ParseRef(%q) = %q, %q, nil; want an error", ref, h, s)
		}
	}
}

// signed returns the encoding of a blob step frame, edited by edit.
func signed(t testing.TB, edit func(*frame.Frame)) []byte {
	t.Helper()
	f := &frame.Frame{
		Kind: frame.KindStep, RunID: "r1", Workflow: "wf", SpecVersion: 3, Step: "b",
		Deadline: time.Now().Add(time.Minute).UnixNano(), ReplyTo: "h1/entry", Namespace: "guest",
		PayloadKind: frame.PayloadBlob, Ref: "h1/" + seg, Size: 1 << 20,
	}
	if edit != nil {
		edit(f)
	}
	f.Sign([]byte("0123456789abcdef0123456789abcdef"))
	b, err := frame.Encode(nil, f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeRequest(t *testing.T) {
	good := signed(t, nil)
	req, err := blob.DecodeRequest(good)
	if err != nil {
		t.Fatal(err)
	}
	if req.Host != "h1" || req.Segment != seg || req.Frame.Size != 1<<20 || req.Frame.Namespace != "guest" {
		t.Errorf("DecodeRequest = %+v", req)
	}
	for _, tc := range []struct {
		name string
		body []byte
		want string
	}{
		{"empty", nil, "request frame"},
		{"trailing bytes", append(append([]byte(nil), good...), 0), "after the frame"},
		{"cut", good[:len(good)-1], "request frame"},
		{"result frame", signed(t, func(f *frame.Frame) { f.Kind = frame.KindResult }), "want a step frame"},
		{"shm payload", signed(t, func(f *frame.Frame) { f.PayloadKind = frame.PayloadShm }), "want a step frame"},
		{"inline payload", signed(t, func(f *frame.Frame) {
			f.PayloadKind, f.Ref, f.Payload, f.Size = frame.PayloadInline, "", []byte("x"), 1
		}), "want a step frame"},
		{"traversal", signed(t, func(f *frame.Frame) { f.Ref = "h1/../" + seg }), "bad ref"},
		{"no host", signed(t, func(f *frame.Frame) { f.Ref = seg }), "bad ref"},
		{"too large", make([]byte, blob.MaxRequest+1), "over"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := blob.DecodeRequest(tc.body)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("DecodeRequest = %+v, %v; want an error with %q", req, err, tc.want)
			}
		})
	}
}

// FuzzDecodeRequest: a request body never panics the decoder, and what it
// accepts is a blob step frame whose Ref parses into what it returned.
func FuzzDecodeRequest(f *testing.F) {
	f.Add(signed(f, nil))
	f.Add(signed(f, func(fr *frame.Frame) { fr.Ref = "h/../../etc/passwd" }))
	f.Add(signed(f, func(fr *frame.Frame) { fr.Kind = frame.KindResult }))
	f.Add([]byte{})
	f.Add([]byte("POST /v1/blobs/read HTTP/1.1\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := blob.DecodeRequest(body)
		if err != nil {
			return
		}
		if req.Frame.Kind != frame.KindStep || req.Frame.PayloadKind != frame.PayloadBlob {
			t.Fatalf("accepted a %s frame with a %s payload", req.Frame.Kind, req.Frame.PayloadKind)
		}
		h, s, err := blob.ParseRef(req.Frame.Ref)
		if err != nil || h != req.Host || s != req.Segment || strings.ContainsAny(s, "/\\") || strings.Contains(s, "..") {
			t.Fatalf("accepted ref %q as %q, %q (%v)", req.Frame.Ref, req.Host, req.Segment, err)
		}
	})
}

// FuzzParseRef: ParseRef never panics, and what it accepts formats back
// to the same ref and has a segment without separators.
func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"h1/" + seg, "../" + seg, "h/..", "", "/", "h/a/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		h, s, err := blob.ParseRef(ref)
		if err != nil {
			return
		}
		if strings.ContainsAny(s, "/\\") || strings.ContainsAny(h, "/\\") {
			t.Fatalf("ParseRef(%q) = %q, %q", ref, h, s)
		}
		if back, err := blob.FormatRef(h, s); err != nil || back != ref {
			t.Fatalf("FormatRef(ParseRef(%q)) = %q, %v", ref, back, err)
		}
	})
}
