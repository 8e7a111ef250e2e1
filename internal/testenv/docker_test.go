package testenv

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestRandomID(t *testing.T) {
	hex12 := regexp.MustCompile(`^[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 100 {
		id := RandomID(t)
		if !hex12.MatchString(id) {
			t.Fatalf("RandomID() = %q, want 12 hex digits", id)
		}
		if seen[id] {
			t.Fatalf("RandomID() returned %q twice", id)
		}
		seen[id] = true
	}
}

func TestRequireDockerWithoutDocker(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	for _, ci := range []string{"", "true"} {
		t.Run("CI="+ci, func(t *testing.T) {
			t.Setenv("CI", ci)
			r := &recorder{TB: t}
			RequireDocker(r)
			got := r.skipped
			if ci == "true" {
				got = r.fatal
			}
			if !strings.Contains(got, "no docker command") {
				t.Errorf("skipped %q, fatal %q; want the missing command named (as a fatal under CI)", r.skipped, r.fatal)
			}
		})
	}
	if _, err := RunDocker(nil, "info"); err == nil || !strings.Contains(err.Error(), "testenv: docker info") {
		t.Errorf("RunDocker without docker: error %v, want one naming the command", err)
	}
}

func TestRunDockerError(t *testing.T) {
	RequireDocker(t)
	_, err := RunDocker(nil, "image", "inspect", "wsk-route/no-such-image:"+RandomID(t))
	if err == nil {
		t.Fatal("docker image inspect of a missing image succeeded")
	}
	if msg := err.Error(); !strings.Contains(msg, "docker image inspect") || !strings.Contains(strings.ToLower(msg), "no such") {
		t.Errorf("error %q, want the command and docker's stderr", msg)
	}
}

func TestImportProxyImage(t *testing.T) {
	RequireDocker(t)
	bin := filepath.Join(t.TempDir(), "proxy")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	var tag string
	t.Run("import", func(t *testing.T) {
		tag = ImportProxyImage(t, bin, "wsk-route/proxy-testenv")
		if !strings.HasPrefix(tag, "wsk-route/proxy-testenv:") {
			t.Errorf("tag %q, want it in repository wsk-route/proxy-testenv", tag)
		}
		var cfg struct {
			Entrypoint []string
			WorkingDir string
			Env        []string
		}
		if err := json.Unmarshal([]byte(Docker(t, nil, "image", "inspect", "-f", "{{json .Config}}", tag)), &cfg); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(cfg.Entrypoint, []string{"/bin/proxy"}) || cfg.WorkingDir != "/action" {
			t.Errorf("entrypoint %q, workdir %q; want [/bin/proxy], /action", cfg.Entrypoint, cfg.WorkingDir)
		}
		for _, e := range []string{"PATH=/bin", "OW_WAIT_FOR_ACK=1", "OW_LOG_INIT_ERROR=1"} {
			if !slices.Contains(cfg.Env, e) {
				t.Errorf("env %q lacks %s", cfg.Env, e)
			}
		}
	})
	if tag == "" {
		return
	}
	if _, err := RunDocker(nil, "image", "inspect", tag); err == nil {
		t.Errorf("image %s still there after its test's cleanup", tag)
	}
}
