package shm

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// suffix ends every segment name.
const suffix = ".seg"

// randLen is the number of hex digits after the deadline.
const randLen = 16

// maxNameLen bounds a valid name: 19 digits of int64, '-', 16 hex, ".seg".
const maxNameLen = 20 + 1 + randLen + len(suffix)

// Write creates a new segment in dir holding data and returns its name.
// The name encodes deadline, after which Sweep may remove the segment.
// The file is created with O_EXCL, O_NOFOLLOW and mode 0600, in dir opened
// without following a symlink (see the package doc); on error nothing is
// left behind.
func Write(dir string, data []byte, deadline time.Time) (string, error) {
	name, dfd, fd, err := create(dir, deadline, unix.O_WRONLY)
	if err != nil {
		return "", err
	}
	defer unix.Close(dfd)
	err = writeAll(fd, data)
	if cerr := unix.Close(fd); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		_ = unix.Unlinkat(dfd, name, 0)
		return "", fmt.Errorf("shm: write %s: %w", filepath.Join(dir, name), err)
	}
	return name, nil
}

// Create creates a new, empty segment in dir as Write does and returns its
// name and the file, open for writing, for a caller that streams the
// payload in. The caller closes the file, and removes the segment (Remove)
// if it fails to fill it.
func Create(dir string, deadline time.Time) (string, *os.File, error) {
	name, dfd, fd, err := create(dir, deadline, unix.O_WRONLY)
	if err != nil {
		return "", nil, err
	}
	unix.Close(dfd)
	return name, os.NewFile(uintptr(fd), filepath.Join(dir, name)), nil
}

// create creates a segment named for deadline in dir and returns its name,
// dir's descriptor and the segment's, open with mode (O_WRONLY or O_RDWR).
func create(dir string, deadline time.Time, mode int) (name string, dfd, fd int, err error) {
	var rnd [randLen / 2]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", -1, -1, fmt.Errorf("shm: random name: %w", err)
	}
	var buf [maxNameLen]byte
	b := strconv.AppendInt(buf[:0], deadline.UnixNano(), 10)
	b = append(b, '-')
	b = hex.AppendEncode(b, rnd[:])
	b = append(b, suffix...)
	name = string(b)
	if dfd, err = openDir(dir); err != nil {
		return "", -1, -1, err
	}
	fd, err = unix.Openat(dfd, name, unix.O_CREAT|unix.O_EXCL|mode|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		unix.Close(dfd)
		return "", -1, -1, fmt.Errorf("shm: create: %w", &os.PathError{Op: "open", Path: filepath.Join(dir, name), Err: err})
	}
	return name, dfd, fd, nil
}

// openDir opens dir for the *at calls that resolve segment names in it. Its
// last element must not be a symlink: a shm directory is writable by
// containers, and the agent, which runs as root, must never be led through
// it to a path of the host.
func openDir(dir string) (int, error) {
	for {
		fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			if err == unix.ELOOP || err == unix.ENOTDIR {
				err = fmt.Errorf("%w (a symlink or not a directory)", err)
			}
			return -1, fmt.Errorf("shm: directory: %w", &os.PathError{Op: "open", Path: dir, Err: err})
		}
		return fd, nil
	}
}

// openSegment opens the segment name of dir for reading, without
// following a symlink or blocking on a FIFO, and checks that it is a
// regular file (a device, FIFO or socket planted by a container is
// refused). It returns the descriptor and the file's size.
func openSegment(dir, name string) (int, int64, error) {
	if !ValidName(name) {
		return -1, 0, fmt.Errorf("%w: %q", ErrBadName, name)
	}
	dfd, err := openDir(dir)
	if err != nil {
		return -1, 0, err
	}
	defer unix.Close(dfd)
	path := filepath.Join(dir, name)
	fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, 0, fmt.Errorf("shm: open: %w", &os.PathError{Op: "open", Path: path, Err: err})
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, 0, fmt.Errorf("shm: stat: %w", &os.PathError{Op: "fstat", Path: path, Err: err})
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return -1, 0, fmt.Errorf("%w: %s", ErrNotRegular, path)
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return -1, 0, fmt.Errorf("shm: %s: %w", path, err)
	}
	return fd, st.Size, nil
}

// OpenFile opens the segment name of dir for reading, as Open checks it
// (a valid name, no symlink, a regular file), for a caller that streams
// it; the size is the file's. The caller closes the file.
func OpenFile(dir, name string) (*os.File, int64, error) {
	fd, size, err := openSegment(dir, name)
	if err != nil {
		return nil, 0, err
	}
	return os.NewFile(uintptr(fd), filepath.Join(dir, name)), size, nil
}

