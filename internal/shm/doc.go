// Package shm manages the lifecycle of shared-memory segments: files in a
// host shm directory (a tmpfs such as /dev/shm/wsk-route/<namespace>/) that
// is bind-mounted into the containers of one host.
//
// A sender calls Write to create a segment holding a payload; the segment's
// name (not its path) travels in a frame. The receiver calls Open with the
// directory it trusts, the untrusted name and the size from the frame, reads
// Segment.Bytes, and calls Segment.Close when done. The sender removes the
// segment with Remove once the receiver has acknowledged the frame; Sweep,
// run periodically by the host agent, removes segments whose deadline has
// passed (for senders that died before removing theirs).
//
// A sender that keeps its segments and writes them again (a pool, see
// package transport) needs the receiver to copy the payload out before it
// answers: the receiver calls ReadInto, never Open.
//
// Segment names have the form "<deadline-unix-ns>-<16 hex digits>.seg", so
// Sweep can tell from the name alone when a segment has expired.
//
// A shm directory is writable by the containers it is mounted into, and
// the host agent, which runs as root, reads, writes, removes and sweeps
// segments in it. So every function resolves names with *at calls in the
// directory opened with O_NOFOLLOW (a directory replaced by a symlink is
// refused), creates with O_CREAT|O_EXCL|O_NOFOLLOW, opens with
// O_NOFOLLOW|O_NONBLOCK and refuses anything but a regular file (a FIFO
// does not block, a device is not read), and removes a symlink rather than
// what it points to: nothing a container plants there leads the agent to a
// path of the host.
//
// Usage, caller's duties:
//   - Treat a name received from the network as untrusted: pass it to Open
//     or Remove as is, they validate it; never join it to a path yourself.
//   - The slice returned by Segment.Bytes is valid only until Close; copy
//     what must outlive it. Never write to it (it is mapped read-only).
//   - Close every Segment that Open returned.
package shm
