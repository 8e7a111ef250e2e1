// finra-check-restricted: the symbol must not be on the restricted list,
// and a trader on the watch list may not trade a symbol they are
// restricted in.
//
//	wsk action create finra-check-restricted check_restricted.go --kind go:1.26
package main

import (
	"fmt"
	"strings"
)

var (
	restricted = map[string]string{"XYZ": "pending merger", "HALT": "trading halted"}
	watch      = map[string][]string{"mallory": {"ACME", "INIT"}}
)

// Main checks the restricted and watch lists.
func Main(args map[string]interface{}) map[string]interface{} {
	trade, _ := args["trade"].(map[string]interface{})
	symbol, _ := trade["symbol"].(string)
	trader, _ := trade["trader"].(string)
	symbol = strings.ToUpper(symbol)
	verdict := map[string]interface{}{"rule": "restricted", "ok": true, "detail": "not restricted"}
	if why, ok := restricted[symbol]; ok {
		verdict["ok"], verdict["detail"] = false, fmt.Sprintf("%s is restricted: %s", symbol, why)
	}
	for _, s := range watch[strings.ToLower(trader)] {
		if s == symbol {
			verdict["ok"], verdict["detail"] = false, fmt.Sprintf("trader %s is on the watch list for %s", trader, symbol)
		}
	}
	fmt.Printf("check-restricted: %s by %s: %v\n", symbol, trader, verdict["ok"])
	return verdict
}
