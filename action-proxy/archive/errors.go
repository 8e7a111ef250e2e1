package archive

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Extract wraps them, usually in an *EntryError naming the
// archive entry at fault, so callers test for them with errors.Is.
var (
	// ErrEmpty reports an empty payload.
	ErrEmpty = errors.New("archive: empty payload")

	// ErrCorrupt reports a zip or tar.gz payload that cannot be read: bad
	// headers, a truncated stream, a checksum mismatch, an unsupported
	// compression method.
	ErrCorrupt = errors.New("archive: corrupt or truncated archive")

	// ErrPathEscapes reports an entry whose name is absolute or climbs out of
	// the action directory with "..".
	ErrPathEscapes = errors.New("archive: path escapes the action directory")

	// ErrSymlinkEscapes reports a symlink whose target is absolute or
	// resolves outside the action directory, while Options.AllowExternalSymlinks
	// is false.
	ErrSymlinkEscapes = errors.New("archive: symlink target escapes the action directory")

	// ErrThroughSymlink reports an entry whose path has a symlink among its
	// parents, so that writing it would follow the link. (A symlink at the
	// entry's own path is replaced, never followed.)
	ErrThroughSymlink = errors.New("archive: path goes through a symlink")

	// ErrConflict reports an entry that clashes with one extracted earlier:
	// a file or link where a directory already is, or a path whose parent is
	// not a directory.
	ErrConflict = errors.New("archive: path conflicts with an earlier entry")

	// ErrInvalidName reports an entry name that is empty, contains a NUL
	// byte, or names the action directory itself.
	ErrInvalidName = errors.New("archive: invalid entry name")

	// ErrInvalidLink reports a symlink or hard link whose target is empty,
	// too long, contains a NUL byte, or (for a hard link) is not a regular
	// file extracted earlier.
	ErrInvalidLink = errors.New("archive: invalid link target")

	// ErrUnsupportedType reports an entry that is not a regular file, a
	// directory, a symlink or (tar only) a hard link: devices, FIFOs, sockets,
	// sparse files.
	ErrUnsupportedType = errors.New("archive: unsupported entry type")

	// ErrTooManyEntries reports an archive with more entries than
	// Options.MaxEntries allows.
	ErrTooManyEntries = errors.New("archive: too many entries")

	// ErrTooLarge reports a payload that expands to more bytes than
	// Options.MaxBytes allows.
	ErrTooLarge = errors.New("archive: uncompressed size exceeds the limit")

	// ErrDirNotEmpty reports a destination directory that already holds
	// files. Extract only writes into a new or empty directory.
	ErrDirNotEmpty = errors.New("archive: destination directory is not empty")

	// ErrInvalidOptions reports unusable Options, such as a SaveJar that is
	// not a plain file name.
	ErrInvalidOptions = errors.New("archive: invalid options")

	// ErrNotDir reports a WriteZip or ZipDir root that is not a directory.
	ErrNotDir = errors.New("archive: not a directory")
)

// EntryError reports a problem with one archive entry. Its text has the form
//
//	archive: zip entry "../x": path escapes the action directory
//
// and it unwraps to the underlying error, usually one of the sentinels.
type EntryError struct {
	// Format is "zip" or "tar".
	Format string
	// Name is the entry's name exactly as stored in the archive.
	Name string
	// Err is what went wrong.
	Err error
}

// Error implements error.
func (e *EntryError) Error() string {
	return fmt.Sprintf("archive: %s entry %q: %s", e.Format, e.Name, strings.TrimPrefix(e.Err.Error(), "archive: "))
}

// Unwrap returns the underlying error.
func (e *EntryError) Unwrap() error { return e.Err }

// reason is an error with its own text that still matches the sentinels (and
// other errors) it wraps under errors.Is.
type reason struct {
	msg  string
	errs []error
}

func (r *reason) Error() string   { return r.msg }
func (r *reason) Unwrap() []error { return r.errs }

// because returns an error reading as the formatted text and wrapping
// sentinel.
func because(sentinel error, format string, args ...any) error {
	return &reason{msg: fmt.Sprintf(format, args...), errs: []error{sentinel}}
}

// corrupt wraps a decoder error from archive/zip, archive/tar or
// compress/gzip so that it matches both ErrCorrupt and the decoder's own
// error. what names the format ("zip", "tar.gz").
func corrupt(what string, err error) error {
	return &reason{msg: fmt.Sprintf("archive: corrupt %s: %v", what, err), errs: []error{ErrCorrupt, err}}
}
