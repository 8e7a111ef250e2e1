package cli

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/apache/openwhisk-client-go/whisk"

	"github.com/wsk-route/wsk-route/action-proxy/archive"
	"github.com/wsk-route/wsk-route/composer"
)

// maxCodeBytes bounds the code of one declared action (OpenWhisk's own
// limit is 48 MB by default).
const maxCodeBytes = 64 << 20

// deployedAnnotation marks an action that `wsk-route compose` deployed
// from a workflow's actions section; its value is the workflow's name.
const deployedAnnotation = "wsk-route-deployed-by"

// apiAnnotations are annotations the API sets on its own; an action's
// declared annotations are compared without them.
var apiAnnotations = map[string]bool{"exec": true, "provide-api-key": true, "binary": true}

// OpenWhisk's default limits, which a declared action gets for the limits
// it does not give, so that removing a limit from the file resets it.
const (
	defaultTimeoutMS   = 60000
	defaultMemoryMB    = 256
	defaultLogsMB      = 10
	defaultConcurrency = 1
)

// declared is one action of a workflow's actions section, read from disk
// and ready to deploy.
type declared struct {
	def *composer.ActionDef
	// fqn is the action's fully qualified name; name is relative to the
	// namespace ("a" or "pkg/a"), as the API takes it.
	fqn, name string
	// act is what is PUT.
	act *whisk.Action
	// from says where the code came from, for messages: "file x.py
	// (1.2 KiB)", "folder x (zipped, 3.4 KiB)", "image y".
	from string
}

// readDeclared reads the code of each of w's declared actions (paths are
// relative to dir, the workflow file's folder) and builds the action to
// deploy in namespace ns. Problems are a composer.ErrorList, each naming
// the file, the action and the field.
func readDeclared(w *composer.Workflow, dir, ns string) ([]declared, error) {
	var errs composer.ErrorList
	out := make([]declared, 0, len(w.Actions))
	for _, def := range w.Actions {
		d, err := readOne(def, dir, ns, w.Name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, d)
	}
	return out, errs.Err()
}

func readOne(def *composer.ActionDef, dir, ns, workflow string) (declared, *composer.Error) {
	fail := func(field, format string, args ...any) (declared, *composer.Error) {
		return declared{}, composer.Errorf(composer.ErrInvalid, def.FieldPos(field), def.FieldPath(field), "action %s: "+format, append([]any{def.Name}, args...)...)
	}
	fqn, err := composer.ResolveAction(ns, def.Name)
	if err != nil {
		return fail("", "%v", err)
	}
	kind := def.KindOf()
	exec := &whisk.Exec{Kind: kind, Main: def.Main}
	switch {
	case kind == composer.KindNative:
		exec.Kind, exec.Image = composer.KindBlackbox, composer.DefaultBlackboxImage
	case kind == composer.KindBlackbox:
		exec.Image = def.Image
		if exec.Image == "" {
			exec.Image = composer.DefaultBlackboxImage
		}
	}
	from := "image " + exec.Image
	if def.Source != "" {
		code, binary := def.Source, def.Binary
		exec.Code, exec.Binary, from = &code, &binary, "inline code ("+size(len(code))+")"
	}
	if def.Code != "" {
		code, binary, what, err := readCode(def.Code, dir)
		if err != nil {
			return fail("code", "%v", err)
		}
		exec.Code, exec.Binary, from = &code, &binary, what
	}
	limits := &whisk.Limits{Timeout: intp(defaultTimeoutMS), Memory: intp(defaultMemoryMB), Logsize: intp(defaultLogsMB), Concurrency: intp(defaultConcurrency)}
	if l := def.Limits; l.Timeout > 0 {
		limits.Timeout = intp(int(l.Timeout.Milliseconds()))
	}
	if l := def.Limits; l.MemoryMB > 0 {
		limits.Memory = intp(l.MemoryMB)
	}
	if l := def.Limits; l.LogsMB > 0 {
		limits.Logsize = intp(l.LogsMB)
	}
	if l := def.Limits; l.Concurrency > 0 {
		limits.Concurrency = intp(l.Concurrency)
	}
	act := &whisk.Action{Name: def.Name, Namespace: ns, Exec: exec, Limits: limits,
		Parameters: keyValues(def.Params), Annotations: keyValues(def.Annotations)}
	act.Annotations = append(act.Annotations, whisk.KeyValue{Key: deployedAnnotation, Value: workflow})
	return declared{def: def, fqn: fqn, name: def.Name, act: act, from: from}, nil
}

