package testenv_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/internal/testenv"
)

func TestBuildStatic(t *testing.T) {
	dir, cleanup, err := testenv.BuildStatic(map[string]string{"a": "./testdata/hello", "b": "github.com/wsk-route/wsk-route/internal/testenv/testdata/hello"})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		out, err := exec.Command(filepath.Join(dir, name), "world").Output()
		if err != nil {
			t.Fatalf("running %s: %v", name, err)
		}
		if got := strings.TrimSpace(string(out)); got != "hello world" {
			t.Errorf("%s printed %q, want %q", name, got, "hello world")
		}
	}
	cleanup()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("after cleanup, stat %s: %v; want it gone", dir, err)
	}
}

func TestBuildStaticError(t *testing.T) {
	dir, cleanup, err := testenv.BuildStatic(map[string]string{"a": "./testdata/hello", "z": "./testdata/no-such-package"})
	if err == nil {
		cleanup()
		t.Fatal("building a missing package: no error")
	}
	if !strings.Contains(err.Error(), "./testdata/no-such-package") {
		t.Errorf("error %q does not name the package", err)
	}
	if dir != "" || cleanup != nil {
		t.Errorf("on error: dir %q, cleanup set %v; want neither", dir, cleanup != nil)
	}
}
