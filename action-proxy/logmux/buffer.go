package logmux

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/wsk-route/wsk-route/internal/whisk"
)

// Buffer is the log sink of one direct run: it keeps what the action
// writes as OpenWhisk's log lines ("<time> stdout: <text>", one per line
// the action wrote), each stamped when it ended and named after the
// stream it came on, as the invoker records an activation's logs. It
// keeps lines up to Limit bytes of them; from the first line that does
// not fit, it counts the bytes it drops instead, as OpenWhisk truncates
// logs. Its methods are safe for concurrent use: the stdout and the
// stderr Mux of a run write to one Buffer, through Stdout and Stderr.
type Buffer struct {
	// Limit bounds the bytes of lines kept.
	Limit int
	// Now stamps the lines; nil means time.Now.
	Now func() time.Time

	mu      sync.Mutex // guards the fields below
	buf     bytes.Buffer
	full    bool      // a line did not fit: the rest is dropped
	dropped int       // bytes of text dropped
	open    [2][]byte // each stream's unfinished line
}

// The streams of a Buffer.
const (
	stdout = iota
	stderr
)

var streamNames = [2]string{stdout: "stdout", stderr: "stderr"}

// Stdout returns the writer for what the action writes on its stdout.
func (b *Buffer) Stdout() io.Writer { return streamWriter{b, stdout} }

// Stderr returns the writer for what the action writes on its stderr.
func (b *Buffer) Stderr() io.Writer { return streamWriter{b, stderr} }

type streamWriter struct {
	b      *Buffer
	stream int
}

// Write keeps the lines of p that fit under the Buffer's limit and never
// fails.
func (w streamWriter) Write(p []byte) (int, error) {
	w.b.write(w.stream, p)
	return len(p), nil
}

func (b *Buffer) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

func (b *Buffer) write(stream int, p []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(p) > 0 {
		line, rest, ended := bytes.Cut(p, []byte{'\n'})
		p = rest
		if b.full {
			b.dropped += len(line)
			continue
		}
		if b.open[stream] == nil {
			b.open[stream] = make([]byte, 0, len(line)) // an empty line is a line
		}
		b.open[stream] = append(b.open[stream], line...)
		if len(b.open[stream]) > b.Limit {
			b.drop() // a line longer than the limit cannot fit
			continue
		}
		if ended {
			b.endLine(stream)
		}
	}
}

// endLine moves stream's unfinished line, if it has one, into the buffer,
// or, when it does not fit, drops it and everything after it.
func (b *Buffer) endLine(stream int) {
	text := b.open[stream]
	if text == nil {
		return
	}
	b.open[stream] = nil
	line := whisk.LogLine(b.now(), streamNames[stream], string(bytes.TrimSuffix(text, []byte{'\r'})))
	if b.buf.Len()+len(line)+1 > b.Limit {
		b.dropped += len(text)
		b.drop()
		return
	}
	b.buf.WriteString(line)
	b.buf.WriteByte('\n')
}

// drop stops keeping lines, and counts the unfinished ones as dropped.
func (b *Buffer) drop() {
	b.full = true
	for i, text := range b.open {
		b.dropped += len(text)
		b.open[i] = nil
	}
}

// Note adds a line of the proxy's own to the logs, on stderr, stamped
// now, whatever the limit.
func (b *Buffer) Note(text string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.note(text)
}

func (b *Buffer) note(text string) {
	b.buf.WriteString(whisk.LogLine(b.now(), streamNames[stderr], text))
	b.buf.WriteByte('\n')
}

// Bytes ends the lines still open and returns a copy of the lines kept,
// followed by a line saying how many bytes were dropped, if any were.
func (b *Buffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.endLine(stdout)
	b.endLine(stderr)
	if b.dropped > 0 {
		b.note(fmt.Sprintf("[wsk-route: %d more bytes of log output dropped, over the %d-byte limit]", b.dropped, b.Limit))
		b.dropped = 0
	}
	return bytes.Clone(b.buf.Bytes())
}
