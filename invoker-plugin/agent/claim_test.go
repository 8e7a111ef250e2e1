package agent_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/route"
	"github.com/wsk-route/wsk-route/internal/testenv"
	"github.com/wsk-route/wsk-route/invoker-plugin/agent"
)

// startPlane runs a proxy's route plane named name against a's socket
// (a nil a: a socket nobody listens on) until the test ends.
func startPlane(t *testing.T, a *testAgent, runDir, name string) *route.Plane {
	t.Helper()
	sock := filepath.Join(runDir, "agent.sock")
	if a != nil {
		sock = a.SocketPath()
	}
	p, err := route.New(route.Config{AgentSocket: sock, RunDir: runDir, Name: name,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil))}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("plane %s: %v", name, err)
		}
	})
	return p
}

// Plane.Claim through the real peer lookup: the first claim binds this
// process's cgroup; a claim of another namespace from it fails at once.
func TestPlaneClaim(t *testing.T) {
	if _, err := os.Stat("/proc/self/cgroup"); err != nil {
		testenv.Skip(t, "no /proc/self/cgroup: %v", err)
	}
	store := newStore(t)
	a := startAgent(t, "hostA", store, func(c *agent.Config) { c.PeerOf = nil })
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()

	p1 := startPlane(t, a, a.runDir, "p1")
	id := route.Identity{Namespace: "ns1", Action: "/ns1/a"}
	if err := p1.Claim(ctx, id); err != nil {
		t.Fatalf("Claim(ns1) = %v", err)
	}
	if err := p1.Claim(ctx, id); err != nil {
		t.Errorf("second Claim of the same identity = %v", err)
	}
	if err := p1.Claim(ctx, route.Identity{Namespace: "ns1", Action: "/ns1/other"}); !errors.Is(err, route.ErrClaimConflict) {
		t.Errorf("Claim of another action = %v, want ErrClaimConflict", err)
	}

	p2 := startPlane(t, a, a.runDir, "p2")
	start := time.Now()
	err := p2.Claim(ctx, route.Identity{Namespace: "ns2", Action: "/ns2/b"})
	if err == nil || ctx.Err() != nil {
		t.Fatalf("Claim(ns2) from the same cgroup = %v (ctx %v), want a refusal", err, ctx.Err())
	}
	t.Logf("refused after %v: %v", time.Since(start), err)
}

// Without an agent, Claim fails as soon as the connection attempt does.
func TestPlaneClaimNoAgent(t *testing.T) {
	dir := shortTempDir(t)
	p := startPlane(t, nil, dir, "lonely")
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := p.Claim(ctx, route.Identity{Namespace: "ns1", Action: "/ns1/a"}); err == nil || ctx.Err() != nil {
		t.Fatalf("Claim without an agent = %v (ctx %v), want an error before the deadline", err, ctx.Err())
	}
}