func intp(n int) *int { return &n }

// keyValues converts declared parameters or annotations for the API.
func keyValues(kvs []composer.KeyValue) whisk.KeyValueArr {
	out := whisk.KeyValueArr{}
	for _, kv := range kvs {
		out = append(out, whisk.KeyValue{Key: kv.Key, Value: kv.Value})
	}
	return out
}

// readCode reads an action's code at path (relative to dir): a file as
// text, or base64 when it is binary (an executable, a zip, anything not
// UTF-8 text); a folder zipped, base64. what describes it for messages.
func readCode(path, dir string) (code string, binary bool, what string, err error) {
	p := path
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	fi, err := os.Stat(p)
	if err != nil {
		return "", false, "", fmt.Errorf("code %s: %w", path, err)
	}
	if fi.IsDir() {
		b, err := archive.ZipDir(p)
		if err != nil {
			return "", false, "", fmt.Errorf("code %s: %w", path, err)
		}
		if len(b) > maxCodeBytes {
			return "", false, "", fmt.Errorf("code %s: the folder zips to %d bytes, more than %d", path, len(b), maxCodeBytes)
		}
		return base64.StdEncoding.EncodeToString(b), true, fmt.Sprintf("folder %s (zipped, %s)", path, size(len(b))), nil
	}
	if !fi.Mode().IsRegular() {
		return "", false, "", fmt.Errorf("code %s is neither a file nor a folder", path)
	}
	f, err := os.Open(p)
	if err != nil {
		return "", false, "", fmt.Errorf("code %s: %w", path, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxCodeBytes+1))
	if err != nil {
		return "", false, "", fmt.Errorf("code %s: %w", path, err)
	}
	if len(b) > maxCodeBytes {
		return "", false, "", fmt.Errorf("code %s is larger than %d bytes", path, maxCodeBytes)
	}
	if archive.Detect(b) != archive.Plain || archive.IsExecutableBytes(b) && !bytes.HasPrefix(b, []byte("#!")) || !utf8.Valid(b) || bytes.IndexByte(b, 0) >= 0 {
		return base64.StdEncoding.EncodeToString(b), true, fmt.Sprintf("file %s (binary, %s)", path, size(len(b))), nil
	}
	return string(b), false, fmt.Sprintf("file %s (%s)", path, size(len(b))), nil
}

