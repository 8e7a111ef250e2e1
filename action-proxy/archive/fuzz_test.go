package archive_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/wsk-route/wsk-route/action-proxy/archive"
)

// fuzzOptions keeps fuzzed extractions small.
var fuzzOptions = archive.Options{MaxBytes: 1 << 20, MaxEntries: 256}

// slipEntries try every way out of the action directory.
var slipEntries = []entry{
	file("ok", "fine", 0o644),
	file("../escaped", "pwned", 0o644),
	symlink("up", "../outside"),
	symlink("s", "."),
	symlink("t", "s/../outside"),
	symlink("abs", "/usr/bin/python3"),
	file("up/marker", "pwned", 0o644),
	file("up/new", "pwned", 0o644),
}

// checkExtract extracts data into a sandbox and checks the invariants that
// hold for any input: nothing outside the action directory changes, an
// error leaves the action directory empty, and (unless external links are
// allowed) every symlink that resolves lands inside the action directory.
func checkExtract(t *testing.T, data []byte, allowExternal bool) {
	root, action, _ := sandbox(t)
	opt := fuzzOptions
	opt.AllowExternalSymlinks = allowExternal
	err := archive.Extract(data, action, opt)
	if errors.Is(err, archive.ErrEmpty) {
		return
	}
	if err != nil && !isEmptyDir(t, action) {
		t.Fatalf("directory not empty after %v", err)
	}
	checkSandbox(t, root)
	if err != nil || allowExternal {
		return
	}
	realAction, err := filepath.EvalSymlinks(action)
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(action, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink == 0 {
			return err
		}
		resolved, err := filepath.EvalSymlinks(p)
		if err != nil {
			return nil // dangling or looping: points nowhere
		}
		rel, err := filepath.Rel(realAction, resolved)
		if err != nil || !(rel == "." || filepath.IsLocal(rel)) {
			target, _ := os.Readlink(p)
			t.Errorf("symlink %s -> %s resolves outside the action directory, to %s", p, target, resolved)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func FuzzExtractZip(f *testing.F) {
	issue62 := readFixture(f, "issue62.zip")
	f.Add(issue62, false)
	f.Add(readFixture(f, "infozip.zip"), false)
	f.Add(readFixture(f, "venv.zip"), false)
	f.Add(readFixture(f, "venv.zip"), true)
	f.Add(zipOf(f, sampleEntries...), false)
	f.Add(zipOf(f, file("META-INF/MANIFEST.MF", "m", 0o644), file("A.class", "x", 0o644)), false)
	f.Add(zipOf(f, dir("d/", 0o750), file("d/f", "x", 0o600), file("d/f", "y", 0o755), entry{name: "w", body: "x", fat: true}), false)
	f.Add(storedZip(f, "exec", "#!/bin/sh\necho hi\n"), false)
	for _, e := range slipEntries {
		f.Add(zipOf(f, e), false)
		f.Add(zipOf(f, e), true)
	}
	f.Add(zipOf(f, slipEntries...), true)
	f.Add(zipOf(f, symlink("s", "."), symlink("t", "s/../outside")), false)
	f.Add(zipOf(f, symlink("l", "../outside"), file("l/x", "x", 0o644)), true)
	f.Fuzz(func(t *testing.T, data []byte, allowExternal bool) {
		checkExtract(t, data, allowExternal)
	})
}

func FuzzExtractTarGz(f *testing.F) {
	// With compress set the input is a tar stream, gzipped before
	// extraction, so the fuzzer mutates tar headers directly; otherwise it
	// is the payload itself.
	add := func(b []byte, compress, allowExternal bool) { f.Add(b, compress, allowExternal) }
	add(tarOf(f, sampleEntries...), true, false)
	for _, name := range []string{"gnutar.tar.gz", "paxtar.tar.gz"} {
		b := readFixture(f, name)
		add(b, false, false)
		add(gunzip(f, b), true, false)
	}
	add(tarGzOf(f, sampleEntries...), false, false)
	add(tarOf(f, file("a/f", "body", 0o640), hardlink("b/g", "a/f"), entry{name: "g", typ: 'g'}), true, false)
	add(tarOf(f, file("./exec", "x", 0o755), file("./exec", "y", 0o700), dir("./", 0o755)), true, false)
	for _, e := range slipEntries {
		add(tarOf(f, e), true, false)
		add(tarOf(f, e), true, true)
	}
	add(tarOf(f, slipEntries...), true, true)
	add(tarOf(f, symlink("s", "."), symlink("t", "s/../outside")), true, false)
	add(tarOf(f, symlink("l", "../outside"), hardlink("h", "l/marker"), file("l/x", "x", 0o644)), true, true)
	add(tarOf(f, hardlink("h", "../outside/marker")), true, false)
	add([]byte("\x1f\x8b\x08\x00garbage"), false, false)
	f.Fuzz(func(t *testing.T, data []byte, compress, allowExternal bool) {
		if compress {
			data = gz(t, data)
		}
		checkExtract(t, data, allowExternal)
	})
}

func FuzzDetect(f *testing.F) {
	for _, b := range [][]byte{nil, zipHead, gzHead, gzHead[:3], elfOfSize(53), elfOfSize(52), machoHead, peHead, shellFile, []byte("#!"), []byte("PK\x05\x06")} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		kind := archive.Detect(b)
		// The stock proxy's rules, restated.
		wantZip := len(b) > 3 && b[0] == 'P' && b[1] == 'K' && (b[2] == 3 || b[2] == 5 || b[2] == 7) && (b[3] == 4 || b[3] == 6 || b[3] == 8)
		wantGz := len(b) > 3 && b[0] == 0x1f && b[1] == 0x8b && b[2] == 8
		want := archive.Plain
		switch {
		case wantZip:
			want = archive.Zip
		case wantGz:
			want = archive.TarGz
		}
		if kind != want {
			t.Fatalf("Detect(% x) = %v, want %v", b, kind, want)
		}
		// Only the first four bytes matter.
		if len(b) > 4 && archive.Detect(b[:4]) != kind {
			t.Fatalf("Detect depends on more than 4 bytes: % x", b)
		}
		// Only the first 53 bytes matter for executability, given the length.
		exec := archive.IsExecutableBytes(b)
		if len(b) > 53 && exec != archive.IsExecutableBytes(append(b[:53:53], 0)) {
			t.Fatalf("IsExecutableBytes depends on more than 53 bytes: % x", b)
		}
		if exec && kind != archive.Plain {
			t.Fatalf("% x is both an archive and an executable", b)
		}
		if kind.String() == "" {
			t.Fatalf("empty Kind.String")
		}
	})
}
