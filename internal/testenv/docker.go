package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/proxyimage"
)

// DockerTimeout bounds one docker command run by RunDocker and Docker. It is
// a bound on waiting, not a timed assertion: past it the command is killed
// and called hung.
const DockerTimeout = 2 * time.Minute

// RequireDocker skips the test when there is no docker command or no daemon
// answers `docker info`, or fails it when CI=true (see Skip).
func RequireDocker(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		Skip(t, "testenv: no docker command (scripts/setup.sh installs it): %v", err)
		return
	}
	if _, err := RunDocker(nil, "info"); err != nil {
		Skip(t, "testenv: docker is not usable (scripts/setup.sh installs and starts it): %v", err)
	}
}

// RunDocker runs one docker command, with stdin (which may be nil) as its
// input, killing it after DockerTimeout. It returns the command's stdout
// with surrounding white space trimmed; the error names the command and
// carries its stderr.
func RunDocker(stdin io.Reader, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), DockerTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("testenv: docker %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// Docker is RunDocker that fails the test on error.
func Docker(t testing.TB, stdin io.Reader, args ...string) string {
	t.Helper()
	out, err := RunDocker(stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// RandomID returns 12 random hex digits, for names (containers, networks,
// image tags) that must not collide with those of other tests running at
// the same time.
func RandomID(t testing.TB) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// ImportProxyImage makes an image holding only proxyBinary (a static build
// of ./cmd/proxy) as /bin/proxy, with empty /action and /tmp, set up like
// action-proxy/docker/build-image.sh's image: entrypoint /bin/proxy, working
// directory /action, PATH=/bin, OW_WAIT_FOR_ACK=1 and OW_LOG_INIT_ERROR=1.
// No registry or base image is involved: proxyimage.Import writes a rootfs
// tarball and loads it with `docker import`. The image is tagged
// <repository>:<RandomID>, the tag is returned, and the image is removed
// when the test ends. The caller checks for docker first (RequireDocker).
func ImportProxyImage(t testing.TB, proxyBinary, repository string) string {
	t.Helper()
	tag := repository + ":" + RandomID(t)
	t.Cleanup(func() {
		if _, err := RunDocker(nil, "image", "rm", "-f", tag); err != nil {
			t.Errorf("testenv: removing the test image: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), DockerTimeout)
	defer cancel()
	if err := proxyimage.Import(ctx, proxyBinary, tag); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return tag
}