// writeAll writes data to fd with write(2). BenchmarkWriteOpen compared it
// with ftruncate+mmap+copy (writeMmap) and write(2) was as fast or faster at
// every size, without the page-fault cost of a fresh mapping.
func writeAll(fd int, data []byte) error {
	for len(data) > 0 {
		n, err := unix.Write(fd, data)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

// ValidName reports whether name has the form of a segment name. It accepts
// no path separators or dots other than the suffix.
func ValidName(name string) bool {
	_, ok := parseName(name)
	return ok
}

// parseName returns the deadline encoded in name.
func parseName(name string) (time.Time, bool) {
	if len(name) > maxNameLen || !strings.HasSuffix(name, suffix) {
		return time.Time{}, false
	}
	base := name[:len(name)-len(suffix)]
	dash := strings.IndexByte(base, '-')
	if dash <= 0 || len(base)-dash-1 != randLen {
		return time.Time{}, false
	}
	digits := base[:dash]
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return time.Time{}, false
		}
	}
	ns, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	for _, c := range []byte(base[dash+1:]) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return time.Time{}, false
		}
	}
	return time.Unix(0, ns), true
}

// Deadline returns the deadline encoded in a segment name.
func Deadline(name string) (time.Time, error) {
	d, ok := parseName(name)
	if !ok {
		return time.Time{}, fmt.Errorf("%w: %q", ErrBadName, name)
	}
	return d, nil
}

// CreateMapped creates a new segment in dir as Write does, of size bytes,
// and returns its name and a shared writable mapping of it, faulted in
// (MAP_POPULATE): for a sender that writes payloads into it again and
// again (a pool; receivers copy them out with ReadInto). Unmap the mapping,
// and Remove the segment, when done.
func CreateMapped(dir string, size int, deadline time.Time) (string, []byte, error) {
	name, dfd, fd, err := create(dir, deadline, unix.O_RDWR) // a shared writable mapping needs it readable
	if err != nil {
		return "", nil, err
	}
	defer unix.Close(dfd)
	defer unix.Close(fd)
	fail := func(what string, err error) (string, []byte, error) {
		_ = unix.Unlinkat(dfd, name, 0)
		return "", nil, fmt.Errorf("shm: %s %s: %w", what, filepath.Join(dir, name), err)
	}
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		return fail("size", err)
	}
	if size == 0 {
		return name, nil, nil
	}
	m, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return fail("mmap", err)
	}
	return name, m, nil
}

// Unmap unmaps a mapping CreateMapped returned.
func Unmap(m []byte) error {
	if len(m) == 0 {
		return nil
	}
	if err := unix.Munmap(m); err != nil {
		return fmt.Errorf("shm: munmap: %w", err)
	}
	return nil
}

// ReadInto copies the first len(dst) bytes of the segment name of dir into
// dst with pread(2): for a segment a sender writes again once the receiver
// has answered (a pooled segment), which the receiver must copy out and
// never map. The file must hold at least len(dst) bytes; name is checked
// as by Open.
func ReadInto(dir, name string, dst []byte) error {
	fd, got, err := openSegment(dir, name)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if got < int64(len(dst)) {
		return fmt.Errorf("%w: %s is %d bytes, want at least %d", ErrSize, name, got, len(dst))
	}
	for off := 0; off < len(dst); {
		n, err := unix.Pread(fd, dst[off:], int64(off))
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return fmt.Errorf("shm: read %s: %w", filepath.Join(dir, name), err)
		case n == 0:
			return fmt.Errorf("%w: %s ended at %d bytes, want %d", ErrSize, name, off, len(dst))
		}
		off += n
	}
	return nil
}

// Segment is a segment mapped read-only by Open.
type Segment struct {
	mu   sync.Mutex // guards data and closed
	data []byte     // the mapping; nil for an empty segment
	// closed is set by Close.
	closed bool
}

