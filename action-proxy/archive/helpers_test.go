package archive_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// entry describes one archive member for the fixture builders.
type entry struct {
	name string
	body string
	// mode holds the permission bits plus fs.ModeDir or fs.ModeSymlink
	// (or, for zip, any other type bit to store).
	mode fs.FileMode
	// link is a symlink's target, or a hard link's target when hard is set.
	link string
	hard bool
	// fat stores a zip entry without Unix mode bits, as Windows tools do.
	fat bool
	// typ, if set, overrides the tar type flag.
	typ byte
}

func file(name, body string, perm fs.FileMode) entry {
	return entry{name: name, body: body, mode: perm}
}

func dir(name string, perm fs.FileMode) entry {
	return entry{name: name, mode: fs.ModeDir | perm}
}

func symlink(name, target string) entry {
	return entry{name: name, link: target, mode: fs.ModeSymlink | 0o777}
}

func hardlink(name, target string) entry {
	return entry{name: name, link: target, hard: true}
}

// zipOf builds a zip archive of entries, in order.
func zipOf(tb testing.TB, entries ...entry) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		hdr := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		body := e.body
		switch {
		case e.mode&fs.ModeSymlink != 0:
			body = e.link
		case e.mode.IsDir() && !strings.HasSuffix(hdr.Name, "/"):
			hdr.Name += "/"
		}
		if !e.fat {
			hdr.SetMode(e.mode)
		}
		w, err := zw.CreateHeader(hdr)
		if err != nil {
			tb.Fatalf("zip entry %q: %v", e.name, err)
		}
		if _, err := w.Write([]byte(body)); err != nil {
			tb.Fatalf("zip entry %q: %v", e.name, err)
		}
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// tarOf builds an uncompressed tar archive of entries, in order.
func tarOf(tb testing.TB, entries ...entry) []byte {
	tb.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		mode := int64(e.mode.Perm())
		if e.mode&fs.ModeSetuid != 0 {
			mode |= 0o4000 // c_ISUID
		}
		hdr := &tar.Header{Name: e.name, Mode: mode, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		switch {
		case e.hard:
			hdr.Typeflag, hdr.Linkname = tar.TypeLink, e.link
		case e.mode&fs.ModeSymlink != 0:
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, e.link
		case e.mode.IsDir():
			hdr.Typeflag = tar.TypeDir
		default:
			hdr.Size = int64(len(e.body))
		}
		if e.typ != 0 {
			hdr.Typeflag = e.typ
			if e.typ == tar.TypeXGlobalHeader {
				hdr = &tar.Header{Typeflag: e.typ, Name: e.name, PAXRecords: map[string]string{"comment": "global"}, Format: tar.FormatPAX}
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			tb.Fatalf("tar entry %q: %v", e.name, err)
		}
		if hdr.Size > 0 {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				tb.Fatalf("tar entry %q: %v", e.name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// gz compresses b with gzip.
func gz(tb testing.TB, b []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// tarGzOf builds a tar.gz archive of entries, in order.
func tarGzOf(tb testing.TB, entries ...entry) []byte {
	tb.Helper()
	return gz(tb, tarOf(tb, entries...))
}

// formats lists the two archive builders, for tests run against both.
var formats = []struct {
	name  string
	build func(testing.TB, ...entry) []byte
}{
	{"zip", zipOf},
	{"tar.gz", tarGzOf},
}

// readTree describes every path under root, relative and slash-separated:
// "file 644 <body>", "dir 755" or "link -> <target>".
func readTree(tb testing.TB, root string) map[string]string {
	tb.Helper()
	tree := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			tree[rel] = "link -> " + target
		case info.IsDir():
			tree[rel] = fmt.Sprintf("dir %o", info.Mode().Perm())
		default:
			body, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			tree[rel] = fmt.Sprintf("file %o %s", info.Mode().Perm(), body)
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("reading %s: %v", root, err)
	}
	return tree
}

// diffTrees returns a readable difference between two trees, or "".
func diffTrees(got, want map[string]string) string {
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	for k := range want {
		if _, ok := got[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		g, gok := got[k]
		w, wok := want[k]
		switch {
		case !wok:
			fmt.Fprintf(&b, "  unexpected %s: %s\n", k, g)
		case !gok:
			fmt.Fprintf(&b, "  missing %s: want %s\n", k, w)
		case g != w:
			fmt.Fprintf(&b, "  %s: got %s, want %s\n", k, g, w)
		}
	}
	return b.String()
}

// sandbox returns a fresh layout root/{action,outside}, with a marker file
// in outside, for tests that check nothing leaks out of the action
// directory. action does not exist yet.
func sandbox(tb testing.TB) (root, action, outside string) {
	tb.Helper()
	root = tb.TempDir()
	action = filepath.Join(root, "action")
	outside = filepath.Join(root, "outside")
	if err := os.Mkdir(outside, 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "marker"), []byte("untouched"), 0o644); err != nil {
		tb.Fatal(err)
	}
	return root, action, outside
}

// checkSandbox fails if anything besides action/ changed under root. It
// does not read inside action/, whose files may have any mode.
func checkSandbox(tb testing.TB, root string) {
	tb.Helper()
	entries, err := os.ReadDir(root)
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "action" && e.Name() != "outside" {
			tb.Errorf("extraction created %s next to the action directory", e.Name())
		}
	}
	want := map[string]string{"marker": "file 644 untouched"}
	if d := diffTrees(readTree(tb, filepath.Join(root, "outside")), want); d != "" {
		tb.Errorf("extraction wrote outside the action directory:\n%s", d)
	}
}

// isEmptyDir reports whether dir exists and holds nothing.
func isEmptyDir(tb testing.TB, dir string) bool {
	tb.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatalf("reading %s: %v", dir, err)
	}
	return len(entries) == 0
}

// readFixture returns the contents of testdata/name.
func readFixture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// gunzip decompresses b.
func gunzip(tb testing.TB, b []byte) []byte {
	tb.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		tb.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}