// size formats n bytes for people.
func size(n int) string {
	switch {
	case n < 1<<10:
		return plural(n, "byte")
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// deployResult says what deploying one action did.
type deployResult string

const (
	deployCreated   deployResult = "created"
	deployUpdated   deployResult = "updated"
	deployUnchanged deployResult = "unchanged"
)

// deploy creates or updates d's action, or leaves it when it is already
// as declared; old is the action as the API has it (nil: none).
func (a *api) deploy(ctx context.Context, d declared, old *whisk.Action) (deployResult, error) {
	if old != nil && isEntry(old) {
		return "", fmt.Errorf("action %s is a wsk-route entry: a workflow cannot declare it as a step", d.fqn)
	}
	if old != nil && sameAction(old, d.act) {
		return deployUnchanged, nil
	}
	if _, resp, err := a.wsk.Actions.Insert(d.act, true); err != nil {
		return "", fmt.Errorf("deploying action %s (%s): %w%s", d.fqn, d.from, err, respStatus(resp))
	}
	if old == nil {
		return deployCreated, nil
	}
	return deployUpdated, nil
}

// sameAction reports whether the deployed action old is what want
// declares: its exec, limits, parameters and annotations (those the API
// adds by itself aside).
func sameAction(old, want *whisk.Action) bool {
	if old.Exec == nil || want.Exec == nil || old.Limits == nil {
		return false
	}
	oe, we := old.Exec, want.Exec
	if !sameKind(oe.Kind, we.Kind) || oe.Image != we.Image || oe.Main != we.Main || !sameCode(deref(oe.Code), deref(we.Code)) {
		return false
	}
	ol, wl := old.Limits, want.Limits
	for _, p := range [][2]*int{{ol.Timeout, wl.Timeout}, {ol.Memory, wl.Memory}, {ol.Logsize, wl.Logsize}, {ol.Concurrency, wl.Concurrency}} {
		if p[0] == nil || p[1] == nil || *p[0] != *p[1] {
			return false
		}
	}
	var oldAnn whisk.KeyValueArr
	for _, kv := range old.Annotations {
		if !apiAnnotations[kv.Key] {
			oldAnn = append(oldAnn, kv)
		}
	}
	return sameKeyValues(old.Parameters, want.Parameters) && sameKeyValues(oldAnn, want.Annotations)
}

// sameKind reports whether the deployed kind old is the declared kind
// want: equal, or, for want "family:default", of that family (OpenWhisk
// stores the default kind it resolves to, e.g. python:3).
func sameKind(old, want string) bool {
	if fam, ok := strings.CutSuffix(want, ":default"); ok {
		return strings.HasPrefix(old, fam+":")
	}
	return old == want
}

// sameCode reports whether two action codes are the same: equal, or two
// zips (base64) holding the same files with the same modes and contents,
// whatever their times: a folder zipped again from a fresh checkout or
// copy is the same code.
func sameCode(a, b string) bool {
	if a == b {
		return true
	}
	za, okA := zipContents(a)
	zb, okB := zipContents(b)
	if !okA || !okB || len(za) != len(zb) {
		return false
	}
	for name, sum := range za {
		if zb[name] != sum {
			return false
		}
	}
	return true
}

// zipContents maps each entry of the base64 zip code to its mode and the
// SHA-256 of its content; ok is false when code is no zip.
func zipContents(code string) (map[string]string, bool) {
	b, err := base64.StdEncoding.DecodeString(code)
	if err != nil || archive.Detect(b) != archive.Zip {
		return nil, false
	}
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, false
	}
	out := make(map[string]string, len(zr.File))
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			return nil, false
		}
		h := sha256.New()
		_, err = io.Copy(h, io.LimitReader(rc, maxCodeBytes))
		rc.Close()
		if err != nil {
			return nil, false
		}
		out[f.Name] = fmt.Sprintf("%v %x", f.Mode(), h.Sum(nil))
	}
	return out, true
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// sameKeyValues compares two key-value lists as sets of keys with
// JSON-equal values.
func sameKeyValues(a, b whisk.KeyValueArr) bool {
	canon := func(l whisk.KeyValueArr) (map[string]string, bool) {
		m := make(map[string]string, len(l))
		for _, kv := range l {
			raw, err := json.Marshal(kv.Value)
			if err != nil {
				return nil, false
			}
			var v any
			if err := json.Unmarshal(raw, &v); err != nil {
				return nil, false
			}
			c, _ := json.Marshal(v) // maps marshal with sorted keys
			m[kv.Key] = string(c)
		}
		return m, len(m) == len(l)
	}
	ma, ok1 := canon(a)
	mb, ok2 := canon(b)
	if !ok1 || !ok2 || len(ma) != len(mb) {
		return false
	}
	for k, v := range ma {
		if mb[k] != v {
			return false
		}
	}
	return true
}

// entryActions returns the actions an entry's annotation says its compose
// deployed, sorted.
func entryActions(entry *whisk.Action) []string {
	m, ok := entry.Annotations.GetValue(entryAnnotation).(map[string]any)
	if !ok {
		return nil
	}
	l, _ := m["actions"].([]any)
	out := make([]string, 0, len(l))
	for _, v := range l {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}
