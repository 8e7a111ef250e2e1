// Package python holds wsk-route's Python 3 ActionLoop runtime, which lets Python
// actions run under the wsk-route proxy outside the official OpenWhisk images. Its
// only Go code is Files, which embeds the two files for programs that install the
// runtime themselves; the files are:
//
//   - compile: the proxy's OW_COMPILER (compile <main> <abs src dir> <abs bin dir>).
//     It turns a single source (src/exec) or a zip with __main__.py into bin/main__.py,
//     checks its syntax and any virtualenv/ directory (or installs requirements.txt
//     with pip), and writes bin/exec, bin/exec__.py (the launcher) and bin/exec.env.
//     Like every OW_COMPILER it prints nothing on success: any output is the error.
//   - launcher.py: the ActionLoop loop in Python. It imports main__ before it sends
//     the ack (so import errors fail the /init), exports __OW_* per activation, calls
//     the action's function and writes its result to file descriptor 3.
//
// To run Python actions, start the proxy with OW_COMPILER set to the absolute path of
// compile (launcher.py must sit next to it, or in ../lib as in the runtime images),
// OW_WAIT_FOR_ACK=1 and OW_LOG_INIT_ERROR=1. bin/exec starts the interpreter that ran
// compile, by its absolute path, because the proxy gives actions no PATH.
//
// The tests in this directory drive the real proxy (action-proxy/server) with this
// runtime through the cases of OpenWhisk's Python312Tests and BasicActionRunnerTests.
package python
