// Package repocheck holds no code, only tests of rules that span the whole
// repository: every package says what it is for; the action proxy, which
// runs inside every action container, links nothing beyond the standard
// library, golang.org/x/sys and gorilla/websocket; and no product package
// links the test-only goroutine-leak check (internal/leakcheck, goleak).
package repocheck
