package proxyconn_test

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/wsk-route/wsk-route/internal/testenv"
	"github.com/wsk-route/wsk-route/invoker-plugin/proxyconn"
)

func TestParseCgroup(t *testing.T) {
	const dockerID = "4f1c3b2a9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b"
	tests := []struct {
		name string
		in   string
		want proxyconn.Cgroup
		ok   bool
	}{
		{"v2 docker systemd driver", "0::/system.slice/docker-" + dockerID + ".scope\n",
			proxyconn.Cgroup{Path: "/system.slice/docker-" + dockerID + ".scope"}, true},
		{"v2 docker cgroupfs driver", "0::/docker/" + dockerID + "\n", proxyconn.Cgroup{Path: "/docker/" + dockerID}, true},
		{"v2 systemd user session", "0::/user.slice/user-1000.slice/session-3.scope\n",
			proxyconn.Cgroup{Path: "/user.slice/user-1000.slice/session-3.scope"}, true},
		{"v2 service, no trailing newline", "0::/system.slice/wsk-route-agent.service",
			proxyconn.Cgroup{Path: "/system.slice/wsk-route-agent.service"}, true},
		{"v2 root", "0::/\n", proxyconn.Cgroup{Path: "/"}, true},
		{"v1 docker cgroupfs driver", "12:pids:/docker/" + dockerID + "\n11:memory:/docker/" + dockerID +
			"\n4:cpu,cpuacct:/docker/" + dockerID + "\n1:name=systemd:/docker/" + dockerID + "\n",
			proxyconn.Cgroup{Controller: "pids", Path: "/docker/" + dockerID}, true},
		{"v1 hybrid docker systemd driver", "12:pids:/system.slice/docker-" + dockerID + ".scope\n" +
			"8:memory:/system.slice/docker-" + dockerID + ".scope\n1:name=systemd:/system.slice/docker-" + dockerID + ".scope\n" +
			"0::/system.slice/docker-" + dockerID + ".scope\n",
			proxyconn.Cgroup{Controller: "pids", Path: "/system.slice/docker-" + dockerID + ".scope"}, true},
		{"v1 without pids uses memory", "9:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n1:name=systemd:/\n",
			proxyconn.Cgroup{Controller: "memory", Path: "/docker/abc"}, true},
		{"v1 only name=systemd", "1:name=systemd:/user.slice/user-0.slice/session-1.scope\n",
			proxyconn.Cgroup{Controller: "name=systemd", Path: "/user.slice/user-0.slice/session-1.scope"}, true},
		{"v1 co-mounted pids", "5:pids,devices:/docker/abc\n", proxyconn.Cgroup{Controller: "pids", Path: "/docker/abc"}, true},
		{"v1 only other controllers", "3:cpu,cpuacct:/docker/abc\n2:cpuset:/docker/abc\n", proxyconn.Cgroup{}, false},
		{"empty", "", proxyconn.Cgroup{}, false},
		{"garbage", "hello world\n", proxyconn.Cgroup{}, false},
		{"one colon", "0:/docker/abc\n", proxyconn.Cgroup{}, false},
		{"bad hierarchy id", "x::/docker/abc\n", proxyconn.Cgroup{}, false},
		{"relative path", "0::docker/abc\n", proxyconn.Cgroup{}, false},
		{"outside the cgroup namespace", "0::/../../system.slice/docker-abc.scope\n", proxyconn.Cgroup{}, false},
		{"unclean path", "0::/docker//abc/\n", proxyconn.Cgroup{}, false},
		{"NUL in path", "0::/docker/a\x00b\n", proxyconn.Cgroup{}, false},
		{"good line then garbage", "0::/docker/abc\nnonsense\n", proxyconn.Cgroup{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := proxyconn.ParseCgroup([]byte(tt.in))
			if (err == nil) != tt.ok {
				t.Fatalf("ParseCgroup() = %+v, %v; want ok %v", got, err, tt.ok)
			}
			if got != tt.want {
				t.Errorf("ParseCgroup() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCgroupDirAndString(t *testing.T) {
	tests := []struct {
		cg        proxyconn.Cgroup
		dir, text string
	}{
		{proxyconn.Cgroup{Path: "/system.slice/docker-a.scope"}, "/r/system.slice/docker-a.scope", "/system.slice/docker-a.scope"},
		{proxyconn.Cgroup{Controller: "pids", Path: "/docker/a"}, "/r/pids/docker/a", "pids:/docker/a"},
		{proxyconn.Cgroup{Controller: "name=systemd", Path: "/docker/a"}, "/r/systemd/docker/a", "name=systemd:/docker/a"},
	}
	for _, tt := range tests {
		if got := tt.cg.Dir("/r"); got != tt.dir {
			t.Errorf("%+v.Dir = %q, want %q", tt.cg, got, tt.dir)
		}
		if got := tt.cg.String(); got != tt.text {
			t.Errorf("%+v.String = %q, want %q", tt.cg, got, tt.text)
		}
	}
}

func FuzzParseCgroup(f *testing.F) {
	for _, s := range []string{"0::/\n", "12:pids:/docker/abc\n0::/x\n", "1:name=systemd:/a\n", "", "::", "0::/../x"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cg, err := proxyconn.ParseCgroup(b)
		if err != nil {
			return
		}
		if cg.Path == "" || cg.Path[0] != '/' || filepath.Clean(cg.Path) != cg.Path {
			t.Fatalf("ParseCgroup(%q) accepted path %q", b, cg.Path)
		}
	})
}

// LookupPeer on a real unix socket finds this process and its cgroup.
func TestLookupPeerRealSocket(t *testing.T) {
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		testenv.Skip(t, "no /proc/self/cgroup: %v", err)
	}
	want, err := proxyconn.ParseCgroup(self)
	if err != nil {
		t.Fatalf("own cgroup: %v", err)
	}
	dir, err := os.MkdirTemp("", "pc")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ln, err := net.Listen("unix", filepath.Join(dir, "s.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("unix", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	p, err := proxyconn.LookupPeer(srv)
	if err != nil {
		t.Fatal(err)
	}
	if int(p.PID) != os.Getpid() || p.Cgroup != want {
		t.Errorf("LookupPeer = %+v, want pid %d cgroup %+v", p, os.Getpid(), want)
	}

	// A connection that is not a unix socket is unidentified.
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, err := proxyconn.LookupPeer(a); !errors.Is(err, proxyconn.ErrUnidentified) {
		t.Errorf("LookupPeer(pipe) = %v, want ErrUnidentified", err)
	}
}
