package conductor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/wsk-route/wsk-route/internal/conductor"
)

// A composition as composer's compile() would take it: a let variable, a
// while whose test is an action, a try around an action, inline functions.
func ExampleMachine_Run() {
	src := []byte(`{"type":"let","declarations":{"steps":0},"components":[
	  {"type":"while",
	   "test":{"type":"action","name":"isPositive"},
	   "body":{"type":"try",
	     "body":{"type":"sequence","components":[
	       {"type":"function","function":{"exec":{"kind":"nodejs:default","code":"p => { steps++; return { n: p.n - 1 } }"}}},
	       {"type":"action","name":"failAtTwo"}]},
	     "handler":{"type":"function","function":{"exec":{"kind":"nodejs:default","code":"e => ({ n: 0, caught: e.error })"}}}}},
	  {"type":"function","function":{"exec":{"kind":"nodejs:default","code":"p => ({ ...p, steps })"}}}]}`)
	comp, err := conductor.Decode(src, conductor.Limits{})
	if err != nil {
		fmt.Println(err)
		return
	}
	actions := conductor.InvokerFunc(func(_ context.Context, name string, params []byte) ([]byte, error) {
		var p struct{ N float64 }
		if err := json.Unmarshal(params, &p); err != nil {
			return nil, err
		}
		switch name {
		case "/_/isPositive":
			return []byte(fmt.Sprintf(`{"value":%v}`, p.N > 0)), nil
		case "/_/failAtTwo":
			if p.N == 2 {
				return []byte(`{"error":"two"}`), nil
			}
			return params, nil
		}
		return []byte(`{"error":"no such action"}`), nil
	})
	m, err := conductor.New(comp, conductor.Config{Invoker: actions})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := m.Run(ctx, []byte(`{"n":4}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(res.Value), res.Failed, res.Actions)
	// Output: {"n":0,"caught":"two","steps":2} false 5
}
