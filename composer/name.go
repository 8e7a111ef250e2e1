package composer

import (
	"fmt"
	"strings"
)

// MaxNameLen bounds a workflow or namespace name, and each part of an
// action name, in bytes.
const MaxNameLen = 128

// ResolveAction returns the fully qualified name ("/ns/a" or
// "/ns/pkg/a") of action name, resolving a relative name ("a", "pkg/a")
// against namespace. It fails for an empty part, more than three parts,
// blanks or control characters.
func ResolveAction(namespace, name string) (string, error) {
	full := name
	if !strings.HasPrefix(name, "/") {
		full = "/" + namespace + "/" + name
	}
	parts := strings.Split(full[1:], "/")
	if len(parts) < 2 || len(parts) > 3 {
		return "", fmt.Errorf("action name %q is not a, pkg/a, /ns/a or /ns/pkg/a", name)
	}
	for _, p := range parts {
		if err := checkPart(p); err != nil {
			return "", fmt.Errorf("action name %q: %w", name, err)
		}
	}
	return full, nil
}

// CheckName reports whether name can name a workflow or a namespace: 1 to
// MaxNameLen bytes, no '/', blank or control character, not "." or "..".
func CheckName(name string) error {
	if strings.Contains(name, "/") {
		return fmt.Errorf("%q holds '/'", name)
	}
	return checkPart(name)
}

func checkPart(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("empty name part")
	case len(p) > MaxNameLen:
		return fmt.Errorf("name part longer than %d bytes", MaxNameLen)
	case p == "." || p == "..":
		return fmt.Errorf("name part %q is a dot path", p)
	}
	for _, r := range p {
		if r <= ' ' || r == 0x7f {
			return fmt.Errorf("name part %q holds a blank or control character", p)
		}
	}
	return nil
}
