# DivideByTwo, composer's test action (internal/conductor/testdata/actions.json):
#
#   function main({n}) { return { n: n / 2 } }
#
# n / 2 is a division of doubles after ToNumber(n): 5 / 2 is 2.5, 4 / 2 is
# 2 (printed without ".0"), a missing n is NaN, printed null. Deployed
# after jsvalue.py.


def main(args):
    return result({"n": to_number(field(args, "n")) / 2})
