package conductor

// The inline functions composer's lowering adds. Their text differs from
// composer's own only in spacing; what they do is the same.
const (
	fnSaveParams    = "args => { params = args }"
	fnParams        = "() => params"
	fnRetainResult  = "result => ({ params, result })"
	fnWrapResult    = "result => ({ result })"
	fnUnwrapResult  = "({ params, result }) => ({ params, result: result.result })"
	fnLiteral       = "() => value"
	fnCountDown     = "() => count-- > 0"
	fnWrapParams    = "params => ({ params })"
	fnUnwrapParams  = "({ params }) => params"
	fnRetryTest     = "({ result }) => result.error !== undefined && count-- > 0"
	fnRetryResult   = "({ result }) => result"
	fnMergeRetained = "({ params, result }) => Object.assign(params, result)"
)

func fn(code string) *Node { return &Node{Type: "function", Kind: "nodejs:default", Code: code} }

func seq(cs ...*Node) *Node { return &Node{Type: "sequence", Components: cs} }

func mask(cs ...*Node) *Node { return &Node{Type: "mask", Components: cs} }

func let(decls []Binding, cs ...*Node) *Node {
	return &Node{Type: "let", Decls: decls, Components: cs}
}

func finally(body, finalizer *Node) *Node {
	return &Node{Type: "finally", Body: body, Finalizer: finalizer}
}

// lowerOnce rewrites a derived combinator into primitive ones, as
// composer's lowerer does, or returns nil for a primitive one.
func lowerOnce(n *Node) *Node {
	params := []Binding{{Name: "params", Value: nil}}
	switch n.Type {
	case "empty":
		return seq()
	case "seq":
		return seq(n.Components...)
	case "par":
		return &Node{Type: "parallel", Components: n.Components}
	case "literal", "value":
		return let([]Binding{{Name: "value", Value: n.value}}, fn(fnLiteral))
	case "retain":
		return let(params, finally(fn(fnSaveParams), seq(mask(n.Components...), fn(fnRetainResult))))
	case "retain_catch":
		return seq(
			&Node{Type: "retain", Components: []*Node{finally(seq(n.Components...), fn(fnWrapResult))}},
			fn(fnUnwrapResult))
	case "if":
		return let(params, finally(fn(fnSaveParams), &Node{Type: "if_nosave",
			Test:       mask(n.Test),
			Consequent: finally(fn(fnParams), mask(n.Consequent)),
			Alternate:  finally(fn(fnParams), mask(n.Alternate)),
		}))
	case "while":
		return let(params, finally(fn(fnSaveParams), seq(
			&Node{Type: "while_nosave",
				Test: mask(n.Test),
				Body: finally(fn(fnParams), seq(mask(n.Body), fn(fnSaveParams))),
			},
			fn(fnParams))))
	case "dowhile":
		return let(params, finally(fn(fnSaveParams), seq(
			&Node{Type: "dowhile_nosave",
				Body: finally(fn(fnParams), seq(mask(n.Body), fn(fnSaveParams))),
				Test: mask(n.Test),
			},
			fn(fnParams))))
	case "repeat":
		return let([]Binding{{Name: "count", Value: n.count}},
			&Node{Type: "while", Test: fn(fnCountDown), Body: mask(n.Components...)})
	case "retry":
		return let([]Binding{{Name: "count", Value: n.count}},
			fn(fnWrapParams),
			&Node{Type: "dowhile",
				Body: finally(fn(fnUnwrapParams), mask(&Node{Type: "retain_catch", Components: n.Components})),
				Test: fn(fnRetryTest),
			},
			fn(fnRetryResult))
	case "merge":
		return seq(&Node{Type: "retain", Components: n.Components}, fn(fnMergeRetained))
	}
	return nil
}

// lower rewrites n and everything under it into primitive combinators. A
// lowered node keeps the path of the node it replaces; the nodes lowering
// adds have none, so their states report the nearest labelled ancestor.
func lower(n *Node) *Node {
	if n == nil {
		return nil
	}
	for {
		l := lowerOnce(n)
		if l == nil {
			break
		}
		l.Path, l.HasPath = n.Path, n.HasPath
		n = l
	}
	for i, c := range n.Components {
		n.Components[i] = lower(c)
	}
	for _, a := range argOrder {
		p := arg(n, a)
		*p = lower(*p)
	}
	return n
}
