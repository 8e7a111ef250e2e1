package archive_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/action-proxy/archive"
)

func TestExtractPlain(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
	}{
		{"shell script", shellFile},
		{"elf", elfOfSize(200)},
		{"go source", []byte("package main\nfunc main() {}\n")},
		{"mach-o", machoHead},
		{"pe", peHead},
		{"three-byte gzip magic", gzHead[:3]},
		{"zip-like prefix", []byte("PK\x03")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "action", "1", "src")
			if err := archive.Extract(tt.payload, dir, archive.Options{}); err != nil {
				t.Fatalf("Extract: %v", err)
			}
			want := map[string]string{"exec": "file 755 " + string(tt.payload)}
			if d := diffTrees(readTree(t, dir), want); d != "" {
				t.Errorf("tree differs:\n%s", d)
			}
		})
	}
}

// TestExtractArchives runs the same trees through zip and tar.gz.
func TestExtractArchives(t *testing.T) {
	tests := []struct {
		name    string
		entries []entry
		want    map[string]string
	}{
		{
			name: "subdirectories and modes",
			entries: []entry{
				dir("lib/", 0o750),
				file("exec", "#!/bin/sh\necho hi\n", 0o755),
				file("lib/exec.py", "print(1)", 0o644),
				file("lib/action/main.py", "def main(a): return a", 0o600),
				file("lib/ro.txt", "ro", 0o444),
			},
			want: map[string]string{
				"exec":               "file 755 #!/bin/sh\necho hi\n",
				"lib":                "dir 750",
				"lib/exec.py":        "file 644 print(1)",
				"lib/action":         "dir 755",
				"lib/action/main.py": "file 600 def main(a): return a",
				"lib/ro.txt":         "file 444 ro",
			},
		},
		{
			name:    "missing parent directories",
			entries: []entry{file("a/b/c/d.txt", "d", 0o644), symlink("x/y/link", "../../a")},
			want: map[string]string{
				"a": "dir 755", "a/b": "dir 755", "a/b/c": "dir 755", "a/b/c/d.txt": "file 644 d",
				"x": "dir 755", "x/y": "dir 755", "x/y/link": "link -> ../../a",
			},
		},
		{
			name: "symlinks kept",
			entries: []entry{
				file("lib/real.py", "x", 0o644),
				symlink("lib/link.py", "real.py"),
				symlink("bin/main.py", "../lib/real.py"),
				symlink("libdir", "lib"),
				symlink("here", "."),
				symlink("dangling", "nowhere/at/all"),
				symlink("dotted", "./lib/real.py"),
			},
			want: map[string]string{
				"lib": "dir 755", "lib/real.py": "file 644 x", "lib/link.py": "link -> real.py",
				"bin": "dir 755", "bin/main.py": "link -> ../lib/real.py",
				"libdir": "link -> lib", "here": "link -> .", "dangling": "link -> nowhere/at/all",
				"dotted": "link -> ./lib/real.py",
			},
		},
		{
			name:    "dot-slash names",
			entries: []entry{dir("./", 0o755), dir("./d/", 0o755), file("./exec", "x", 0o755), file("./d/f", "f", 0o644)},
			want:    map[string]string{"exec": "file 755 x", "d": "dir 755", "d/f": "file 644 f"},
		},
		{
			name:    "a later entry replaces an earlier file",
			entries: []entry{file("exec", "old and longer content", 0o644), file("exec", "new", 0o755)},
			want:    map[string]string{"exec": "file 755 new"},
		},
		{
			name:    "a file replaces a symlink instead of writing through it",
			entries: []entry{file("target", "t", 0o644), symlink("exec", "target"), file("exec", "real", 0o755)},
			want:    map[string]string{"target": "file 644 t", "exec": "file 755 real"},
		},
		{
			name:    "a directory replaces a symlink",
			entries: []entry{symlink("d", "e"), dir("e/", 0o755), dir("d/", 0o755), file("d/f", "f", 0o644)},
			want:    map[string]string{"d": "dir 755", "d/f": "file 644 f", "e": "dir 755"},
		},
		{
			name:    "permission 0 gets a default",
			entries: []entry{file("f", "x", 0), dir("d/", 0)},
			want:    map[string]string{"f": "file 644 x", "d": "dir 755"},
		},
		{
			name:    "setuid dropped",
			entries: []entry{file("f", "x", 0o755|fs.ModeSetuid)},
			want:    map[string]string{"f": "file 755 x"},
		},
		{
			name:    "directories keep owner rwx",
			entries: []entry{dir("ro/", 0o555), file("ro/f", "x", 0o644), dir("later/", 0o500)},
			want:    map[string]string{"ro": "dir 755", "ro/f": "file 644 x", "later": "dir 700"},
		},
		{
			name:    "a directory entry after its files sets its mode",
			entries: []entry{file("d/f", "x", 0o644), dir("d/", 0o750)},
			want:    map[string]string{"d": "dir 750", "d/f": "file 644 x"},
		},
		{
			name:    "dot-dot that stays inside",
			entries: []entry{file("a/../b", "x", 0o644)},
			want:    map[string]string{"b": "file 644 x"},
		},
		{
			name:    "empty file",
			entries: []entry{file("empty", "", 0o644)},
			want:    map[string]string{"empty": "file 644 "},
		},
	}
	for _, f := range formats {
		for _, tt := range tests {
			t.Run(f.name+"/"+tt.name, func(t *testing.T) {
				root, action, _ := sandbox(t)
				if err := archive.Extract(f.build(t, tt.entries...), action, archive.Options{}); err != nil {
					t.Fatalf("Extract: %v", err)
				}
				if d := diffTrees(readTree(t, action), tt.want); d != "" {
					t.Errorf("tree differs:\n%s", d)
				}
				checkSandbox(t, root)
			})
		}
	}
}

