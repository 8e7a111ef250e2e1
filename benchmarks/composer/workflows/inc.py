def main(args):
    return {"x": args.get("x", 0) + 1}
