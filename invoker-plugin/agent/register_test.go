package agent

import (
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/internal/agentproto"
)

func testRegistrar() *registrar {
	return &registrar{cfg: Config{RunDir: "/run/wsk-route", ShmRoot: "/dev/shm/wsk-route"}}
}

func TestCheckRegister(t *testing.T) {
	ok := agentproto.Register{Namespace: "ns", Action: "/ns/pkg/a", Name: "c0ffee"}
	tests := []struct {
		name string
		edit func(*agentproto.Register)
		ok   bool
	}{
		{"valid", func(*agentproto.Register) {}, true},
		{"valid with tcp", func(r *agentproto.Register) { r.TCP = "tcp:10.0.0.1:9000" }, true},
		{"namespace with slash", func(r *agentproto.Register) { r.Namespace, r.Action = "a/b", "/a/b/x" }, false},
		{"namespace dot dot", func(r *agentproto.Register) { r.Namespace, r.Action = "..", "/../x" }, false},
		{"namespace with newline", func(r *agentproto.Register) { r.Namespace, r.Action = "a\nb", "/a\nb/x" }, false},
		{"name with slash", func(r *agentproto.Register) { r.Name = "a/b" }, false},
		{"name too long", func(r *agentproto.Register) { r.Name = strings.Repeat("x", maxNameLen+1) }, false},
		{"action of another namespace", func(r *agentproto.Register) { r.Action = "/other/a" }, false},
		{"action prefix only", func(r *agentproto.Register) { r.Action = "/nsx/a" }, false},
		{"bad tcp endpoint", func(r *agentproto.Register) { r.TCP = "unix:/x" }, false},
		{"negative concurrency", func(r *agentproto.Register) { r.Concurrency = -1 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := ok
			tt.edit(&reg)
			err := testRegistrar().checkRegister(&reg)
			if (err == nil) != tt.ok {
				t.Fatalf("checkRegister(%+v) = %v, want ok %v", reg, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrBadRegister) {
				t.Fatalf("error %v does not wrap ErrBadRegister", err)
			}
		})
	}
}

// FuzzCheckRegister: whatever a proxy sends, an accepted Register names a
// shm directory directly in ShmRoot and a socket directly in the proxies'
// socket directory.
func FuzzCheckRegister(f *testing.F) {
	f.Add("ns", "/ns/a", "name")
	f.Add("..", "/../a", "..")
	f.Add("ns", "/ns/a", "n/../x")
	f.Add("n s", "/n s/a", "a\x00")
	f.Fuzz(func(t *testing.T, ns, action, name string) {
		r := testRegistrar()
		reg := &agentproto.Register{Namespace: ns, Action: action, Name: name}
		if r.checkRegister(reg) != nil {
			return
		}
		shmDir := filepath.Join(r.cfg.ShmRoot, ns)
		if filepath.Dir(shmDir) != r.cfg.ShmRoot || filepath.Base(shmDir) != ns {
			t.Fatalf("namespace %q accepted: shm dir %s is not directly in %s", ns, shmDir, r.cfg.ShmRoot)
		}
		dir := filepath.Join(r.cfg.RunDir, ProxySocketDir)
		if sock := filepath.Join(dir, name+".sock"); filepath.Dir(sock) != dir {
			t.Fatalf("name %q accepted: socket %s not directly in %s", name, sock, dir)
		}
	})
}

func TestAdvertise(t *testing.T) {
	bound := &net.TCPAddr{IP: net.IPv4zero, Port: 7070}
	tests := []struct {
		listen, want string
	}{
		{"127.0.0.1:0", "tcp:127.0.0.1:7070"},
		{"10.1.2.3:7070", "tcp:10.1.2.3:7070"},
		{"agent.example:7070", "tcp:agent.example:7070"},
		{"[::1]:7070", "tcp:[::1]:7070"},
	}
	for _, tt := range tests {
		t.Run(tt.listen, func(t *testing.T) {
			if got := advertise(tt.listen, bound, "h"); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	// An unspecified host picks an address of this host (or the host name).
	for _, listen := range []string{":7070", "0.0.0.0:7070"} {
		got := advertise(listen, bound, "h")
		if !strings.HasPrefix(got, "tcp:") || !strings.HasSuffix(got, ":7070") || strings.HasPrefix(got, "tcp:0.0.0.0") || strings.HasPrefix(got, "tcp::") {
			t.Errorf("advertise(%q) = %q, want tcp:<an address of this host>:7070", listen, got)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"no registry", Config{Host: "h"}, false},
		{"host with slash", Config{Host: "a/b", Registry: nilRegistry{}}, false},
		{"negative ttl", Config{Host: "h", TTL: -1, Registry: nilRegistry{}}, false},
		{"bad advertise", Config{Host: "h", RelayAdvertise: "udp:x", Registry: nilRegistry{}}, false},
		{"state dir in run dir", Config{Host: "h", Registry: nilRegistry{}, RunDir: "/run/x", StateDir: "/run/x/state"}, false},
		{"state dir is shm root", Config{Host: "h", Registry: nilRegistry{}, ShmRoot: "/dev/shm/x", StateDir: "/dev/shm/x"}, false},
		{"defaults", Config{Registry: nilRegistry{}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.cfg
			err := c.validate()
			if (err == nil) != tt.ok {
				t.Fatalf("validate() = %v, want ok %v", err, tt.ok)
			}
			if err == nil && (c.RunDir != DefaultRunDir || c.ShmRoot != DefaultShmRoot || c.StateDir != DefaultStateDir || c.CgroupRoot != DefaultCgroupRoot || c.TTL != DefaultTTL || c.Host == "") {
				t.Errorf("defaults not filled: %+v", c)
			}
		})
	}
}

// nilRegistry satisfies Registry for config checks; it is never called.
type nilRegistry struct{ Registry }
