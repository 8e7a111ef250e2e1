// Package proxymain is the wsk-route action proxy's command line: the
// program behind cmd/proxy (/bin/proxy in runtime images) and behind
// `wsk-route proxy`, which the `wsk-route dev` sandbox starts once per warm
// container so that one binary is all a user needs.
//
// Usage:
//
//	proxy [-debug] [-listen :8080]
//	proxy -compile MAIN [-env JSON] <source-or-archive >action.zip
//	proxy -version
//	proxy -skeleton EXEC
//
// Main serves the invoker's POST /init and POST /run, configured by the
// same OW_* environment variables as the stock proxy; with a host agent
// present (WSK_ROUTE_AGENT) the route plane runs beside it. With
// WSK_ROUTE_SKELETON=1 it runs the action as openwhisk/dockerskeleton
// does, one process per activation, by starting itself with -skeleton as
// the action's ActionLoop process (package skeleton).
package proxymain
