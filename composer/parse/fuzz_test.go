package parse_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/wsk-route/wsk-route/composer"
	"github.com/wsk-route/wsk-route/composer/compile"
	"github.com/wsk-route/wsk-route/composer/parse"
)

func seed(f *testing.F, globs ...string) {
	for _, g := range globs {
		files, _ := filepath.Glob(g)
		for _, name := range files {
			if data, err := os.ReadFile(name); err == nil {
				f.Add(data)
			}
		}
	}
}

// checkResult holds for every parse: an error is a non-empty ErrorList
// whose problems name the file; a success validates.
func checkResult(t *testing.T, file string, w *composer.Workflow, err error) {
	if err == nil {
		if w == nil {
			t.Fatal("nil workflow without error")
		}
		if verr := composer.Validate(w, composer.Options{}); verr != nil {
			t.Fatalf("parsed workflow does not validate: %v", verr)
		}
		// A valid workflow compiles, or is refused for a construct the
		// route plane does not run, or for its compiled size; anything
		// else is a compiler bug.
		if _, err := compile.Compile(w, compile.Options{Namespace: "guest"}); err != nil && !onlyRefusals(err) {
			t.Fatalf("a valid workflow does not compile: %v", err)
		}
		return
	}
	var l composer.ErrorList
	if !errors.As(err, &l) || len(l) == 0 {
		t.Fatalf("got %T %v, want a non-empty ErrorList", err, err)
	}
	for _, e := range l {
		if e.Pos.File != file {
			t.Fatalf("problem %q does not name the file", e)
		}
	}
}

func FuzzYAML(f *testing.F) {
	seed(f, "testdata/bad/*.yaml", "../compile/testdata/*.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		w, err := parse.YAML("f.yaml", data)
		checkResult(t, "f.yaml", w, err)
	})
}

func FuzzComposer(f *testing.F) {
	seed(f, "testdata/bad/*.json", "../compile/testdata/*.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		w, err := parse.Composer("f.json", data)
		checkResult(t, "f.json", w, err)
	})
}

// onlyRefusals reports whether every error joined in err is a
// compile.ErrNeedsRoutePlane or a composer.ErrTooLarge.
func onlyRefusals(err error) bool {
	if _, list := err.(composer.ErrorList); !list {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				if !onlyRefusals(e) {
					return false
				}
			}
			return true
		}
	}
	return errors.Is(err, compile.ErrNeedsRoutePlane) || errors.Is(err, composer.ErrTooLarge)
}
