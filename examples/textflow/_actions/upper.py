"""The first step of the textflow workflow, as textflow.yaml deploys it:
upper-cases "text" (the same as the native Go binary of upper/, which the
make demo's sequence deploys with go run ./examples/textflow).

    wsk action create textflow-upper upper.py --kind python:3
"""


def main(args):
    text = args.get("text", "")
    print("upper: %d characters" % len(text))
    return {"text": text.upper()}
