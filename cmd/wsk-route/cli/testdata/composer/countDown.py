# countDown, composer's test action (internal/conductor/testdata/actions.json):
#
#   function main({n}) { return { n: n - 1 } }
#
# n - 1 subtracts doubles after ToNumber(n) ("3" gives 2). Deployed after
# jsvalue.py.


def main(args):
    return result({"n": to_number(field(args, "n")) - 1})
