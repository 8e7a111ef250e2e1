// Package transport carries frames (package frame) between proxies and
// host agents: over a unix socket on one host, with large payloads in a shm
// segment (package shm), or over TCP across hosts. Every frame is
// acknowledged by the receiver with a KindAck frame of the same Seq.
//
// Endpoints are strings "unix:/path/to.sock" or "tcp:host:port"
// (ParseEndpoint). A receiver runs a Server on a listener from Listen; a
// sender keeps one Client, which holds one persistent connection per
// endpoint, multiplexed by Seq.
//
// # Who owns which bytes, and for how long
//
//   - Client.Send borrows f (and f.Payload) until it returns; it does not
//     retain them. It sets f.Seq and, when it signs, f.Tag. When it moves
//     the payload to a shm segment it creates the segment in Client.ShmDir,
//     sends its name, removes it once Send returns (ack, refusal, timeout or
//     failure: the receiver has mapped it by then, or will not need it; the
//     removal runs in the background, Close waits for it) and restores f's
//     payload fields, so f can be sent again to another
//     instance.
//   - The ack frame Send returns is the caller's.
//   - On the receiving side each frame arrives in a new Delivery. An inline
//     payload (Delivery.Frame.Payload) is a new slice owned by the delivery;
//     it may be kept for ever. A shm payload (Delivery.Payload) is the
//     read-only mapping of the sender's segment, valid until
//     Delivery.Release; the segment file may already be unlinked by then,
//     which does not affect the mapping. Never write to it.
//   - A Handler that returns CodeOK or CodeDuplicate owns the Delivery and
//     must call Release exactly when it is done with the payload (any
//     goroutine, any number of times). With any other code the Server
//     releases the Delivery when HandleFrame returns; the handler must not
//     keep it.
//
// # Trust
//
// The Server does not verify tags: the handler knows the namespace's key
// (Delivery.Frame.Verify). It does validate shm references (names and sizes
// are untrusted; see shm.Open) and refuses them with CodeMalformed when they
// do not resolve. A frame that cannot be decoded closes its connection.
//
// # Usage
//
// Receiver:
//
//	ln, err := transport.Listen("unix:/run/wsk-route/b.sock")
//	srv := &transport.Server{Handler: h, ShmDir: shmDir}
//	err = srv.Serve(ctx, ln) // until ctx ends
//
// The handler must return quickly (accept or refuse) and do the work
// elsewhere; it may be called concurrently, up to Server.MaxInFlight at once
// per connection.
//
// Sender:
//
//	c := &transport.Client{ShmDir: shmDir}
//	defer c.Close()
//	ack, err := c.Send(ctx, endpoint, &f, key)
//	switch {
//	case errors.Is(err, transport.ErrUnreachable), errors.Is(err, transport.ErrTimeout):
//		// try the next instance (receivers de-duplicate)
//	case err == nil && ack.Code != frame.CodeOK && ack.Code != frame.CodeDuplicate:
//		// refused: ack.Code, ack.Reason
//	}
//
// A relay forwards frames signed by others with key nil: they are sent as
// they are and never through shm (the tag of a shm frame covers the segment
// name, not the bytes, so it could not be converted without the key).
package transport
