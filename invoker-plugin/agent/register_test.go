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
	ok := agentproto.Register{Namespace: "ns", Action: "/ns/pkg/a", Name: "c0ffee", Unix: "unix:/run/wsk-route/c0ffee.sock"}
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
		{"socket outside run dir", func(r *agentproto.Register) { r.Unix = "unix:/etc/x.sock" }, false},
		{"socket below run dir", func(r *agentproto.Register) { r.Unix = "unix:/run/wsk-route/sub/x.sock" }, false},
		{"socket escaping run dir", func(r *agentproto.Register) { r.Unix = "unix:/run/wsk-route/../x.sock" }, false},
		{"socket is the run dir", func(r *agentproto.Register) { r.Unix = "unix:/run/wsk-route" }, false},
		{"tcp unix endpoint", func(r *agentproto.Register) { r.Unix = "tcp:1.2.3.4:5" }, false},
		{"bad tcp endpoint", func(r *agentproto.Register) { r.TCP = "unix:/x" }, false},
		{"negative concurrency", func(r *agentproto.Register) { r.Concurrency = -1 }, false},
		{"the agent's socket", func(r *agentproto.Register) { r.Name, r.Unix = "agent", "unix:/run/wsk-route/agent.sock" }, false},
		{"the agent's frame socket", func(r *agentproto.Register) { r.Unix = "unix:/run/wsk-route/agent-frames.sock" }, false},
		{"the agent's blob socket's name", func(r *agentproto.Register) { r.Name = "agent-blobs" }, false},
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
// socket directly in RunDir and a shm directory directly in ShmRoot.
func FuzzCheckRegister(f *testing.F) {
	f.Add("ns", "/ns/a", "name", "unix:/run/wsk-route/name.sock")
	f.Add("..", "/../a", "..", "unix:/run/wsk-route/../x")
	f.Add("ns", "/ns/a", "n", "unix:/run/wsk-route//x.sock")
	f.Add("n s", "/n s/a", "a\x00", "unix:/run/wsk-route/.")
	f.Fuzz(func(t *testing.T, ns, action, name, unix string) {
		r := testRegistrar()
		reg := &agentproto.Register{Namespace: ns, Action: action, Name: name, Unix: unix}
		if r.checkRegister(reg) != nil {
			return
		}
		shmDir := filepath.Join(r.cfg.ShmRoot, ns)
		if filepath.Dir(shmDir) != r.cfg.ShmRoot || filepath.Base(shmDir) != ns {
			t.Fatalf("namespace %q accepted: shm dir %s is not directly in %s", ns, shmDir, r.cfg.ShmRoot)
		}
		path := strings.TrimPrefix(unix, "unix:")
		if filepath.Dir(path) != r.cfg.RunDir || filepath.Clean(path) != path {
			t.Fatalf("unix %q accepted: not directly in %s", unix, r.cfg.RunDir)
		}
		if strings.Contains(name, "/") {
			t.Fatalf("name %q accepted", name)
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
