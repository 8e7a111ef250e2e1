// Package doccheck runs the commands that README.md, docs/sandbox.md and
// docs/workflows.md mark as runnable against a real `wsk-route dev`
// sandbox, so that the docs cannot go stale: a renamed flag, a changed
// route or a workflow that no longer composes fails `make test`.
//
// # Markers
//
// A marker is an HTML comment, invisible when the page is rendered:
//
//   - <!-- runnable --> alone on the line before a fenced block: the block
//     is a shell script, run by bash -e -o pipefail.
//   - `CMD` <!-- runnable -->: an inline code span directly followed by
//     the marker, on one line: CMD is run the same way.
//   - <!-- runnable: file PATH --> alone on the line before a fenced
//     block: the block is written to PATH (relative, inside the work
//     directory), for the commands to read (a workflow file, say).
//   - <!-- runnable: actions NAME... --> alone on a line: each NAME is
//     created in the sandbox as an action that returns its input (Python),
//     for a workflow of the page that runs actions the page does not
//     define.
//
// Anything else that starts with "<!-- runnable" is an error, and so is a
// block marker without a fenced block right after it: Parse reports every
// such problem with its file and line. Markers inside fenced blocks are
// text, not markers.
//
// # How the check runs them
//
// TestDocs builds the wsk-route binary, starts one `wsk-route dev` for
// all the files (on a free port, with --write-wskprops), writes every
// file and creates every action first, then runs the commands in file
// order (README.md, docs/sandbox.md, docs/workflows.md) and in page
// order, each as a subtest named FILE:LINE, in one work directory, with
// `wsk-route` first on PATH and WSK_CONFIG_FILE, APIHOST and AUTH set to
// the sandbox's. The docs' default address 127.0.0.1:3233 is replaced by
// the sandbox's, and curl runs with --fail (a .curlrc in CURL_HOME), so
// that an HTTP error fails it. A command passes when it exits 0 within a
// minute; a
// failure shows its output, traced line by line (bash -x, with the
// page's line numbers).
//
// Without bash, curl or python3 it skips (and fails under CI=true, as the
// other tests that need a dependency do).
package doccheck