func TestExtractZipOnly(t *testing.T) {
	issue62 := readFixture(t, "issue62.zip")
	tests := []struct {
		name    string
		payload []byte
		want    map[string]string
	}{
		{
			name:    "windows zip without unix modes",
			payload: zipOf(t, entry{name: "d/", fat: true}, entry{name: "d/f.py", body: "x", fat: true}),
			want:    map[string]string{"d": "dir 766", "d/f.py": "file 666 x"},
		},
		{
			name:    "issue 62",
			payload: issue62,
			want:    map[string]string{"index.php": "file 664 <?php\nfunction niam(array $args) {\n    return [result => \"it works\"];\n}\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "src")
			if err := archive.Extract(tt.payload, dir, archive.Options{}); err != nil {
				t.Fatalf("Extract: %v", err)
			}
			if d := diffTrees(readTree(t, dir), tt.want); d != "" {
				t.Errorf("tree differs:\n%s", d)
			}
		})
	}
}

func TestExtractTarOnly(t *testing.T) {
	tests := []struct {
		name    string
		entries []entry
		want    map[string]string
		same    [][2]string // pairs of paths that must be the same file
	}{
		{
			name:    "hard link",
			entries: []entry{file("a/f", "body", 0o640), hardlink("b/g", "a/f")},
			want:    map[string]string{"a": "dir 755", "a/f": "file 640 body", "b": "dir 755", "b/g": "file 640 body"},
			same:    [][2]string{{"a/f", "b/g"}},
		},
		{
			name:    "hard link with a dot-slash target",
			entries: []entry{file("./f", "body", 0o644), hardlink("./g", "./f")},
			want:    map[string]string{"f": "file 644 body", "g": "file 644 body"},
			same:    [][2]string{{"f", "g"}},
		},
		{
			name:    "pax global header skipped",
			entries: []entry{{name: "pax_global_header", typ: tar.TypeXGlobalHeader}, file("exec", "x", 0o755)},
			want:    map[string]string{"exec": "file 755 x"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "src")
			if err := archive.Extract(tarGzOf(t, tt.entries...), dir, archive.Options{}); err != nil {
				t.Fatalf("Extract: %v", err)
			}
			if d := diffTrees(readTree(t, dir), tt.want); d != "" {
				t.Errorf("tree differs:\n%s", d)
			}
			for _, pair := range tt.same {
				a, errA := os.Stat(filepath.Join(dir, pair[0]))
				b, errB := os.Stat(filepath.Join(dir, pair[1]))
				if errA != nil || errB != nil || !os.SameFile(a, b) {
					t.Errorf("%s and %s are not the same file (%v, %v)", pair[0], pair[1], errA, errB)
				}
			}
		})
	}
}

