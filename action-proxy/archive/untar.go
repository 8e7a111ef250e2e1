package archive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math"
)

// tarHeaderAllowance is what a tar.gz stream may hold beyond twice MaxBytes:
// headers, padding and the end-of-archive blocks.
const tarHeaderAllowance = 1 << 20

// untar unpacks a gzip-compressed tar payload.
func (x *extractor) untar(payload []byte) error {
	x.format = "tar.gz"
	gz, err := gzip.NewReader(bytes.NewReader(payload))
	if err != nil {
		return corrupt("tar.gz", err)
	}
	defer gz.Close()
	var src io.Reader = gz
	if limit := x.streamLimit(); limit >= 0 {
		src = &capReader{r: gz, left: limit, err: because(ErrTooLarge, "archive: tar.gz expands to more than the limit of %d bytes", limit)}
	}
	tr := tar.NewReader(src)
	entries := 0
	last := ""
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		// ErrInsecurePath (GODEBUG tarinsecurepath=0) comes with a usable
		// header; each name is checked below, with a better message.
		if err != nil && !errors.Is(err, tar.ErrInsecurePath) {
			return x.streamError(err, last)
		}
		entries++
		if x.lim.maxEntries >= 0 && entries > x.lim.maxEntries {
			return because(ErrTooManyEntries, "archive: tar.gz has more than the limit of %d entries", x.lim.maxEntries)
		}
		last = hdr.Name
		if err := x.tarEntry(hdr, tr); err != nil {
			return &EntryError{Format: "tar", Name: hdr.Name, Err: err}
		}
	}
	// Read the rest of the stream, so that gzip checks its CRC and length
	// and a truncated payload is noticed.
	if _, err := io.Copy(io.Discard, src); err != nil {
		return x.streamError(err, "")
	}
	return nil
}

// streamError classifies an error from the decompressed stream.
func (x *extractor) streamError(err error, after string) error {
	if errors.Is(err, ErrTooLarge) {
		return err
	}
	if after != "" {
		return &reason{msg: fmt.Sprintf("archive: corrupt tar.gz after entry %q: %v", after, err), errs: []error{ErrCorrupt, err}}
	}
	return corrupt("tar.gz", err)
}

// streamLimit bounds the decompressed tar stream: twice MaxBytes plus
// tarHeaderAllowance, or -1 for no bound.
func (x *extractor) streamLimit() int64 {
	if x.lim.maxBytes < 0 || x.lim.maxBytes > (math.MaxInt64-tarHeaderAllowance)/2 {
		return -1
	}
	return 2*x.lim.maxBytes + tarHeaderAllowance
}

func (x *extractor) tarEntry(hdr *tar.Header, r io.Reader) error {
	rel, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	mode := hdr.FileInfo().Mode()
	switch hdr.Typeflag {
	case tar.TypeReg:
		if x.lim.maxBytes >= 0 && hdr.Size > x.lim.maxBytes-x.written {
			return x.tooLarge()
		}
		return x.file(rel, r, fileMode(mode, 0o644))
	case tar.TypeDir:
		return x.mkdir(rel, fileMode(mode, 0o755))
	case tar.TypeSymlink:
		return x.symlink(rel, hdr.Linkname)
	case tar.TypeLink:
		return x.hardlink(rel, hdr.Linkname)
	case tar.TypeXGlobalHeader:
		// PAX global headers carry defaults, not files.
		return nil
	default:
		return because(ErrUnsupportedType, "archive: unsupported entry type %s", tarTypeName(hdr.Typeflag))
	}
}

// tarTypeName describes a tar type flag for errors.
func tarTypeName(t byte) string {
	names := map[byte]string{
		tar.TypeChar:      "character device",
		tar.TypeBlock:     "block device",
		tar.TypeFifo:      "FIFO",
		tar.TypeCont:      "contiguous file",
		tar.TypeGNUSparse: "sparse file",
	}
	if n, ok := names[t]; ok {
		return fmt.Sprintf("%q (%s)", t, n)
	}
	return fmt.Sprintf("%q", t)
}

// capReader fails with err once more than left bytes have been read.
type capReader struct {
	r    io.Reader
	left int64
	err  error
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left < 0 {
		return 0, c.err
	}
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		return n, c.err
	}
	return n, err
}
