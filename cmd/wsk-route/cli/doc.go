// Package cli holds wsk-route's cobra commands: flags in, library calls
// out. Run is the whole program; cmd/wsk-route only calls it.
//
// Commands: `dev` (the sandbox, package sandbox), the hidden `proxy` (the
// action proxy, package proxymain, which the sandbox starts once per warm
// container), and the workflow commands, wsk-like: `compose` (composer/parse
// and composer/compile; the actions of the file's actions section through
// openwhisk-client-go, created or updated only when they differ; then the
// spec store and the entry action, which records the actions it deployed;
// --dry-run works without an API host), `get`, `list`, `delete` (with
// --actions, the actions compose deployed), `invoke` (--watch decodes
// branch numbers into branch names and element indices with the spec,
// spec.Place; a blocking invoke and --watch poll the sandbox's cold starts,
// coldStarts, and say which container is starting or compiling for longer
// than a second) and `routes`. `wsk-route --version` prints Version, from
// the binary's build information.
//
// The workflow commands share wsk's global flags (--apihost, --auth/-u,
// --namespace, -i) resolved as wsk resolves them: a flag wins over
// WSK_CONFIG_FILE or ~/.wskprops (APIHOST, AUTH, NAMESPACE, APIVERSION), and
// an API host without a scheme is https. Specs and the route table come from
// --consul (default $CONSUL_HTTP_ADDR), a real Consul through
// internal/consulstore, or else from the API host's
// /namespaces/_/wsk-route routes, which `wsk-route dev` serves.
//
// An API host that refuses connections is reported with a hint to start
// the sandbox (`wsk-route dev`), and a missing properties file is named,
// WSK_CONFIG_FILE's included.
//
// Exit codes: 0 ok, 1 failure (a failed workflow included), 2 a command
// line that cannot run (cobra argument and flag errors, -o values, -p
// without KEY and VALUE). Errors are printed once, as "wsk-route: ...".
package cli
