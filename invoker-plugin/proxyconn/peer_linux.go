package proxyconn

import (
	"fmt"
	"net"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// LookupPeer is the default PeerFunc: it reads the peer's pid from the
// kernel (SO_PEERCRED, recorded when the peer connected) and its cgroup
// from /proc/<pid>/cgroup. conn must be a *net.UnixConn.
func LookupPeer(conn net.Conn) (Peer, error) {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return Peer{}, fmt.Errorf("%w: connection is a %T, not a unix socket", ErrUnidentified, conn)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return Peer{}, fmt.Errorf("%w: %w", ErrUnidentified, err)
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return Peer{}, fmt.Errorf("%w: %w", ErrUnidentified, err)
	}
	if credErr != nil {
		return Peer{}, fmt.Errorf("%w: SO_PEERCRED: %w", ErrUnidentified, credErr)
	}
	if cred.Pid <= 0 {
		return Peer{}, fmt.Errorf("%w: peer pid %d (outside the agent's pid namespace?)", ErrUnidentified, cred.Pid)
	}
	data, err := os.ReadFile("/proc/" + strconv.Itoa(int(cred.Pid)) + "/cgroup")
	if err != nil {
		return Peer{}, fmt.Errorf("%w: %w", ErrUnidentified, err)
	}
	cg, err := ParseCgroup(data)
	if err != nil {
		return Peer{}, fmt.Errorf("%w: pid %d: %w", ErrUnidentified, cred.Pid, err)
	}
	return Peer{PID: cred.Pid, Cgroup: cg}, nil
}
