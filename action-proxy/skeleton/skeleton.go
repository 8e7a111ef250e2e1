package skeleton

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/wsk-route/wsk-route/action-proxy/actionloop"
)

// MaxArg is the longest input passed as the executable's first argument:
// Linux's MAX_ARG_STRLEN less its NUL, the bound dockerskeleton's proxy
// checks. A longer input comes on standard input only.
const MaxArg = 131071

// DefaultMaxResult bounds the result line an [Action] keeps when its
// MaxResult is zero: the result limit of the proxy's children.
const DefaultMaxResult = 512 << 20

// notDict is the result of an activation whose last line is not a JSON
// object or array: the proxy answers it with 502 and dockerskeleton's
// message, "The action did not return a dictionary or array.".
var notDict = json.RawMessage("null")

// Action runs a dockerskeleton executable once per activation.
type Action struct {
	// Path is the executable.
	Path string
	// Env is its environment; nil means the process's, read at each
	// activation (so that it carries the __OW_* variables that
	// actionloop.Serve sets). PWD is set to the working directory.
	Env []string
	// Stdout receives the executable's standard output but its result
	// line, and Stderr its standard error: the activation's log. Nil means
	// os.Stdout and os.Stderr.
	Stdout, Stderr io.Writer
	// MaxResult bounds the last line kept as the result; a longer one is
	// logged instead, and the activation fails as one whose last line is
	// not a JSON object. Zero means DefaultMaxResult.
	MaxResult int
}

// Run serves activations, as actionloop.Run does, with a, and does not
// return: the program exits when standard input ends.
func Run(a *Action) {
	actionloop.Run(a.Handle)
}

// Handle runs one activation: value is its input. The result is the last
// line of the executable's standard output, or "null" (which the proxy
// answers as dockerskeleton does) when that line is not a JSON object or
// array, or the executable cannot be started; that line, or why it could
// not start, then goes to the log, as dockerskeleton logs it. The
// executable's exit status does not matter, as in dockerskeleton. ctx is
// not used to stop the executable: the proxy stops the whole process group
// at the activation's deadline, as the invoker does the container.
func (a *Action) Handle(_ context.Context, value json.RawMessage) (any, error) {
	stdout, stderr := a.outputs()
	dir := filepath.Dir(a.Path)
	args := []string{a.Path}
	if len(value) <= MaxArg {
		args = append(args, string(value))
	}
	env := a.Env
	if env == nil {
		env = os.Environ()
	}
	max := a.MaxResult
	if max <= 0 {
		max = DefaultMaxResult
	}
	out := &lastLine{log: stdout, max: max}
	cmd := &exec.Cmd{
		Path:   a.Path,
		Args:   args,
		Dir:    dir,
		Env:    append(env[:len(env):len(env)], "PWD="+dir),
		Stdin:  bytes.NewReader(value),
		Stdout: out,
		Stderr: stderr,
	}
	if err := cmd.Run(); err != nil && cmd.ProcessState == nil {
		// Not started (or its output could not be read): dockerskeleton
		// logs the exception and answers as for a result that is no
		// object.
		out.Close()
		fmt.Fprintf(stdout, "%v\n", err)
		return notDict, nil
	}
	last := out.Close()
	if !isObjectOrArray(last) {
		fmt.Fprintf(stdout, "%s\n", last)
		return notDict, nil
	}
	return json.RawMessage(last), nil
}

func (a *Action) outputs() (io.Writer, io.Writer) {
	stdout, stderr := a.Stdout, a.Stderr
	if stdout == nil {
		stdout = os.Stdout
	}
	if stderr == nil {
		stderr = os.Stderr
	}
	return stdout, stderr
}

// isObjectOrArray reports whether b is one valid JSON object or array.
func isObjectOrArray(b []byte) bool {
	return len(b) > 0 && (b[0] == '{' || b[0] == '[') && json.Valid(b)
}

// lastLine passes the output written to it on to log, holding back its
// last line as dockerskeleton finds it: the text after the last newline
// that is not the output's final byte, with white space trimmed. So the
// output "a\nb\n" logs "a\n" and keeps "b"; "b" alone logs nothing.
type lastLine struct {
	log  io.Writer
	max  int
	held []byte // the output since the last newline that had text after it
	over bool   // the current line outgrew max: it went to the log
}

// Write never fails: a log that cannot be written loses the log, not the
// result.
func (l *lastLine) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if l.over {
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				l.log.Write(p)
				return n, nil
			}
			// The overlong line ends here.
			l.log.Write(p[:i+1])
			l.over = false
			p = p[i+1:]
			continue
		}
		l.held = append(l.held, p...)
		p = nil
		// Log up to the last newline with text after it.
		if i := bytes.LastIndexByte(l.held[:len(l.held)-1], '\n'); i >= 0 {
			l.log.Write(l.held[:i+1])
			l.held = append(l.held[:0], l.held[i+1:]...)
		}
		if len(l.held) > l.max {
			l.log.Write(l.held)
			l.over = l.held[len(l.held)-1] != '\n' // else it has ended
			l.held = l.held[:0]
		}
	}
	return n, nil
}

// Close returns the last line, trimmed. After an overlong last line it is
// empty (that line went to the log).
func (l *lastLine) Close() []byte {
	if l.over {
		l.log.Write([]byte{'\n'})
		l.over = false
		l.held = l.held[:0]
	}
	return bytes.TrimSpace(l.held)
}
