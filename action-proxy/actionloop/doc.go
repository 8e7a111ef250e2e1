// Package actionloop is a library for writing OpenWhisk actions in Go that speak
// the ActionLoop protocol of the wsk-route proxy (and of the stock OpenWhisk Go proxy).
// It plays the part of the Go runtime's launcher: a program calls [Run] or [Main]
// from its main function, is built into an executable named exec, and is started once
// per container by the proxy at /init.
//
// # Protocol
//
// The proxy starts the program with no arguments. Standard input receives one line of
// JSON per activation, {"value": ..., "namespace": "...", "deadline": "...", ...}, and
// file descriptor 3 is a pipe on which the program writes exactly one line of JSON per
// activation: its result. Standard output and standard error are the container's log
// streams.
//
// For each activation the loop:
//
//   - sets the environment variable __OW_<KEY> (key upper-cased) for every top-level
//     field other than "value" whose value is a JSON string, such as __OW_ACTIVATION_ID
//     and __OW_DEADLINE;
//   - calls the [Handler] with the field "value" (normally an object or an array; {}
//     when it is missing) and a context whose deadline is the activation's "deadline" (epoch
//     milliseconds), when it has one;
//   - writes the result as one line of compact JSON to file descriptor 3. An error, or
//     a panic in the handler, becomes {"error":"<text>"}, which OpenWhisk reports as an
//     application error. A result that is neither an object nor an array is still
//     written, so the proxy can reject it with its usual message.
//
// A line that is not a JSON object is answered with {"error":"..."} and the loop goes
// on. When standard input reaches end of file, [Run] exits with status 0.
//
// Before the first activation, [Run] writes the acknowledgement {"ok":true} to file
// descriptor 3 when the environment variable __OW_WAIT_FOR_ACK is non-empty, which is
// how the proxy is told that the program started (OW_WAIT_FOR_ACK in the proxy's
// environment). Without it, no acknowledgement is written, because the proxy would
// read it as the first activation's result.
//
// # Caller's duties
//
//   - Log with fmt or log to os.Stdout and os.Stderr. Both are unbuffered in Go, so
//     every line has reached the log stream before the result is written, and the
//     proxy's end-of-activation marker follows it. A program that wraps them in its own
//     buffered writers must flush those before its handler returns.
//   - Never write to file descriptor 3 or read from standard input yourself.
//   - Do not retain the value slice passed to a [Handler] after it returns: it points
//     into the loop's read buffer, which the next activation overwrites. Copy it (or
//     decode it) first.
//
// # Example
//
//	func main() {
//		actionloop.Main(func(args map[string]any) map[string]any {
//			name, _ := args["name"].(string)
//			return map[string]any{"greeting": "Hello, " + name + "!"}
//		})
//	}
//
// Build it with CGO_ENABLED=0 go build -o exec, then zip exec and deploy the zip as a
// binary action. See example/echo for a Handler that echoes its input without
// decoding it.
package actionloop
