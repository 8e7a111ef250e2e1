// Package api is the `wsk-route dev` sandbox's REST API: an http.Handler
// that serves OpenWhisk's /api/v1 routes for actions, packages,
// activations and namespaces with OpenWhisk's JSON shapes, status codes
// and error messages (core/controller/.../controller/{Actions,Activations,
// Packages,Namespaces}.scala), so that the `wsk` CLI and
// openwhisk-client-go work against the sandbox unchanged.
//
// Entities and activation records live in a *store.Store; invocations go
// to an Invoker (the sandbox's controller). Every route but the info
// routes (/, /ping, GET /api/v1) needs HTTP Basic authentication with a
// subject's "uuid:key"; the namespace "_" in a path is the caller's own,
// and another namespace is refused with 403. Errors are always
// {"error": message, "code": id} with Content-Type application/json.
//
// # Caller's duties
//
// Build the handler once with New and serve it (it may be mounted at the
// root of a server); the caller owns the Store and the Invoker and closes
// them after the server has shut down. Invoke is called with the request's
// context, so a client that goes away cancels its blocking wait. To turn
// the Invoker's errors into OpenWhisk's answers (sequence too long,
// component missing, overload), set Config.InvokeError; without it every
// Invoke error is a 500.
package api
