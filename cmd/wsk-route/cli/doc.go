// Package cli holds wsk-route's cobra commands: flags in, library calls
// out. Run is the whole program; cmd/wsk-route only calls it.
//
// Commands: `dev` (the sandbox, package sandbox), the hidden `proxy` (the
// action proxy, package proxymain, which the sandbox starts once per warm
// container), and the workflow commands, wsk-like: `compose` (composer/parse
// and composer/compile, then the spec store and the entry action), `get`,
// `list`, `delete`, `invoke` and `routes`.
//
// The workflow commands share wsk's global flags (--apihost, --auth/-u,
// --namespace, -i) resolved as wsk resolves them: a flag wins over
// WSK_CONFIG_FILE or ~/.wskprops (APIHOST, AUTH, NAMESPACE, APIVERSION), and
// an API host without a scheme is https. Specs and the route table come from
// --consul (default $CONSUL_HTTP_ADDR), a real Consul through
// internal/consulstore, or else from the API host's
// /namespaces/_/wsk-route routes, which `wsk-route dev` serves.
//
// Exit codes: 0 ok, 1 failure (a failed workflow included), 2 a command
// line that cannot run (cobra argument and flag errors, -o values, -p
// without KEY and VALUE). Errors are printed once, as "wsk-route: ...".
package cli
