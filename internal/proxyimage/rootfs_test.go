package proxyimage

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"testing"
	"time"
)

func TestWriteRootfs(t *testing.T) {
	now := time.Unix(1700000000, 0)
	proxy := []byte("\x7fELF not really")
	var buf bytes.Buffer
	if err := writeRootfs(&buf, proxy, now); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name string
		typ  byte
		mode int64
		body string
	}{
		{"bin/", tar.TypeDir, 0o755, ""},
		{"action/", tar.TypeDir, 0o755, ""},
		{"tmp/", tar.TypeDir, 0o1777, ""},
		{"bin/proxy", tar.TypeReg, 0o755, string(proxy)},
	}
	tr := tar.NewReader(&buf)
	for _, w := range want {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("entry %s: %v", w.name, err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if h.Name != w.name || h.Typeflag != w.typ || h.Mode != w.mode || string(body) != w.body || !h.ModTime.Equal(now) {
			t.Errorf("entry %q type %c mode %o body %q time %v; want %q type %c mode %o body %q time %v",
				h.Name, h.Typeflag, h.Mode, body, h.ModTime, w.name, w.typ, w.mode, w.body, now)
		}
	}
	if h, err := tr.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("extra entry %v (err %v), want the end of the tarball", h, err)
	}
}
