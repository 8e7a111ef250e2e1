package shm

import "errors"

// ErrBadName is returned (wrapped) when a segment name does not match the
// pattern "<deadline-unix-ns>-<16 hex digits>.seg".
var ErrBadName = errors.New("shm: bad segment name")

// ErrSize is returned (wrapped) when a segment's size is not the size the
// caller expected.
var ErrSize = errors.New("shm: segment size mismatch")

// ErrNotRegular is returned (wrapped) when a segment is not a regular file
// (a FIFO, device or socket put in its place).
var ErrNotRegular = errors.New("shm: not a regular file")
