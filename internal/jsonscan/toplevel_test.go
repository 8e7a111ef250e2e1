package jsonscan_test

import (
	"testing"

	"github.com/wsk-route/wsk-route/internal/jsonscan"
)

func TestTopLevel(t *testing.T) {
	tests := []struct {
		in, key, want string
		found         bool
	}{
		{`{"error":"boom"}`, "error", `"boom"`, true},
		{` { "a" : 1 , "error" : {"x":[1,2]} } `, "error", `{"x":[1,2]}`, true},
		{`{"a":{"error":1}}`, "error", ``, false},
		{`{"errors":1}`, "error", ``, false},
		{`[{"error":1}]`, "error", ``, false},
		{`{}`, "error", ``, false},
		{`{"error":`, "error", ``, false},
		{`{"a":1 "error":2}`, "error", ``, false},
		{``, "error", ``, false},
	}
	for _, tt := range tests {
		got, found := jsonscan.TopLevel([]byte(tt.in), tt.key)
		if found != tt.found || string(got) != tt.want {
			t.Errorf("TopLevel(%q, %q) = %q, %v; want %q, %v", tt.in, tt.key, got, found, tt.want, tt.found)
		}
	}
}

func FuzzTopLevel(f *testing.F) {
	f.Add([]byte(`{"error":"boom","a":[1,{"b":null}]}`))
	f.Add([]byte(`{"a":"\u0065"}`))
	f.Fuzz(func(t *testing.T, d []byte) {
		v, ok := jsonscan.TopLevel(d, "error")
		if ok && !jsonscan.Valid(v) {
			t.Fatalf("TopLevel returned invalid JSON %q", v)
		}
	})
}
