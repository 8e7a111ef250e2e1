//go:build !linux

package actionloop

import "os"

// resultPipe returns file descriptor 3, the pipe the proxy reads results from.
func resultPipe() (*os.File, error) {
	return os.NewFile(3, "actionloop-results"), nil
}
