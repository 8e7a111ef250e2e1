package cli

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"

	"github.com/wsk-route/wsk-route/composer"
)

func TestReadCode(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte, mode os.FileMode) {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, mode); err != nil {
			t.Fatal(err)
		}
	}
	write("a.py", []byte("def main(a):\n    return a\n"), 0o644)
	write("run.sh", []byte("#!/bin/sh\necho '{}' >&3\n"), 0o755)
	write("bin", append([]byte{0x7f, 'E', 'L', 'F'}, make([]byte, 60)...), 0o755)
	write("folder/exec", []byte("#!/bin/sh\n"), 0o755)
	tests := []struct {
		path       string
		binary     bool
		what, fail string
	}{
		{"a.py", false, "file a.py (26 bytes)", ""},
		{"run.sh", false, "file run.sh (", ""},
		{"bin", true, "file bin (binary, 64 bytes)", ""},
		{"folder", true, "folder folder (zipped, ", ""},
		{"missing.py", false, "", "code missing.py: stat "},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			code, binary, what, err := readCode(tc.path, dir)
			if tc.fail != "" {
				if err == nil || !strings.Contains(err.Error(), tc.fail) {
					t.Fatalf("err %v, want %q", err, tc.fail)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if binary != tc.binary || !strings.HasPrefix(what, tc.what) {
				t.Errorf("got binary %v, %q; want %v, %q", binary, what, tc.binary, tc.what)
			}
			if binary {
				if _, err := base64.StdEncoding.DecodeString(code); err != nil {
					t.Errorf("binary code is not base64: %v", err)
				}
			}
		})
	}
	// A folder zipped again later (other times) is the same code.
	first, _, _, _ := readCode("folder", dir)
	later := time.Now().Add(time.Hour)
	os.Chtimes(filepath.Join(dir, "folder", "exec"), later, later)
	second, _, _, _ := readCode("folder", dir)
	if first == second {
		t.Fatal("the zips are equal: the test does not change their times")
	}
	if !sameCode(first, second) {
		t.Error("sameCode: a folder zipped at another time differs")
	}
	write("folder/exec", []byte("#!/bin/bash\n"), 0o755)
	if third, _, _, _ := readCode("folder", dir); sameCode(first, third) {
		t.Error("sameCode: a folder with a changed file is the same")
	}
}

func TestSameAction(t *testing.T) {
	def := &composer.ActionDef{Name: "a", Code: "a.py", Params: []composer.KeyValue{{Key: "k", Value: []byte(`{"x":1,"y":[2]}`)}},
		Annotations: []composer.KeyValue{{Key: "team", Value: []byte(`"qa"`)}}, Limits: composer.Limits{MemoryMB: 128}}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.py"), []byte("def main(a):\n    return a\n"), 0o644)
	d, perr := readOne(def, dir, "guest", "flow")
	if perr != nil {
		t.Fatal(perr)
	}
	deployed := func(edit func(*whisk.Action)) *whisk.Action {
		code := *d.act.Exec.Code
		a := &whisk.Action{Exec: &whisk.Exec{Kind: "python:3", Code: &code},
			Limits:      &whisk.Limits{Timeout: intp(60000), Memory: intp(128), Logsize: intp(10), Concurrency: intp(1)},
			Parameters:  whisk.KeyValueArr{{Key: "k", Value: map[string]any{"y": []any{2.0}, "x": 1.0}}},
			Annotations: whisk.KeyValueArr{{Key: "exec", Value: "python:3"}, {Key: "team", Value: "qa"}, {Key: deployedAnnotation, Value: "flow"}}}
		if edit != nil {
			edit(a)
		}
		return a
	}
	tests := []struct {
		name string
		edit func(*whisk.Action)
		same bool
	}{
		{"as deployed, the default kind resolved", nil, true},
		{"other code", func(a *whisk.Action) { c := "def main(a): pass"; a.Exec.Code = &c }, false},
		{"other family", func(a *whisk.Action) { a.Exec.Kind = "nodejs:20" }, false},
		{"other memory", func(a *whisk.Action) { a.Limits.Memory = intp(256) }, false},
		{"other timeout", func(a *whisk.Action) { a.Limits.Timeout = intp(1000) }, false},
		{"a parameter more", func(a *whisk.Action) { a.Parameters = append(a.Parameters, whisk.KeyValue{Key: "z", Value: 1}) }, false},
		{"a parameter's value", func(a *whisk.Action) { a.Parameters[0].Value = map[string]any{"x": 2.0} }, false},
		{"an annotation of the user's more", func(a *whisk.Action) { a.Annotations = append(a.Annotations, whisk.KeyValue{Key: "old", Value: true}) }, false},
		{"an annotation of the API's more", func(a *whisk.Action) {
			a.Annotations = append(a.Annotations, whisk.KeyValue{Key: "provide-api-key", Value: false})
		}, true},
		{"deployed by another workflow", func(a *whisk.Action) { a.Annotations[2].Value = "other" }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := sameAction(deployed(tc.edit), d.act); got != tc.same {
				t.Errorf("sameAction = %v, want %v", got, tc.same)
			}
		})
	}
}

func TestUnescapeHTML(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"op":"\u003e","v":"a \u0026 b \u003c c"}`, `{"op":">","v":"a & b < c"}`},
		{`{"k":"\\u003e"}`, `{"k":"\\u003e"}`}, // an escaped backslash, then text
		{`{"k":"\"\u003E"}`, `{"k":"\">"}`},
		{`{"k":"\u00e9\n"}`, `{"k":"\u00e9\n"}`},
		{`[1, "\u003c"]`, `[1, "<"]`},
	}
	for _, tc := range tests {
		if got := string(unescapeHTML([]byte(tc.in))); got != tc.want {
			t.Errorf("unescapeHTML(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// TestReadOneImages: kind native is wsk's --native, a blackbox of
// openwhisk/dockerskeleton (whose proxy runs the code once per
// activation); blackbox takes the image given.
func TestReadOneImages(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "exec"), []byte("#!/bin/sh\necho '{}'\n"), 0o755)
	tests := []struct {
		kind, image, wantImage string
	}{
		{"native", "", "openwhisk/dockerskeleton"},
		{"blackbox", "openwhisk/actionloop-base", "openwhisk/actionloop-base"},
		{"blackbox", "", "openwhisk/dockerskeleton"},
	}
	for _, tc := range tests {
		def := &composer.ActionDef{Name: "a", Code: "exec", Kind: tc.kind, Image: tc.image}
		d, perr := readOne(def, dir, "guest", "flow")
		if perr != nil {
			t.Fatalf("kind %s image %q: %v", tc.kind, tc.image, perr)
		}
		if e := d.act.Exec; e.Kind != "blackbox" || e.Image != tc.wantImage {
			t.Errorf("kind %s image %q: exec kind %s image %s, want blackbox %s", tc.kind, tc.image, e.Kind, e.Image, tc.wantImage)
		}
	}
}
