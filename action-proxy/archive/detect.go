package archive

import (
	"io"
	"os"
	"strconv"
)

// Kind is the type of an /init payload, decided by its leading bytes.
type Kind int

// The payload kinds, tested in this order.
const (
	// Plain is anything that is neither a zip nor a tar.gz: a binary or a
	// source file, stored as exec.
	Plain Kind = iota
	// Zip is a zip archive (or a jar): "PK" followed by 03/05/07 and
	// 04/06/08, and at least 4 bytes.
	Zip
	// TarGz is a gzip stream holding a tar archive: 1f 8b 08, and at least
	// 4 bytes.
	TarGz
)

// String returns "plain", "zip" or "tar.gz".
func (k Kind) String() string {
	switch k {
	case Plain:
		return "plain"
	case Zip:
		return "zip"
	case TarGz:
		return "tar.gz"
	default:
		return "Kind(" + strconv.Itoa(int(k)) + ")"
	}
}

// Detect returns the kind of payload b, using exactly the stock proxy's
// tests: a zip local-file, end-of-directory or spanning signature, then the
// gzip magic with the deflate method, else Plain. Both archive tests need
// more than 3 bytes.
func Detect(b []byte) Kind {
	switch {
	case isZip(b):
		return Zip
	case isGz(b):
		return TarGz
	default:
		return Plain
	}
}

func isZip(b []byte) bool {
	return len(b) > 3 && b[0] == 'P' && b[1] == 'K' &&
		(b[2] == 3 || b[2] == 5 || b[2] == 7) &&
		(b[3] == 4 || b[3] == 6 || b[3] == 8)
}

func isGz(b []byte) bool {
	return len(b) > 3 && b[0] == 0x1f && b[1] == 0x8b && b[2] == 0x08
}

// elfMinLen is the stock proxy's bound: an ELF file must be longer than
// 52 bytes (the size of a 32-bit ELF header) to count as executable.
const elfMinLen = 52

// IsExecutableBytes reports whether b starts like a program Linux can run
// as is: an ELF binary (7f 45 4c 46, more than 52 bytes) or a script
// starting with "#!" (more than 2 bytes). This is the stock proxy's
// "already compiled" test; Mach-O and PE binaries do not count.
func IsExecutableBytes(b []byte) bool {
	isElf := len(b) > elfMinLen && b[0] == 0x7f && b[1] == 'E' && b[2] == 'L' && b[3] == 'F'
	isBang := len(b) > 2 && b[0] == '#' && b[1] == '!'
	return isElf || isBang
}

// IsExecutable reports whether the file at path passes IsExecutableBytes,
// judging by its first bytes. It follows symlinks, and reports false for a
// missing or unreadable file and for a directory.
func IsExecutable(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var head [elfMinLen + 1]byte
	n, err := io.ReadFull(f, head[:])
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return false
	}
	return IsExecutableBytes(head[:n])
}
