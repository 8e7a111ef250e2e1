package testenv

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestMain(m *testing.M) { Main(m) }

func TestConsulBinary(t *testing.T) {
	dir := t.TempDir()
	exe := func(path string) string {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return path
	}
	explicit := exe(filepath.Join(dir, "explicit", "consul"))
	cache := filepath.Join(dir, "cache")
	cached := exe(filepath.Join(cache, "bin", "consul-"+ConsulVersion))
	onPath := exe(filepath.Join(dir, "path", "consul"))
	notExec := filepath.Join(dir, "plain")
	if err := os.WriteFile(notExec, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")

	tests := []struct {
		name                 string
		explicit, cache, dir string
		want                 string
	}{
		{"WSK_ROUTE_CONSUL wins", explicit, cache, filepath.Dir(onPath), explicit},
		{"WSK_ROUTE_CONSUL not executable", notExec, cache, filepath.Dir(onPath), ""},
		{"cache before PATH", "", cache, filepath.Dir(onPath), cached},
		{"PATH last", "", empty, filepath.Dir(onPath), onPath},
		{"none", "", empty, empty, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("WSK_ROUTE_CONSUL", tt.explicit)
			t.Setenv("WSK_ROUTE_CACHE", tt.cache)
			t.Setenv("PATH", tt.dir)
			if got := ConsulBinary(); got != tt.want {
				t.Errorf("ConsulBinary() = %q, want %q", got, tt.want)
			}
		})
	}
}

// recorder is a testing.TB that records Skip and Fatal instead of
// stopping the goroutine.
type recorder struct {
	testing.TB
	skipped, fatal string
}

func (r *recorder) Helper()                           {}
func (r *recorder) Skip(args ...any)                  { r.skipped = fmt.Sprint(args...) }
func (r *recorder) Fatalf(format string, args ...any) { r.fatal = fmt.Sprintf(format, args...) }

func TestSkip(t *testing.T) {
	for _, ci := range []string{"", "false", "true"} {
		t.Run("CI="+ci, func(t *testing.T) {
			t.Setenv("CI", ci)
			r := &recorder{TB: t}
			Skip(r, "no %s here", "widget")
			if ci == "true" {
				if r.skipped != "" || !strings.Contains(r.fatal, "no widget here") {
					t.Errorf("under CI: skipped %q, fatal %q; want a fatal naming the reason", r.skipped, r.fatal)
				}
				return
			}
			if r.fatal != "" || r.skipped != "no widget here" {
				t.Errorf("skipped %q, fatal %q; want a skip with the reason", r.skipped, r.fatal)
			}
		})
	}
	t.Run("RequireOrSkip nil", func(t *testing.T) {
		r := &recorder{TB: t}
		RequireOrSkip(r, "thing", nil)
		if r.skipped != "" || r.fatal != "" {
			t.Errorf("RequireOrSkip(nil) skipped %q, fatal %q; want nothing", r.skipped, r.fatal)
		}
	})
	t.Run("RequireOrSkip error", func(t *testing.T) {
		t.Setenv("CI", "")
		r := &recorder{TB: t}
		RequireOrSkip(r, "thing", ErrNoConsul)
		if want := "thing: " + ErrNoConsul.Error(); r.skipped != want {
			t.Errorf("skipped %q, want %q", r.skipped, want)
		}
	})
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, b)
	}
	return string(b)
}

func TestStartConsulTwiceAndStop(t *testing.T) {
	if ConsulBinary() == "" {
		Skip(t, "%v", ErrNoConsul)
	}
	var (
		wg sync.WaitGroup
		cs [2]*Consul
	)
	for i := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := startConsul(ConsulOptions{})
			if err != nil {
				t.Error(err)
				return
			}
			cs[i] = c
		}()
	}
	wg.Wait()
	if t.Failed() {
		for _, c := range cs {
			if c != nil {
				c.Stop()
			}
		}
		t.FailNow()
	}
	if cs[0].Addr == cs[1].Addr || cs[0].Node == cs[1].Node {
		t.Errorf("two agents share an address or node name: %+v, %+v", cs[0], cs[1])
	}
	for _, c := range cs {
		if leader := httpGet(t, "http://"+c.Addr+"/v1/status/leader"); strings.TrimSpace(leader) == `""` {
			t.Errorf("agent %s has no leader after StartConsul", c.Addr)
		}
	}
	for _, c := range cs {
		c.Stop()
		c.Stop() // idempotent
		select {
		case <-c.done:
		default:
			t.Errorf("agent %s still running after Stop", c.Addr)
		}
		if _, err := os.Stat(c.dir); !os.IsNotExist(err) {
			t.Errorf("data dir %s left behind after Stop (stat: %v)", c.dir, err)
		}
	}
}

func TestStartConsulCleanup(t *testing.T) {
	var c *Consul
	t.Run("agent", func(t *testing.T) {
		c = StartConsul(t, ConsulOptions{ClientAddr: "127.0.0.1"})
		if !strings.HasPrefix(c.Addr, "127.0.0.1:") {
			t.Errorf("Addr = %q, want it on 127.0.0.1", c.Addr)
		}
	})
	if c == nil {
		return // skipped
	}
	select {
	case <-c.done:
	default:
		t.Errorf("agent %s still running after its test's cleanup", c.Addr)
	}
}

func TestSharedConsul(t *testing.T) {
	a := SharedConsul(t)
	b := SharedConsul(t)
	if a != b {
		t.Fatalf("SharedConsul returned two agents: %s and %s", a.Addr, b.Addr)
	}
	httpGet(t, "http://"+a.Addr+"/v1/status/leader")
}
