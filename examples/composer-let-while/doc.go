// Package composerletwhile is an openwhisk-composer composition run by
// wsk-route with composer's semantics: the Collatz walk from n down to 1,
// counting its steps and its odd numbers in let variables. It uses let, a
// while whose test is an action, try with finally, and inline functions.
//
//	collatz.json        the composition as composer's compile() writes it
//	                    (composition, ast, version, and the two Python
//	                    actions' inline definitions)
//	_actions/           the actions' Python source (also inline in collatz.json)
//
// collatz_test.go checks that collatz.json's composition is what
// compile() lowers its ast to and that its inline code is _actions/'s,
// then deploys it onto a `wsk-route dev` sandbox exactly as a user would
// (`wsk-route compose collatz.json`, which creates the inline actions,
// then the entry) and runs it cold and then warm. See README.md for the
// commands.
package composerletwhile
