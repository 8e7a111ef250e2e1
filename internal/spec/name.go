package spec

import (
	"fmt"
	"strings"
)

// CheckName reports whether name can name a namespace or a workflow where
// specs and keys are stored: as one segment of a KV path (Consul's) or a
// map key (the sandbox's embedded registry), which must accept the same
// names. A valid name is 1 to MaxNameLen bytes, holds no '/', no "..", no
// control character (below 0x20, or 0x7f), and is not ".". what names the
// name in the error ("namespace", "workflow"); callers wrap the error in
// their own sentinel.
func CheckName(what, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty %s", what)
	case len(name) > MaxNameLen:
		return fmt.Errorf("%s longer than %d bytes", what, MaxNameLen)
	case strings.Contains(name, "/"):
		return fmt.Errorf("%s %q holds '/'", what, name)
	case strings.Contains(name, ".."), name == ".":
		return fmt.Errorf("%s %q is or holds a dot path", what, name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%s %q holds a control character", what, name)
		}
	}
	return nil
}
