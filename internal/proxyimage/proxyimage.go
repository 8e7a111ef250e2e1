package proxyimage

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"
)

// changes are the Dockerfile instructions Import applies to the image
// (`docker import --change`).
func changes() []string {
	return []string{
		`ENTRYPOINT ["/bin/proxy"]`,
		"WORKDIR /action",
		"ENV PATH=/bin",
		"ENV OW_WAIT_FOR_ACK=1",
		"ENV OW_LOG_INIT_ERROR=1",
	}
}

// Import makes the image tag holding only proxyBinary (a static build of
// ./cmd/proxy, or an executable that runs as the proxy when called
// "proxy") as /bin/proxy, with empty /action and /tmp: entrypoint
// /bin/proxy, working directory /action, PATH=/bin, OW_WAIT_FOR_ACK=1 and
// OW_LOG_INIT_ERROR=1. It runs `docker import`, killed when ctx ends; the
// error names what failed and carries docker's output.
func Import(ctx context.Context, proxyBinary, tag string) error {
	bin, err := os.ReadFile(proxyBinary)
	if err != nil {
		return fmt.Errorf("proxyimage: reading the proxy binary: %w", err)
	}
	var rootfs bytes.Buffer
	if err := writeRootfs(&rootfs, bin, time.Now()); err != nil {
		return fmt.Errorf("proxyimage: writing the rootfs tarball: %w", err)
	}
	args := []string{"import"}
	for _, c := range changes() {
		args = append(args, "--change", c)
	}
	args = append(args, "-", tag)
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Stdin = &rootfs
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("proxyimage: docker import %s: %w: %s", tag, err, bytes.TrimSpace(out))
	}
	return nil
}

// writeRootfs writes the image's root file system to w as a tarball: bin/,
// action/, tmp/ (sticky, world-writable) and bin/proxy holding proxy, all
// stamped now.
func writeRootfs(w io.Writer, proxy []byte, now time.Time) error {
	tw := tar.NewWriter(w)
	for _, h := range []*tar.Header{
		{Typeflag: tar.TypeDir, Name: "bin/", Mode: 0o755, ModTime: now},
		{Typeflag: tar.TypeDir, Name: "action/", Mode: 0o755, ModTime: now},
		{Typeflag: tar.TypeDir, Name: "tmp/", Mode: 0o1777, ModTime: now},
		{Typeflag: tar.TypeReg, Name: "bin/proxy", Mode: 0o755, ModTime: now, Size: int64(len(proxy))},
	} {
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
	}
	if _, err := tw.Write(proxy); err != nil {
		return err
	}
	return tw.Close()
}
