package sandbox

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"
)

// proxyImage builds the sandbox's action image with docker import (there
// is no registry to pull from): a root file system holding only the static
// proxy binary as /bin/proxy, configured as OpenWhisk's runtime images
// configure theirs. bin "" is this executable (it runs as the proxy when
// called "proxy").
func proxyImage(ctx context.Context, bin string) (string, error) {
	if bin == "" {
		self, err := os.Executable()
		if err != nil {
			return "", fmt.Errorf("sandbox: --docker: finding this executable: %w", err)
		}
		bin = self
	}
	if err := checkStatic(bin); err != nil {
		return "", err
	}
	body, err := os.ReadFile(bin)
	if err != nil {
		return "", fmt.Errorf("sandbox: --docker: %w", err)
	}
	var rootfs bytes.Buffer
	tw := tar.NewWriter(&rootfs)
	now := time.Now()
	for _, h := range []*tar.Header{
		{Typeflag: tar.TypeDir, Name: "bin/", Mode: 0o755, ModTime: now},
		{Typeflag: tar.TypeDir, Name: "action/", Mode: 0o755, ModTime: now},
		{Typeflag: tar.TypeDir, Name: "tmp/", Mode: 0o1777, ModTime: now},
		{Typeflag: tar.TypeReg, Name: "bin/proxy", Mode: 0o755, ModTime: now, Size: int64(len(body))},
	} {
		if err := tw.WriteHeader(h); err != nil {
			return "", fmt.Errorf("sandbox: --docker: image tarball: %w", err)
		}
	}
	tw.Write(body)
	if err := tw.Close(); err != nil {
		return "", fmt.Errorf("sandbox: --docker: image tarball: %w", err)
	}
	var id [4]byte
	rand.Read(id[:])
	tag := "wsk-route-dev/proxy:" + hex.EncodeToString(id[:])
	cmd := exec.CommandContext(ctx, "docker", "import",
		"--change", `ENTRYPOINT ["/bin/proxy"]`,
		"--change", "WORKDIR /action",
		"--change", "ENV PATH=/bin",
		"--change", "ENV OW_WAIT_FOR_ACK=1",
		"--change", "ENV OW_LOG_INIT_ERROR=1",
		"-", tag)
	cmd.Stdin = &rootfs
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("sandbox: --docker: docker import: %w: %s (is the docker daemon running?)", err, strings.TrimSpace(string(out)))
	}
	return tag, nil
}

func removeImage(tag string) {
	exec.Command("docker", "image", "rm", "-f", tag).Run()
}

// checkStatic refuses a dynamically linked binary: it would not start in
// an image that holds nothing else.
func checkStatic(bin string) error {
	f, err := elf.Open(bin)
	if err != nil {
		return fmt.Errorf("sandbox: --docker: %s is not an ELF executable: %w", bin, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("sandbox: --docker: %s is dynamically linked; the action image holds nothing but the proxy, so build it statically (CGO_ENABLED=0 go build ./cmd/wsk-route) or pass --proxy-binary", bin)
		}
	}
	return nil
}

// dockerAPIHost is the API's address as containers see it: the docker
// bridge's gateway when the API listens on every address, else the
// listen address itself.
func dockerAPIHost(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return "http://" + addr.String()
	}
	if tcp.IP.IsUnspecified() {
		out, err := exec.Command("docker", "network", "inspect", "bridge", "-f", "{{(index .IPAM.Config 0).Gateway}}").Output()
		if gw := strings.TrimSpace(string(out)); err == nil && net.ParseIP(gw) != nil {
			return fmt.Sprintf("http://%s:%d", gw, tcp.Port)
		}
	}
	return "http://" + tcp.String()
}
