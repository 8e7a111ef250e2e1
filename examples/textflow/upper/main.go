// Command upper is the first step of the textflow example: a Go binary
// action (ActionLoop, built statically) that upper-cases "text".
//
//	CGO_ENABLED=0 go build -o exec ./examples/textflow/upper
//	wsk action create textflow-upper exec --docker openwhisk/actionloop-base
package main

import (
	"fmt"
	"strings"

	"github.com/wsk-route/wsk-route/action-proxy/actionloop"
)

func main() {
	actionloop.Main(func(args map[string]any) map[string]any {
		text, _ := args["text"].(string)
		fmt.Printf("upper: %d characters\n", len(text))
		return map[string]any{"text": strings.ToUpper(text)}
	})
}
