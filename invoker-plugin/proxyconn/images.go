package proxyconn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
)

// ErrUntrustedImage is returned (wrapped, in Peer.Err) for a peer whose
// container runs an image that is not one of the trusted images. Such a
// peer is refused even where unidentified peers are admitted.
var ErrUntrustedImage = errors.New("proxyconn: container image not trusted")

// DefaultDockerSocket is the docker engine's API socket.
const DefaultDockerSocket = "/var/run/docker.sock"

// dockerTimeout bounds one docker API call.
const dockerTimeout = 2 * time.Second

// containerID finds a docker container id in a cgroup path: the last run
// of 64 hex digits ("/system.slice/docker-<id>.scope", "/docker/<id>").
var containerID = regexp.MustCompile(`[0-9a-f]{64}`)

// TrustedImages wraps peerOf: a peer is admitted only when its cgroup
// names a docker container (found through the engine's API at
// dockerSocket) whose image is one of images, by name as the container was
// created with ("openwhisk/action-python-v3.11:1.0", as docker inspect's
// Config.Image shows it) or by image id ("sha256:..."). Every other peer
// (a container of another image, a process outside docker, a container
// the engine does not know) carries ErrUntrustedImage in Peer.Err.
//
// This is what makes "the first register binds the container" safe on a
// host that also runs images its operator did not build (OpenWhisk's
// blackbox actions): the trusted images run the wsk-route proxy, which
// claims its container's namespace at /init, before any user code runs,
// while a container of any other image never gets to claim one.
func TrustedImages(peerOf PeerFunc, dockerSocket string, images []string) PeerFunc {
	if dockerSocket == "" {
		dockerSocket = DefaultDockerSocket
	}
	client := &http.Client{
		Timeout: dockerTimeout,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", dockerSocket)
		}},
	}
	return func(conn net.Conn) (Peer, error) {
		p, err := peerOf(conn)
		if err != nil {
			return p, err
		}
		image, imageID, err := containerImage(client, p.Cgroup)
		if err != nil {
			return Peer{}, fmt.Errorf("%w: %w", ErrUntrustedImage, err)
		}
		if !slices.Contains(images, image) && !slices.Contains(images, imageID) {
			return Peer{}, fmt.Errorf("%w: the container (cgroup %s) runs %s (%s)", ErrUntrustedImage, p.Cgroup, image, imageID)
		}
		return p, nil
	}
}

// containerImage returns the image name and id of the docker container
// whose cgroup is cg.
func containerImage(client *http.Client, cg Cgroup) (name, id string, err error) {
	ids := containerID.FindAllString(cg.Path, -1)
	if len(ids) == 0 {
		return "", "", fmt.Errorf("cgroup %s is not a docker container's", cg)
	}
	cid := ids[len(ids)-1]
	resp, err := client.Get("http://docker/containers/" + cid + "/json")
	if err != nil {
		return "", "", fmt.Errorf("asking docker about container %.12s: %w", cid, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", "", fmt.Errorf("asking docker about container %.12s: %w", cid, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", "", fmt.Errorf("docker says %s about container %.12s: %s", resp.Status, cid, strings.TrimSpace(string(body)))
	}
	var c struct {
		Image  string
		Config struct{ Image string }
	}
	if err := json.Unmarshal(body, &c); err != nil {
		return "", "", fmt.Errorf("docker's answer about container %.12s: %w", cid, err)
	}
	return c.Config.Image, c.Image, nil
}
