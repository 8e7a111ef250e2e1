package statefile_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/wsk-route/wsk-route/internal/statefile"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	for _, content := range []string{`{"v":1}`, `{"v":2}`} {
		if err := statefile.Write(path, []byte(content)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Fatalf("read %q, %v; want %q", got, err, content)
		}
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v; want 0600", fi.Mode(), err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("%d files left in the directory, want only the state file", len(entries))
	}
	if err := statefile.Write(filepath.Join(dir, "missing", "x"), nil); err == nil {
		t.Error("writing into a missing directory: no error")
	}
}
