package proxyconn

import "github.com/wsk-route/wsk-route/internal/agentproto"

// ActivationSink is what a Registrar may also implement to take the
// activation records of the direct steps proxies ran
// (agentproto.TypeActivation). Without it, records are ignored.
type ActivationSink interface {
	// Activation takes one record from the proxy registered as instance
	// id. It must not block: the session's reader waits for it.
	Activation(id string, a *agentproto.Activation)
}
