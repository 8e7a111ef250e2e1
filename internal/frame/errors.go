package frame

import (
	"fmt"
	"io"
)

// ErrShort is returned by [Decode] when b ends before the frame does. It
// wraps io.ErrUnexpectedEOF; read more bytes and decode again.
var ErrShort = fmt.Errorf("frame: short buffer: %w", io.ErrUnexpectedEOF)

// DecodeError reports a frame that cannot be decoded: Field names the part
// of the frame ("magic", "version", "header length", "kind", "step", ...)
// and Reason says what is wrong with it. The receiver answers CodeMalformed.
type DecodeError struct {
	Field, Reason string
}

// Error returns "frame: field <Field>: <Reason>".
func (e *DecodeError) Error() string {
	return "frame: field " + e.Field + ": " + e.Reason
}

// EncodeError reports a frame that cannot be encoded, for the same reasons a
// decoder would refuse it: Field names the field, Reason says why.
type EncodeError struct {
	Field, Reason string
}

// Error returns "frame: encode: field <Field>: <Reason>".
func (e *EncodeError) Error() string {
	return "frame: encode: field " + e.Field + ": " + e.Reason
}

func overLimit(n, limit int) string {
	return fmt.Sprintf("length %d over limit %d", n, limit)
}
