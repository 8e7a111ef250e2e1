package archive

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Default limits, used when the matching Options field is zero.
const (
	// DefaultMaxBytes bounds the bytes an extraction writes: 1 GiB.
	DefaultMaxBytes int64 = 1 << 30
	// DefaultMaxEntries bounds the entries of an archive: 100000.
	DefaultMaxEntries = 100000
)

// maxLinkTarget bounds a symlink target, as PATH_MAX does on Linux.
const maxLinkTarget = 4096

// Options tunes Extract. The zero value is ready to use: jars are unpacked
// like any zip, and the default limits apply.
type Options struct {
	// SaveJar is OW_SAVE_JAR. If it is not empty and a zip payload holds
	// META-INF/MANIFEST.MF, the payload is stored whole as dir/SaveJar (mode
	// 0644) instead of being unpacked. It must be a plain file name.
	SaveJar string

	// MaxBytes bounds the bytes written under dir: the file contents of a
	// zip or tar.gz, the size of a plain payload or saved jar. For tar.gz
	// the whole decompressed stream, headers included, is also bounded by
	// twice MaxBytes plus 1 MiB. Zero means DefaultMaxBytes; negative means
	// no limit.
	MaxBytes int64

	// MaxEntries bounds the entries (files, directories, links) of an
	// archive. Zero means DefaultMaxEntries; negative means no limit.
	MaxEntries int

	// AllowExternalSymlinks lets archive symlinks point anywhere, including
	// absolute targets such as a virtualenv's bin/python ->
	// /usr/local/bin/python3. When false, a symlink whose target is absolute
	// or may resolve outside dir fails the extraction with
	// ErrSymlinkEscapes. Either way Extract never writes through a symlink,
	// so no entry can land outside dir.
	AllowExternalSymlinks bool
}

// limits holds Options with defaults applied; -1 means unlimited.
type limits struct {
	maxBytes   int64
	maxEntries int
}

func (o Options) check() (limits, error) {
	if o.SaveJar != "" && (o.SaveJar == "." || o.SaveJar != filepath.Base(o.SaveJar) || !filepath.IsLocal(o.SaveJar) || strings.ContainsAny(o.SaveJar, "/\x00")) {
		return limits{}, because(ErrInvalidOptions, "archive: invalid options: SaveJar %q is not a plain file name", o.SaveJar)
	}
	l := limits{maxBytes: o.MaxBytes, maxEntries: o.MaxEntries}
	switch {
	case l.maxBytes == 0:
		l.maxBytes = DefaultMaxBytes
	case l.maxBytes < 0:
		l.maxBytes = -1
	}
	switch {
	case l.maxEntries == 0:
		l.maxEntries = DefaultMaxEntries
	case l.maxEntries < 0:
		l.maxEntries = -1
	}
	return l, nil
}

// Extract writes an /init payload into dir, creating dir (mode 0755) if
// needed. dir must be new or empty. What it writes depends on Detect:
//
//   - Zip: the archive is unpacked. Files keep their permission bits,
//     directories too (plus owner rwx, so the tree stays manageable), and
//     symlinks are recreated. With Options.SaveJar set, a zip holding
//     META-INF/MANIFEST.MF is stored whole as dir/SaveJar instead.
//   - TarGz: regular files, directories, symlinks and hard links are
//     unpacked, missing parent directories are created, and a later entry
//     replaces an earlier file of the same name.
//   - Plain: the payload is written to dir/exec with mode 0755.
//
// Setuid, setgid and sticky bits are dropped, and a permission of 0 becomes
// 0644 for files and 0755 for directories. Modification times are not
// restored.
//
// Extract refuses, with an error naming the entry, any entry that would land
// outside dir (absolute names, "..", writing through a symlink), symlinks
// pointing outside dir unless Options.AllowExternalSymlinks is set, entry
// types other than the above, and archives beyond Options.MaxBytes or
// Options.MaxEntries. Corrupt or truncated archives give an error matching
// ErrCorrupt. On any error, Extract removes what it wrote, leaving dir empty.
func Extract(payload []byte, dir string, opt Options) (err error) {
	lim, err := opt.check()
	if err != nil {
		return err
	}
	if len(payload) == 0 {
		return ErrEmpty
	}
	if err := prepareDir(dir); err != nil {
		return err
	}
	x := &extractor{dir: dir, lim: lim, allowExternal: opt.AllowExternalSymlinks, dirs: map[string]bool{}}
	defer func() {
		if err != nil {
			if cerr := emptyDir(dir); cerr != nil {
				err = errors.Join(err, cerr)
			}
		}
	}()
	switch Detect(payload) {
	case Zip:
		return x.unzip(payload, opt.SaveJar)
	case TarGz:
		return x.untar(payload)
	default:
		return x.whole(payload, "exec", 0o755)
	}
}

