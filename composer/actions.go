package composer

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"
	"time"
)

// ActionDef is an action a workflow file declares in its actions section:
// `wsk-route compose` creates or updates it before it deploys the
// workflow, as openwhisk-composer's deploy and wskdeploy manifests do.
type ActionDef struct {
	Meta
	// Name is the action's name, "a" or "pkg/a", relative to the
	// workflow's namespace.
	Name string
	// Code is the action's code: a file or a folder (zipped), relative to
	// the workflow file's folder. Empty only for a docker action (Image)
	// that runs its image's own code.
	Code string
	// Source is the action's code itself, for definitions that embed it
	// (openwhisk-composer's JSON); Binary says it is base64. At most one
	// of Code and Source is set.
	Source string
	Binary bool
	// Kind is the runtime kind ("python:3", "go:default", "nodejs:20",
	// "blackbox"), or "native" (a blackbox in OpenWhisk's
	// openwhisk/dockerskeleton image, as wsk's --native). Empty: the kind
	// follows from Code's extension (KindOf).
	Kind string
	// Main is the entry function; empty: the runtime's default.
	Main string
	// Image is a docker image: the action runs in it as a blackbox (wsk's
	// --docker).
	Image string
	// Limits are the action's limits; zero fields keep OpenWhisk's
	// defaults.
	Limits Limits
	// Params are the action's default parameters, Annotations its
	// annotations, each in file order.
	Params, Annotations []KeyValue
	// Fields maps each field given in the input to its position, so that
	// a problem found later (a code file that is missing) names it.
	Fields map[string]Position
}

// Limits are an action's limits as a workflow file declares them.
type Limits struct {
	// Timeout is the activation's time limit; 0: the default.
	Timeout time.Duration
	// MemoryMB is the container's memory in MB; 0: the default.
	MemoryMB int
	// LogsMB bounds the activation's logs in MB; 0: the default.
	LogsMB int
	// Concurrency is how many activations one container runs at once;
	// 0: the default (1).
	Concurrency int
}

// KeyValue is one parameter or annotation: a key and a JSON value.
type KeyValue struct {
	Key   string
	Value json.RawMessage
}

// FieldPos returns where field is in the input, or the action's own
// position when the field was not given.
func (a *ActionDef) FieldPos(field string) Position {
	if p, ok := a.Fields[field]; ok {
		return p
	}
	return a.Pos
}

// FieldPath names field of a in messages: ".actions.NAME.FIELD".
func (a *ActionDef) FieldPath(field string) string {
	if field == "" {
		return a.Path
	}
	return a.Path + "." + field
}

// Kinds without a version that ActionDef.Kind accepts.
const (
	// KindBlackbox runs a docker image (Image, or OpenWhisk's
	// openwhisk/dockerskeleton when none is given) whose code is an
	// executable or a zip holding one named exec.
	KindBlackbox = "blackbox"
	// KindNative is wsk's --native: a blackbox in
	// openwhisk/dockerskeleton.
	KindNative = "native"
)

// DefaultBlackboxImage is the image of a native action.
const DefaultBlackboxImage = "openwhisk/dockerskeleton"

// kindByExt maps a code file's extension to its kind, as wsk infers it.
var kindByExt = map[string]string{
	".py":    "python:default",
	".go":    "go:default",
	".js":    "nodejs:default",
	".php":   "php:default",
	".rb":    "ruby:default",
	".swift": "swift:default",
	".java":  "java:default",
	".jar":   "java:default",
}

// KindOf returns the kind of a: its Kind, else the kind its code file's
// extension implies, else "" (a folder, a zip or a file of no known
// extension needs a kind).
func (a *ActionDef) KindOf() string {
	if a.Kind != "" {
		return a.Kind
	}
	if a.Image != "" {
		return KindBlackbox
	}
	return kindByExt[strings.ToLower(path.Ext(a.Code))]
}

// maxLimits bounds what Validate accepts; the API checks its own, smaller
// limits when the action is created.
const (
	maxTimeout     = 24 * time.Hour
	maxMemoryMB    = 1 << 20
	maxLogsMB      = 1 << 10
	maxConcurrency = 1 << 16
)