func TestExtractJar(t *testing.T) {
	jarEntries := []entry{file("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n", 0o644), file("Hello.class", "cafebabe", 0o644)}
	jar := zipOf(t, jarEntries...)
	unpacked := map[string]string{
		"META-INF": "dir 755", "META-INF/MANIFEST.MF": "file 644 Manifest-Version: 1.0\n", "Hello.class": "file 644 cafebabe",
	}
	tests := []struct {
		name    string
		payload []byte
		saveJar string
		want    map[string]string
	}{
		{"jar saved whole", jar, "exec.jar", map[string]string{"exec.jar": "file 644 " + string(jar)}},
		{"jar unpacked without SaveJar", jar, "", unpacked},
		{
			"zip without manifest unpacked",
			zipOf(t, file("exec", "x", 0o755)), "exec.jar",
			map[string]string{"exec": "file 755 x"},
		},
		{
			"manifest name is case sensitive",
			zipOf(t, file("meta-inf/manifest.mf", "m", 0o644)), "exec.jar",
			map[string]string{"meta-inf": "dir 755", "meta-inf/manifest.mf": "file 644 m"},
		},
		{"tar.gz is never a jar", tarGzOf(t, jarEntries...), "exec.jar", unpacked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "src")
			if err := archive.Extract(tt.payload, dir, archive.Options{SaveJar: tt.saveJar}); err != nil {
				t.Fatalf("Extract: %v", err)
			}
			if d := diffTrees(readTree(t, dir), tt.want); d != "" {
				t.Errorf("tree differs:\n%s", d)
			}
		})
	}
}

func TestExtractBadOptions(t *testing.T) {
	for _, name := range []string{"../exec.jar", "a/exec.jar", "/tmp/exec.jar", ".", "..", "a\x00b"} {
		t.Run(fmt.Sprintf("SaveJar %q", name), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "src")
			err := archive.Extract(zipOf(t, file("META-INF/MANIFEST.MF", "m", 0o644)), dir, archive.Options{SaveJar: name})
			if !errors.Is(err, archive.ErrInvalidOptions) {
				t.Errorf("Extract error = %v, want ErrInvalidOptions", err)
			}
		})
	}
}

