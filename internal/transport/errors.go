package transport

import "errors"

// ErrUnreachable is wrapped by the errors of Client.Send when the endpoint
// could not be reached: dial failed, the write failed, or the connection was
// lost before the ack arrived. The frame may or may not have been received;
// try the next instance (receivers de-duplicate).
var ErrUnreachable = errors.New("transport: endpoint unreachable")

// ErrTimeout is wrapped by the errors of Client.Send when no ack arrived
// within Client.AckTimeout or before the context's deadline.
var ErrTimeout = errors.New("transport: ack timeout")

// ErrClosed is returned by Client.Send after Client.Close.
var ErrClosed = errors.New("transport: client closed")

// ErrBadEndpoint is wrapped by ParseEndpoint's errors.
var ErrBadEndpoint = errors.New("transport: bad endpoint")
