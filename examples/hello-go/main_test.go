package main

import "testing"

func TestHello(t *testing.T) {
	tests := []struct {
		args map[string]any
		want string
	}{
		{map[string]any{"name": "Demo"}, "Hello, Demo!"},
		{map[string]any{}, "Hello, World!"},
		{map[string]any{"name": 42}, "Hello, World!"},
	}
	for _, tc := range tests {
		if got := hello(tc.args)["greeting"]; got != tc.want {
			t.Errorf("hello(%v) greeting = %v, want %q", tc.args, got, tc.want)
		}
	}
}
