package main

import (
	"fmt"

	"github.com/wsk-route/wsk-route/action-proxy/actionloop"
)

func main() {
	actionloop.Main(hello)
}

// hello greets args["name"], or the World.
func hello(args map[string]any) map[string]any {
	name, _ := args["name"].(string)
	if name == "" {
		name = "World"
	}
	fmt.Printf("hello-go: greeting %s\n", name) // a log line, in the activation's logs
	return map[string]any{"greeting": "Hello, " + name + "!"}
}
