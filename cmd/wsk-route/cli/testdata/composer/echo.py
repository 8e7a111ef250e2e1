# echo, composer's test action (internal/conductor/testdata/actions.json):
#
#   const main = x=>x
#
# The parameters come back as they are: the same object, so the same
# values, printed as JSON.stringify prints them (JavaScript's key order
# and numbers). Deployed after jsvalue.py.


def main(args):
    return result(args)
