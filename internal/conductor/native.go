package conductor

// Composer's lowering fills compositions with small inline functions
// (saving the input of an if or a loop, restoring it, wrapping a retained
// result, counting down a repeat). They are most of the function steps of
// a composition that uses derived combinators, and they need no JavaScript
// engine: this file computes them in Go, exactly as JavaScript would, when
// their inputs have the shapes lowering gives them. Anything else (a
// variable missing, a value of another type) runs in JavaScript as usual.
// TestNativeMatchesJavaScript checks each against the engine.

// nativeOutcome is what a native function did.
type nativeOutcome struct {
	result any    // the returned value (when !keep)
	keep   bool   // it returned undefined: the parameters stay
	setVar string // a variable it assigned ("" for none)
	setVal any
}

// native computes one lowering function; ok is false when it must run in
// JavaScript instead.
type native func(params any, env map[string]any) (out nativeOutcome, ok bool)

// natives maps the code of composer's lowering functions (as lowering
// writes it, see lower.go) to their Go equivalents.
var natives = map[string]native{
	fnSaveParams: func(p any, env map[string]any) (nativeOutcome, bool) {
		// args => { params = args }
		if _, ok := env["params"]; !ok {
			return nativeOutcome{}, false
		}
		return nativeOutcome{keep: true, setVar: "params", setVal: p}, true
	},
	fnParams:  readVar("params"), // () => params
	fnLiteral: readVar("value"),  // () => value
	fnRetainResult: func(p any, env map[string]any) (nativeOutcome, bool) {
		// result => ({ params, result })
		v, ok := env["params"]
		if !ok {
			return nativeOutcome{}, false
		}
		return nativeOutcome{result: NewObject("params", v, "result", p)}, true
	},
	fnWrapResult: func(p any, _ map[string]any) (nativeOutcome, bool) {
		// result => ({ result })
		return nativeOutcome{result: NewObject("result", p)}, true
	},
	fnUnwrapResult: func(p any, _ map[string]any) (nativeOutcome, bool) {
		// ({ params, result }) => ({ params, result: result.result })
		o, ok := p.(*Object)
		if !ok {
			return nativeOutcome{}, false
		}
		res, _ := o.Get("result")
		ro, ok := res.(*Object)
		if !ok { // null or undefined throw; other types have no .result
			return nativeOutcome{}, false
		}
		out := &Object{}
		if v, ok := o.Get("params"); ok {
			out.set("params", v)
		}
		if v, ok := ro.Get("result"); ok {
			out.set("result", v)
		}
		return nativeOutcome{result: out}, true
	},
	fnWrapParams: func(p any, _ map[string]any) (nativeOutcome, bool) {
		// params => ({ params })
		return nativeOutcome{result: NewObject("params", p)}, true
	},
	fnUnwrapParams: field("params"), // ({ params }) => params
	fnRetryResult:  field("result"), // ({ result }) => result
	fnCountDown: func(_ any, env map[string]any) (nativeOutcome, bool) {
		// () => count-- > 0
		c, ok := env["count"].(float64)
		if !ok {
			return nativeOutcome{}, false
		}
		return nativeOutcome{result: c > 0, setVar: "count", setVal: c - 1}, true
	},
	fnRetryTest: func(p any, env map[string]any) (nativeOutcome, bool) {
		// ({ result }) => result.error !== undefined && count-- > 0
		o, ok := p.(*Object)
		if !ok {
			return nativeOutcome{}, false
		}
		res, _ := o.Get("result")
		ro, ok := res.(*Object)
		if !ok {
			return nativeOutcome{}, false
		}
		c, ok := env["count"].(float64)
		if !ok {
			return nativeOutcome{}, false
		}
		if _, hasErr := ro.Get("error"); !hasErr {
			return nativeOutcome{result: false}, true
		}
		return nativeOutcome{result: c > 0, setVar: "count", setVal: c - 1}, true
	},
	fnMergeRetained: func(p any, _ map[string]any) (nativeOutcome, bool) {
		// ({ params, result }) => Object.assign(params, result)
		o, ok := p.(*Object)
		if !ok {
			return nativeOutcome{}, false
		}
		pv, _ := o.Get("params")
		rv, _ := o.Get("result")
		po, ok1 := pv.(*Object)
		ro, ok2 := rv.(*Object)
		if !ok1 || !ok2 {
			return nativeOutcome{}, false
		}
		if _, proto := ro.Get("__proto__"); proto {
			return nativeOutcome{}, false // Object.assign would set the prototype
		}
		out := &Object{}
		for _, k := range po.keys {
			out.set(k, po.vals[k])
		}
		for _, k := range ro.Keys() {
			out.set(k, ro.vals[k])
		}
		return nativeOutcome{result: out}, true
	},
}

// readVar is "() => name": the variable's value.
func readVar(name string) native {
	return func(_ any, env map[string]any) (nativeOutcome, bool) {
		v, ok := env[name]
		if !ok {
			return nativeOutcome{}, false
		}
		return nativeOutcome{result: v}, true
	}
}

// field is "({ name }) => name": the parameter's field, or the parameters
// themselves when it has none (the function returns undefined).
func field(name string) native {
	return func(p any, _ map[string]any) (nativeOutcome, bool) {
		o, ok := p.(*Object)
		if !ok {
			return nativeOutcome{}, false
		}
		v, ok := o.Get(name)
		if !ok {
			return nativeOutcome{keep: true}, true
		}
		return nativeOutcome{result: v}, true
	}
}
