// Command modes is the action the actionloop tests drive over real pipes and through
// the proxy. Its first argument, or else $ACTIONLOOP_TEST_MODE (which the tests set
// through the /init env, since the proxy passes no arguments), picks the behaviour:
//
//	echo      returns the value as is (a json.RawMessage)
//	env       returns every __OW_* environment variable
//	deadline  returns the context's deadline (epoch ms) and error
//	error     returns an error whose text needs escaping
//	scalar    returns a string, which is not a valid ActionLoop result
//	nil       returns nil (encoded as null)
//	unencodable returns a value encoding/json cannot encode (NaN)
//	panic     panics when the value has "panic": true, else echoes
//	print     prints to stdout and stderr, then echoes
//	main      actionloop.Main: adds "seen": true to the arguments
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"

	"github.com/wsk-route/wsk-route/action-proxy/actionloop"
)

func main() {
	mode := os.Getenv("ACTIONLOOP_TEST_MODE")
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	switch mode {
	case "echo":
		actionloop.Run(func(_ context.Context, v json.RawMessage) (any, error) { return v, nil })
	case "env":
		actionloop.Run(func(context.Context, json.RawMessage) (any, error) {
			env := map[string]string{}
			for _, kv := range os.Environ() {
				if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "__OW_") {
					env[k] = v
				}
			}
			return env, nil
		})
	case "deadline":
		actionloop.Run(func(ctx context.Context, _ json.RawMessage) (any, error) {
			res := map[string]any{"err": ""}
			if d, ok := ctx.Deadline(); ok {
				res["deadline"] = d.UnixMilli()
			}
			if err := ctx.Err(); err != nil {
				res["err"] = err.Error()
			}
			return res, nil
		})
	case "error":
		actionloop.Run(func(context.Context, json.RawMessage) (any, error) {
			return nil, errors.New("boom: \"quoted\"\nsecond line <&>")
		})
	case "scalar":
		actionloop.Run(func(context.Context, json.RawMessage) (any, error) {
			return "a string but not a map", nil
		})
	case "nil":
		actionloop.Run(func(context.Context, json.RawMessage) (any, error) { return nil, nil })
	case "unencodable":
		actionloop.Run(func(context.Context, json.RawMessage) (any, error) {
			return map[string]float64{"x": math.NaN()}, nil
		})
	case "panic":
		actionloop.Run(func(_ context.Context, v json.RawMessage) (any, error) {
			var in struct{ Panic bool }
			_ = json.Unmarshal(v, &in)
			if in.Panic {
				panic("kaboom")
			}
			return v, nil
		})
	case "print":
		actionloop.Run(func(_ context.Context, v json.RawMessage) (any, error) {
			fmt.Println("hello stdout")
			fmt.Fprintln(os.Stderr, "hello stderr")
			return v, nil
		})
	case "main":
		actionloop.Main(func(args map[string]any) map[string]any {
			args["seen"] = true
			return args
		})
	default:
		fmt.Fprintf(os.Stderr, "modes: unknown mode %q\n", mode)
		os.Exit(2)
	}
}
