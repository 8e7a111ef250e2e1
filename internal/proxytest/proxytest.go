package proxytest

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/server"
)

// Sentinel is the log marker the proxy writes on a line of its own to both
// stdout and stderr at the end of every activation.
const Sentinel = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX"

// HangTimeout is the default HTTP client timeout (the invoker's Pekko client
// uses 30 s) and the bound on closing the server. It only detects hangs: no
// test should expect to wait for it.
const HangTimeout = 30 * time.Second

// Proxy is one server.Proxy behind an httptest server, with its stdout and
// stderr captured in files, as a container started by
// ActionContainer.withContainer.
type Proxy struct {
	// Config is the configuration the Proxy was created with.
	Config server.Config
	// Handler is the Proxy under test.
	Handler *server.Proxy
	// Server serves Handler over HTTP.
	Server *httptest.Server
	// Client sends the requests of Post, TryPost and TryDo. Like the invoker
	// it never reuses a connection; its Timeout is HangTimeout, which a test
	// may raise.
	Client *http.Client
	// Stdout and Stderr are the files the Proxy and its children write to.
	Stdout, Stderr *os.File
}

// Start creates a Proxy and serves it until the test ends. The default
// config has no compiler and no ack, BaseDir in a temp dir, Stdout and Stderr
// in files of that dir, and an environment holding only PATH (for
// compilers); edit, if not nil, changes it before server.New is called.
// Start fails the test if server.New fails.
func Start(t testing.TB, edit func(*server.Config)) *Proxy {
	t.Helper()
	dir := t.TempDir()
	stdout, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		stdout.Close()
		t.Fatal(err)
	}
	cfg := server.Config{
		BaseDir: filepath.Join(dir, "action"),
		Environ: []string{"PATH=" + os.Getenv("PATH")},
		Stdout:  stdout,
		Stderr:  stderr,
	}
	if edit != nil {
		edit(&cfg)
	}
	h, err := server.New(cfg)
	if err != nil {
		stdout.Close()
		stderr.Close()
		t.Fatalf("server.New: %v", err)
	}
	p := &Proxy{
		Config:  cfg,
		Handler: h,
		Server:  httptest.NewServer(h),
		Stdout:  stdout,
		Stderr:  stderr,
		Client: &http.Client{
			Timeout: HangTimeout,
			// The invoker never reuses a connection.
			Transport: &http.Transport{DisableKeepAlives: true},
		},
	}
	t.Cleanup(func() { p.close(t) })
	return p
}

// close stops the Proxy (which must kill its children), then the server.
// A handler still blocked after that is reported instead of hanging the run.
func (p *Proxy) close(t testing.TB) {
	if err := p.Handler.Close(); err != nil {
		t.Errorf("Proxy.Close: %v", err)
	}
	p.Server.CloseClientConnections()
	done := make(chan struct{})
	go func() {
		p.Server.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(HangTimeout):
		t.Errorf("httptest server did not close: a handler is still blocked after Proxy.Close")
	}
	p.Stdout.Close()
	p.Stderr.Close()
}

// Response is what the proxy answered.
type Response struct {
	Status int
	Body   string // the whole body, with its final newline
	Header http.Header
}

// String formats r as its status and quoted body, for test messages.
func (r Response) String() string {
	return fmt.Sprintf("%d %q", r.Status, r.Body)
}

// Post sends body to path and checks what every answer must satisfy (see
// CheckTransport). A transport error, such as a timeout because the proxy
// hung, fails the test.
func (p *Proxy) Post(t testing.TB, path string, body []byte) Response {
	t.Helper()
	r, err := p.TryPost(context.Background(), t, path, body)
	if err != nil {
		t.Fatalf("POST %s: %v (a timeout here means the proxy hung)", path, err)
	}
	return r
}

// TryPost is Post for other goroutines and for requests expected to be cut
// short: it returns the transport error instead of failing the test. The
// answer is still checked with CheckTransport.
func (p *Proxy) TryPost(ctx context.Context, t testing.TB, path string, body []byte) (Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.Server.URL+path, bytes.NewReader(body))
	if err != nil {
		return Response{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	return p.TryDo(t, req)
}

// TryDo sends req with Client, reads the whole answer and checks it with
// CheckTransport. It returns the transport error instead of failing the test.
func (p *Proxy) TryDo(t testing.TB, req *http.Request) (Response, error) {
	t.Helper()
	resp, err := p.Client.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{}, fmt.Errorf("reading body: %w", err)
	}
	CheckTransport(t, req.URL.Path, resp, len(b))
	return Response{Status: resp.StatusCode, Body: string(b), Header: resp.Header}, nil
}

