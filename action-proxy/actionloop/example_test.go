package actionloop_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/wsk-route/wsk-route/action-proxy/actionloop"
)

// A program's main function hands its handler to Run, which never returns. Returning
// the value as is makes the cheapest possible echo action.
func ExampleRun() {
	echo := func(_ context.Context, value json.RawMessage) (any, error) {
		return value, nil
	}
	if false { // Run serves stdin and fd 3 and exits; it is not run in this example.
		actionloop.Run(echo)
	}
}

// Main takes the upstream Go runtime's signature.
func ExampleMain() {
	hello := func(args map[string]any) map[string]any {
		name, _ := args["name"].(string)
		fmt.Println("name=" + name) // a log line, printed before the result
		return map[string]any{"greeting": "Hello, " + name + "!"}
	}
	if false { // Main serves stdin and fd 3 and exits; it is not run in this example.
		actionloop.Main(hello)
	}
}

// Serve runs the loop over any reader and writer, which is how the library is tested.
func ExampleServe() {
	in := strings.NewReader(`{"value":{"name":"Demo"},"activation_id":"a1"}` + "\n" +
		`{"value":["a","b"]}` + "\n" + "not json\n")
	h := func(_ context.Context, value json.RawMessage) (any, error) {
		if value[0] == '[' {
			return value, nil
		}
		return map[string]string{"activation": os.Getenv("__OW_ACTIVATION_ID")}, nil
	}
	if err := actionloop.Serve(in, os.Stdout, h); err != nil {
		fmt.Println(err)
	}
	// Output:
	// {"activation":"a1"}
	// ["a","b"]
	// {"error":"actionloop: activation input is not valid JSON: invalid character 'o' in literal null (expecting 'u') (at byte 2 of 8)"}
}
