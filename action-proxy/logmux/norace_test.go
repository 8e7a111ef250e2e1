//go:build !race

package logmux_test

// raceEnabled is true under -race, where allocation counts mean nothing.
const raceEnabled = false
