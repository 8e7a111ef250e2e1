package exampletest_test

import (
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/examples/exampletest"
)

func TestGoKind(t *testing.T) {
	got := exampletest.GoKind()
	if !regexp.MustCompile(`^go:[0-9]+\.[0-9]+$`).MatchString(got) {
		t.Fatalf("GoKind() = %q, want go:MAJOR.MINOR", got)
	}
	if v := strings.TrimPrefix(got, "go:"); !strings.HasPrefix(runtime.Version(), "go"+v) {
		t.Errorf("GoKind() = %q, not the toolchain's %s", got, runtime.Version())
	}
}
