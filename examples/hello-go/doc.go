// Command hello-go is the quickstart's Go action. It is a complete ActionLoop
// program built on action-proxy/actionloop: for {"name":"Demo"} it prints a log line
// and returns {"greeting":"Hello, Demo!"}; without a name it greets the World.
//
// Build it as a static binary named exec and deploy the zip as a binary action:
//
//	CGO_ENABLED=0 go build -o exec ./examples/hello-go
//	zip hello-go.zip exec
//	wsk action create hello-go hello-go.zip --docker openwhisk/actionloop-base
//
// (ActionLoop keeps one process for all activations; --native would run it
// as openwhisk/dockerskeleton does, once per activation, which it is not
// written for.)
//
// or try it by hand (results are written to file descriptor 3):
//
//	echo '{"value":{"name":"Demo"}}' | ./exec 3>&1
package main
