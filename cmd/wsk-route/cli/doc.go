// Package cli holds wsk-route's cobra commands: flags in, library calls
// out. Run is the whole program; cmd/wsk-route only calls it.
//
// Commands so far: `dev` (the sandbox, package sandbox) and the hidden
// `proxy` (the action proxy, package proxymain), which the sandbox starts
// once per warm container.
package cli
