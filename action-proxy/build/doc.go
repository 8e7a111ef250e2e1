// Package build turns an /init payload into a runnable action directory, as
// the stock ActionLoop proxy does: the payload is unpacked into <dir>/src,
// then either renamed to <dir>/bin (no compiler configured, or src/exec is
// already an executable) or compiled into <dir>/bin by the runtime's
// OW_COMPILER script. The result is <dir>/bin/exec.
//
// It is used by the proxy's /init handler and by its offline -compile mode.
package build