// checkActions validates the actions section: names, kinds, code,
// limits; each problem names the action and the field.
func (v *validator) checkActions(defs []*ActionDef) {
	seen := map[string]bool{}
	for _, a := range defs {
		v.unknown(&a.Meta, "action "+a.Name)
		if _, err := ResolveAction(v.ns, a.Name); err != nil || strings.HasPrefix(a.Name, "/") {
			if err == nil {
				err = fmt.Errorf("action name %q is absolute: a declared action is created in the workflow's namespace, so name it a or pkg/a", a.Name)
			}
			v.add(a.Pos, a.Path, "%v", err)
		}
		if seen[a.Name] {
			v.add(a.Pos, a.Path, "action %s is declared twice", a.Name)
		}
		seen[a.Name] = true
		kind := a.KindOf()
		switch {
		case a.Kind != "" && !validKind(a.Kind):
			v.add(a.FieldPos("kind"), a.FieldPath("kind"), "kind %q is not a runtime kind like python:3, go:default or nodejs:20, nor blackbox or native", a.Kind)
		case a.Code != "" && a.Source != "":
			v.add(a.FieldPos("code"), a.FieldPath("code"), "action %s has both a code file and inline code", a.Name)
		case a.Source != "" && a.Kind == "":
			v.add(a.FieldPos("code"), a.FieldPath("kind"), "action %s: inline code needs a kind", a.Name)
		case a.Code == "" && a.Source == "" && a.Image == "":
			v.add(a.Pos, a.Path, "action %s has no code: give code (a file or a folder) or a docker image", a.Name)
		case kind == "" && a.Source == "":
			v.add(a.FieldPos("code"), a.FieldPath("kind"), "action %s: cannot tell the kind of %q from its name: give kind (python:3, go:default, nodejs:20, native, ...)", a.Name, a.Code)
		case a.Image != "" && a.Kind != "" && a.Kind != KindBlackbox:
			v.add(a.FieldPos("image"), a.FieldPath("image"), "action %s: an image runs as kind blackbox, not %s: leave kind out", a.Name, a.Kind)
		case a.Code == "" && a.Source == "" && a.Kind != "" && a.Kind != KindBlackbox:
			v.add(a.Pos, a.FieldPath("code"), "action %s of kind %s has no code: give code (a file or a folder)", a.Name, a.Kind)
		}
		if a.Code != "" && (strings.ContainsRune(a.Code, 0) || strings.TrimSpace(a.Code) == "") {
			v.add(a.FieldPos("code"), a.FieldPath("code"), "action %s: code %q is not a path", a.Name, a.Code)
		}
		if a.Main != "" && strings.TrimSpace(a.Main) != a.Main {
			v.add(a.FieldPos("main"), a.FieldPath("main"), "action %s: main %q has blanks around it", a.Name, a.Main)
		}
		l := a.Limits
		lim := func(field string, bad bool, format string, args ...any) {
			if bad {
				v.add(a.FieldPos("limits."+field), a.FieldPath("limits."+field), "action %s: "+format, append([]any{a.Name}, args...)...)
			}
		}
		lim("timeout", l.Timeout < 0 || l.Timeout > maxTimeout || l.Timeout%time.Millisecond != 0, "timeout %v is not a whole number of milliseconds up to %v (0: the default)", l.Timeout, maxTimeout)
		lim("memory", l.MemoryMB < 0 || l.MemoryMB > maxMemoryMB, "memory %d MB is out of range (1 to %d, or 0 for the default)", l.MemoryMB, maxMemoryMB)
		lim("logs", l.LogsMB < 0 || l.LogsMB > maxLogsMB, "logs %d MB is out of range (0 to %d)", l.LogsMB, maxLogsMB)
		lim("concurrency", l.Concurrency < 0 || l.Concurrency > maxConcurrency, "concurrency %d is out of range (1 to %d, or 0 for the default)", l.Concurrency, maxConcurrency)
		for _, kv := range [2]struct {
			what string
			l    []KeyValue
		}{{"params", a.Params}, {"annotations", a.Annotations}} {
			for _, p := range kv.l {
				if p.Key == "" {
					v.add(a.FieldPos(kv.what), a.FieldPath(kv.what), "action %s: an empty key in %s", a.Name, kv.what)
				}
				if !json.Valid(p.Value) {
					v.add(a.FieldPos(kv.what), a.FieldPath(kv.what+"."+p.Key), "action %s: %s %q is not valid JSON", a.Name, kv.what, p.Key)
				}
			}
		}
	}
}

// validKind reports whether k can be a kind: blackbox, native, or
// family:version of letters, digits, '.', '-' and '_'.
func validKind(k string) bool {
	if k == KindBlackbox || k == KindNative {
		return true
	}
	fam, ver, ok := strings.Cut(k, ":")
	if !ok || fam == "" || ver == "" || len(k) > 64 {
		return false
	}
	for _, r := range fam + ver {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// Declared returns the fully qualified names of w's declared actions in
// namespace ns (the deployer's, for the default namespace), in file
// order; names that do not resolve are left out (Validate reports them).
func (w *Workflow) Declared(ns string) map[string]*ActionDef {
	out := make(map[string]*ActionDef, len(w.Actions))
	for _, a := range w.Actions {
		if strings.HasPrefix(a.Name, "/") {
			continue
		}
		if fqn, err := ResolveAction(ns, a.Name); err == nil {
			out[fqn] = a
		}
	}
	return out
}
