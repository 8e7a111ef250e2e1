package actionloop

import "errors"

// ErrInvalidInput is wrapped by the error answered for an activation line that is not
// valid JSON; the wrapping error names the syntax error and its byte offset.
var ErrInvalidInput = errors.New("actionloop: activation input is not valid JSON")

// ErrNotObject is answered for an activation line that is valid JSON but not an object.
var ErrNotObject = errors.New("actionloop: activation input is not a JSON object")

// ErrValueNotObject is returned by the handler that [Main] builds when the activation's
// value is not a JSON object (for example an array), which a
// func(map[string]any) map[string]any cannot take.
var ErrValueNotObject = errors.New("actionloop: the action takes a JSON object but the value is not one")

// ErrPanic is wrapped by the error answered when a handler panics; the panic value
// follows it and the stack trace goes to standard error.
var ErrPanic = errors.New("actionloop: the action panicked")

// ErrNoResultPipe is returned (and printed by [Run]) when file descriptor 3, the pipe
// for results, is not open: the program was not started by an ActionLoop proxy.
var ErrNoResultPipe = errors.New("actionloop: file descriptor 3 is not open for writing results; start this program under an ActionLoop proxy, or from a shell with 3>&1")
