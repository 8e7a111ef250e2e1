// Command wsk-route is wsk-route's command line. `wsk-route dev` starts the
// OpenWhisk-compatible sandbox; see `wsk-route help`.
//
// Called as "proxy" (a link or copy named so, as in the sandbox's docker
// image), or as `wsk-route proxy ...`, it is the action proxy itself: one
// binary is all the sandbox needs.
package main

import (
	"os"
	"path/filepath"

	"github.com/wsk-route/wsk-route/action-proxy/proxymain"
	"github.com/wsk-route/wsk-route/cmd/wsk-route/cli"
)

func main() {
	if filepath.Base(os.Args[0]) == "proxy" {
		os.Exit(proxymain.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(cli.Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
