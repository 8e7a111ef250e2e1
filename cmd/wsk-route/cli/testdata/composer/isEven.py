# isEven, composer's test action (internal/conductor/testdata/actions.json):
#
#   function main({n}) { return { value: n % 2 == 0 } }
#
# % is the remainder of doubles after ToNumber(n), with the sign of n
# (-4 % 2 is -0, which == 0); NaN (a missing n, "x") is never == 0.
# Deployed after jsvalue.py.


def main(args):
    return result({"value": remainder(to_number(field(args, "n")), 2) == 0})
