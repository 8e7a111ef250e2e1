package proxyconn

import "github.com/wsk-route/wsk-route/internal/runevent"

// RunEventSink is what a Registrar may also implement to take the run
// events that entry proxies send (agentproto.TypeRunEvent). Without it,
// run events are ignored.
type RunEventSink interface {
	// RunEvent takes one event from the proxy registered as instance id.
	// It must not block: the session's reader waits for it.
	RunEvent(id string, ev *runevent.Event)
}
