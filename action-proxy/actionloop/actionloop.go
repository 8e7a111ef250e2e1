package actionloop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/wsk-route/wsk-route/internal/jsonscan"
)

// Handler runs one activation. value is the activation's "value" field, a JSON object
// or array ({} when the field is missing); it is only valid until the handler returns,
// so a handler that keeps it must copy it. ctx ends at the activation's deadline
// (__OW_DEADLINE) when the activation has one.
//
// The result is encoded with encoding/json (a [json.RawMessage] is written as is, once
// compacted), so returning value itself echoes the input without decoding it. A non-nil
// error is answered as {"error":"<err.Error()>"}, an application error in OpenWhisk's
// terms. The result should be a JSON object or array: the proxy rejects anything else
// with "The action did not return a dictionary or array.".
type Handler func(ctx context.Context, value json.RawMessage) (any, error)

// ack is the line that tells a proxy started with OW_WAIT_FOR_ACK that the program is
// ready.
var ack = []byte("{\"ok\":true}\n")

// Run serves activations from standard input, writing results to file descriptor 3,
// until standard input reaches end of file; the program then exits with status 0. When
// __OW_WAIT_FOR_ACK is set it first writes the acknowledgement {"ok":true}. If the
// result pipe is missing or breaks, Run prints the reason to standard error and exits
// with status 1. Run does not return.
func Run(h Handler) {
	out, err := resultPipe()
	if err != nil {
		fatal(err)
	}
	if os.Getenv("__OW_WAIT_FOR_ACK") != "" {
		if _, err := out.Write(ack); err != nil {
			fatal(fmt.Errorf("actionloop: write the acknowledgement to file descriptor 3: %w", err))
		}
	}
	if err := Serve(os.Stdin, out, h); err != nil {
		fatal(err)
	}
	os.Exit(0)
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

// Main runs f for every activation, like the Main function of the OpenWhisk Go runtime:
// f receives the activation's value decoded into a map (empty, never nil, when the value
// is missing or null) and returns the result object. A value that is not an object, such
// as an array, is answered with an error wrapping [ErrValueNotObject]; write a [Handler]
// and call [Run] to accept arrays. Main does not return.
func Main(f func(map[string]any) map[string]any) {
	Run(func(_ context.Context, value json.RawMessage) (any, error) {
		args, err := decodeArgs(value)
		if err != nil {
			return nil, err
		}
		return f(args), nil
	})
}

func decodeArgs(value json.RawMessage) (map[string]any, error) {
	v := value[jsonscan.SkipSpace(value, 0):]
	switch {
	case len(v) == 0 || string(v) == "null":
		return map[string]any{}, nil
	case v[0] != '{':
		return nil, fmt.Errorf("%w (it is %s)", ErrValueNotObject, jsonKind(v[0]))
	}
	args := map[string]any{}
	if err := json.Unmarshal(v, &args); err != nil {
		return nil, fmt.Errorf("actionloop: decode the value: %w", err)
	}
	return args, nil
}

func jsonKind(first byte) string {
	switch first {
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	default:
		return "a number"
	}
}

// Serve is the activation loop of [Run] without the process around it: it reads
// activation lines from in and writes one result line per activation to out, until in
// reaches end of file (Serve then returns nil) or reading in or writing out fails (Serve
// returns that error). It writes no acknowledgement, sets __OW_* environment variables
// as described in the package documentation, and prints the stack of a panicking
// handler to os.Stderr. Serve runs one activation at a time; it is not safe to run two
// Serve loops in one process, because the environment is shared.
func Serve(in io.Reader, out io.Writer, h Handler) error {
	l := newLoop(in, out, h)
	for {
		line, err := l.readLine()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("actionloop: read activation from standard input: %w", err)
		}
		if err := l.serve(line); err != nil {
			return err
		}
		l.releaseLine()
	}
}

const (
	// readBufSize is the bufio.Reader size: lines up to this size are served straight
	// from the reader's buffer, without a copy.
	readBufSize = 64 << 10
	// maxRetainedLine bounds the scratch buffer kept between activations for longer
	// lines; a larger one is dropped after its activation.
	maxRetainedLine = 8 << 20
	// maxEnvNames bounds the cache of environment variable names.
	maxEnvNames = 64
)

// loop holds the buffers reused from one activation to the next.
type loop struct {
	in   *bufio.Reader
	line []byte // scratch for lines longer than in's buffer
	out  *errWriter
	enc  *json.Encoder
	h    Handler
	// names caches the environment variable name of each raw key seen ("" means the key
	// cannot be a variable name), so recurring keys cost no allocation.
	names map[string]string
}

func newLoop(in io.Reader, out io.Writer, h Handler) *loop {
	ew := &errWriter{w: out}
	enc := json.NewEncoder(ew)
	enc.SetEscapeHTML(false)
	return &loop{
		in:    bufio.NewReaderSize(in, readBufSize),
		out:   ew,
		enc:   enc,
		h:     h,
		names: make(map[string]string),
	}
}

// readLine returns the next line without its '\n'. The slice is valid until the next
// call. A last line without '\n' is returned too; then io.EOF.
func (l *loop) readLine() ([]byte, error) {
	l.line = l.line[:0]
	for {
		frag, err := l.in.ReadSlice('\n')
		switch {
		case err == nil && len(l.line) == 0:
			return frag[:len(frag)-1], nil
		case err == nil:
			l.line = append(l.line, frag[:len(frag)-1]...)
			return l.line, nil
		case err == bufio.ErrBufferFull:
			l.line = append(l.line, frag...)
		default:
			l.line = append(l.line, frag...)
			if err == io.EOF && len(l.line) > 0 {
				return l.line, nil
			}
			return nil, err
		}
	}
}

