package flow_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// The core stays pure: no I/O, no goroutines, no clock, no randomness
// (doc.go). This test reads the package's own (non-test) sources and
// fails on anything that would break that.

// forbiddenImports are packages the core may not import (nor any package
// under them).
var forbiddenImports = []string{"net", "os", "sync", "math/rand", "crypto/rand", "runtime", "io", "log"}

// forbiddenTime are the functions of package time that read the clock or
// wait on it. Durations and time.Time values are fine.
var forbiddenTime = map[string]bool{"Now": true, "Since": true, "Until": true, "Sleep": true, "After": true,
	"AfterFunc": true, "NewTimer": true, "NewTicker": true, "Tick": true}

// impurities returns what in the Go source src (named name) breaks the
// core's purity, one line each.
func impurities(name string, src []byte) ([]string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	var found []string
	report := func(n ast.Node, what string) {
		found = append(found, fset.Position(n.Pos()).String()+": "+what)
	}
	timeNames := map[string]bool{}
	for _, im := range f.Imports {
		path, _ := strconv.Unquote(im.Path.Value)
		for _, bad := range forbiddenImports {
			if path == bad || strings.HasPrefix(path, bad+"/") {
				report(im, "imports "+path)
			}
		}
		if path == "time" {
			local := "time"
			if im.Name != nil {
				local = im.Name.Name
			}
			timeNames[local] = true
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.GoStmt:
			report(n, "starts a goroutine")
		case *ast.ChanType:
			report(n, "uses a channel type")
		case *ast.SendStmt:
			report(n, "sends on a channel")
		case *ast.SelectStmt:
			report(n, "selects on channels")
		case *ast.UnaryExpr:
			if n.Op == token.ARROW {
				report(n, "receives from a channel")
			}
		case *ast.SelectorExpr:
			if id, ok := n.X.(*ast.Ident); ok && timeNames[id.Name] && forbiddenTime[n.Sel.Name] {
				report(n, "uses time."+n.Sel.Name)
			}
		}
		return true
	})
	return found, nil
}

// TestCoreIsPure checks every non-test Go file of the package.
func TestCoreIsPure(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		found, err := impurities(name, src)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range found {
			t.Errorf("the core must stay pure: %s", f)
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no source files checked")
	}
}

// TestImpurities checks that the check finds what it should, and nothing
// else.
func TestImpurities(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      []string // substrings of the findings, in order
	}{
		{"pure", `package p
import ("time"; "fmt")
func f(d time.Duration) time.Time { var t time.Time; fmt.Println(d); return t.Add(d) }`, nil},
		{"imports", `package p
import ("net/http"; "os"; "sync/atomic"; "math/rand/v2"; "crypto/rand"; "io"; "log/slog"; "runtime"; "netip")`,
			[]string{"imports net/http", "imports os", "imports sync/atomic", "imports math/rand/v2", "imports crypto/rand", "imports io", "imports log/slog", "imports runtime"}},
		{"goroutine", `package p
func f() { go f() }`, []string{"starts a goroutine"}},
		{"channels", `package p
func f(c chan int) { c <- 1; <-c; select {} }`, []string{"channel type", "sends on a channel", "receives from a channel", "selects on channels"}},
		{"clock", `package p
import t "time"
var now = t.Now
func f() { t.Sleep(t.Since(now())); _ = t.After(1); _ = t.NewTimer(1); _ = t.Tick(1) }`,
			[]string{"uses time.Now", "uses time.Sleep", "uses time.Since", "uses time.After", "uses time.NewTimer", "uses time.Tick"}},
		{"another time", `package p
import "example.com/time"
func f() { time.Now() }`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			found, err := impurities(tc.name+".go", []byte(tc.src))
			if err != nil {
				t.Fatal(err)
			}
			if len(found) != len(tc.want) {
				t.Fatalf("got %d findings %q, want %d like %q", len(found), found, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(found[i], w) {
					t.Errorf("finding %d is %q, want one with %q", i, found[i], w)
				}
			}
		})
	}
}
