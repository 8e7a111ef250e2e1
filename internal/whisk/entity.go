package whisk

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// KeyValue is one entry of OpenWhisk's parameter and annotation lists.
type KeyValue struct {
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
	// Init marks a parameter that goes to /init's env instead of the
	// activation's value (OpenWhisk's "init" flag on parameters).
	Init bool `json:"init,omitempty"`
}

// KeyValues is a parameter or annotation list, in order.
type KeyValues []KeyValue

// Get returns the value of key, or nil and false.
func (kv KeyValues) Get(key string) (json.RawMessage, bool) {
	for _, e := range kv {
		if e.Key == key {
			return e.Value, true
		}
	}
	return nil, false
}

// Truthy reports whether key is present with a value other than false,
// null, 0 or "" (OpenWhisk's test for annotations like "conductor").
func (kv KeyValues) Truthy(key string) bool {
	v, ok := kv.Get(key)
	if !ok {
		return false
	}
	t := strings.TrimSpace(string(v))
	switch t {
	case "", "false", "null", `""`:
		return false
	}
	if isZeroNumber(t) {
		return false
	}
	return true
}

// isZeroNumber reports whether t is a JSON number equal to zero ("0",
// "-0.0", "0e3"), judged on its digits: parsing to float64 would make
// "1e-400" zero.
func isZeroNumber(t string) bool {
	if t == "" || !(t[0] == '-' || (t[0] >= '0' && t[0] <= '9')) {
		return false
	}
	var n json.Number
	if json.Unmarshal([]byte(t), &n) != nil {
		return false
	}
	mant, _, _ := strings.Cut(strings.ToLower(t), "e")
	return strings.Trim(mant, "-.0") == ""
}

// Set returns kv with key set to v (replacing an existing entry in place,
// else appended). v is marshalled with encoding/json; a json.RawMessage is
// used as is.
func (kv KeyValues) Set(key string, v any) KeyValues {
	raw, ok := v.(json.RawMessage)
	if !ok {
		b, err := json.Marshal(v)
		if err != nil {
			b = []byte("null")
		}
		raw = b
	}
	for i := range kv {
		if kv[i].Key == key {
			out := append(KeyValues(nil), kv...)
			out[i].Value = raw
			return out
		}
	}
	return append(append(KeyValues(nil), kv...), KeyValue{Key: key, Value: raw})
}

// Object returns the list as a JSON object (later keys win), the form in
// which parameters are merged into an activation's content. Init
// parameters are left out unless withInit.
func (kv KeyValues) Object(withInit bool) map[string]json.RawMessage {
	m := make(map[string]json.RawMessage, len(kv))
	for _, e := range kv {
		if e.Init && !withInit {
			continue
		}
		m[e.Key] = e.Value
	}
	return m
}

// Limits are an action's limits as OpenWhisk's REST API shows them.
type Limits struct {
	// Timeout in milliseconds.
	Timeout int `json:"timeout"`
	// Memory in megabytes.
	Memory int `json:"memory"`
	// Logs is the log size limit in megabytes.
	Logs int `json:"logs"`
	// Concurrency is the number of activations one container may run at once.
	Concurrency int `json:"concurrency"`
	// Instances is the most containers the action may scale to
	// (ActionLimits.instances); 0 means the action sets none, and it is
	// left out, as OpenWhisk leaves out its None.
	Instances int `json:"instances,omitempty"`
}

// OpenWhisk's default limits and their bounds (ansible group_vars/all and
// core/entity/*Limit.scala).
const (
	DefaultTimeoutMS   = 60000
	MinTimeoutMS       = 100
	MaxTimeoutMS       = 300000
	DefaultMemoryMB    = 256
	MinMemoryMB        = 128
	MaxMemoryMB        = 512
	DefaultLogsMB      = 10
	MaxLogsMB          = 10
	DefaultConcurrency = 1
	// MaxConcurrency is OpenWhisk's default largest limits.concurrency:
	// one activation per container. A deployment raises it (ansible's
	// limit_action_concurrency_max; the sandbox's --max-concurrency), up
	// to ConcurrencyCeiling here.
	MaxConcurrency = 1
	// ConcurrencyCeiling bounds the limits.concurrency an entity may have
	// (Validate) and what a sandbox may raise MaxConcurrency to.
	ConcurrencyCeiling = 500
)

// DefaultLimits returns OpenWhisk's default action limits.
func DefaultLimits() Limits {
	return Limits{Timeout: DefaultTimeoutMS, Memory: DefaultMemoryMB, Logs: DefaultLogsMB, Concurrency: DefaultConcurrency}
}

// WithDefaults returns l with every zero field set to its default.
func (l Limits) WithDefaults() Limits {
	d := DefaultLimits()
	if l.Timeout == 0 {
		l.Timeout = d.Timeout
	}
	if l.Memory == 0 {
		l.Memory = d.Memory
	}
	if l.Logs == 0 {
		l.Logs = d.Logs
	}
	if l.Concurrency == 0 {
		l.Concurrency = d.Concurrency
	}
	return l
}