// prepareDir creates dir and checks that it is empty.
func prepareDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("archive: creating the action directory: %w", err)
	}
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("archive: opening the action directory: %w", err)
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	if err != nil && err != io.EOF {
		return fmt.Errorf("archive: reading the action directory: %w", err)
	}
	if len(names) > 0 {
		return because(ErrDirNotEmpty, "archive: destination directory %s is not empty (it holds %q)", dir, names[0])
	}
	return nil
}

// emptyDir removes everything inside dir. RemoveAll never follows symlinks.
func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("archive: cleaning up after the failed extraction: %w", err)
	}
	var errs []error
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("archive: cleaning up after the failed extraction: %w", errors.Join(errs...))
	}
	return nil
}

// extractor writes entries under dir, one at a time, keeping the running
// totals the limits apply to. It is used by one goroutine.
type extractor struct {
	dir           string
	format        string // "zip" or "tar.gz", for errors
	lim           limits
	allowExternal bool
	written       int64
	// dirs holds the relative paths (slash-separated) known to be real
	// directories. Extract never replaces a directory, so an entry stays
	// valid once added.
	dirs map[string]bool
}

// whole writes payload as the single file dir/name.
func (x *extractor) whole(payload []byte, name string, perm fs.FileMode) error {
	if x.lim.maxBytes >= 0 && int64(len(payload)) > x.lim.maxBytes {
		return because(ErrTooLarge, "archive: payload of %d bytes exceeds the limit of %d bytes", len(payload), x.lim.maxBytes)
	}
	full := filepath.Join(x.dir, name)
	f, err := os.OpenFile(full, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("archive: writing %s: %w", name, err)
	}
	_, err = f.Write(payload)
	if err == nil {
		err = f.Chmod(perm)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("archive: writing %s: %w", name, err)
	}
	x.written += int64(len(payload))
	return nil
}

// cleanName validates an entry name and returns it cleaned, slash-separated
// and relative to dir; "." stands for dir itself.
func cleanName(name string) (string, error) {
	if name == "" {
		return "", because(ErrInvalidName, "archive: empty entry name")
	}
	if strings.IndexByte(name, 0) >= 0 {
		return "", because(ErrInvalidName, "archive: entry name contains a NUL byte")
	}
	if strings.HasPrefix(name, "/") {
		return "", because(ErrPathEscapes, "archive: absolute path escapes the action directory")
	}
	rel := path.Clean(name)
	if rel == "." {
		return rel, nil
	}
	if !filepath.IsLocal(filepath.FromSlash(rel)) {
		return "", ErrPathEscapes
	}
	return rel, nil
}

// fileMode keeps the permission bits of m, with def standing in for 0.
func fileMode(m, def fs.FileMode) fs.FileMode {
	if p := m.Perm(); p != 0 {
		return p
	}
	return def
}

// parents makes sure every parent of rel exists as a real directory,
// creating missing ones with mode 0755. It never follows a symlink.
func (x *extractor) parents(rel string) error {
	for i := 0; i < len(rel); i++ {
		if rel[i] != '/' {
			continue
		}
		if err := x.ensureDir(rel[:i]); err != nil {
			return err
		}
	}
	return nil
}

