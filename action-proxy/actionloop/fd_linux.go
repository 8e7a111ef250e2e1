package actionloop

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// resultFD is the file descriptor the proxy reads results from.
const resultFD = 3

// resultPipe returns file descriptor 3, checked to be open for writing and marked
// close-on-exec so that processes the action starts do not inherit the proxy's result
// pipe. The check matters: when the proxy did not pass fd 3, the Go runtime itself may
// hold a read-only cgroup file there.
func resultPipe() (*os.File, error) {
	flags, _, errno := syscall.Syscall(syscall.SYS_FCNTL, resultFD, syscall.F_GETFL, 0)
	if errno != 0 {
		return nil, fmt.Errorf("%w (%v)", ErrNoResultPipe, errno)
	}
	if flags&syscall.O_ACCMODE == syscall.O_RDONLY {
		return nil, fmt.Errorf("%w (%v)", ErrNoResultPipe, errors.New("it is open read-only"))
	}
	syscall.CloseOnExec(resultFD)
	return os.NewFile(resultFD, "actionloop-results"), nil
}
