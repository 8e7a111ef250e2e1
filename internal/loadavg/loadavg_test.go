package loadavg_test

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/internal/loadavg"
)

func TestString(t *testing.T) {
	got := loadavg.String()
	if _, err := os.Stat("/proc/loadavg"); err != nil {
		if got != "?" {
			t.Errorf("without /proc/loadavg: %q, want ?", got)
		}
		return
	}
	f := strings.Fields(got)
	if len(f) != 3 {
		t.Fatalf("%q: want three load averages", got)
	}
	for _, x := range f {
		if _, err := strconv.ParseFloat(x, 64); err != nil {
			t.Errorf("%q: %s is not a number", got, x)
		}
	}
}
