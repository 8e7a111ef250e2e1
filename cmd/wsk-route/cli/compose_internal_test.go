package cli

import (
	"errors"
	"testing"
)

// threshold reads OpenWhisk's limit refusals (ErrorResponse.scala's
// texts), as openwhisk-client-go's errors carry them.
func TestThreshold(t *testing.T) {
	for _, tc := range []struct {
		msg, field, direction string
		want                  int
		ok                    bool
	}{
		{"The request content was malformed:\nrequirement failed: concurrency 64 exceeds allowed threshold of 1 (code 5f3c)", "concurrency", "exceeds", 1, true},
		{"requirement failed: concurrency 64 exceeds allowed threshold of 500", "concurrency", "exceeds", 500, true},
		{"requirement failed: memory size 128 MB below allowed threshold of 256 MB", "memory size", "below", 256, true},
		{"requirement failed: memory size 128 MB below allowed threshold of 256 MB", "concurrency", "exceeds", 0, false},
		{"requirement failed: concurrency 0 below allowed threshold of 1", "concurrency", "exceeds", 0, false},
		{"requirement failed: memory size 1024 MB exceeds allowed threshold of 512 MB", "memory size", "below", 0, false},
		{"The requested resource does not exist.", "concurrency", "exceeds", 0, false},
	} {
		n, ok := threshold(errors.New(tc.msg), tc.field, tc.direction)
		if n != tc.want || ok != tc.ok {
			t.Errorf("threshold(%q, %s, %s) = %d, %v; want %d, %v", tc.msg, tc.field, tc.direction, n, ok, tc.want, tc.ok)
		}
	}
}