// Open maps the segment name of dir read-only. size must equal the file's
// size. name is untrusted input and is validated first: it must match the
// segment pattern (no '/', no ".."). The segment must be a regular file,
// not a symlink (ErrNotRegular, or an error wrapping ELOOP), and dir's
// last element must not be a symlink.
func Open(dir, name string, size uint64) (*Segment, error) {
	if !ValidName(name) {
		return nil, fmt.Errorf("%w: %q", ErrBadName, name)
	}
	if size > math.MaxInt {
		return nil, fmt.Errorf("%w: %s: size %d too large", ErrSize, name, size)
	}
	fd, got, err := openSegment(dir, name)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	if uint64(got) != size {
		return nil, fmt.Errorf("%w: %s is %d bytes, want %d", ErrSize, name, got, size)
	}
	if size == 0 {
		return &Segment{}, nil
	}
	m, err := unix.Mmap(fd, 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("shm: mmap %s: %w", filepath.Join(dir, name), err)
	}
	return &Segment{data: m}, nil
}

// OpenAtLeast maps the whole segment name of dir read-only, as Open does,
// for a file of at least size bytes (a pooled segment, longer than the
// payload it holds now). Its Bytes are the whole file.
func OpenAtLeast(dir, name string, size uint64) (*Segment, error) {
	if !ValidName(name) {
		return nil, fmt.Errorf("%w: %q", ErrBadName, name)
	}
	fd, got, err := openSegment(dir, name)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	if got < 0 || uint64(got) < size {
		return nil, fmt.Errorf("%w: %s is %d bytes, want at least %d", ErrSize, name, got, size)
	}
	if got == 0 {
		return &Segment{}, nil
	}
	m, err := unix.Mmap(fd, 0, int(got), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("shm: mmap %s: %w", filepath.Join(dir, name), err)
	}
	return &Segment{data: m}, nil
}

// Bytes returns the segment's contents. The slice is valid until Close and
// must not be written to. It is empty for a zero-length segment.
func (s *Segment) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data
}

// Close unmaps the segment. It is idempotent and safe for concurrent use.
func (s *Segment) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	m := s.data
	s.data = nil
	if m == nil {
		return nil
	}
	if err := unix.Munmap(m); err != nil {
		return fmt.Errorf("shm: munmap: %w", err)
	}
	return nil
}

// Remove deletes the segment name of dir. name is validated like in Open;
// a symlink of that name is removed, never what it points to, and dir's
// last element must not be a symlink. Removing a segment that no longer
// exists is not an error.
func Remove(dir, name string) error {
	if !ValidName(name) {
		return fmt.Errorf("%w: %q", ErrBadName, name)
	}
	dfd, err := openDir(dir)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	if err := unix.Unlinkat(dfd, name, 0); err != nil && err != unix.ENOENT {
		return fmt.Errorf("shm: remove: %w", &os.PathError{Op: "unlink", Path: filepath.Join(dir, name), Err: err})
	}
	return nil
}

// Sweep removes the segments of dir whose deadline plus grace is before now,
// and regular files not named like segments whose modification time is more
// than grace before now (leftovers of a crashed writer, stray files).
// Directories, symlinks and other non-regular entries are left alone, and a
// dir whose last element is a symlink is refused, so that a container
// cannot make Sweep remove a file of the host. It returns how many files it
// removed; on error it still sweeps what it can and returns the first
// error.
func Sweep(dir string, now time.Time, grace time.Duration) (int, error) {
	dfd, err := openDir(dir)
	if err != nil {
		return 0, fmt.Errorf("shm: sweep: %w", err)
	}
	d := os.NewFile(uintptr(dfd), dir)
	defer d.Close()
	entries, err := d.ReadDir(-1)
	if err != nil {
		return 0, fmt.Errorf("shm: sweep: %w", err)
	}
	cutoff := now.Add(-grace)
	n := 0
	var first error
	fail := func(err error) {
		if first == nil {
			first = fmt.Errorf("shm: sweep: %w", err)
		}
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		name := e.Name()
		var st unix.Stat_t
		switch err := unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); {
		case err == unix.ENOENT:
			continue
		case err != nil:
			fail(&os.PathError{Op: "stat", Path: filepath.Join(dir, name), Err: err})
			continue
		case st.Mode&unix.S_IFMT != unix.S_IFREG:
			continue // replaced since it was listed
		}
		if dl, ok := parseName(name); ok {
			if !dl.Before(cutoff) {
				continue
			}
		} else if !time.Unix(st.Mtim.Unix()).Before(cutoff) {
			continue
		}
		switch err := unix.Unlinkat(dfd, name, 0); {
		case err == nil:
			n++
		case err == unix.ENOENT:
		default:
			fail(&os.PathError{Op: "unlink", Path: filepath.Join(dir, name), Err: err})
		}
	}
	return n, first
}
