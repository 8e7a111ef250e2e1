package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/agentproto"
	"github.com/wsk-route/wsk-route/internal/testenv"
)

func TestRunFlags(t *testing.T) {
	stateRun := t.TempDir()
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   string
		inStderr string
	}{
		{name: "version", args: []string{"-version"}, code: 0, stdout: "wsk-route-agent "},
		{name: "unknown flag", args: []string{"-nope"}, code: 2, inStderr: "flag provided but not defined"},
		{name: "stray argument", args: []string{"extra"}, code: 2, inStderr: "unexpected arguments"},
		{name: "bad log level", args: []string{"-log-level", "loud"}, code: 2, inStderr: "-log-level"},
		{name: "bad consul prefix", args: []string{"-consul-prefix", "a//b", "-run-dir", t.TempDir()}, code: 1, inStderr: "wsk-route-agent:"},
		{name: "state dir in run dir", args: []string{"-consul", "127.0.0.1:1", "-run-dir", stateRun, "-state-dir", filepath.Join(stateRun, "state")},
			code: 1, inStderr: "must not be in"},
		{name: "bad allow-unidentified-peers", args: []string{"-allow-unidentified-peers=maybe"}, code: 2, inStderr: "allow-unidentified-peers"},
		{name: "kafka flags without hosts", args: []string{"-kafka-sasl-user", "whisk"}, code: 1, inStderr: "without -kafka-hosts"},
		{name: "unknown kafka protocol", args: []string{"-consul", "127.0.0.1:1", "-run-dir", t.TempDir(), "-state-dir", t.TempDir(),
			"-kafka-hosts", "127.0.0.1:1", "-kafka-protocol", "carrier-pigeon"}, code: 1, inStderr: "user events"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, &stdout, &stderr)
			if code != tt.code {
				t.Fatalf("exit %d, want %d (stderr %q)", code, tt.code, stderr.String())
			}
			if !strings.HasPrefix(stdout.String(), tt.stdout) {
				t.Errorf("stdout %q, want prefix %q", stdout.String(), tt.stdout)
			}
			if !strings.Contains(stderr.String(), tt.inStderr) {
				t.Errorf("stderr %q, want it to contain %q", stderr.String(), tt.inStderr)
			}
		})
	}
}

// SIGTERM stops the agent: it deregisters its instances and exits 0.
func TestSIGTERM(t *testing.T) {
	c := testenv.StartConsul(t, testenv.ConsulOptions{})
	dir, err := os.MkdirTemp("", "wra")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	runDir := filepath.Join(dir, "run")
	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"-consul", c.Addr, "-host", "h1", "-run-dir", runDir, "-shm-dir", filepath.Join(dir, "shm"), "-state-dir", filepath.Join(dir, "state"), "-log-level", "debug"}, &stdout, &stderr)
	}()
	sock := filepath.Join(runDir, agentproto.DefaultSocket)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		select {
		case code := <-done:
			t.Fatalf("exited %d before serving: %s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no socket %s after 10s", sock)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d after SIGTERM, want 0: %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still running 10s after SIGTERM")
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket left behind: %v", err)
	}
}
