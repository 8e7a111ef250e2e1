package blob

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/shm"
)

// FetchSocket is the name, in the agent's run directory, of the unix
// socket on which the agent serves FetchPath to its proxies.
const FetchSocket = "agent-blobs.sock"

// FetchPath is the path a proxy POSTs a signed blob frame to on its
// agent's FetchSocket; the answer is a FetchAnswer.
const FetchPath = "/v1/blobs/fetch"

// ReadPath is the path an agent POSTs a signed blob frame to on the
// producing host's agent (at its relay address); a 200 answer's body is
// the blob, exactly the frame's Size bytes.
const ReadPath = "/v1/blobs/read"

// MaxRequest bounds the body of a FetchPath or ReadPath request: one
// encoded frame without inline payload.
const MaxRequest = frame.MaxHeader

// MaxHost bounds the host part of a Ref, as the agent bounds host names.
const MaxHost = 128

// ErrBadRef is returned (wrapped) for a Ref that is not "<host>/<segment>".
var ErrBadRef = errors.New("blob: bad ref")

// FetchAnswer is the JSON answer to a FetchPath request: the name of the
// shm segment, in the namespace's shm directory of the caller's host,
// that holds the blob (the caller removes it once done), or why there is
// none.
type FetchAnswer struct {
	Segment string `json:"segment,omitempty"`
	Error   string `json:"error,omitempty"`
}

// FormatRef returns the Ref of the blob held in shm segment segment on
// host: "<host>/<segment>".
func FormatRef(host, segment string) (string, error) {
	ref := host + "/" + segment
	if _, _, err := ParseRef(ref); err != nil {
		return "", err
	}
	return ref, nil
}

// ParseRef splits a Ref made by FormatRef into its host and segment name.
// ref is untrusted input: the host must be 1 to MaxHost bytes without
// '/', '\\', spaces or control characters and not "." or ".."; the
// segment must be a valid shm segment name (shm.ValidName: no separators,
// no dots but its suffix); the whole at most frame.MaxRef bytes.
func ParseRef(ref string) (host, segment string, err error) {
	if len(ref) > frame.MaxRef {
		return "", "", fmt.Errorf("%w: %d bytes, over %d", ErrBadRef, len(ref), frame.MaxRef)
	}
	host, segment, ok := strings.Cut(ref, "/")
	switch {
	case !ok:
		return "", "", fmt.Errorf("%w: %q has no '/' between host and segment", ErrBadRef, ref)
	case !ValidHost(host):
		return "", "", fmt.Errorf("%w: %q: host %q", ErrBadRef, ref, host)
	case !shm.ValidName(segment):
		return "", "", fmt.Errorf("%w: %q: segment %q", ErrBadRef, ref, segment)
	}
	return host, segment, nil
}

// ValidHost reports whether s can be the host part of a Ref (and a path
// element): 1 to MaxHost bytes, valid UTF-8, no '/', '\\', spaces or
// control characters, not "." or "..".
func ValidHost(s string) bool {
	if s == "" || len(s) > MaxHost || s == "." || s == ".." || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r == '/' || r == '\\' || unicode.IsSpace(r) || unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// Request is a decoded FetchPath or ReadPath request.
type Request struct {
	// Frame is the signed step frame; its tag is not checked yet.
	Frame frame.Frame
	// Host and Segment are its Ref's parts.
	Host, Segment string
}

// DecodeRequest decodes the body of a FetchPath or ReadPath request: one
// whole encoded step frame with a blob payload and a valid Ref, nothing
// after it. body is untrusted network input; the frame's tag is not
// checked (the caller needs the namespace's key for that).
func DecodeRequest(body []byte) (*Request, error) {
	if len(body) > MaxRequest {
		return nil, fmt.Errorf("blob: request of %d bytes, over %d", len(body), MaxRequest)
	}
	req := new(Request)
	n, err := frame.Decode(body, &req.Frame, 1)
	switch {
	case err != nil:
		return nil, fmt.Errorf("blob: request frame: %w", err)
	case n != len(body):
		return nil, fmt.Errorf("blob: request: %d bytes after the frame", len(body)-n)
	case req.Frame.Kind != frame.KindStep || req.Frame.PayloadKind != frame.PayloadBlob:
		return nil, fmt.Errorf("blob: request: a %s frame with a %s payload, want a step frame with a blob payload", req.Frame.Kind, req.Frame.PayloadKind)
	}
	if req.Host, req.Segment, err = ParseRef(req.Frame.Ref); err != nil {
		return nil, fmt.Errorf("blob: request: %w", err)
	}
	return req, nil
}
