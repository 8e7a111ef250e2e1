// Package finra is the FINRA-style trade validation example: a workflow
// that enriches a trade with market data, then runs three rule checks on
// it in parallel (a Go price-band check, a Python size check, a Go
// restricted-list check) and returns their verdicts.
//
//	finra.yaml          the workflow (wsk-route compose finra.yaml)
//	_actions/           the four actions (Python and Go source)
//	trade.json          a trade to validate
//
// finra_test.go deploys it onto a `wsk-route dev` sandbox exactly as a
// user would (`wsk-route compose`, which creates the actions of the
// workflow file's actions section, then the workflow) and runs it with
// `wsk action invoke`'s REST call, cold and then warm. See README.md for
// the commands.
package finra
