package archive

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// WriteZip writes a zip archive of the tree under dir to w, for the proxy's
// -compile mode. Entries are named relative to dir, in lexical order;
// directories and files keep their permission bits and modification times,
// and symlinks are stored as links (never followed), so that Extract
// recreates the tree. dir itself may be a symlink to a directory. Files
// other than regular files, directories and symlinks make it fail.
func WriteZip(w io.Writer, dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("archive: zipping %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return because(ErrNotDir, "archive: zipping %s: not a directory", dir)
	}
	fsys := os.DirFS(dir)
	zw := zip.NewWriter(w)
	err = fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if name == "." {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return addToZip(zw, fsys, name, info)
	})
	if err != nil {
		return fmt.Errorf("archive: zipping %s: %w", dir, err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("archive: zipping %s: %w", dir, err)
	}
	return nil
}

// ZipDir returns a zip archive of the tree under dir; see WriteZip.
func ZipDir(dir string) ([]byte, error) {
	var buf bytes.Buffer
	if err := WriteZip(&buf, dir); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// addToZip adds one file, directory or symlink of fsys to zw.
func addToZip(zw *zip.Writer, fsys fs.FS, name string, info fs.FileInfo) error {
	hdr := &zip.FileHeader{Name: name, Modified: info.ModTime()}
	mode := info.Mode()
	switch {
	case mode&fs.ModeSymlink != 0:
		target, err := fs.ReadLink(fsys, name)
		if err != nil {
			return err
		}
		hdr.Method = zip.Store
		hdr.SetMode(fs.ModeSymlink | 0o777)
		w, err := zw.CreateHeader(hdr)
		if err != nil {
			return err
		}
		_, err = io.WriteString(w, target)
		return err
	case mode.IsDir():
		hdr.Name += "/"
		hdr.Method = zip.Store
		hdr.SetMode(fs.ModeDir | mode.Perm())
		_, err := zw.CreateHeader(hdr)
		return err
	case mode.IsRegular():
		hdr.Method = zip.Deflate
		hdr.SetMode(mode.Perm())
		w, err := zw.CreateHeader(hdr)
		if err != nil {
			return err
		}
		f, err := fsys.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(w, f)
		return err
	default:
		return because(ErrUnsupportedType, "cannot zip %q: unsupported file type %v", name, mode.Type())
	}
}
