package parse_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/wsk-route/wsk-route/composer"
	"github.com/wsk-route/wsk-route/composer/compile"
	"github.com/wsk-route/wsk-route/composer/parse"
	"github.com/wsk-route/wsk-route/internal/conductor"
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

// checkResult holds for every YAML parse: an error is a non-empty ErrorList
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

// FuzzComposer reads composer JSON. An error is a non-empty ErrorList of
// problems that name the file and a sentinel; a success is the document
// as it is (Composition, no Root), which the conductor reads too, and
// which compiles to the conducted spec or is refused for a named
// problem (an action name OpenWhisk cannot have, too many actions).
func FuzzComposer(f *testing.F) {
	seed(f, "testdata/bad/*.json", "../compile/testdata/*.json")
	for _, s := range []string{`"a"`, `null`, `{"type":"seq","components":["a","a",null]}`, `{"type":"dynamic"}`,
		`{"composition":{"type":"let","declarations":{"x":1},"components":[{"type":"mask","components":["a"]}]},"actions":[{"name":"/_/a","action":{"exec":{"kind":"nodejs:20","code":"x"}}}]}`,
		`{"type":"action","name":"a b"}`, `{"type":"action","name":"a","name":"b"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		w, err := parse.Composer("f.json", data)
		_, derr := conductor.Decode(data, conductor.Limits{})
		if err != nil {
			var l composer.ErrorList
			if !errors.As(err, &l) || len(l) == 0 {
				t.Fatalf("got %T %v, want a non-empty ErrorList", err, err)
			}
			for _, e := range l {
				if e.Pos.File != "f.json" {
					t.Fatalf("problem %q does not name the file", e)
				}
				if !errors.Is(e, composer.ErrInvalid) && !errors.Is(e, composer.ErrUnknownField) && !errors.Is(e, composer.ErrTooLarge) {
					t.Fatalf("problem %q wraps none of composer's sentinels", e)
				}
			}
			return
		}
		if derr != nil {
			t.Fatalf("parse accepted what the conductor refuses: %v", derr)
		}
		if w == nil || w.Root != nil || !bytes.Equal(w.Composition, data) {
			t.Fatalf("got %+v, want the document as the Composition and no Root", w)
		}
		s, err := compile.Compile(w, compile.Options{Namespace: "guest"})
		if err != nil {
			var l composer.ErrorList
			if !errors.As(err, &l) || len(l) == 0 || !(errors.Is(err, composer.ErrInvalid) || errors.Is(err, composer.ErrTooLarge)) {
				t.Fatalf("a composition the conductor reads does not compile: %v", err)
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		for id, st := range s.Steps {
			if id != compile.CaughtStep && id != compile.StartStep && (st.Action == "" || len(st.Catch) != 1 || st.Catch[0] != compile.CaughtStep) {
				t.Fatalf("step %s: got %+v, want an action caught by %s", id, st, compile.CaughtStep)
			}
		}
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
