package spec_test

import (
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/internal/spec"
)

func TestCheckName(t *testing.T) {
	tests := []struct {
		name    string
		wantErr string // "" for a valid name, else a part of the message
	}{
		{"guest", ""},
		{"a.b", ""},
		{"user@example.com", ""},
		{"ns-1_x", ""},
		{".x", ""},
		{"with space", ""},
		{"é", ""},
		{strings.Repeat("x", spec.MaxNameLen), ""},
		{"", "empty namespace"},
		{strings.Repeat("x", spec.MaxNameLen+1), "longer than 256 bytes"},
		{"a/b", "holds '/'"},
		{"/", "holds '/'"},
		{".", "dot path"},
		{"..", "dot path"},
		{"a..b", "dot path"},
		{"../x", "holds '/'"},
		{"a\nb", "control character"},
		{"a\x00", "control character"},
		{"a\x1f", "control character"},
		{"a\x7f", "control character"},
	}
	for _, tt := range tests {
		err := spec.CheckName("namespace", tt.name)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("CheckName(%q) = %v, want nil", tt.name, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("CheckName(%q) = %v, want an error holding %q", tt.name, err, tt.wantErr)
		}
	}
}
