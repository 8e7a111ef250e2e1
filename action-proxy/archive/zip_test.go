package archive_test

import (
	"archive/zip"
	"bytes"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/wsk-route/wsk-route/action-proxy/archive"
)

// makeTree creates the tree described by entries under root (which must
// exist). Directory modes are set last, so read-only ones can be filled.
func makeTree(tb testing.TB, root string, entries ...entry) {
	tb.Helper()
	type dirMode struct {
		path string
		perm fs.FileMode
	}
	var dirs []dirMode
	for _, e := range entries {
		p := filepath.Join(root, filepath.FromSlash(e.name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		switch {
		case e.mode&fs.ModeSymlink != 0:
			if err := os.Symlink(e.link, p); err != nil {
				tb.Fatal(err)
			}
		case e.mode.IsDir():
			if err := os.MkdirAll(p, 0o755); err != nil {
				tb.Fatal(err)
			}
			dirs = append(dirs, dirMode{p, e.mode.Perm()})
		default:
			if err := os.WriteFile(p, []byte(e.body), 0o600); err != nil {
				tb.Fatal(err)
			}
			if err := os.Chmod(p, e.mode.Perm()); err != nil {
				tb.Fatal(err)
			}
		}
	}
	for _, d := range dirs {
		if err := os.Chmod(d.path, d.perm); err != nil {
			tb.Fatal(err)
		}
	}
}

func TestZipRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		entries []entry
		opt     archive.Options
	}{
		{
			name: "python sample",
			entries: []entry{
				file("exec", "#!/bin/bash\ncd \"$(dirname $0)\"\nexec python3 lib/exec.py\n", 0o755),
				file("lib/exec.py", "import action.main\n", 0o644),
				file("lib/action/__init__.py", "", 0o644),
				file("lib/action/main.py", "def main(args):\n    return {'python': 'Hello'}\n", 0o600),
			},
		},
		{
			name: "modes, empty directories and symlinks",
			entries: []entry{
				file("bin/exec", "\x7fELF...", 0o755),
				file("bin/ro.txt", "read only", 0o444),
				dir("private", 0o700),
				dir("shared", 0o750),
				dir("empty", 0o755),
				symlink("current", "bin"),
				symlink("bin/main", "exec"),
				symlink("bin/up", "../shared"),
				symlink("dangling", "not/there"),
			},
		},
		{
			name: "virtualenv with external links",
			entries: []entry{
				file("__main__.py", "def main(a): return a\n", 0o644),
				symlink("virtualenv/bin/python", "/usr/local/bin/python3"),
				symlink("virtualenv/bin/python3", "python"),
				symlink("virtualenv/lib64", "lib"),
				file("virtualenv/lib/python3.12/site-packages/x.py", "x = 1\n", 0o644),
			},
			opt: archive.Options{AllowExternalSymlinks: true},
		},
		{
			name:    "empty directory tree",
			entries: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := t.TempDir()
			makeTree(t, src, tt.entries...)
			want := readTree(t, src)

			payload, err := archive.ZipDir(src)
			if err != nil {
				t.Fatalf("ZipDir: %v", err)
			}
			var buf bytes.Buffer
			if err := archive.WriteZip(&buf, src); err != nil {
				t.Fatalf("WriteZip: %v", err)
			}
			if !bytes.Equal(buf.Bytes(), payload) {
				t.Errorf("WriteZip and ZipDir disagree")
			}
			// An empty tree gives just an end-of-directory record, "PK\x05\x06".
			if got := archive.Detect(payload); got != archive.Zip {
				t.Errorf("Detect(ZipDir output) = %v, want zip", got)
			}
			dst := filepath.Join(t.TempDir(), "bin")
			if err := archive.Extract(payload, dst, tt.opt); err != nil {
				t.Fatalf("Extract: %v", err)
			}
			if d := diffTrees(readTree(t, dst), want); d != "" {
				t.Errorf("round trip differs:\n%s", d)
			}
		})
	}
}

func TestZipEntries(t *testing.T) {
	src := t.TempDir()
	makeTree(t, src, file("b/exec", "x", 0o755), file("a", "a", 0o640), symlink("c", "b/exec"), dir("b", 0o750))
	payload, err := archive.ZipDir(src)
	if err != nil {
		t.Fatal(err)
	}
	r, err := zip.NewReader(bytes.NewReader(payload), int64(len(payload)))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name string
		mode fs.FileMode
	}{
		{"a", 0o640},
		{"b/", fs.ModeDir | 0o750},
		{"b/exec", 0o755},
		{"c", fs.ModeSymlink | 0o777},
	}
	if len(r.File) != len(want) {
		t.Fatalf("zip has %d entries, want %d", len(r.File), len(want))
	}
	for i, w := range want {
		f := r.File[i]
		if f.Name != w.name || f.Mode() != w.mode {
			t.Errorf("entry %d = %q %v, want %q %v", i, f.Name, f.Mode(), w.name, w.mode)
		}
	}
}

// TestZipJar is the stock proxy's Example_jar: a zipped tree holding
// META-INF/MANIFEST.MF is saved whole under SaveJar.
func TestZipJar(t *testing.T) {
	src := t.TempDir()
	makeTree(t, src, file("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n", 0o644), file("hello.txt", "hello", 0o644))
	payload, err := archive.ZipDir(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "unzip")
	if err := archive.Extract(payload, dst, archive.Options{SaveJar: "exec.jar"}); err != nil {
		t.Fatalf("Extract: %v", err)
	}
	want := map[string]string{"exec.jar": "file 644 " + string(payload)}
	if d := diffTrees(readTree(t, dst), want); d != "" {
		t.Errorf("tree differs:\n%s", d)
	}
}

func TestZipRootSymlink(t *testing.T) {
	base := t.TempDir()
	real := filepath.Join(base, "real")
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	makeTree(t, real, file("exec", "x", 0o755))
	link := filepath.Join(base, "link")
	if err := os.Symlink("real", link); err != nil {
		t.Fatal(err)
	}
	payload, err := archive.ZipDir(link)
	if err != nil {
		t.Fatalf("ZipDir: %v", err)
	}
	dst := filepath.Join(t.TempDir(), "out")
	if err := archive.Extract(payload, dst, archive.Options{}); err != nil {
		t.Fatalf("Extract: %v", err)
	}
	if d := diffTrees(readTree(t, dst), map[string]string{"exec": "file 755 x"}); d != "" {
		t.Errorf("tree differs:\n%s", d)
	}
}

func TestZipErrors(t *testing.T) {
	base := t.TempDir()
	notDir := filepath.Join(base, "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	withSocket := filepath.Join(base, "sock")
	if err := os.Mkdir(withSocket, 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", filepath.Join(withSocket, "s"))
	if err != nil {
		t.Fatalf("creating a unix socket: %v", err)
	}
	defer l.Close()

	tests := []struct {
		name string
		dir  string
		want error
	}{
		{"missing", filepath.Join(base, "missing"), fs.ErrNotExist},
		{"not a directory", notDir, archive.ErrNotDir},
		{"socket inside", withSocket, archive.ErrUnsupportedType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := archive.ZipDir(tt.dir)
			if !errors.Is(err, tt.want) {
				t.Errorf("ZipDir error = %v, want %v", err, tt.want)
			}
			t.Logf("error: %v", err)
		})
	}
}
