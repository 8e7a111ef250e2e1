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
//     the payload to a shm segment, it copies it into a segment of its pool
//     (up to MaxPooledPayload: the receiver copies it out before it acks,
//     and the segment is written again for a later frame once acked), or
//     creates a fresh segment in Client.ShmDir, sends its name and removes
//     it once Send returns (ack, refusal, timeout or failure: the receiver
//     has mapped it by then, or will not need it; the removal runs in the
//     background, Close waits for it). It then restores f's payload
//     fields, so f can be sent again to another instance.
//   - The ack frame Send returns is the caller's.
//   - On the receiving side each frame arrives in a new Delivery. An inline
//     payload (Delivery.Frame.Payload) is a new slice owned by the delivery;
//     it may be kept for ever. A shm payload (Delivery.Payload) is the
//     read-only mapping of the sender's segment, valid until
//     Delivery.Release; the segment file may already be unlinked by then,
//     which does not affect the mapping. Never write to it. A pooled shm
//     payload is a copy the Server made before it acked (from a buffer it
//     reuses), valid until Delivery.Release too.
//   - A Handler that returns CodeOK or CodeDuplicate owns the Delivery and
//     must call Release exactly when it is done with the payload (any
//     goroutine, any number of times). With any other code the Server
//     releases the Delivery when HandleFrame returns; the handler must not
//     keep it.
//
// # Trust, and what a peer can make a Server hold
//
// A Server checks every frame's tag before its handler sees it, with the
// key Server.Keys gives for the namespace the frame names, and checks a
// version 3 frame's tag from its header alone, before it reads a byte of
// the payload: a frame that names a namespace the server does not serve,
// or does not verify, is refused (CodeWrongNamespace, CodeBadTag) and its
// connection closed. The payload of a verified frame is read in chunks and
// hashed as it arrives; one that does not match the header's digest is
// malformed. A version 2 frame (still accepted for rolling deploys, see
// package frame) is verified once its payload is read, which is bounded by
// frame.MaxLegacyPayload (64 KiB), at most 8 at a time per Server.
//
// So the memory a peer that does not hold the key can make a Server hold
// is, per connection, one header (frame.MaxHeader, 16 KiB) and the
// goroutine reading it, for at most ReadTimeout (10 s) from the moment it
// connects; and there are at most MaxConns (256) connections at once, one
// more being closed as it comes: ServerMemoryBound, about 8.5 MiB with the
// defaults. A verified connection waits IdleTimeout (5 minutes) for its
// next frame, and a verified frame's payload, up to MaxPayload (1 GiB),
// must keep arriving: a read inside it that waits ReadTimeout drops the
// connection. A Server without Keys must say Unverified: it then hands
// every frame over unchecked, as version 2 servers did.
//
// The handler learns nothing of this but the verified frame. It does not
// re-check the tag (it may: frame.Frame.Verify looks at the header only,
// and costs about a microsecond). The Server validates shm references
// (names and sizes are untrusted; see shm.Open) and refuses them with
// CodeMalformed when they do not resolve. A frame that cannot be decoded
// closes its connection.
//
// # Accept windows
//
// A frame with AcceptBy (wall clock, package frame) must not run once its
// sender has given up on it. The Server refuses it with CodeLate, without
// reading its payload or calling the handler, when it arrives at or after
// AcceptBy. A handler that accepts it sets a hook with Delivery.OnAcked and
// starts the frame only once the hook says the ack went out in time.
// Client.Send waits for its ack until AcceptBy (plus Client.ClockSkew for a
// receiver on another host or behind a relay), and then gives up only
// after shutting down its reading side of the connection and reading every
// ack already received. On a unix socket the two sides then always agree:
// the receiver runs a frame exactly when Send returned its ack, whenever
// either process stalls (the server's ack write fails once the sender has
// cut the connection). Across hosts they agree when clocks are within
// ClockSkew (default 250 ms) of each other and acks take less than that to
// come back. A give-up cuts the whole connection: the other frames in
// flight on it get their ack if it was already received, else
// ErrUnreachable (a frame with AcceptBy on a unix socket: certainly not
// run), and the next Send dials anew.
//
// # Usage
//
// Receiver:
//
//	ln, err := transport.Listen("unix:/run/wsk-route/b.sock")
//	srv := &transport.Server{Handler: h, ShmDir: shmDir, Keys: keyOf}
//	err = srv.Serve(ctx, ln) // until ctx ends
//
// The handler must return quickly (accept or refuse) and do the work
// elsewhere; it may be called concurrently, up to Server.MaxInFlight at once
// per connection. For a frame with AcceptBy, it accepts like this:
//
//	d.OnAcked(func(inTime bool) {
//		if inTime {
//			go run(d) // releases d when done
//		} else {
//			d.Release() // the sender has given up: never run it
//		}
//	})
//	return frame.CodeOK, ""
//
// Sender:
//
//	c := &transport.Client{ShmDir: shmDir}
//	defer c.Close()
//	ack, err := c.Send(ctx, endpoint, &f, key)
//	switch {
//	case errors.Is(err, transport.ErrUnreachable), errors.Is(err, transport.ErrTimeout):
//		// try the next instance (receivers de-duplicate; a frame with
//		// AcceptBy sent on a unix socket was certainly not accepted)
//	case err == nil && ack.Code != frame.CodeOK && ack.Code != frame.CodeDuplicate:
//		// refused: ack.Code, ack.Reason
//	}
//
// A relay forwards frames signed by others with key nil: they are sent as
// they are and never through shm (the tag of a shm frame covers the segment
// name, not the bytes, so it could not be converted without the key).
package transport
