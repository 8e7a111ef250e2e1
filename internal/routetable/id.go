package routetable

import (
	"fmt"
	"strings"
)

// MaxIDLen bounds an instance ID, in bytes: Consul's limit on service IDs.
const MaxIDLen = 256

// CheckID reports whether id can be an Instance ID in every catalog: the
// Consul store uses it as a service ID, which goes into the agent API's
// URL paths, and the sandbox's embedded registry accepts exactly the same
// IDs. A valid ID is 1 to MaxIDLen bytes and holds no '?', '#' or '%', no
// space and no control character ('/' is allowed: "<host>/<id>"). Callers
// wrap the error in their own sentinel.
func CheckID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("empty ID")
	case len(id) > MaxIDLen:
		return fmt.Errorf("ID longer than %d bytes", MaxIDLen)
	case strings.ContainsAny(id, "?#%"):
		return fmt.Errorf("ID %q holds '?', '#' or '%%'", id)
	}
	for _, r := range id {
		if r <= 0x20 || r == 0x7f {
			return fmt.Errorf("ID %q holds a space or control character", id)
		}
	}
	return nil
}