// TestExtractRefused checks every way out of the action directory, and
// other bad entries, for both archive formats. In messages, %[1]s is
// "zip" or "tar"; in link targets, $OUTSIDE is the sandbox's outside
// directory.
func TestExtractRefused(t *testing.T) {
	tests := []struct {
		name     string
		only     string // "zip" or "tar.gz" to run on one format only
		entries  []entry
		external bool
		want     error
		msg      string
	}{
		{
			name:    "dot-dot",
			entries: []entry{file("../x", "x", 0o644)},
			want:    archive.ErrPathEscapes,
			msg:     `archive: %[1]s entry "../x": path escapes the action directory`,
		},
		{
			name:    "nested dot-dot",
			entries: []entry{file("ok", "x", 0o644), file("a/b/../../../outside/marker", "pwned", 0o644)},
			want:    archive.ErrPathEscapes,
			msg:     `archive: %[1]s entry "a/b/../../../outside/marker": path escapes the action directory`,
		},
		{
			name:    "absolute path",
			entries: []entry{file("/tmp/wsk-archive-test-x", "x", 0o644)},
			want:    archive.ErrPathEscapes,
			msg:     `archive: %[1]s entry "/tmp/wsk-archive-test-x": absolute path escapes the action directory`,
		},
		{
			name:    "symlink up",
			entries: []entry{symlink("l", "../outside")},
			want:    archive.ErrSymlinkEscapes,
			msg:     `archive: %[1]s entry "l": symlink target "../outside" escapes the action directory`,
		},
		{
			name:    "nested symlink up",
			entries: []entry{symlink("a/b/l", "../../../x")},
			want:    archive.ErrSymlinkEscapes,
		},
		{
			name:    "absolute symlink",
			entries: []entry{symlink("python", "/usr/bin/python3")},
			want:    archive.ErrSymlinkEscapes,
			msg:     `archive: %[1]s entry "python": absolute symlink target "/usr/bin/python3" escapes the action directory`,
		},
		{
			name:    "dot-dot after a symlink",
			entries: []entry{symlink("s", "."), symlink("t", "s/../outside")},
			want:    archive.ErrSymlinkEscapes,
			msg:     `archive: %[1]s entry "t": symlink target "s/../outside" may escape the action directory (".." after a name)`,
		},
		{
			name:    "write through an inner symlink",
			entries: []entry{dir("sub/", 0o755), symlink("l", "sub"), file("l/x", "x", 0o644)},
			want:    archive.ErrThroughSymlink,
			msg:     `archive: %[1]s entry "l/x": parent "l" is a symlink`,
		},
		{
			name:     "write through an absolute symlink",
			entries:  []entry{symlink("l", "$OUTSIDE"), file("l/marker", "pwned", 0o644)},
			external: true,
			want:     archive.ErrThroughSymlink,
		},
		{
			name:     "write through a relative symlink",
			entries:  []entry{symlink("a/l", "../../outside"), file("a/l/new", "pwned", 0o644)},
			external: true,
			want:     archive.ErrThroughSymlink,
		},
		{
			name:     "directory through a symlink",
			entries:  []entry{symlink("l", "$OUTSIDE"), dir("l/new/", 0o755)},
			external: true,
			want:     archive.ErrThroughSymlink,
		},
		{
			name:     "symlink through a symlink",
			entries:  []entry{symlink("l", "$OUTSIDE"), symlink("l/marker", "x")},
			external: true,
			want:     archive.ErrThroughSymlink,
		},
		{
			name:    "file under a file",
			entries: []entry{file("a", "x", 0o644), file("a/b", "y", 0o644)},
			want:    archive.ErrConflict,
			msg:     `archive: %[1]s entry "a/b": parent "a" is not a directory`,
		},
		{
			name:    "file over a directory",
			entries: []entry{dir("a/", 0o755), file("a", "x", 0o644)},
			want:    archive.ErrConflict,
			msg:     `archive: %[1]s entry "a": a directory named "a" was extracted earlier`,
		},
		{
			name:    "symlink over a directory",
			entries: []entry{dir("a/", 0o755), symlink("a", "b")},
			want:    archive.ErrConflict,
		},
		{
			name:    "empty symlink target",
			entries: []entry{symlink("l", "")},
			want:    archive.ErrInvalidLink,
			msg:     `archive: %[1]s entry "l": empty link target`,
		},
		{
			name:    "long symlink target",
			entries: []entry{symlink("l", strings.Repeat("a/", 3000))},
			want:    archive.ErrInvalidLink,
		},
		{
			name:    "file named dot",
			entries: []entry{file(".", "x", 0o644)},
			want:    archive.ErrInvalidName,
		},
		{
			name:    "hard link out",
			only:    "tar.gz",
			entries: []entry{hardlink("h", "../outside/marker")},
			want:    archive.ErrPathEscapes,
			msg:     `archive: tar entry "h": hard link target "../outside/marker" escapes the action directory`,
		},
		{
			name:    "absolute hard link",
			only:    "tar.gz",
			entries: []entry{hardlink("h", "/etc/passwd")},
			want:    archive.ErrPathEscapes,
		},
		{
			name:    "hard link to a missing file",
			only:    "tar.gz",
			entries: []entry{hardlink("h", "nope")},
			want:    archive.ErrInvalidLink,
			msg:     `archive: tar entry "h": hard link target "nope" is not a regular file extracted earlier`,
		},
		{
			name:    "hard link to a directory",
			only:    "tar.gz",
			entries: []entry{dir("d/", 0o755), hardlink("h", "d")},
			want:    archive.ErrInvalidLink,
		},
		{
			name:     "hard link to a symlink",
			only:     "tar.gz",
			entries:  []entry{symlink("l", "$OUTSIDE/marker"), hardlink("h", "l")},
			external: true,
			want:     archive.ErrInvalidLink,
		},
		{
			name:     "hard link through a symlink",
			only:     "tar.gz",
			entries:  []entry{symlink("l", "$OUTSIDE"), hardlink("h", "l/marker")},
			external: true,
			want:     archive.ErrInvalidLink,
		},
		{
			name:    "character device",
			only:    "tar.gz",
			entries: []entry{{name: "dev", typ: tar.TypeChar}},
			want:    archive.ErrUnsupportedType,
			msg:     `archive: tar entry "dev": unsupported entry type '3' (character device)`,
		},
		{
			name:    "fifo",
			only:    "tar.gz",
			entries: []entry{{name: "fifo", typ: tar.TypeFifo}},
			want:    archive.ErrUnsupportedType,
		},
		{
			name:    "named pipe",
			only:    "zip",
			entries: []entry{{name: "fifo", mode: fs.ModeNamedPipe | 0o644}},
			want:    archive.ErrUnsupportedType,
			msg:     `archive: zip entry "fifo": unsupported entry type p---------`,
		},
		{
			name:    "NUL in a name",
			only:    "zip",
			entries: []entry{file("a\x00b", "x", 0o644)},
			want:    archive.ErrInvalidName,
		},
	}
	for _, f := range formats {
		for _, tt := range tests {
			if tt.only != "" && tt.only != f.name {
				continue
			}
			t.Run(f.name+"/"+tt.name, func(t *testing.T) {
				root, action, outside := sandbox(t)
				entries := make([]entry, len(tt.entries))
				for i, e := range tt.entries {
					e.link = strings.ReplaceAll(e.link, "$OUTSIDE", outside)
					entries[i] = e
				}
				err := archive.Extract(f.build(t, entries...), action, archive.Options{AllowExternalSymlinks: tt.external})
				if !errors.Is(err, tt.want) {
					t.Fatalf("Extract error = %v, want %v", err, tt.want)
				}
				var ee *archive.EntryError
				if !errors.As(err, &ee) {
					t.Errorf("Extract error %v is not an *EntryError", err)
				}
				format := strings.TrimSuffix(f.name, ".gz")
				if want := strings.ReplaceAll(tt.msg, "%[1]s", format); tt.msg != "" && err.Error() != want {
					t.Errorf("Extract error:\n got %s\nwant %s", err, want)
				}
				if !isEmptyDir(t, action) {
					t.Errorf("action directory not empty after the error: %v", readTree(t, action))
				}
				checkSandbox(t, root)
			})
		}
	}
}

