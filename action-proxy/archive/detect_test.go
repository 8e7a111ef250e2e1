package archive_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/wsk-route/wsk-route/action-proxy/archive"
)

// Leading bytes of the binaries in the stock proxy's Example_filetype.
var (
	elfHead   = []byte{0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00}
	machoHead = []byte{0xcf, 0xfa, 0xed, 0xfe, 0x07, 0x00, 0x00, 0x01, 0x03, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00}
	peHead    = []byte{0x4d, 0x5a, 0x90, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00}
	zipHead   = []byte{0x50, 0x4b, 0x03, 0x04, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x22, 0x60, 0x83, 0x4d, 0x00, 0x00}
	shellFile = []byte("#!/bin/sh\necho hello\n")
	gzHead    = []byte{0x1f, 0x8b, 0x08, 0x00}
)

// elfOfSize returns an ELF header padded with zeros to n bytes.
func elfOfSize(n int) []byte { return append(bytes.Clone(elfHead), make([]byte, n-len(elfHead))...) }

// withSuffix returns head followed by s.
func withSuffix(head []byte, s string) []byte { return append(bytes.Clone(head), s...) }

func TestDetect(t *testing.T) {
	issue62 := readFixture(t, "issue62.zip")
	tests := []struct {
		name string
		in   []byte
		kind archive.Kind
		exec bool
	}{
		{"empty", nil, archive.Plain, false},
		{"zip local header", zipHead, archive.Zip, false},
		{"zip end of directory", []byte("PK\x05\x06rest"), archive.Zip, false},
		{"zip spanned", []byte("PK\x07\x08rest"), archive.Zip, false},
		{"zip mixed signature", []byte("PK\x03\x08"), archive.Zip, false},
		{"zip signature only", []byte("PK\x03\x04"), archive.Zip, false},
		{"zip too short", []byte("PK\x03"), archive.Plain, false},
		{"zip bad third byte", []byte("PK\x04\x04rest"), archive.Plain, false},
		{"zip bad fourth byte", []byte("PK\x03\x05rest"), archive.Plain, false},
		{"issue 62 zip", issue62, archive.Zip, false},
		{"real zip", zipOf(t, file("exec", "#!/bin/sh\n", 0o755)), archive.Zip, false},
		{"gzip", withSuffix(gzHead, "rest"), archive.TarGz, false},
		{"gzip four bytes", gzHead, archive.TarGz, false},
		{"gzip three bytes", gzHead[:3], archive.Plain, false},
		{"gzip not deflate", []byte{0x1f, 0x8b, 0x09, 0x00}, archive.Plain, false},
		{"real tar.gz", tarGzOf(t, file("exec", "x", 0o755)), archive.TarGz, false},
		{"elf 53 bytes", elfOfSize(53), archive.Plain, true},
		{"elf 52 bytes", elfOfSize(52), archive.Plain, false},
		{"elf 4 KiB", elfOfSize(4096), archive.Plain, true},
		{"mach-o", machoHead, archive.Plain, false},
		{"pe", peHead, archive.Plain, false},
		{"shell script", shellFile, archive.Plain, true},
		{"bang path 3 bytes", []byte("#!x"), archive.Plain, true},
		{"bang path 2 bytes", []byte("#!"), archive.Plain, false},
		{"python source", []byte("def main(args):\n  return args\n"), archive.Plain, false},
		{"json", []byte(`{"code":"x"}`), archive.Plain, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := archive.Detect(tt.in); got != tt.kind {
				t.Errorf("Detect = %v, want %v", got, tt.kind)
			}
			if got := archive.IsExecutableBytes(tt.in); got != tt.exec {
				t.Errorf("IsExecutableBytes = %t, want %t", got, tt.exec)
			}
		})
	}
}

func TestKindString(t *testing.T) {
	tests := []struct {
		kind archive.Kind
		want string
	}{
		{archive.Plain, "plain"},
		{archive.Zip, "zip"},
		{archive.TarGz, "tar.gz"},
		{archive.Kind(7), "Kind(7)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.kind.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestIsExecutable(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	script := write("script", shellFile)
	link := filepath.Join(dir, "link")
	if err := os.Symlink("script", link); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		want bool
	}{
		{"elf", write("elf", elfOfSize(4096)), true},
		{"short elf", write("short-elf", elfOfSize(52)), false},
		{"script", script, true},
		{"symlink to script", link, true},
		{"mach-o", write("macho", machoHead), false},
		{"pe", write("pe", peHead), false},
		{"source", write("main.go", []byte("package main\n")), false},
		{"empty", write("empty", nil), false},
		{"directory", dir, false},
		{"missing", filepath.Join(dir, "missing"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := archive.IsExecutable(tt.path); got != tt.want {
				t.Errorf("IsExecutable(%s) = %t, want %t", filepath.Base(tt.path), got, tt.want)
			}
		})
	}
}
