def main(args):
    # Halves an even n; an odd n is an error, which the composition catches.
    n = args["n"]
    if n % 2:
        return {"error": "%d is odd" % n}
    return {"n": n // 2}
