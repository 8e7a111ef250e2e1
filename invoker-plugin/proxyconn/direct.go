package proxyconn

// DirectSink is implemented by a Registrar that wants to know when the
// container of a registered proxy runs direct steps
// (agentproto.TypeDirect): work the invoker does not see, for which it
// must not take the container for idle. Without it, the reports are
// ignored.
type DirectSink interface {
	// Direct says whether the proxy registered as instance id runs direct
	// steps. It must not block: the session's reader waits for it.
	Direct(id string, running bool)
}