// TestExtractExternalSymlinks checks that links out of the action
// directory, as in a Python virtualenv, are kept when allowed.
func TestExtractExternalSymlinks(t *testing.T) {
	entries := []entry{
		symlink("virtualenv/bin/python", "/usr/local/bin/python3"),
		symlink("virtualenv/bin/python3", "python"),
		symlink("virtualenv/lib64", "lib"),
		dir("virtualenv/lib/", 0o755),
		symlink("up", "../../somewhere"),
		symlink("t", "virtualenv/../.."),
	}
	want := map[string]string{
		"virtualenv":             "dir 755",
		"virtualenv/bin":         "dir 755",
		"virtualenv/bin/python":  "link -> /usr/local/bin/python3",
		"virtualenv/bin/python3": "link -> python",
		"virtualenv/lib64":       "link -> lib",
		"virtualenv/lib":         "dir 755",
		"up":                     "link -> ../../somewhere",
		"t":                      "link -> virtualenv/../..",
	}
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) {
			payload := f.build(t, entries...)
			root, action, _ := sandbox(t)
			if err := archive.Extract(payload, action, archive.Options{AllowExternalSymlinks: true}); err != nil {
				t.Fatalf("Extract: %v", err)
			}
			if d := diffTrees(readTree(t, action), want); d != "" {
				t.Errorf("tree differs:\n%s", d)
			}
			checkSandbox(t, root)

			strict := filepath.Join(t.TempDir(), "strict")
			if err := archive.Extract(payload, strict, archive.Options{}); !errors.Is(err, archive.ErrSymlinkEscapes) {
				t.Errorf("Extract without AllowExternalSymlinks: error = %v, want ErrSymlinkEscapes", err)
			}
		})
	}
}

