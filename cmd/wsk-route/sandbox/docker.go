package sandbox

import (
	"context"
	"crypto/rand"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"

	"github.com/wsk-route/wsk-route/internal/proxyimage"
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
	var id [4]byte
	rand.Read(id[:])
	tag := "wsk-route-dev/proxy:" + hex.EncodeToString(id[:])
	if err := proxyimage.Import(ctx, bin, tag); err != nil {
		return "", fmt.Errorf("sandbox: --docker: %w (is the docker daemon running?)", err)
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
