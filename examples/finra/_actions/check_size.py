"""finra-check-size: flags trades large against the market.

A trade over 10% of the symbol's average daily volume, or over 5 million in
notional, needs review.

    wsk action create finra-check-size check_size.py --kind python:3
"""
MAX_ADV_SHARE = 0.10
MAX_NOTIONAL = 5_000_000


def main(args):
    trade = args.get("trade") or {}
    quote = args.get("quote") or {}
    qty = float(trade.get("qty") or 0)
    price = float(trade.get("price") or 0)
    adv = float(quote.get("adv") or 0)
    notional = qty * price
    share = qty / adv if adv else 1.0
    ok = share <= MAX_ADV_SHARE and notional <= MAX_NOTIONAL
    print("check-size: %d shares, %.2f%% of adv, notional %.0f" % (qty, share * 100, notional))
    return {
        "rule": "size",
        "ok": ok,
        "detail": "%.2f%% of average daily volume, notional %.0f" % (share * 100, notional),
    }
