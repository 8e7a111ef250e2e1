package conductor

import (
	"testing"

	"github.com/wsk-route/wsk-route/internal/jsfn"
)

// TestNativeMatchesJavaScript runs every native lowering function and the
// same code in JavaScript on the same inputs: where the native one runs,
// the shaped result and the variables written must be the same bytes; the
// inputs include shapes where it must decline (and JavaScript decides).
func TestNativeMatchesJavaScript(t *testing.T) {
	params := []string{
		`{}`, `{"n":3}`, `{"error":"e"}`, `{"2":1,"b":2,"a":3}`,
		`{"params":{"n":1},"result":{"n":2}}`, `{"params":{"b":1,"a":2},"result":{"a":3,"1":4}}`,
		`{"params":{"n":1},"result":{"result":{"x":1},"error":"e"}}`, `{"params":null,"result":{"n":2}}`,
		`{"params":{"n":1},"result":null}`, `{"params":{"n":1},"result":[1]}`, `{"params":{"n":1},"result":"s"}`,
		`{"params":{"n":1}}`, `{"result":{"error":"e"}}`, `{"result":{"ok":true}}`, `{"result":7}`, `{"params":[1,2]}`,
		`{"params":{"__proto__":{"x":1}},"result":{"y":2}}`, `{"params":{"y":1},"result":{"__proto__":{"x":1}}}`,
		`{"value":false}`,
	}
	envs := []map[string]string{
		{}, {"params": `null`}, {"params": `{"n":9}`}, {"value": `42`}, {"value": `"s"`}, {"value": `{"a":1}`},
		{"count": `2`}, {"count": `0`}, {"count": `-0.5`}, {"count": `"3"`}, {"count": `null`},
		{"params": `{"k":1}`, "count": `1`, "value": `[1]`},
	}
	for code, nat := range natives {
		f, err := jsfn.Compile(code, jsfn.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		ran := 0
		for _, pj := range params {
			for _, ej := range envs {
				pv, err := DecodeValue([]byte(pj))
				if err != nil {
					t.Fatal(err)
				}
				env := map[string]any{}
				var names []string
				for k, v := range ej {
					x, err := DecodeValue([]byte(v))
					if err != nil {
						t.Fatal(err)
					}
					env[k] = x
					names = append(names, k)
				}
				out, ok := nat(pv, env)
				if !ok {
					continue
				}
				ran++
				names = jsKeyOrder(names)
				vars := make([]jsfn.Var, len(names))
				for i, n := range names {
					vars[i] = jsfn.Var{Name: n, JSON: Marshal(env[n])}
				}
				js, err := f.Call([]byte(pj), vars)
				if err != nil {
					t.Fatal(err)
				}
				if js.Kind != jsfn.KindOK {
					t.Errorf("%s on %s with %v: native ran, JavaScript %v (%s)", code, pj, ej, js.Kind, js.Message)
					continue
				}
				result := pv
				if !out.keep {
					result = out.result
				}
				if _, isObj := result.(*Object); !isObj {
					result = NewObject("value", result)
				}
				if got, want := string(Marshal(result)), string(js.Value); got != want {
					t.Errorf("%s on %s with %v: native gives %s, JavaScript %s", code, pj, ej, got, want)
				}
				for i, n := range names {
					want := string(js.Vars[i])
					got := string(Marshal(env[n]))
					if out.setVar == n {
						got = string(Marshal(out.setVal))
					}
					if got != want {
						t.Errorf("%s on %s with %v: native leaves %s = %s, JavaScript %s", code, pj, ej, n, got, want)
					}
				}
			}
		}
		if ran == 0 {
			t.Errorf("%s: the native function never ran", code)
		}
	}
}
