package composer_test

import (
	"errors"
	"testing"

	"github.com/wsk-route/wsk-route/composer"
)

func TestResolveAction(t *testing.T) {
	tests := []struct{ ns, name, want string }{
		{"guest", "a", "/guest/a"},
		{"guest", "pkg/a", "/guest/pkg/a"},
		{"guest", "/other/a", "/other/a"},
		{"guest", "/other/pkg/a", "/other/pkg/a"},
		{"_", "a", "/_/a"},
		{"guest", "", ""},
		{"guest", "/a", ""},
		{"guest", "a/b/c", ""},
		{"guest", "/n/p/a/b", ""},
		{"guest", "a b", ""},
		{"guest", "a//b", ""},
		{"guest", "../a", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := composer.ResolveAction(tt.ns, tt.name)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("got %q, want an error", got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		err  *composer.Error
		want string
	}{
		{composer.Errorf(composer.ErrInvalid, composer.Position{File: "f.yaml", Line: 3, Col: 7}, ".steps[0]", "bad %s", "x"), "f.yaml:3:7: .steps[0]: bad x"},
		{composer.Errorf(composer.ErrInvalid, composer.Position{File: "f.yaml", Line: 3}, "", "bad"), "f.yaml:3: bad"},
		{composer.Errorf(composer.ErrInvalid, composer.Position{}, ".a", "bad"), ".a: bad"},
		{composer.Errorf(composer.ErrNotSupported, composer.Position{File: "c.json", Line: 1, Col: 2}, ".x", "not supported: let at .x: why"), "c.json:1:2: not supported: let at .x: why"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
	l := composer.ErrorList{tests[0].err, tests[3].err}
	if !errors.Is(l, composer.ErrNotSupported) || !errors.Is(l, composer.ErrInvalid) || errors.Is(l, composer.ErrUnknownAction) {
		t.Error("ErrorList does not unwrap to exactly its sentinels")
	}
	if composer.ErrorList(nil).Err() != nil {
		t.Error("empty ErrorList.Err() is not nil")
	}
}
