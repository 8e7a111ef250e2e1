package routetable_test

import (
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/internal/routetable"
)

func TestCheckIDAccepts(t *testing.T) {
	for _, id := range []string{
		"node-1/c1",
		"host/abc.def_1:2",
		"x",
		"é",
		strings.Repeat("x", routetable.MaxIDLen),
	} {
		if err := routetable.CheckID(id); err != nil {
			t.Errorf("CheckID(%q) = %v, want nil", id, err)
		}
	}
}

func TestCheckIDRefuses(t *testing.T) {
	// Each bad ID and a part of the message that must say why.
	bad := map[string]string{
		"": "empty ID",
		strings.Repeat("x", routetable.MaxIDLen+1): "longer than 256 bytes",
		"a?b":    "'?', '#' or '%'",
		"a#b":    "'?', '#' or '%'",
		"a%20b":  "'?', '#' or '%'",
		"a b":    "space or control",
		"a\tb":   "space or control",
		"a\x00":  "space or control",
		"a\x7f":  "space or control",
		"\x1fab": "space or control",
	}
	for id, why := range bad {
		err := routetable.CheckID(id)
		if err == nil {
			t.Errorf("CheckID(%q) = nil, want an error saying %q", id, why)
		} else if !strings.Contains(err.Error(), why) {
			t.Errorf("CheckID(%q) = %q, want it to say %q", id, err, why)
		}
	}
}
