def main(args):
    # The loop's test: composer keeps looping while value is truthy.
    return {"value": args.get("n") != 1}
