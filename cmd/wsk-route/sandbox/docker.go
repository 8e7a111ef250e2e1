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
	"strconv"
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

// containerAPI returns the API's address as the sandbox's containers see
// it (their __OW_API_HOST, which the fallback invokes), and a listener to
// serve the API on there when its own address is not reachable from them:
// an API on loopback is served on the docker bridge's gateway too, an
// address only the host and its containers reach (not the network, as
// 0.0.0.0 would be).
func containerAPI(ln net.Listener) (string, net.Listener, error) {
	tcp, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		return "http://" + ln.Addr().String(), nil, nil
	}
	if !tcp.IP.IsUnspecified() && !tcp.IP.IsLoopback() {
		return "http://" + tcp.String(), nil, nil
	}
	gw, err := bridgeGateway()
	if err != nil {
		return "", nil, err
	}
	if tcp.IP.IsUnspecified() {
		return fmt.Sprintf("http://%s", net.JoinHostPort(gw.String(), strconv.Itoa(tcp.Port))), nil, nil
	}
	extra, err := net.Listen("tcp", net.JoinHostPort(gw.String(), strconv.Itoa(tcp.Port)))
	if err != nil {
		if extra, err = net.Listen("tcp", net.JoinHostPort(gw.String(), "0")); err != nil {
			return "", nil, fmt.Errorf("sandbox: --docker: serving the API on the docker bridge %s for the containers: %w", gw, err)
		}
	}
	return "http://" + extra.Addr().String(), extra, nil
}

// bridgeGateway returns the host's address on docker's default bridge:
// the network's gateway when docker names one, else the address of the
// bridge interface (docker0), which is the gateway docker gives containers.
func bridgeGateway() (net.IP, error) {
	out, err := exec.Command("docker", "network", "inspect", "bridge", "-f", "{{range .IPAM.Config}}{{.Gateway}} {{end}}").Output()
	if err != nil {
		return nil, fmt.Errorf("sandbox: --docker: docker network inspect bridge: %w", err)
	}
	for _, f := range strings.Fields(string(out)) {
		if ip := net.ParseIP(f); ip != nil && ip.To4() != nil {
			return ip, nil
		}
	}
	if ifc, err := net.InterfaceByName("docker0"); err == nil {
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
				return n.IP, nil
			}
		}
	}
	return nil, fmt.Errorf("sandbox: --docker: cannot find the host's address on docker's bridge network (no gateway in `docker network inspect bridge`, no docker0 interface); start with --listen on an address the containers reach")
}
