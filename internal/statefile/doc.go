// Package statefile replaces small state files so that a crash leaves
// either the old content or the new, never a mix: the host agent's
// bindings and registry copy, the dev sandbox's registry. Standard
// library only.
package statefile
