"""finra-marketdata: adds a market quote for the trade's symbol.

The quote is synthetic but deterministic (derived from the symbol), so the
example needs no market feed: bid/ask around a price level, the last price,
and the average daily volume the size check compares against.

    wsk action create finra-marketdata marketdata.py --kind python:3
"""
import hashlib


def quote(symbol):
    h = hashlib.sha256(symbol.encode()).digest()
    level = 20 + int.from_bytes(h[:2], "big") % 180          # 20 .. 199
    spread = round(level * (0.0005 + h[2] / 255 * 0.0015), 4)
    adv = 50_000 + int.from_bytes(h[3:6], "big") % 5_000_000  # shares per day
    return {
        "symbol": symbol,
        "bid": round(level - spread / 2, 4),
        "ask": round(level + spread / 2, 4),
        "last": float(level),
        "adv": adv,
    }


def main(args):
    trade = args.get("trade")
    if not isinstance(trade, dict) or not trade.get("symbol"):
        return {"error": "finra-marketdata: the input needs a trade with a symbol"}
    q = quote(str(trade["symbol"]).upper())
    print("marketdata: %s bid %.4f ask %.4f adv %d" % (q["symbol"], q["bid"], q["ask"], q["adv"]))
    return {"trade": trade, "quote": q}
