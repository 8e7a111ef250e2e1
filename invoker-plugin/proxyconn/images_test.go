package proxyconn_test

import (
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/invoker-plugin/proxyconn"
)

// fakeDocker serves GET /containers/<id>/json for the containers given
// (id -> the JSON answer) on a unix socket, as the docker engine does.
func fakeDocker(t *testing.T, containers map[string]string) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "docker.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/containers/"), "/json")
		body, ok := containers[id]
		if !ok {
			http.Error(w, `{"message":"No such container"}`, http.StatusNotFound)
			return
		}
		w.Write([]byte(body))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return sock
}

func TestTrustedImages(t *testing.T) {
	const (
		trusted   = "1111111111111111111111111111111111111111111111111111111111111111"
		byID      = "2222222222222222222222222222222222222222222222222222222222222222"
		untrusted = "3333333333333333333333333333333333333333333333333333333333333333"
		unknown   = "4444444444444444444444444444444444444444444444444444444444444444"
	)
	sock := fakeDocker(t, map[string]string{
		trusted:   `{"Image":"sha256:aaaa","Config":{"Image":"wsk-route/python:1"}}`,
		byID:      `{"Image":"sha256:bbbb","Config":{"Image":"something:else"}}`,
		untrusted: `{"Image":"sha256:cccc","Config":{"Image":"evil/blackbox"}}`,
	})
	tests := []struct {
		name   string
		cgroup string
		ok     bool
	}{
		{"trusted by name (systemd driver)", "/system.slice/docker-" + trusted + ".scope", true},
		{"trusted by id (cgroupfs driver)", "/docker/" + byID, true},
		{"another image", "/system.slice/docker-" + untrusted + ".scope", false},
		{"a container docker does not know", "/docker/" + unknown, false},
		{"not a container", "/user.slice/user-0.slice/session-1.scope", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := func(net.Conn) (proxyconn.Peer, error) {
				return proxyconn.Peer{PID: 7, Cgroup: proxyconn.Cgroup{Path: tt.cgroup}}, nil
			}
			p, err := proxyconn.TrustedImages(base, sock, []string{"wsk-route/python:1", "sha256:bbbb"})(nil)
			if tt.ok {
				if err != nil || p.Cgroup.Path != tt.cgroup {
					t.Fatalf("got %+v, %v; want the peer admitted", p, err)
				}
				return
			}
			if !errors.Is(err, proxyconn.ErrUntrustedImage) {
				t.Fatalf("got %+v, %v; want ErrUntrustedImage", p, err)
			}
		})
	}
}
