// Command proxy is the wsk-route action proxy: a drop-in replacement for
// /bin/proxy in OpenWhisk's ActionLoop runtime images. It serves the
// invoker's POST /init and POST /run on port 8080, configured by the same
// OW_* environment variables as the stock proxy.
//
// Usage:
//
//	proxy [-debug] [-listen :8080]
//	proxy -compile MAIN [-env JSON] <source-or-archive >action.zip
//	proxy -version
package main

import (
	"os"

	"github.com/wsk-route/wsk-route/action-proxy/proxymain"
)

func main() {
	os.Exit(proxymain.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
