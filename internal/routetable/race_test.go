//go:build race

package routetable_test

const raceEnabled = true
