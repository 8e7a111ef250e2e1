package archive_test

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/action-proxy/archive"
)

// sampleEntries is a small tree with every supported entry type.
var sampleEntries = []entry{
	dir("lib/", 0o755),
	file("exec", "#!/bin/sh\nexec python3 lib/main.py\n", 0o755),
	file("lib/main.py", strings.Repeat("print('hello')\n", 20), 0o644),
	symlink("main.py", "lib/main.py"),
}

func TestExtractCorrupt(t *testing.T) {
	badCRC := storedZip(t, "hello.txt", "hello, world")
	badCRC[bytes.Index(badCRC, []byte("hello, world"))] ^= 0xff
	truncatedTar := tarOf(t, file("big", strings.Repeat("x", 2000), 0o644))
	truncatedTar = truncatedTar[:len(truncatedTar)-2000]

	tests := []struct {
		name    string
		payload []byte
		msg     string
	}{
		{"zip signature then garbage", []byte("PK\x03\x04 this is not a zip file at all"), "archive: corrupt zip: zip: not a valid zip file"},
		{"zip with damaged data", badCRC, `archive: zip entry "hello.txt": corrupt zip: zip: checksum error`},
		{"gzip magic then garbage", []byte("\x1f\x8b\x08\x00garbage"), ""},
		{"gzip of text", gz(t, []byte("hello, this is not a tar archive")), ""},
		{"tar cut inside a file", gz(t, truncatedTar), ""},
		{"gzip with a bad checksum", badGzipChecksum(t, tarOf(t, sampleEntries...)), ""},
		{"gzip followed by garbage", append(tarGzOf(t, sampleEntries...), "trailing garbage"...), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "src")
			err := archive.Extract(tt.payload, dir, archive.Options{})
			if !errors.Is(err, archive.ErrCorrupt) {
				t.Fatalf("Extract error = %v, want ErrCorrupt", err)
			}
			t.Logf("error: %v", err)
			if tt.msg != "" && err.Error() != tt.msg {
				t.Errorf("Extract error:\n got %s\nwant %s", err, tt.msg)
			}
			if !isEmptyDir(t, dir) {
				t.Errorf("directory not empty after the error")
			}
		})
	}
}

// storedZip returns a zip holding one uncompressed file.
func storedZip(tb testing.TB, name, body string) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := w.Write([]byte(body)); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// badGzipChecksum returns tarball gzipped, with its CRC-32 damaged.
func badGzipChecksum(tb testing.TB, tarball []byte) []byte {
	tb.Helper()
	b := gz(tb, tarball)
	b[len(b)-8] ^= 0xff // the CRC-32 precedes the 4-byte length
	return b
}

// TestExtractTruncated cuts valid archives at every length: each cut must
// fail with ErrCorrupt (once the archive signature is intact) and leave the
// directory empty.
func TestExtractTruncated(t *testing.T) {
	for _, f := range formats {
		payload := f.build(t, sampleEntries...)
		t.Run(f.name, func(t *testing.T) {
			base := t.TempDir()
			for n := 4; n < len(payload); n++ {
				dir := filepath.Join(base, fmt.Sprint(n))
				err := archive.Extract(payload[:n], dir, archive.Options{})
				if !errors.Is(err, archive.ErrCorrupt) {
					t.Fatalf("cut at %d of %d: error = %v, want ErrCorrupt", n, len(payload), err)
				}
				if !isEmptyDir(t, dir) {
					t.Fatalf("cut at %d of %d: directory not empty after the error", n, len(payload))
				}
			}
		})
	}
}

// TestExtractDamaged flips each byte of valid archives in turn. Some flips
// are harmless (a timestamp, say); the rest must fail cleanly, leaving the
// directory empty, and none may panic.
func TestExtractDamaged(t *testing.T) {
	for _, f := range formats {
		payload := f.build(t, sampleEntries...)
		t.Run(f.name, func(t *testing.T) {
			root, action, _ := sandbox(t)
			for i := range payload {
				damaged := bytes.Clone(payload)
				damaged[i] ^= 0xa5
				err := archive.Extract(damaged, action, archive.Options{})
				if err != nil && !isEmptyDir(t, action) {
					t.Fatalf("flip at %d: directory not empty after %v", i, err)
				}
				if err := os.RemoveAll(action); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Mkdir(action, 0o755); err != nil {
				t.Fatal(err)
			}
			checkSandbox(t, root)
		})
	}
}

func TestExtractPreconditions(t *testing.T) {
	t.Run("empty payload", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "src")
		if err := archive.Extract(nil, dir, archive.Options{}); !errors.Is(err, archive.ErrEmpty) {
			t.Errorf("Extract error = %v, want ErrEmpty", err)
		}
	})
	t.Run("directory not empty", func(t *testing.T) {
		dir := t.TempDir()
		keep := filepath.Join(dir, "keep")
		if err := os.WriteFile(keep, []byte("mine"), 0o644); err != nil {
			t.Fatal(err)
		}
		err := archive.Extract(zipOf(t, file("exec", "x", 0o755)), dir, archive.Options{})
		if !errors.Is(err, archive.ErrDirNotEmpty) {
			t.Fatalf("Extract error = %v, want ErrDirNotEmpty", err)
		}
		if b, err := os.ReadFile(keep); err != nil || string(b) != "mine" {
			t.Errorf("existing file changed: %q, %v", b, err)
		}
	})
	t.Run("existing empty directory", func(t *testing.T) {
		dir := t.TempDir()
		if err := archive.Extract(zipOf(t, file("exec", "x", 0o755)), dir, archive.Options{}); err != nil {
			t.Fatalf("Extract: %v", err)
		}
	})
	t.Run("directory is a file", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(dir, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := archive.Extract([]byte("x"), dir, archive.Options{}); err == nil {
			t.Errorf("Extract into a file: no error")
		}
	})
	t.Run("empty tar.gz", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "src")
		if err := archive.Extract(tarGzOf(t), dir, archive.Options{}); err != nil {
			t.Fatalf("Extract: %v", err)
		}
		if !isEmptyDir(t, dir) {
			t.Errorf("directory not empty")
		}
	})
}
