package repocheck_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

type goPackage struct {
	ImportPath string
	Doc        string
	Standard   bool
	Deps       []string
}

// list runs `go list -json` on patterns from the module root.
func list(t *testing.T, args ...string) []goPackage {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-json"}, args...)...)
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v", args, err)
	}
	var pkgs []goPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p goPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func TestEveryPackageHasADocComment(t *testing.T) {
	for _, p := range list(t, "./...") {
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("package %s has no package doc comment (add a doc.go)", p.ImportPath)
		}
	}
}

// The proxy is copied into every runtime image and starts with every
// container: it must stay small and quick to start. In particular it never
// links consul/api, prometheus, sarama or cobra: the agent talks to those.
// goja is the one exception: composer's inline functions run in the entry.
func TestProxyDependencies(t *testing.T) {
	allowed := []string{
		"github.com/wsk-route/wsk-route/action-proxy/",
		"github.com/wsk-route/wsk-route/internal/",
		"golang.org/x/sys/",
		"github.com/gorilla/websocket", // the route plane's agent connection; no dependencies of its own
		// An entry that conducts an openwhisk-composer composition runs its
		// inline JavaScript functions in goja (internal/jsfn): goja and
		// what it links. It doubles the binary (docs/composer.md).
		"github.com/dop251/goja",
		"github.com/dlclark/regexp2",
		"github.com/go-sourcemap/sourcemap",
		"github.com/google/pprof/profile",
		"golang.org/x/text/",
	}
	for _, p := range list(t, "-deps", "./cmd/proxy") {
		if p.Standard || p.ImportPath == "github.com/wsk-route/wsk-route/cmd/proxy" {
			continue
		}
		ok := false
		for _, prefix := range allowed {
			ok = ok || strings.HasPrefix(p.ImportPath, prefix)
		}
		if !ok {
			t.Errorf("cmd/proxy links %s; only the standard library, golang.org/x/sys, gorilla/websocket, goja with its dependencies and our own action-proxy and internal packages are allowed", p.ImportPath)
		}
	}
}

// The goroutine-leak check is a test helper (its doc says so): no product
// package links internal/leakcheck or goleak, only test binaries do.
func TestLeakCheckOnlyInTests(t *testing.T) {
	banned := []string{
		"github.com/wsk-route/wsk-route/internal/leakcheck",
		"go.uber.org/goleak",
	}
	for _, p := range list(t, "./...") {
		if strings.HasPrefix(p.ImportPath, banned[0]) {
			continue // the helper itself
		}
		for _, d := range p.Deps {
			for _, b := range banned {
				if d == b || strings.HasPrefix(d, b+"/") {
					t.Errorf("package %s links %s; import it only from _test.go files", p.ImportPath, d)
				}
			}
		}
	}
}
