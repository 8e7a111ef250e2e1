package jsfn

import "errors"

// ErrCompile reports function source that is not a JavaScript expression.
var ErrCompile = errors.New("jsfn: function does not compile")

// ErrTooLarge reports an input (source, parameters, scope) over its limit.
var ErrTooLarge = errors.New("jsfn: input over its size limit")

// ErrBadInput reports parameters or variables that are not JSON.
var ErrBadInput = errors.New("jsfn: input is not JSON")

// errTimeout and errHeap are the interrupt values of the watchdog.
var (
	errTimeout = errors.New("jsfn: call exceeded its time limit")
	errHeap    = errors.New("jsfn: call exceeded its heap growth limit")
)
