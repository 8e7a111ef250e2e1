# fail, composer's test action (internal/conductor/testdata/actions.json):
#
#   function main({message}) { return { error: message || 'failed' } }
#
# || keeps message when it is truthy in JavaScript ([] and {} are; 0, ""
# and a missing message are not), whatever its type. Deployed after
# jsvalue.py.


def main(args):
    message = field(args, "message")
    return result({"error": message if truthy(message) else "failed"})
