package sandbox_test

import (
	"slices"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox"
)

// TestOpenWhiskEnv reads the invoker settings OpenWhisk's ansible passes
// as CONFIG_ environment variables.
func TestOpenWhiskEnv(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     []string
		binds   []string
		network string
		grace   time.Duration
	}{
		{"none", []string{"PATH=/bin"}, nil, "", 0},
		{"wsk-route's", []string{
			"CONFIG_whisk_containerFactory_containerArgs_extraArgs_volume_1=/dev/shm/wsk-route:/dev/shm/wsk-route",
			"CONFIG_whisk_containerFactory_containerArgs_extraArgs_volume_0=/run/wsk-route:/run/wsk-route:ro",
			"CONFIG_whisk_containerProxy_timeouts_pauseGrace=10 minutes",
			"CONFIG_whisk_containerFactory_containerArgs_network=bridge",
		}, []string{"/run/wsk-route:/run/wsk-route:ro", "/dev/shm/wsk-route:/dev/shm/wsk-route"}, "bridge", 10 * time.Minute},
		{"grace in ms", []string{"CONFIG_whisk_containerProxy_timeouts_pauseGrace=50 ms"}, nil, "", 50 * time.Millisecond},
		{"grace go", []string{"CONFIG_whisk_containerProxy_timeouts_pauseGrace=1m30s"}, nil, "", 90 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			binds, network, grace, err := sandbox.OpenWhiskEnv(tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(binds, tc.binds) || network != tc.network || grace != tc.grace {
				t.Errorf("got %q %q %s, want %q %q %s", binds, network, grace, tc.binds, tc.network, tc.grace)
			}
		})
	}
	for _, bad := range [][]string{
		{"CONFIG_whisk_containerFactory_containerArgs_extraArgs_volume_1=/a:/a"},
		{"CONFIG_whisk_containerFactory_containerArgs_extraArgs_volume_x=/a:/a"},
		{"CONFIG_whisk_containerProxy_timeouts_pauseGrace=10 fortnights"},
		{"CONFIG_whisk_containerProxy_timeouts_pauseGrace=soon"},
	} {
		if _, _, _, err := sandbox.OpenWhiskEnv(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
