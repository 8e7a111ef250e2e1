// finra-summary: takes the verdicts of a batch of trades (the map's
// results, in trade order: one array of rule verdicts per trade) and
// returns how many trades were checked, how many are clean, and, for each
// flagged trade, its position in the batch and the rules it broke.
//
//	wsk action create finra-summary summary.go --kind go:1.26
package main

import (
	"fmt"
	"sort"
)

// Main summarizes the batch.
func Main(args map[string]interface{}) map[string]interface{} {
	// The input is an array, which a Go Main sees wrapped in an object:
	// {"value": [...]}, as openwhisk-composer hands arrays on.
	trades, ok := args["value"].([]interface{})
	if !ok {
		return map[string]interface{}{"error": fmt.Sprintf("finra-summary: want an array of verdict lists (in args[\"value\"]), got an object with keys %v", keys(args))}
	}
	flagged := []interface{}{}
	for i, t := range trades {
		verdicts, ok := t.([]interface{})
		if !ok {
			return map[string]interface{}{"error": fmt.Sprintf("finra-summary: trade %d: want a list of verdicts, got %T", i, t)}
		}
		var broke []string
		for _, v := range verdicts {
			m, _ := v.(map[string]interface{})
			if pass, _ := m["ok"].(bool); !pass {
				rule, _ := m["rule"].(string)
				broke = append(broke, rule)
			}
		}
		if len(broke) > 0 {
			sort.Strings(broke)
			flagged = append(flagged, map[string]interface{}{"index": i, "rules": broke})
		}
	}
	fmt.Printf("summary: %d trades, %d flagged\n", len(trades), len(flagged))
	return map[string]interface{}{"checked": len(trades), "clean": len(trades) - len(flagged), "flagged": flagged}
}

func keys(m map[string]interface{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
