package archive_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/wsk-route/wsk-route/action-proxy/archive"
)

// TestExtractInterop reads archives made by Info-ZIP and GNU tar (see
// testdata/README.md).
func TestExtractInterop(t *testing.T) {
	const deep = "deep/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	const deeper = deep + "/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	tree := map[string]string{
		"exec":                                "file 755 #!/bin/sh\nexec python3 lib/main.py\n",
		"bin":                                 "dir 755",
		"bin/lib":                             "link -> ../lib",
		"empty":                               "dir 755",
		"deep":                                "dir 755",
		deep:                                  "dir 755",
		deeper:                                "dir 755",
		deeper + "/file-with-a-long-name.txt": "file 644 long\n",
		"lib":                                 "dir 750",
		"lib/main.py":                         "file 640 print(\"hello\")\n",
		"lib/hard.py":                         "file 640 print(\"hello\")\n",
		"lib/link.py":                         "link -> main.py",
	}
	venv := map[string]string{
		"__main__.py":            "file 644 def main(a):\n    return a\n",
		"virtualenv":             "dir 755",
		"virtualenv/pyvenv.cfg":  "file 644 home = /usr/local/bin\n",
		"virtualenv/lib":         "dir 755",
		"virtualenv/lib64":       "link -> lib",
		"virtualenv/bin":         "dir 755",
		"virtualenv/bin/python":  "link -> python3",
		"virtualenv/bin/python3": "link -> /usr/local/bin/python3",
	}
	tests := []struct {
		file string
		kind archive.Kind
		opt  archive.Options
		want map[string]string
		err  error
	}{
		{file: "infozip.zip", kind: archive.Zip, want: tree},
		{file: "gnutar.tar.gz", kind: archive.TarGz, want: tree},
		{file: "paxtar.tar.gz", kind: archive.TarGz, want: tree},
		{file: "venv.zip", kind: archive.Zip, opt: archive.Options{AllowExternalSymlinks: true}, want: venv},
		{file: "venv.zip", kind: archive.Zip, err: archive.ErrSymlinkEscapes},
	}
	for _, tt := range tests {
		name := tt.file
		if tt.err != nil {
			name += "/strict"
		}
		t.Run(name, func(t *testing.T) {
			payload := readFixture(t, tt.file)
			if got := archive.Detect(payload); got != tt.kind {
				t.Errorf("Detect = %v, want %v", got, tt.kind)
			}
			dir := filepath.Join(t.TempDir(), "src")
			err := archive.Extract(payload, dir, tt.opt)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("Extract error = %v, want %v", err, tt.err)
				}
				t.Logf("error: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("Extract: %v", err)
			}
			if d := diffTrees(readTree(t, dir), tt.want); d != "" {
				t.Errorf("tree differs:\n%s", d)
			}
		})
	}
}
