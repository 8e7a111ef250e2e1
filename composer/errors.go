package composer

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Every *Error wraps exactly one of them, so callers
// branch with errors.Is and never on error text.
var (
	// ErrInvalid marks a workflow that breaks a rule of the model: a
	// missing or malformed field, an empty sequence, a bad condition.
	ErrInvalid = errors.New("composer: invalid workflow")
	// ErrUnknownField marks a key the format does not define.
	ErrUnknownField = errors.New("composer: unknown field")
	// ErrUnknownAction marks an action name that Options.ActionExists
	// does not know.
	ErrUnknownAction = errors.New("composer: unknown action")
	// ErrNotSupported marks an input construct wsk-route cannot run (an
	// openwhisk-composer while loop, inline code).
	ErrNotSupported = errors.New("composer: not supported")
	// ErrTooLarge marks a workflow past a size limit (MaxNodes, MaxSteps,
	// or the steps of its compiled spec).
	ErrTooLarge = errors.New("composer: workflow too large")
)

// Error is one problem in a workflow, located by position and path.
type Error struct {
	// Pos is where the problem is in the input; its zero value means
	// unknown.
	Pos Position
	// Path names the node or field, like ".steps[2].parallel.branches.upper".
	Path string
	// Msg says what is wrong and, where it helps, what to do.
	Msg string
	// Err is the sentinel the problem is a case of.
	Err error
}

// Error formats the problem as "file:line:col: path: msg", or
// "file:line:col: msg" for ErrNotSupported, whose Msg names the path.
func (e *Error) Error() string {
	var b strings.Builder
	if p := e.Pos.String(); p != "" {
		b.WriteString(p)
		b.WriteString(": ")
	}
	if e.Path != "" && e.Err != ErrNotSupported { // its Msg says "X at path"
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the sentinel.
func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an *Error wrapping sentinel at pos and path.
func Errorf(sentinel error, pos Position, path, format string, args ...any) *Error {
	return &Error{Pos: pos, Path: path, Msg: fmt.Sprintf(format, args...), Err: sentinel}
}

// ErrorList is every problem found in one workflow, in input order. A
// function returning an ErrorList as an error never returns an empty one.
type ErrorList []*Error

// Error prints one problem per line.
func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the problems, so errors.Is and errors.As see each one.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// Err returns l as an error, or nil when l is empty.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}
