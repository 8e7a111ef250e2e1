package agent

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/fdpass"
)

// testSockets serves handoffs in a temporary run directory.
func testSockets(t *testing.T) (*sockets, string) {
	t.Helper()
	runDir, err := os.MkdirTemp("", "wrs") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(runDir) })
	s, err := newSockets(runDir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(runDir, HandoffSocket)
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.serve(ctx, ln, t.Logf) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		s.closeAll()
	})
	return s, path
}

func fetch(t *testing.T, handoff, token string) (net.Listener, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	msg, f, err := fdpass.Fetch(ctx, handoff, []byte(token+"\n"), "frames")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if string(msg) != "ok" {
		return nil, errors.New(string(msg))
	}
	return net.FileListener(f)
}

func TestSocketHandoff(t *testing.T) {
	s, handoff := testSockets(t)
	ep, token, err := s.create("p1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	path := strings.TrimPrefix(ep, "unix:")
	if filepath.Dir(path) != s.dir || filepath.Base(path) != "p1.sock" {
		t.Fatalf("endpoint %s, want %s/p1.sock", ep, s.dir)
	}
	ln, err := fetch(t, handoff, token)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// The socket the proxy holds is the one at the path.
	go func() {
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
		}
	}()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	// A token is good once.
	if _, err := fetch(t, handoff, token); err == nil {
		t.Error("the same token fetched the socket twice")
	}
	// The session ends: the file goes.
	s.drop("p1")
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after drop: %v, want the socket file removed", err)
	}
}

// Only the token of a registration fetches its socket.
func TestSocketHandoffUnknownToken(t *testing.T) {
	s, handoff := testSockets(t)
	if _, _, err := s.create("p1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := fetch(t, handoff, "not-a-token"); err == nil || !strings.Contains(err.Error(), "unknown or expired token") {
		t.Fatalf("fetch with an unknown token: %v, want a refusal saying so", err)
	}
}

// A socket nobody fetches expires; the sweep removes the files of proxies
// no session holds, once the grace after the agent's start has passed, and
// leaves what is not a socket alone.
func TestSocketExpiryAndSweep(t *testing.T) {
	s, handoff := testSockets(t)
	now := time.Now()
	ep, _, err := s.create("stale", now)
	if err != nil {
		t.Fatal(err)
	}
	_, token, err := s.create("live", now)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := fetch(t, handoff, token) // its proxy took it
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	notSocket := filepath.Join(s.dir, "readme")
	os.WriteFile(notSocket, nil, 0o644)
	live := func(file string) bool { return file == "live.sock" }

	if n := s.sweep(now.Add(time.Second), live); n != 0 {
		t.Fatalf("swept %d within the grace after the start, want 0", n)
	}
	later := s.started.Add(socketGrace + handoffTTL + time.Second)
	if n := s.sweep(later, live); n != 1 {
		t.Fatalf("swept %d, want 1 (the stale socket)", n)
	}
	if _, err := os.Lstat(strings.TrimPrefix(ep, "unix:")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale socket: %v, want it removed", err)
	}
	for _, keep := range []string{filepath.Join(s.dir, "live.sock"), notSocket} {
		if _, err := os.Lstat(keep); err != nil {
			t.Errorf("%s: %v, want it kept", keep, err)
		}
	}
	s.mu.Lock()
	left := len(s.pending)
	s.mu.Unlock()
	if left != 0 {
		t.Errorf("%d sockets still pending after their TTL", left)
	}
}

// A name whose file is not a socket is refused, not replaced.
func TestSocketCreateRefusesNonSocket(t *testing.T) {
	s, _ := testSockets(t)
	os.WriteFile(filepath.Join(s.dir, "p.sock"), []byte("x"), 0o644)
	if _, _, err := s.create("p", time.Now()); err == nil {
		t.Fatal("create over a regular file: no error")
	}
}
