package archive

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"io/fs"
)

// manifest is the entry whose presence makes a zip a jar for SaveJar, as in
// the stock proxy.
const manifest = "META-INF/MANIFEST.MF"

// unzip unpacks a zip payload, or stores it whole as saveJar if it is a
// jar.
func (x *extractor) unzip(payload []byte, saveJar string) error {
	x.format = "zip"
	r, err := zip.NewReader(bytes.NewReader(payload), int64(len(payload)))
	// ErrInsecurePath (GODEBUG zipinsecurepath=0) comes with a usable
	// reader; each name is checked below, with a better message.
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return corrupt("zip", err)
	}
	if saveJar != "" {
		for _, f := range r.File {
			if f.Name == manifest {
				return x.whole(payload, saveJar, 0o644)
			}
		}
	}
	if x.lim.maxEntries >= 0 && len(r.File) > x.lim.maxEntries {
		return because(ErrTooManyEntries, "archive: zip has %d entries, more than the limit of %d", len(r.File), x.lim.maxEntries)
	}
	// The zip reader fails an entry whose data is longer than its declared
	// size, so the declared sizes bound what is written; refuse early.
	if x.lim.maxBytes >= 0 {
		var total uint64
		for _, f := range r.File {
			if f.Mode().IsDir() {
				continue
			}
			total += f.UncompressedSize64
			if total > uint64(x.lim.maxBytes) || total < f.UncompressedSize64 {
				return because(ErrTooLarge, "archive: zip expands to more than the limit of %d bytes", x.lim.maxBytes)
			}
		}
	}
	for _, f := range r.File {
		if err := x.zipEntry(f); err != nil {
			return &EntryError{Format: "zip", Name: f.Name, Err: err}
		}
	}
	return nil
}

func (x *extractor) zipEntry(f *zip.File) error {
	rel, err := cleanName(f.Name)
	if err != nil {
		return err
	}
	mode := f.Mode()
	switch {
	case mode&fs.ModeSymlink != 0:
		if f.UncompressedSize64 > maxLinkTarget {
			return because(ErrInvalidLink, "archive: symlink target of %d bytes is longer than %d", f.UncompressedSize64, maxLinkTarget)
		}
		target, err := readZipFile(f, maxLinkTarget+1)
		if err != nil {
			return err
		}
		return x.symlink(rel, string(target))
	case mode.IsDir():
		return x.mkdir(rel, fileMode(mode, 0o755))
	case mode.Type() == 0:
		rc, err := f.Open()
		if err != nil {
			return corrupt("zip", err)
		}
		defer rc.Close()
		return x.file(rel, rc, fileMode(mode, 0o644))
	default:
		return because(ErrUnsupportedType, "archive: unsupported entry type %v", mode.Type())
	}
}

// readZipFile reads at most limit bytes of f, verifying its checksum when it
// is shorter.
func readZipFile(f *zip.File, limit int64) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, corrupt("zip", err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit))
	if err != nil {
		return nil, corrupt("zip", err)
	}
	return b, nil
}
