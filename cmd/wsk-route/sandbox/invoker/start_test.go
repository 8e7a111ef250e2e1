package invoker_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox/invoker"
	"github.com/wsk-route/wsk-route/internal/whisk"
)

// A container whose proxy exits before it listens (another socket took
// the port chosen for it, say) is started again on another port, up to 3
// times: an activation that comes while many containers start at once
// does not fail on it. A proxy that never listens still fails the
// activation, after 3 starts.
func TestStartAgainWhenTheProxyExitsEarly(t *testing.T) {
	tests := []struct {
		name      string
		failFirst int // starts that exit at once; then the real proxy
		wantOK    bool
		wantTries int
	}{
		{name: "the second start listens", failFirst: 1, wantOK: true, wantTries: 2},
		{name: "the third start listens", failFirst: 2, wantOK: true, wantTries: 3},
		{name: "no start listens", failFirst: 5, wantOK: false, wantTries: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tries := filepath.Join(t.TempDir(), "tries")
			// Each start appends a line to $TRIES; the first failFirst
			// ones say why they cannot listen and exit.
			// (A proxy's environment is the invoker's choice: the values
			// are in the script.)
			script := fmt.Sprintf(`echo start >> %q
if [ "$(wc -l < %q)" -le %d ]; then
  echo "listen tcp $2: bind: address already in use" >&2
  exit 1
fi
exec %q "$@"`, tries, tries, tc.failFirst, proxyBin)
			e := newEnv(t, func(c *invoker.Config) {
				c.ProxyCommand = []string{"/bin/sh", "-c", script, "sh"}
			})
			e.acts.put(testAction("f", whisk.Limits{}))
			ack := e.ack(e.invoke("f", map[string]any{"name": "again"}, true))
			r := ack.Response.Response
			if got := r.StatusCode == whisk.StatusSuccess; got != tc.wantOK {
				t.Errorf("activation: system error %v, status %d, result %s; want success %v", ack.IsSystemError, r.StatusCode, r.Result, tc.wantOK)
			}
			if !tc.wantOK && !strings.Contains(string(r.Result), "Failed to start a container for the action") {
				t.Errorf("result %s, want the failed start named", r.Result)
			}
			b, err := os.ReadFile(tries)
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(string(b), "start"); n != tc.wantTries {
				t.Errorf("the proxy was started %d times, want %d", n, tc.wantTries)
			}
		})
	}
}