// TestExtractReplacesOutsideSymlink checks that an entry with the name of
// an earlier symlink pointing outside replaces the link and leaves its
// target alone.
func TestExtractReplacesOutsideSymlink(t *testing.T) {
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) {
			root, action, outside := sandbox(t)
			payload := f.build(t,
				symlink("exec", filepath.Join(outside, "marker")),
				file("exec", "#!/bin/sh\n", 0o755),
				symlink("d", outside),
				dir("d/", 0o755),
				file("d/marker", "mine", 0o644),
			)
			if err := archive.Extract(payload, action, archive.Options{AllowExternalSymlinks: true}); err != nil {
				t.Fatalf("Extract: %v", err)
			}
			want := map[string]string{"exec": "file 755 #!/bin/sh\n", "d": "dir 755", "d/marker": "file 644 mine"}
			if d := diffTrees(readTree(t, action), want); d != "" {
				t.Errorf("tree differs:\n%s", d)
			}
			checkSandbox(t, root)
		})
	}
}

func TestExtractLimits(t *testing.T) {
	kib := strings.Repeat("k", 600)
	fourFiles := []entry{file("a", "a", 0o644), file("b", "b", 0o644), file("c", "c", 0o644), file("d", "d", 0o644)}
	tests := []struct {
		name    string
		payload []byte
		opt     archive.Options
		want    error // nil: must succeed
		msg     string
	}{
		{
			name:    "zip entries over the limit",
			payload: zipOf(t, fourFiles...),
			opt:     archive.Options{MaxEntries: 3},
			want:    archive.ErrTooManyEntries,
			msg:     "archive: zip has 4 entries, more than the limit of 3",
		},
		{
			name:    "zip entries at the limit",
			payload: zipOf(t, fourFiles...),
			opt:     archive.Options{MaxEntries: 4},
		},
		{
			name:    "tar.gz entries over the limit",
			payload: tarGzOf(t, fourFiles...),
			opt:     archive.Options{MaxEntries: 3},
			want:    archive.ErrTooManyEntries,
			msg:     "archive: tar.gz has more than the limit of 3 entries",
		},
		{
			name:    "tar.gz entries at the limit",
			payload: tarGzOf(t, fourFiles...),
			opt:     archive.Options{MaxEntries: 4},
		},
		{
			name:    "zip bytes over the limit",
			payload: zipOf(t, file("a", kib, 0o644), file("b", kib, 0o644)),
			opt:     archive.Options{MaxBytes: 1000},
			want:    archive.ErrTooLarge,
			msg:     "archive: zip expands to more than the limit of 1000 bytes",
		},
		{
			name:    "zip bytes at the limit",
			payload: zipOf(t, file("a", kib, 0o644), file("b", kib[:400], 0o644)),
			opt:     archive.Options{MaxBytes: 1000},
		},
		{
			name:    "tar.gz bytes over the limit",
			payload: tarGzOf(t, file("a", kib, 0o644), file("b", kib, 0o644)),
			opt:     archive.Options{MaxBytes: 1000},
			want:    archive.ErrTooLarge,
			msg:     `archive: tar entry "b": uncompressed size exceeds the limit of 1000 bytes`,
		},
		{
			name:    "tar.gz bytes at the limit",
			payload: tarGzOf(t, file("a", kib, 0o644), file("b", kib[:400], 0o644)),
			opt:     archive.Options{MaxBytes: 1000},
		},
		{
			name:    "tar.gz stream over the limit",
			payload: tarGzOf(t, manyGlobalHeaders(3000)...),
			opt:     archive.Options{MaxBytes: 10, MaxEntries: -1},
			want:    archive.ErrTooLarge,
			msg:     "archive: tar.gz expands to more than the limit of 1048596 bytes",
		},
		{
			name:    "plain payload over the limit",
			payload: []byte("#!/bin/sh\nexit 0\n"),
			opt:     archive.Options{MaxBytes: 10},
			want:    archive.ErrTooLarge,
			msg:     "archive: payload of 17 bytes exceeds the limit of 10 bytes",
		},
		{
			name:    "saved jar over the limit",
			payload: zipOf(t, file("META-INF/MANIFEST.MF", kib, 0o644)),
			opt:     archive.Options{MaxBytes: 100, SaveJar: "exec.jar"},
			want:    archive.ErrTooLarge,
		},
		{
			name:    "no limits",
			payload: tarGzOf(t, append(fourFiles, file("big", kib, 0o644))...),
			opt:     archive.Options{MaxBytes: -1, MaxEntries: -1},
		},
		{
			name:    "default entry limit",
			payload: zipOf(t, manyDirs(archive.DefaultMaxEntries+1)...),
			want:    archive.ErrTooManyEntries,
			msg:     "archive: zip has 100001 entries, more than the limit of 100000",
		},
		{
			name:    "default byte limit",
			payload: zipDeclaring(t, archive.DefaultMaxBytes+1),
			want:    archive.ErrTooLarge,
			msg:     "archive: zip expands to more than the limit of 1073741824 bytes",
		},
		{
			name:    "zip entry longer than declared",
			payload: zipLying(t),
			want:    archive.ErrCorrupt,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "src")
			err := archive.Extract(tt.payload, dir, tt.opt)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Extract: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Extract error = %v, want %v", err, tt.want)
			}
			if tt.msg != "" && err.Error() != tt.msg {
				t.Errorf("Extract error:\n got %s\nwant %s", err, tt.msg)
			}
			if !isEmptyDir(t, dir) {
				t.Errorf("directory not empty after the error")
			}
		})
	}
}

