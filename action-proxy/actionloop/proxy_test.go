package actionloop_test

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/action-proxy/server"
	"github.com/wsk-route/wsk-route/internal/proxytest"
)

// TestUnderProxy runs the modes program as a binary action of the real proxy, with and
// without OW_WAIT_FOR_ACK.
func TestUnderProxy(t *testing.T) {
	exe, err := os.ReadFile(modesBin)
	if err != nil {
		t.Fatal(err)
	}
	for _, ack := range []bool{true, false} {
		name := map[bool]string{true: "ack", false: "no ack"}[ack]
		t.Run(name, func(t *testing.T) {
			p := proxytest.Start(t, func(cfg *server.Config) {
				cfg.WaitForAck = ack
				cfg.Environ = []string{"__OW_API_HOST=xyz"}
			})
			post := func(path string, body []byte) (int, string) {
				t.Helper()
				r := p.Post(t, path, body)
				return r.Status, r.Body
			}

			status, body := post("/init", proxytest.InitPayload(string(exe), "main",
				map[string]any{"ACTIONLOOP_TEST_MODE": "print"}, true))
			if status != http.StatusOK || body != "{\"ok\":true}\n" {
				t.Fatalf("init: %d %s", status, body)
			}
			runs := []string{`{"a":1}`, `["a","b"]`, `{"winter":"❄ ☃ ❄"}`}
			for _, in := range runs {
				status, body = post("/run", proxytest.RunPayload(json.RawMessage(in), map[string]string{"activation_id": "x"}))
				if status != http.StatusOK || body != in+"\n" {
					t.Errorf("run %s: got %d %q", in, status, body)
				}
			}
			// Every activation's log line precedes its sentinel on both streams.
			for _, s := range []struct {
				f    *os.File
				line string
			}{{p.Stdout, "hello stdout"}, {p.Stderr, "hello stderr"}} {
				b, _ := os.ReadFile(s.f.Name())
				if want := strings.Repeat(s.line+"\n"+proxytest.Sentinel+"\n", len(runs)); string(b) != want {
					t.Errorf("%s: got %q, want %q", s.f.Name(), b, want)
				}
			}
		})
	}
}
