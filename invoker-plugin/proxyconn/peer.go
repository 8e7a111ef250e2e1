package proxyconn

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrUnidentified is returned (wrapped) when the kernel's account of a
// session's peer cannot be read: the connection is not a unix socket, or
// the peer's /proc entry cannot be read or parsed.
var ErrUnidentified = errors.New("proxyconn: peer unidentified")

// Cgroup is the control group a peer process is in, the identity of its
// container: every docker container has a cgroup of its own.
type Cgroup struct {
	// Controller is the cgroup v1 controller whose hierarchy Path is in
	// ("pids", "memory" or "name=systemd"); "" for the cgroup v2 unified
	// hierarchy.
	Controller string
	// Path is the cgroup's absolute, clean path in its hierarchy, as
	// /proc/<pid>/cgroup shows it ("/system.slice/docker-<id>.scope").
	Path string
}

// String returns the cgroup as a key: Path for v2, "Controller:Path" for v1.
func (c Cgroup) String() string {
	if c.Controller == "" {
		return c.Path
	}
	return c.Controller + ":" + c.Path
}

// Dir returns the cgroup's directory under the cgroup file system root
// (normally /sys/fs/cgroup): root/Path for v2, root/<hierarchy>/Path for
// v1, where a named hierarchy "name=systemd" is mounted as "systemd".
func (c Cgroup) Dir(root string) string {
	if c.Controller == "" {
		return filepath.Join(root, c.Path)
	}
	return filepath.Join(root, strings.TrimPrefix(c.Controller, "name="), c.Path)
}

// Peer is the kernel's account of the process at the other end of a
// session's connection.
type Peer struct {
	// PID is the peer's process id (in the agent's pid namespace) at the
	// time it connected.
	PID int32
	// Cgroup is the peer's cgroup, read when the session was accepted.
	Cgroup Cgroup
	// Namespace is the OpenWhisk namespace the container platform started
	// the peer's container for, when the platform says (the dev sandbox's
	// invoker does); "" when it does not. A register for another namespace
	// is refused, so a container cannot claim a namespace it was not
	// started for even before its proxy has claimed one.
	Namespace string
	// Err is why the peer could not be identified (it wraps
	// ErrUnidentified); PID and Cgroup are then zero.
	Err error
}

// PeerFunc identifies the peer of an accepted connection.
type PeerFunc func(conn net.Conn) (Peer, error)

// v1Controllers are the cgroup v1 controllers a peer's identity is taken
// from, in order of preference: each container runtime gives every
// container its own cgroup in them.
var v1Controllers = []string{"pids", "memory", "name=systemd"}

// ParseCgroup parses the contents of /proc/<pid>/cgroup and returns the
// cgroup that identifies the process. When any cgroup v1 hierarchy holds
// one of the controllers pids, memory or name=systemd, the first of those
// is used (on a hybrid host the "0::" line is systemd's bookkeeping, not
// the container's); otherwise the cgroup v2 line "0::<path>" is. Paths must
// be absolute and clean; a path with ".." (a cgroup outside the reader's
// cgroup namespace) is refused.
func ParseCgroup(data []byte) (Cgroup, error) {
	v1 := make(map[string]string)
	v2, haveV2 := "", false
	for line := range bytes.Lines(data) {
		l := strings.TrimSuffix(string(line), "\n")
		if l == "" {
			continue
		}
		id, rest, ok := strings.Cut(l, ":")
		if !ok {
			return Cgroup{}, fmt.Errorf("proxyconn: cgroup line %q: no ':'", l)
		}
		ctrls, p, ok := strings.Cut(rest, ":")
		if !ok {
			return Cgroup{}, fmt.Errorf("proxyconn: cgroup line %q: no second ':'", l)
		}
		if _, err := strconv.ParseUint(id, 10, 32); err != nil {
			return Cgroup{}, fmt.Errorf("proxyconn: cgroup line %q: hierarchy id: %w", l, err)
		}
		if err := checkCgroupPath(p); err != nil {
			return Cgroup{}, fmt.Errorf("proxyconn: cgroup line %q: %w", l, err)
		}
		if id == "0" && ctrls == "" {
			v2, haveV2 = p, true
			continue
		}
		for c := range strings.SplitSeq(ctrls, ",") {
			if _, dup := v1[c]; !dup {
				v1[c] = p
			}
		}
	}
	for _, c := range v1Controllers {
		if p, ok := v1[c]; ok {
			return Cgroup{Controller: c, Path: p}, nil
		}
	}
	if haveV2 {
		return Cgroup{Path: v2}, nil
	}
	return Cgroup{}, errors.New("proxyconn: no usable cgroup line (neither 0::<path> nor pids, memory or name=systemd)")
}

// checkCgroupPath accepts an absolute, clean path without NUL.
func checkCgroupPath(p string) error {
	switch {
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("path %q is not absolute", p)
	case strings.ContainsRune(p, 0):
		return errors.New("path contains NUL")
	case path.Clean(p) != p:
		return fmt.Errorf("path %q is not clean or leaves the cgroup namespace", p)
	}
	return nil
}
