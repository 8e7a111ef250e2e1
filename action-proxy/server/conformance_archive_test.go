package server_test

// Payload handling of section 2.1 that the stock suites reach only through
// fixtures: corrupt archives, and archives that try to write outside the
// action directory (section 5.7), next to the symlinks that real actions
// (Python virtualenvs) need.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/action-proxy/server"
)

func TestConformanceZipSymlinksKept(t *testing.T) {
	// A virtualenv's bin/python points outside the action (Example_venv);
	// relative links inside it are kept too.
	var base string
	h := newHarness(t, func(c *server.Config) { base = c.BaseDir })
	zip := makeZip(t,
		zipEntry{Name: "exec", Body: action(t, "hello_zip.sh"), Mode: 0o755},
		zipEntry{Name: "virtualenv/bin/python", Body: "/usr/bin/python3", Mode: os.ModeSymlink | 0o777},
		zipEntry{Name: "lib/data.txt", Body: "data\n"},
		zipEntry{Name: "data.txt", Body: "lib/data.txt", Mode: os.ModeSymlink | 0o777},
	)
	h.mustInit(t, initPayload(zip, "main", nil, true))
	wantResult(t, "run", h.run(t, runPayload(map[string]any{}, nil)), `{"msg":"hello zip"}`+"\n")
	for link, target := range map[string]string{"virtualenv/bin/python": "/usr/bin/python3", "data.txt": "lib/data.txt"} {
		if got, err := os.Readlink(filepath.Join(base, "1", "bin", link)); err != nil || got != target {
			t.Errorf("%s: link to %q (%v), want %q", link, got, err, target)
		}
	}
}

func TestConformanceCorruptArchive(t *testing.T) {
	zip := makeZip(t, zipEntry{Name: "exec", Body: "#!/bin/sh\necho hi\n", Mode: 0o755})
	tgz := makeTarGz(t, zipEntry{Name: "exec", Body: "#!/bin/sh\necho hi\n", Mode: 0o755})
	tests := []struct {
		name string
		code string
	}{
		{"truncated zip", zip[:len(zip)/2]},
		{"zip magic only", "PK\x03\x04 and nothing a zip reader can use"},
		{"truncated tar.gz", tgz[:len(tgz)/2]},
	}
	for _, tc := range tests {
		for _, logged := range []bool{false, true} {
			name := tc.name
			if logged {
				name += ", OW_LOG_INIT_ERROR"
			}
			t.Run(name, func(t *testing.T) {
				h := newHarness(t, func(c *server.Config) {
					c.LogInitError = logged
					startWindow(c)
				})
				got := h.init(t, initPayload(tc.code, "main", nil, true))
				switch {
				case logged:
					oneOf(t, "init", got, response{status: 502, body: bodyNoBinary}, response{status: 502, body: bodyCannotStart})
					h.checkStreams(t, 1)
				case got.status != 502 || !strings.HasPrefix(got.body, `{"error":"`):
					t.Errorf("init: got %v, want 502 with the extraction error", got)
				}
				want(t, "run", h.run(t, runPayload(map[string]any{}, nil)), 500, bodyNoAction)
			})
		}
	}
}

func TestDefectArchiveEscape(t *testing.T) {
	// 5.7: the stock proxy joins entry names to the directory unchecked
	// (zip slip) and writes through symlinks.
	outside := t.TempDir()
	tests := []struct {
		name    string
		payload func(t *testing.T) string
	}{
		{"zip dot-dot", func(t *testing.T) string {
			return makeZip(t,
				zipEntry{Name: "exec", Body: "#!/bin/sh\n", Mode: 0o755},
				zipEntry{Name: "../../../../../../../../../../" + strings.TrimPrefix(outside, "/") + "/pwned", Body: "x"})
		}},
		{"zip absolute", func(t *testing.T) string {
			return makeZip(t,
				zipEntry{Name: "exec", Body: "#!/bin/sh\n", Mode: 0o755},
				zipEntry{Name: outside + "/pwned", Body: "x"})
		}},
		{"zip through symlink", func(t *testing.T) string {
			return makeZip(t,
				zipEntry{Name: "exec", Body: "#!/bin/sh\n", Mode: 0o755},
				zipEntry{Name: "d", Body: outside, Mode: os.ModeSymlink | 0o777},
				zipEntry{Name: "d/pwned", Body: "x"})
		}},
		{"tar.gz dot-dot", func(t *testing.T) string {
			return makeTarGz(t,
				zipEntry{Name: "exec", Body: "#!/bin/sh\n", Mode: 0o755},
				zipEntry{Name: "../../../../../../../../../../" + strings.TrimPrefix(outside, "/") + "/pwned", Body: "x"})
		}},
		{"tar.gz through symlink", func(t *testing.T) string {
			return makeTarGz(t,
				zipEntry{Name: "exec", Body: "#!/bin/sh\n", Mode: 0o755},
				zipEntry{Name: "d", Body: outside, Mode: os.ModeSymlink | 0o777},
				zipEntry{Name: "d/pwned", Body: "x"})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			got := h.init(t, initPayload(tc.payload(t), "main", nil, true))
			if got.status != 502 || !strings.Contains(got.body, "pwned") {
				t.Errorf("init: got %v, want 502 naming the entry", got)
			}
			if _, err := os.Lstat(filepath.Join(outside, "pwned")); err == nil {
				t.Fatalf("the archive wrote %s", filepath.Join(outside, "pwned"))
			}
		})
	}
}
