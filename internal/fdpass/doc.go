// Package fdpass hands an open file descriptor from one process to another
// over a unix socket (SCM_RIGHTS), with a short message beside it.
//
// The host agent uses it to give each action proxy the listening socket
// of its frame endpoint: the agent binds the socket in a directory that
// no container can write, so no container can replace or intercept
// another's endpoint, and the proxy only ever holds the descriptor.
// It uses the standard library and golang.org/x/sys/unix only.
package fdpass