// ensureDir makes sure the parent directory rel exists and is a real
// directory.
func (x *extractor) ensureDir(rel string) error {
	if x.dirs[rel] {
		return nil
	}
	full := filepath.Join(x.dir, filepath.FromSlash(rel))
	fi, err := os.Lstat(full)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.Mkdir(full, 0o755); err != nil {
			return err
		}
	case err != nil:
		return err
	case fi.Mode()&fs.ModeSymlink != 0:
		return because(ErrThroughSymlink, "archive: parent %q is a symlink", rel)
	case !fi.IsDir():
		return because(ErrConflict, "archive: parent %q is not a directory", rel)
	}
	x.dirs[rel] = true
	return nil
}

// checkParents is parents without creating anything: it fails unless every
// parent of rel is a real directory.
func (x *extractor) checkParents(rel string) error {
	for i := 0; i < len(rel); i++ {
		if rel[i] != '/' {
			continue
		}
		p := rel[:i]
		if x.dirs[p] {
			continue
		}
		fi, err := os.Lstat(filepath.Join(x.dir, filepath.FromSlash(p)))
		switch {
		case err != nil:
			return err
		case fi.Mode()&fs.ModeSymlink != 0:
			return because(ErrThroughSymlink, "archive: %q is a symlink", p)
		case !fi.IsDir():
			return because(ErrConflict, "archive: %q is not a directory", p)
		}
		x.dirs[p] = true
	}
	return nil
}

// clear removes a non-directory at rel so that a later entry replaces an
// earlier one without writing through it; a directory there is a conflict.
func (x *extractor) clear(rel, full string) error {
	fi, err := os.Lstat(full)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case fi.IsDir():
		return because(ErrConflict, "archive: a directory named %q was extracted earlier", rel)
	}
	return os.Remove(full)
}

// mkdir creates (or re-modes) the directory rel.
func (x *extractor) mkdir(rel string, perm fs.FileMode) error {
	if rel == "." {
		return nil
	}
	if err := x.parents(rel); err != nil {
		return err
	}
	full := filepath.Join(x.dir, filepath.FromSlash(rel))
	perm |= 0o700
	fi, err := os.Lstat(full)
	switch {
	case err == nil && fi.IsDir():
	case err == nil:
		if err := os.Remove(full); err != nil {
			return err
		}
		fallthrough
	case errors.Is(err, fs.ErrNotExist):
		if err := os.Mkdir(full, perm); err != nil {
			return err
		}
	default:
		return err
	}
	x.dirs[rel] = true
	return os.Chmod(full, perm)
}

