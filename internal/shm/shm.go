package shm

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
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
// The file is created with O_EXCL and mode 0600; on error nothing is left
// behind.
func Write(dir string, data []byte, deadline time.Time) (string, error) {
	var rnd [randLen / 2]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", fmt.Errorf("shm: random name: %w", err)
	}
	var buf [maxNameLen]byte
	b := strconv.AppendInt(buf[:0], deadline.UnixNano(), 10)
	b = append(b, '-')
	b = hex.AppendEncode(b, rnd[:])
	b = append(b, suffix...)
	name := string(b)
	path := filepath.Join(dir, name)

	fd, err := unix.Open(path, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return "", fmt.Errorf("shm: create: %w", &os.PathError{Op: "open", Path: path, Err: err})
	}
	err = writeAll(fd, data)
	if cerr := unix.Close(fd); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		_ = unix.Unlink(path)
		return "", fmt.Errorf("shm: write %s: %w", path, err)
	}
	return name, nil
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

// Segment is a segment mapped read-only by Open.
type Segment struct {
	mu   sync.Mutex // guards data and closed
	data []byte     // the mapping; nil for an empty segment
	// closed is set by Close.
	closed bool
}

// Open maps the segment name of dir read-only. size must equal the file's
// size. name is untrusted input and is validated first: it must match the
// segment pattern (no '/', no "..").
func Open(dir, name string, size uint64) (*Segment, error) {
	if !ValidName(name) {
		return nil, fmt.Errorf("%w: %q", ErrBadName, name)
	}
	if size > math.MaxInt {
		return nil, fmt.Errorf("%w: %s: size %d too large", ErrSize, name, size)
	}
	path := filepath.Join(dir, name)
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, fmt.Errorf("shm: open: %w", &os.PathError{Op: "open", Path: path, Err: err})
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("shm: stat: %w", &os.PathError{Op: "fstat", Path: path, Err: err})
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("shm: %s: not a regular file", path)
	}
	if uint64(st.Size) != size {
		return nil, fmt.Errorf("%w: %s is %d bytes, want %d", ErrSize, name, st.Size, size)
	}
	if size == 0 {
		return &Segment{}, nil
	}
	m, err := unix.Mmap(fd, 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("shm: mmap %s: %w", path, err)
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

// Remove deletes the segment name of dir. name is validated like in Open.
// Removing a segment that no longer exists is not an error.
func Remove(dir, name string) error {
	if !ValidName(name) {
		return fmt.Errorf("%w: %q", ErrBadName, name)
	}
	path := filepath.Join(dir, name)
	if err := unix.Unlink(path); err != nil && err != unix.ENOENT {
		return fmt.Errorf("shm: remove: %w", &os.PathError{Op: "unlink", Path: path, Err: err})
	}
	return nil
}

// Sweep removes the segments of dir whose deadline plus grace is before now,
// and regular files not named like segments whose modification time is more
// than grace before now (leftovers of a crashed writer, stray files).
// Directories and other non-regular entries are left alone. It returns how
// many files it removed; on error it still sweeps what it can and returns the
// first error.
func Sweep(dir string, now time.Time, grace time.Duration) (int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("shm: sweep: %w", err)
	}
	cutoff := now.Add(-grace)
	n := 0
	var first error
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		name := e.Name()
		if d, ok := parseName(name); ok {
			if !d.Before(cutoff) {
				continue
			}
		} else {
			info, err := e.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				if first == nil {
					first = fmt.Errorf("shm: sweep: %w", err)
				}
				continue
			}
			if !info.ModTime().Before(cutoff) {
				continue
			}
		}
		err := unix.Unlink(filepath.Join(dir, name))
		switch {
		case err == nil:
			n++
		case err == unix.ENOENT:
		case first == nil:
			first = fmt.Errorf("shm: sweep: %w", &os.PathError{Op: "unlink", Path: filepath.Join(dir, name), Err: err})
		}
	}
	return n, first
}
