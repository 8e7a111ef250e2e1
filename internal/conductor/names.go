package conductor

// FQN qualifies an action name as composer does: "a" is "/_/a", "p/a"
// is "/_/p/a", "ns/p/a" is "/ns/p/a", and a name with a leading slash is
// already qualified ("_" stands for the namespace it is deployed to). A
// name composer would refuse is an error.
func FQN(name string) (string, error) { return fqn(name) }

// ActionNames returns the fully qualified names of the actions c invokes
// by name (its action combinators; a dynamic combinator names its action
// only at run time), each once, in the order of a walk of the lowered
// composition (components, then test, consequent, alternate, body,
// handler, finalizer): the same order for the same composition.
func (c *Composition) ActionNames() []string {
	var names []string
	seen := map[string]bool{}
	var walk func(n *Node)
	walk = func(n *Node) {
		if n == nil {
			return
		}
		if n.Type == "action" && !seen[n.Name] {
			seen[n.Name] = true
			names = append(names, n.Name)
		}
		for _, k := range n.Components {
			walk(k)
		}
		for _, k := range []*Node{n.Test, n.Consequent, n.Alternate, n.Body, n.Handler, n.Finalizer} {
			walk(k)
		}
	}
	walk(c.Root)
	return names
}
