// Package promtest is test-only: it reads a Prometheus registry's samples
// into a map that tests compare against, for the agent's metrics and the
// user-events recorder.
package promtest
