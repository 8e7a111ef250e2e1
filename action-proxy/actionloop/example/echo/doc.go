// Command echo is an ActionLoop action that returns its input unchanged, without
// decoding it. It is the action to benchmark a proxy with, since its own cost per
// activation is a copy of the input.
//
// Build it as a binary action:
//
//	CGO_ENABLED=0 go build -o exec ./action-proxy/actionloop/example/echo
//	zip echo.zip exec
//
// or run it by hand (results appear on file descriptor 3):
//
//	echo '{"value":{"a":1}}' | ./exec 3>&1
package main
