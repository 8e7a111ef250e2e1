package proxyimage_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/internal/proxyimage"
	"github.com/wsk-route/wsk-route/internal/testenv"
)

func fakeProxy(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "proxy")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

func TestImport(t *testing.T) {
	testenv.RequireDocker(t)
	tag := "wsk-route/proxyimage-test:" + testenv.RandomID(t)
	t.Cleanup(func() {
		if _, err := testenv.RunDocker(nil, "image", "rm", "-f", tag); err != nil {
			t.Errorf("removing the test image: %v", err)
		}
	})
	bin := fakeProxy(t)
	if err := proxyimage.Import(t.Context(), bin, tag); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ format, want string }{
		{"{{json .Config.Entrypoint}}", `["/bin/proxy"]`},
		{"{{.Config.WorkingDir}}", "/action"},
		{"{{json .Config.Env}}", `["PATH=/bin","OW_WAIT_FOR_ACK=1","OW_LOG_INIT_ERROR=1"]`},
	} {
		if got := testenv.Docker(t, nil, "image", "inspect", "-f", c.format, tag); got != c.want {
			t.Errorf("image %s: %s = %s, want %s", tag, c.format, got, c.want)
		}
	}

	// The image holds the proxy and the empty directories, nothing else
	// (docker adds its own mount points, such as /etc/hosts, to a container).
	id := testenv.Docker(t, nil, "create", tag)
	t.Cleanup(func() {
		if _, err := testenv.RunDocker(nil, "rm", "-f", id); err != nil {
			t.Errorf("removing the test container: %v", err)
		}
	})
	export := exec.Command("docker", "export", id)
	out, err := export.Output()
	if err != nil {
		t.Fatalf("docker export: %v", err)
	}
	files := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(out))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[strings.TrimSuffix(h.Name, "/")] = string(body)
	}
	proxy, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"bin", "action", "tmp"} {
		if _, ok := files[f]; !ok {
			t.Errorf("the image lacks /%s (it holds %v)", f, slices.Sorted(maps.Keys(files)))
		}
	}
	if files["bin/proxy"] != string(proxy) {
		t.Errorf("/bin/proxy holds %q, want %q", files["bin/proxy"], proxy)
	}
}

func TestImportErrors(t *testing.T) {
	testenv.RequireDocker(t)
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name     string
		ctx      context.Context
		bin, tag string
		want     string
	}{
		{"missing binary", t.Context(), filepath.Join(t.TempDir(), "none"), "wsk-route/proxyimage-test:x", "reading the proxy binary"},
		{"bad tag", t.Context(), fakeProxy(t), "Not A Tag", "docker import Not A Tag"},
		{"canceled", canceled, fakeProxy(t), "wsk-route/proxyimage-test:" + testenv.RandomID(t), "docker import"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := proxyimage.Import(tt.ctx, tt.bin, tt.tag)
			if err == nil {
				testenv.RunDocker(nil, "image", "rm", "-f", tt.tag)
				t.Fatalf("Import succeeded, want an error holding %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Import: %v, want an error holding %q", err, tt.want)
			}
		})
	}
}
