package proxytest_test

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/wsk-route/wsk-route/internal/proxytest"
)

func TestIsBinaryCode(t *testing.T) {
	tests := []struct {
		code string
		want bool
	}{
		{"", false},
		{"   ", false},
		{"abcd", true},
		{" abcd\n", true},
		{"abc=", true},
		{"ab==", true},
		{"a===", false},
		{"abc", false},
		{"ab=c", false},
		{"def main(args):", false},
		{base64.StdEncoding.EncodeToString([]byte("\x00\x01\x02\xff")), true},
	}
	for _, tc := range tests {
		t.Run(tc.code, func(t *testing.T) {
			if got := proxytest.IsBinaryCode(tc.code); got != tc.want {
				t.Errorf("IsBinaryCode(%q) = %v, want %v", tc.code, got, tc.want)
			}
		})
	}
}

func TestInitPayload(t *testing.T) {
	tests := []struct {
		name   string
		code   string
		env    map[string]any
		binary bool
		want   string
	}{
		{"source", "def main(a): <b>", nil, false,
			`{"value":{"binary":false,"code":"def main(a): <b>","env":null,"main":"main"}}`},
		{"binary", "\x00zip", map[string]any{"K": "v"}, true,
			`{"value":{"binary":true,"code":"AHppcA==","env":{"K":"v"},"main":"main"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := proxytest.InitPayload(tc.code, "main", tc.env, tc.binary)
			if string(got) != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
			if !json.Valid(got) {
				t.Errorf("%s is not valid JSON", got)
			}
		})
	}
}

func TestRunPayload(t *testing.T) {
	got := proxytest.RunPayload(map[string]any{"a": "<&>"}, map[string]string{"activation_id": "x"})
	if want := `{"activation_id":"x","value":{"a":"<&>"}}`; string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestStream(t *testing.T) {
	s := proxytest.Sentinel + "\n"
	tests := []struct {
		name, stream, want string
		sentinels          int
	}{
		{"empty", "", "", 0},
		{"logs and sentinels", "a\n" + s + "b\n" + s, "a\nb\n", 2},
		{"no final newline", "a\n" + proxytest.Sentinel, "a\n", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "stdout")
			if err := os.WriteFile(path, []byte(tc.stream), 0o644); err != nil {
				t.Fatal(err)
			}
			if got := proxytest.Stream(t, "stdout", path, tc.sentinels); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