// file writes the regular file rel from r, counting its bytes against
// MaxBytes.
func (x *extractor) file(rel string, r io.Reader, perm fs.FileMode) error {
	if rel == "." {
		return because(ErrInvalidName, "archive: a file cannot replace the action directory")
	}
	if err := x.parents(rel); err != nil {
		return err
	}
	full := filepath.Join(x.dir, filepath.FromSlash(rel))
	if err := x.clear(rel, full); err != nil {
		return err
	}
	// O_EXCL: never open through a symlink, even one raced in.
	f, err := os.OpenFile(full, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	err = x.copy(f, r)
	if err == nil {
		err = f.Chmod(perm)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// copy copies r to w, failing with ErrTooLarge once MaxBytes would be
// passed. An error reading r marks the archive as corrupt.
func (x *extractor) copy(w io.Writer, r io.Reader) error {
	src := &readTracker{r: r}
	var n int64
	var err error
	left := x.lim.maxBytes - x.written
	limited := x.lim.maxBytes >= 0 && left < math.MaxInt64
	if limited {
		n, err = io.Copy(w, io.LimitReader(src, left+1))
	} else {
		n, err = io.Copy(w, src)
	}
	x.written += n
	switch {
	case limited && n > left:
		return x.tooLarge()
	case err == nil:
		return nil
	case err == src.err && !errors.Is(err, ErrTooLarge):
		return corrupt(x.format, err)
	default:
		return err
	}
}

// readTracker remembers the error its reader returned, to tell read errors
// from write errors after io.Copy.
type readTracker struct {
	r   io.Reader
	err error
}

func (t *readTracker) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF {
		t.err = err
	}
	return n, err
}

func (x *extractor) tooLarge() error {
	return because(ErrTooLarge, "archive: uncompressed size exceeds the limit of %d bytes", x.lim.maxBytes)
}

// checkLinkTarget validates a raw link target's syntax.
func checkLinkTarget(target string) error {
	switch {
	case target == "":
		return because(ErrInvalidLink, "archive: empty link target")
	case len(target) > maxLinkTarget:
		return because(ErrInvalidLink, "archive: link target of %d bytes is longer than %d", len(target), maxLinkTarget)
	case strings.IndexByte(target, 0) >= 0:
		return because(ErrInvalidLink, "archive: link target contains a NUL byte")
	}
	return nil
}

// symlink creates the symlink rel -> target.
//
// Unless external links are allowed, target must stay inside dir. Checking
// it lexically is sound because every path component below dir that
// Extract walks through is a real directory, and every symlink it creates
// is itself checked: a relative target's leading ".." elements climb real
// directories, and the rest only descends. A ".." after a name is refused,
// since the name may be a symlink and the kernel resolves it before
// applying "..".
func (x *extractor) symlink(rel, target string) error {
	if rel == "." {
		return because(ErrInvalidName, "archive: a symlink cannot replace the action directory")
	}
	if err := checkLinkTarget(target); err != nil {
		return err
	}
	if !x.allowExternal {
		if err := linkStaysInside(rel, target); err != nil {
			return err
		}
	}
	if err := x.parents(rel); err != nil {
		return err
	}
	full := filepath.Join(x.dir, filepath.FromSlash(rel))
	if err := x.clear(rel, full); err != nil {
		return err
	}
	return os.Symlink(target, full)
}

// linkStaysInside reports whether the symlink rel -> target provably
// resolves inside the action directory (see symlink).
func linkStaysInside(rel, target string) error {
	if strings.HasPrefix(target, "/") {
		return because(ErrSymlinkEscapes, "archive: absolute symlink target %q escapes the action directory", target)
	}
	named := false
	for _, elem := range strings.Split(target, "/") {
		switch elem {
		case "", ".":
		case "..":
			if named {
				return because(ErrSymlinkEscapes, "archive: symlink target %q may escape the action directory (\"..\" after a name)", target)
			}
		default:
			named = true
		}
	}
	resolved := path.Join(path.Dir(rel), target)
	if !filepath.IsLocal(filepath.FromSlash(resolved)) {
		return because(ErrSymlinkEscapes, "archive: symlink target %q escapes the action directory", target)
	}
	return nil
}

// hardlink creates rel as a hard link to target, a regular file extracted
// earlier (tar only).
func (x *extractor) hardlink(rel, target string) error {
	if rel == "." {
		return because(ErrInvalidName, "archive: a hard link cannot replace the action directory")
	}
	if err := checkLinkTarget(target); err != nil {
		return err
	}
	trel, err := cleanName(target)
	if err != nil {
		return because(ErrPathEscapes, "archive: hard link target %q escapes the action directory", target)
	}
	if err := x.checkParents(trel); err != nil {
		return because(ErrInvalidLink, "archive: hard link target %q: %s", target, strings.TrimPrefix(err.Error(), "archive: "))
	}
	tfull := filepath.Join(x.dir, filepath.FromSlash(trel))
	if fi, err := os.Lstat(tfull); err != nil || !fi.Mode().IsRegular() {
		return because(ErrInvalidLink, "archive: hard link target %q is not a regular file extracted earlier", target)
	}
	if err := x.parents(rel); err != nil {
		return err
	}
	full := filepath.Join(x.dir, filepath.FromSlash(rel))
	if full == tfull {
		return because(ErrInvalidLink, "archive: hard link to itself")
	}
	if err := x.clear(rel, full); err != nil {
		return err
	}
	return os.Link(tfull, full)
}
