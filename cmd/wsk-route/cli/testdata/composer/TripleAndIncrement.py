# TripleAndIncrement, composer's test action (internal/conductor/testdata/actions.json):
#
#   function main({n}) { return { n: n * 3 + 1 } }
#
# n * 3 converts n with ToNumber, so the + that follows adds numbers
# ("4" gives 13, not "121"). Deployed after jsvalue.py.


def main(args):
    return result({"n": to_number(field(args, "n")) * 3 + 1})
