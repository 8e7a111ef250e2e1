# isNotOne, composer's test action (internal/conductor/testdata/actions.json):
#
#   function main({n}) { return { value: n != 1 } }
#
# != is loose: "1", true and [1] equal 1; a missing n (undefined) and null
# do not. Deployed after jsvalue.py.


def main(args):
    return result({"value": not loose_equals_number(field(args, "n"), 1)})
