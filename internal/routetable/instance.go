package routetable

// Instance is one warm, route-enabled action container, as the host agent
// registers it in the catalog and pushes it to the proxies of its host.
//
// Endpoints are strings of the form "unix:/path/to.sock" or
// "tcp:host:port" (see internal/transport).
type Instance struct {
	// ID is unique in the cluster: "<host>/<container-or-process id>".
	ID string `json:"id"`
	// Namespace is the OpenWhisk namespace the action belongs to.
	Namespace string `json:"namespace"`
	// Action is the fully qualified action name, "/ns/pkg/name" or "/ns/name".
	Action string `json:"action"`
	// Version is the action's version ("0.0.1").
	Version string `json:"version,omitempty"`
	// Host names the invoker host (the host agent's node name).
	Host string `json:"host"`
	// Unix is the proxy's frame socket on its host, reachable only from there.
	Unix string `json:"unix"`
	// TCP is the proxy's routable frame address, when it has one (pods).
	TCP string `json:"tcp,omitempty"`
	// Relay is the host agent's relay address, for hosts whose container
	// addresses are not routable.
	Relay string `json:"relay,omitempty"`
	// Concurrency is how many activations the instance runs at once.
	Concurrency int `json:"concurrency,omitempty"`
}