// CheckTransport asserts the transport rules of every answer
// (openwhisk-runtime-protocol.md section 1.1): an explicit Content-Length
// equal to the n body bytes read (never chunked, which the invoker reads as
// "no response"), Content-Type application/json on a non-empty body, and
// never 503 (which makes the invoker reschedule the activation).
func CheckTransport(t testing.TB, path string, resp *http.Response, n int) {
	t.Helper()
	if resp.ContentLength < 0 {
		t.Errorf("%s: answer %d has no Content-Length (invoker: \"did not produce a valid response\")", path, resp.StatusCode)
	} else if resp.ContentLength != int64(n) {
		t.Errorf("%s: Content-Length %d, body %d bytes", path, resp.ContentLength, n)
	}
	for _, te := range resp.TransferEncoding {
		if strings.EqualFold(te, "chunked") {
			t.Errorf("%s: answer %d is chunked", path, resp.StatusCode)
		}
	}
	if n > 0 && resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("%s: answer %d has Content-Type %q, want application/json", path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if resp.StatusCode == http.StatusServiceUnavailable {
		t.Errorf("%s: answered 503, which makes the invoker reschedule the activation", path)
	}
}

// Streams reads everything the proxy and its children wrote to stdout and
// stderr, requires exactly wantSentinels sentinel lines in each, and returns
// both streams with the sentinel lines removed (ActionContainer
// checkStreams).
func (p *Proxy) Streams(t testing.TB, wantSentinels int) (stdout, stderr string) {
	t.Helper()
	stdout = Stream(t, "stdout", p.Stdout.Name(), wantSentinels)
	stderr = Stream(t, "stderr", p.Stderr.Name(), wantSentinels)
	return stdout, stderr
}

// Stream reads the log stream in the file at path, requires exactly
// wantSentinels sentinels in it, each on a line of its own, and returns the
// stream without the sentinel lines. name labels the stream in failures.
func Stream(t testing.TB, name, path string, wantSentinels int) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	n := 0
	for _, line := range strings.SplitAfter(string(b), "\n") {
		switch {
		case strings.TrimSuffix(line, "\n") == Sentinel:
			n++
		case strings.Contains(line, Sentinel):
			t.Errorf("%s: sentinel not on a line of its own: %q", name, line)
			n++
		default:
			kept = append(kept, line)
		}
	}
	if n != wantSentinels {
		t.Errorf("%s: %d sentinels, want %d; stream:\n%s", name, n, wantSentinels, b)
	}
	return strings.Join(kept, "")
}

// IsBinaryCode is OpenWhisk's Exec.isBinaryCode: the trimmed code is
// non-empty, a multiple of 4 long, and matches
// ^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2}==)?$. It is written
// out rather than as a regexp, which takes seconds on a 2.7 MB executable
// under the race detector.
func IsBinaryCode(code string) bool {
	c := strings.TrimSpace(code)
	if len(c) == 0 || len(c)%4 != 0 {
		return false
	}
	if strings.HasSuffix(c, "==") {
		c = c[:len(c)-2]
	} else if strings.HasSuffix(c, "=") {
		c = c[:len(c)-1]
	}
	for i := 0; i < len(c); i++ {
		b := c[i]
		if !('A' <= b && b <= 'Z' || 'a' <= b && b <= 'z' || '0' <= b && b <= '9' || b == '+' || b == '/') {
			return false
		}
	}
	return true
}

// InitPayload is ActionContainer.initPayload: {"value":{"code","main",
// "binary","env"}}, with binary computed by IsBinaryCode. With binary true
// the code is raw bytes (an executable, a zip, a script) that is sent
// base64-encoded, as wsk does. A nil env is sent as null.
func InitPayload(code string, main string, env map[string]any, binary bool) []byte {
	if binary {
		code = base64.StdEncoding.EncodeToString([]byte(code))
	}
	return InitBody(code, main, env)
}

// InitBody is the /init body for code exactly as sent (already
// base64-encoded if it is binary), with "binary" computed by IsBinaryCode.
// It writes what json.Marshal of the map would (keys sorted, env null when
// nil) without passing megabytes of base64 through encoding/json, which
// takes seconds under the race detector.
func InitBody(code string, main string, env map[string]any) []byte {
	var e any
	if env != nil {
		e = env
	}
	binary := IsBinaryCode(code)
	quoted := `"` + code + `"` // base64 needs no escaping
	if !binary {
		quoted = string(MustJSON(code))
	}
	return []byte(`{"value":{"binary":` + strconv.FormatBool(binary) + `,"code":` + quoted +
		`,"env":` + string(MustJSON(e)) + `,"main":` + string(MustJSON(main)) + `}}`)
}

// RunPayload is ActionContainer.runPayload: {"value": value} plus the
// activation context fields in other (api_key, activation_id, deadline...).
func RunPayload(value any, other map[string]string) []byte {
	m := map[string]any{"value": value}
	for k, v := range other {
		m[k] = v
	}
	return MustJSON(m)
}

// MustJSON encodes v compactly without HTML escaping and without a final
// newline, as the invoker's spray-json does. It panics if v cannot be
// encoded, which is a bug in the test.
func MustJSON(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(fmt.Sprintf("proxytest: encoding %T: %v", v, err))
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// File is one entry of an archive built by Zip: a regular file, or a
// symlink to Body when Mode has fs.ModeSymlink. A zero Mode means 0644.
type File struct {
	Name, Body string
	Mode       fs.FileMode
}

// Zip builds a zip in memory, keeping the file modes, as `zip` and `wsk`
// would send it. Small files are deflated; large ones (test executables)
// are stored, since compressing them takes seconds under the race detector.
func Zip(t testing.TB, files ...File) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		h := &zip.FileHeader{Name: f.Name, Method: zip.Deflate}
		if len(f.Body) > 64<<10 {
			h.Method = zip.Store
		}
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
		}
		h.SetMode(mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, f.Body); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