// Validate reports the first limit outside OpenWhisk's bounds (for
// concurrency, ConcurrencyCeiling: the API checks its own maximum), with
// the message OpenWhisk's controller gives.
func (l Limits) Validate() error {
	switch {
	case l.Timeout < MinTimeoutMS || l.Timeout > MaxTimeoutMS:
		return fmt.Errorf("timeout %d milliseconds below allowed threshold of %d milliseconds or exceeds allowed threshold of %d milliseconds", l.Timeout, MinTimeoutMS, MaxTimeoutMS)
	case l.Memory < MinMemoryMB || l.Memory > MaxMemoryMB:
		return fmt.Errorf("memory %d MB below allowed threshold of %d MB or exceeds allowed threshold of %d MB", l.Memory, MinMemoryMB, MaxMemoryMB)
	case l.Logs < 0 || l.Logs > MaxLogsMB:
		return fmt.Errorf("log size %d MB exceeds allowed threshold of %d MB", l.Logs, MaxLogsMB)
	case l.Concurrency < 1 || l.Concurrency > ConcurrencyCeiling:
		return fmt.Errorf("concurrency %d below allowed threshold of 1 or exceeds allowed threshold of %d", l.Concurrency, ConcurrencyCeiling)
	}
	return nil
}

// Exec is an action's executable.
type Exec struct {
	// Kind is the runtime kind: "blackbox", "sequence", "python:3",
	// "go:1.26", ...
	Kind string `json:"kind"`
	// Code is the source, or base64 of a binary/zip when Binary; absent in
	// listings and GET without code.
	Code *string `json:"code,omitempty"`
	// Image is the docker image of a blackbox action.
	Image string `json:"image,omitempty"`
	// Main is the entry function's name; "" is "main".
	Main string `json:"main,omitempty"`
	// Components are the fully qualified actions of a sequence.
	Components []string `json:"components,omitempty"`
	// Binary reports that Code is base64 of a binary or archive. Absent
	// for sequences.
	Binary *bool `json:"binary,omitempty"`
}

// IsSequence reports whether the executable is a sequence.
func (e Exec) IsSequence() bool { return e.Kind == KindSequence }

// Kinds the sandbox knows by name.
const (
	KindSequence = "sequence"
	KindBlackbox = "blackbox"
)

// Action is an action entity as the REST API shows it (GET, PUT, list).
type Action struct {
	// Namespace is the entity path: "guest" or "guest/pkg".
	Namespace   string    `json:"namespace"`
	Name        string    `json:"name"`
	Version     string    `json:"version"`
	Exec        Exec      `json:"exec"`
	Annotations KeyValues `json:"annotations"`
	Parameters  KeyValues `json:"parameters"`
	Limits      Limits    `json:"limits"`
	Publish     bool      `json:"publish"`
	// Updated is the time of the last change, epoch milliseconds.
	Updated int64 `json:"updated"`
}

// FQN returns the action's fully qualified name, "/guest/pkg/name".
func (a Action) FQN() string { return "/" + a.Namespace + "/" + a.Name }

// Package is a package entity (no bindings to other namespaces in the
// sandbox).
type Package struct {
	Namespace   string    `json:"namespace"`
	Name        string    `json:"name"`
	Version     string    `json:"version"`
	Annotations KeyValues `json:"annotations"`
	Parameters  KeyValues `json:"parameters"`
	Publish     bool      `json:"publish"`
	Updated     int64     `json:"updated"`
	// Binding is {} for an ordinary package, as OpenWhisk shows it.
	Binding json.RawMessage `json:"binding"`
	// Actions lists the package's actions in GET responses.
	Actions []EntityRef `json:"actions,omitempty"`
}

// EntityRef names an entity inside a package listing.
type EntityRef struct {
	Name        string    `json:"name"`
	Version     string    `json:"version"`
	Annotations KeyValues `json:"annotations,omitempty"`
}

// NextVersion returns the semantic version after v the way OpenWhisk bumps
// an entity on update: the patch number plus one ("0.0.1" → "0.0.2"). An
// empty or unparsable v gives "0.0.1".
func NextVersion(v string) string {
	var a, b, c int
	if _, err := fmt.Sscanf(v, "%d.%d.%d", &a, &b, &c); err != nil || v == "" {
		return "0.0.1"
	}
	return fmt.Sprintf("%d.%d.%d", a, b, c+1)
}

// ParseName splits a REST name ("pkg/action" or "action", optionally
// "/ns/pkg/action") into the entity path below the namespace ("" or
// "pkg") and the name. It rejects empty parts and more than two levels.
func ParseName(s string) (ns, pkg, name string, err error) {
	if strings.HasPrefix(s, "/") {
		parts := strings.Split(s[1:], "/")
		switch len(parts) {
		case 2:
			ns, name = parts[0], parts[1]
		case 3:
			ns, pkg, name = parts[0], parts[1], parts[2]
			if pkg == "" {
				return "", "", "", fmt.Errorf("%q has an empty part", s)
			}
		default:
			return "", "", "", fmt.Errorf("%q is not a fully qualified name (/namespace/[package/]name)", s)
		}
	} else {
		parts := strings.Split(s, "/")
		switch len(parts) {
		case 1:
			name = parts[0]
		case 2:
			pkg, name = parts[0], parts[1]
		default:
			return "", "", "", fmt.Errorf("%q has too many parts ([package/]name)", s)
		}
	}
	for _, p := range []string{ns, pkg, name} {
		if strings.ContainsAny(p, " \t\n\\") {
			return "", "", "", fmt.Errorf("%q: names may not contain blanks or backslashes", s)
		}
	}
	if name == "" || (strings.HasPrefix(s, "/") && ns == "") || (strings.Contains(s, "/") && pkg == "" && ns == "") {
		return "", "", "", fmt.Errorf("%q has an empty part", s)
	}
	return ns, pkg, name, nil
}

// compactJSON returns b without insignificant whitespace, or b if it is
// not JSON.
func compactJSON(b []byte) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return b
	}
	return buf.Bytes()
}
