// finra-check-price: the trade's price must lie within a band around the
// quote (5% outside the bid/ask), else it is flagged as off-market.
//
//	wsk action create finra-check-price check_price.go --kind go:1.26
package main

import (
	"fmt"
	"math"
)

// band is how far outside the bid/ask a trade may print.
const band = 0.05

// Main checks the price band.
func Main(args map[string]interface{}) map[string]interface{} {
	trade, _ := args["trade"].(map[string]interface{})
	quote, _ := args["quote"].(map[string]interface{})
	price, _ := trade["price"].(float64)
	bid, _ := quote["bid"].(float64)
	ask, _ := quote["ask"].(float64)
	if price <= 0 || bid <= 0 || ask <= 0 {
		return map[string]interface{}{"rule": "price-band", "ok": false, "detail": "no price or no quote"}
	}
	lo, hi := bid*(1-band), ask*(1+band)
	ok := price >= lo && price <= hi
	dev := 0.0
	if mid := (bid + ask) / 2; mid > 0 {
		dev = math.Round((price-mid)/mid*10000) / 100
	}
	fmt.Printf("check-price: %.4f in [%.4f, %.4f]: %v\n", price, lo, hi, ok)
	return map[string]interface{}{
		"rule":   "price-band",
		"ok":     ok,
		"detail": fmt.Sprintf("price %.2f is %+.2f%% from mid, band [%.2f, %.2f]", price, dev, lo, hi),
	}
}
