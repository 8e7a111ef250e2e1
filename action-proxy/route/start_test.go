package route

import (
	"testing"

	"github.com/wsk-route/wsk-route/internal/frame"
)

func TestRunErrorText(t *testing.T) {
	tests := []struct {
		name string
		err  *RunError
		want string
	}{
		{"at a step", &RunError{RunID: "r1", Step: "s2", Code: frame.CodeStepFailed, Reason: "boom"},
			"route: run r1 failed at step s2: boom (step failed)"},
		{"unavailable start", &RunError{RunID: "r2", Step: "s1", Code: frame.CodeUnavailable, Reason: "no instance"},
			"route: run r2 failed at step s1: no instance (unavailable)"},
		{"deadline, no step", &RunError{RunID: "r3", Code: frame.CodeExpired, Reason: "context deadline exceeded: 0 of 1 results arrived; no step reported"},
			"route: run r3: context deadline exceeded: 0 of 1 results arrived; no step reported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}