func (l *loop) releaseLine() {
	if cap(l.line) > maxRetainedLine {
		l.line = nil
	}
}

// serve runs one activation line and writes its result. Only a failed write is
// returned.
func (l *loop) serve(line []byte) error {
	members, err := splitObject(line)
	if err != nil {
		return l.writeResult(nil, err)
	}
	var (
		value       []byte
		deadline    int64
		hasDeadline bool
	)
	for {
		key, val, ok := members.next()
		if !ok {
			break
		}
		if rawStringEqual(key, "value") {
			value = val
			continue
		}
		if rawStringEqual(key, "deadline") {
			deadline, hasDeadline = parseMillis(val)
		}
		l.setEnv(key, val)
	}
	if value == nil {
		value = []byte{'{', '}'}
	}
	ctx := context.Background()
	if hasDeadline {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, time.UnixMilli(deadline))
		defer cancel()
	}
	res, err := l.call(ctx, value)
	return l.writeResult(res, err)
}

// call runs the handler, turning a panic into an error.
func (l *loop) call(ctx context.Context, value json.RawMessage) (res any, err error) {
	defer func() {
		if p := recover(); p != nil {
			fmt.Fprintf(os.Stderr, "%v: %v\n\n%s", ErrPanic, p, debug.Stack())
			res, err = nil, fmt.Errorf("%w: %v", ErrPanic, p)
		}
	}()
	return l.h(ctx, value)
}

type errorResult struct {
	Error string `json:"error"`
}

// writeResult writes res, or {"error":...} for err, as one line to the result pipe.
func (l *loop) writeResult(res any, err error) error {
	if raw, ok := res.(json.RawMessage); ok && err == nil {
		return l.writeRaw(raw)
	}
	if err == nil {
		err = l.enc.Encode(res)
		if err == nil {
			return nil
		}
		if l.out.err != nil {
			return l.writeFailed()
		}
		err = fmt.Errorf("actionloop: encode the result as JSON: %w", err)
	}
	if l.enc.Encode(errorResult{Error: err.Error()}) != nil {
		return l.writeFailed()
	}
	return nil
}

// writeRaw writes a json.RawMessage result, checked and compacted with the fast
// scanner instead of encoding/json's.
func (l *loop) writeRaw(raw json.RawMessage) error {
	if len(raw) == 0 {
		raw = json.RawMessage("null") // as encoding/json encodes a nil RawMessage
	}
	valid, compact := jsonscan.Scan(raw)
	switch {
	case !valid:
		return l.writeResult(nil, fmt.Errorf("actionloop: the result is not valid JSON: %w", syntaxError(raw)))
	case !compact:
		buf := bytes.NewBuffer(l.out.buf[:0])
		_ = json.Compact(buf, raw) // cannot fail: raw is valid
		buf.WriteByte('\n')
		l.out.buf = buf.Bytes()
		_, err := l.out.Write(l.out.buf)
		l.out.release()
		return l.checkWrite(err)
	case len(raw) < readBufSize:
		l.out.buf = append(append(l.out.buf[:0], raw...), '\n')
		_, err := l.out.Write(l.out.buf)
		return l.checkWrite(err)
	default: // large: two writes cost less than a copy
		if _, err := l.out.Write(raw); err != nil {
			return l.checkWrite(err)
		}
		_, err := l.out.Write(newline)
		return l.checkWrite(err)
	}
}

var newline = []byte{'\n'}

func (l *loop) checkWrite(err error) error {
	if err != nil {
		return l.writeFailed()
	}
	return nil
}

func (l *loop) writeFailed() error {
	return fmt.Errorf("actionloop: write the result: %w", l.out.err)
}

// setEnv exports __OW_<KEY> for a member whose value is a JSON string.
func (l *loop) setEnv(key, val []byte) {
	if len(val) == 0 || val[0] != '"' {
		return
	}
	name, ok := l.names[string(key)]
	if !ok {
		name = envName(key)
		if len(l.names) < maxEnvNames {
			l.names[string(key)] = name
		}
	}
	if name == "" {
		return
	}
	body := val[1 : len(val)-1]
	if cur, ok := os.LookupEnv(name); ok && cur == string(body) {
		return // unchanged (the common case for namespace, action name, API key)
	}
	s, ok := unquote(val)
	if !ok {
		return
	}
	_ = os.Setenv(name, s) // only fails for a NUL in s; such a value is skipped
}

// envName returns "__OW_" + the upper-cased key, or "" when the key cannot name an
// environment variable.
func envName(rawKey []byte) string {
	key, ok := unquote(rawKey)
	if !ok || strings.ContainsAny(key, "=\x00") {
		return ""
	}
	return "__OW_" + strings.ToUpper(key)
}

// errWriter remembers the first write error, so a failed write can be told apart from
// a result that cannot be encoded.
type errWriter struct {
	w   io.Writer
	err error
	buf []byte // scratch for raw results, reused
}

// release drops a scratch buffer grown beyond what is worth keeping.
func (e *errWriter) release() {
	if cap(e.buf) > maxRetainedLine {
		e.buf = nil
	}
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	if err != nil {
		e.err = err
	} else if n < len(p) {
		e.err = io.ErrShortWrite
		err = e.err
	}
	return n, err
}
