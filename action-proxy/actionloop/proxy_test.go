package actionloop_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/action-proxy/server"
)

const sentinel = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX"

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
			dir := t.TempDir()
			stdout, _ := os.Create(filepath.Join(dir, "stdout"))
			stderr, _ := os.Create(filepath.Join(dir, "stderr"))
			defer stdout.Close()
			defer stderr.Close()
			p, err := server.New(server.Config{
				BaseDir:    filepath.Join(dir, "action"),
				WaitForAck: ack,
				Environ:    []string{"__OW_API_HOST=xyz"},
				Stdout:     stdout,
				Stderr:     stderr,
			})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(p)
			defer srv.Close()
			defer p.Close()
			post := func(path string, body any) (int, string) {
				t.Helper()
				b, _ := json.Marshal(body)
				resp, err := http.Post(srv.URL+path, "application/json", bytes.NewReader(b))
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				got, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(got)
			}

			status, body := post("/init", map[string]any{"value": map[string]any{
				"code": base64.StdEncoding.EncodeToString(exe), "binary": true, "main": "main",
				"env": map[string]string{"ACTIONLOOP_TEST_MODE": "print"},
			}})
			if status != http.StatusOK || body != "{\"ok\":true}\n" {
				t.Fatalf("init: %d %s", status, body)
			}
			runs := []string{`{"a":1}`, `["a","b"]`, `{"winter":"❄ ☃ ❄"}`}
			for _, in := range runs {
				status, body = post("/run", map[string]any{"value": json.RawMessage(in), "activation_id": "x"})
				if status != http.StatusOK || body != in+"\n" {
					t.Errorf("run %s: got %d %q", in, status, body)
				}
			}
			// Every activation's log line precedes its sentinel on both streams.
			for _, s := range []struct {
				f    *os.File
				line string
			}{{stdout, "hello stdout"}, {stderr, "hello stderr"}} {
				b, _ := os.ReadFile(s.f.Name())
				if want := strings.Repeat(s.line+"\n"+sentinel+"\n", len(runs)); string(b) != want {
					t.Errorf("%s: got %q, want %q", s.f.Name(), b, want)
				}
			}
		})
	}
}