// manyDirs returns n directory entries.
func manyDirs(n int) []entry {
	entries := make([]entry, n)
	for i := range entries {
		entries[i] = dir(fmt.Sprintf("d%d/", i), 0o755)
	}
	return entries
}

// manyGlobalHeaders returns n PAX global headers: tar entries that create
// nothing.
func manyGlobalHeaders(n int) []entry {
	entries := make([]entry, n)
	for i := range entries {
		entries[i] = entry{name: "pax_global_header", typ: tar.TypeXGlobalHeader}
	}
	return entries
}

// zipDeclaring returns a zip whose only file claims to expand to size
// bytes (it holds one).
func zipDeclaring(tb testing.TB, size int64) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateRaw(&zip.FileHeader{Name: "bomb", Method: zip.Store, CompressedSize64: 1, UncompressedSize64: uint64(size)})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := w.Write([]byte{0}); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// zipLying returns a zip whose file declares 10 bytes but inflates to
// 1 MiB.
func zipLying(tb testing.TB) []byte {
	tb.Helper()
	var deflated bytes.Buffer
	fw := zip.NewWriter(&deflated)
	w, err := fw.CreateHeader(&zip.FileHeader{Name: "x", Method: zip.Deflate})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := w.Write(make([]byte, 1<<20)); err != nil {
		tb.Fatal(err)
	}
	if err := fw.Close(); err != nil {
		tb.Fatal(err)
	}
	r, err := zip.NewReader(bytes.NewReader(deflated.Bytes()), int64(deflated.Len()))
	if err != nil {
		tb.Fatal(err)
	}
	raw, err := r.File[0].OpenRaw()
	if err != nil {
		tb.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	hdr := r.File[0].FileHeader
	hdr.UncompressedSize64 = 10
	w, err = zw.CreateRaw(&hdr)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := io.Copy(w, raw); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}
