package runtimes

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
)

//go:embed golang/compile.tmpl golang/launcher.go.tmpl
var goFiles embed.FS

// goSettings are the settings the Go compile script carries.
type goSettings struct {
	Go, GoRoot, GoVersion              string
	Launcher, Cache, Home              string
	GoPath, ModCache, GoProxy, GoSumDB string
	GoPrivate, GoNoProxy, GoNoSumDB    string
}

// goEnvNames are the go env variables the script copies.
var goEnvNames = []string{"GOROOT", "GOVERSION", "GOPATH", "GOMODCACHE", "GOPROXY", "GOSUMDB", "GOPRIVATE", "GONOPROXY", "GONOSUMDB"}

// shQuote quotes s for /bin/sh.
func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// installGo finds go, writes dir/compile (with go's settings baked in) and
// dir/launcher.go.tmpl, and returns the runtime and go's minor version.
// The compile script builds with the build cache cache, or dir/cache when
// cache is "".
func installGo(dir, cache string) (Runtime, int, error) {
	rt := Runtime{Kind: DefaultGoKind}
	if cache == "" {
		cache = filepath.Join(dir, "cache")
	}
	set := goSettings{
		Launcher: filepath.Join(dir, "launcher.go.tmpl"),
		Cache:    cache,
		Home:     filepath.Join(dir, "home"),
	}
	minor, err := findGo(&set)
	rt.Available = err
	if err == nil {
		rt.Kind = fmt.Sprintf("go:1.%d", minor)
	}
	launcher, err := goFiles.ReadFile("golang/launcher.go.tmpl")
	if err != nil {
		return rt, 0, fmt.Errorf("runtimes: install go: %w", err)
	}
	tmpl, err := template.New("compile.tmpl").Funcs(template.FuncMap{"sh": shQuote}).ParseFS(goFiles, "golang/compile.tmpl")
	if err != nil {
		return rt, 0, fmt.Errorf("runtimes: install go: %w", err)
	}
	var script bytes.Buffer
	if err := tmpl.Execute(&script, set); err != nil {
		return rt, 0, fmt.Errorf("runtimes: install go: %w", err)
	}
	for _, d := range []string{set.Cache, set.Home} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return rt, 0, fmt.Errorf("runtimes: install go: %w", err)
		}
	}
	path := filepath.Join(dir, "compile")
	if err := writeFile(path, script.Bytes(), 0o755); err != nil {
		return rt, 0, err
	}
	if err := writeFile(set.Launcher, launcher, 0o644); err != nil {
		return rt, 0, err
	}
	if rt.Available == nil {
		rt.Available = checkExecutable(path)
	}
	rt.Env = []string{"OW_COMPILER=" + path, "OW_WAIT_FOR_ACK=1"}
	return rt, minor, nil
}

// findGo fills set from the go on PATH and returns its minor version.
func findGo(set *goSettings) (int, error) {
	path, out, err := probe("go", append([]string{"env", "-json"}, goEnvNames...)...)
	if err != nil {
		return 0, err
	}
	env := map[string]string{}
	if err := json.Unmarshal(out, &env); err != nil {
		return 0, fmt.Errorf("%s env -json: %w", path, err)
	}
	// GOVERSION is "go1.26.8" (or "go1.26rc1", "devel ..." for a
	// development toolchain, which is refused).
	v, ok := strings.CutPrefix(env["GOVERSION"], "go1.")
	end := strings.IndexFunc(v, func(r rune) bool { return r < '0' || r > '9' })
	if end < 0 {
		end = len(v)
	}
	minor, err := strconv.Atoi(v[:end])
	if !ok || err != nil || env["GOROOT"] == "" {
		return 0, fmt.Errorf("%s: cannot tell the Go version from GOVERSION %q and GOROOT %q", path, env["GOVERSION"], env["GOROOT"])
	}
	if env["GOMODCACHE"] == "" || env["GOPATH"] == "" {
		return 0, fmt.Errorf("%s: neither GOPATH nor GOMODCACHE is set (set GOPATH, or HOME for its default)", path)
	}
	set.Go = path
	set.GoRoot = env["GOROOT"]
	set.GoVersion = fmt.Sprintf("1.%d", minor)
	set.GoPath = env["GOPATH"]
	set.ModCache = env["GOMODCACHE"]
	set.GoProxy = env["GOPROXY"]
	set.GoSumDB = env["GOSUMDB"]
	set.GoPrivate = env["GOPRIVATE"]
	set.GoNoProxy = env["GONOPROXY"]
	set.GoNoSumDB = env["GONOSUMDB"]
	return minor, nil
}
