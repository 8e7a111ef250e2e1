package agent

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsk-route/wsk-route/invoker-plugin/metrics"
)

func TestJudgeMarker(t *testing.T) {
	for _, tt := range []struct {
		copied, stored string
		want           markerVerdict
	}{
		{"m", "m", markerSame},
		{"", "", markerNone},
		{"", "m", markerJoin},
		{"m", "", markerLost},
		{"m", "n", markerOther},
	} {
		t.Run(fmt.Sprintf("%q-%q", tt.copied, tt.stored), func(t *testing.T) {
			if got := judgeMarker(tt.copied, tt.stored); got != tt.want {
				t.Errorf("judgeMarker(%q, %q) = %d, want %d", tt.copied, tt.stored, got, tt.want)
			}
		})
	}
}

func TestRecoveryRetryWait(t *testing.T) {
	for _, tt := range []struct {
		n        int
		j        float64
		min, max time.Duration
	}{
		{1, 0, 25 * time.Millisecond, 25 * time.Millisecond},
		{2, 0.999, 50 * time.Millisecond, 100 * time.Millisecond},
		{7, 0, 1600 * time.Millisecond, 1600 * time.Millisecond},
		{8, 0, 2500 * time.Millisecond, 2500 * time.Millisecond},
		{1 << 30, 0.999, 2500 * time.Millisecond, 5 * time.Second},
	} {
		if got := retryWait(tt.n, tt.j); got < tt.min || got > tt.max {
			t.Errorf("retryWait(%d, %v) = %v, want in [%v, %v]", tt.n, tt.j, got, tt.min, tt.max)
		}
	}
}

// TestRegistryCopyRefused checks that a copy file the agent cannot read
// back makes it fail rather than forget, and that one it wrote reads
// back.
func TestRegistryCopyRefused(t *testing.T) {
	m, err := metrics.New(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	key := `"` + strings.Repeat("A", 43) + `="` // 32 bytes in base64
	for _, tt := range []struct{ name, data string }{
		{"not json", "{"},
		{"version", `{"version":2,"keys":{},"specs":[]}`},
		{"unknown field", `{"version":1,"keys":{},"specs":[],"x":1}`},
		{"short key", `{"version":1,"keys":{"guest":"YWJj"},"specs":[]}`},
		{"bad namespace", `{"version":1,"keys":{"a/b":` + key + `},"specs":[]}`},
		{"bad spec", `{"version":1,"keys":{},"specs":[{"namespace":"guest"}]}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, RegistryCopyFile), []byte(tt.data), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := newRecovery(nil, dir, log, m); err == nil {
				t.Error("newRecovery succeeded")
			}
		})
	}

	dir := t.TempDir()
	r, err := newRecovery(nil, dir, log, m)
	if err != nil {
		t.Fatal(err)
	}
	r.noteKey("guest", make([]byte, frameKeySize))
	if err := r.keepMarker("m1"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, RegistryCopyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("copy file: %v, %v; want mode 0600", fi, err)
	}
	again, err := newRecovery(nil, dir, log, m)
	if err != nil || again.marker != "m1" || len(again.keys["guest"]) != frameKeySize {
		t.Errorf("copy read back: %v; marker %q, keys %x", err, again.marker, again.keys)
	}
}
