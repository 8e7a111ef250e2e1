"""The second step of the textflow example: counts the words of "text".

    wsk action create textflow-count count.py --kind python:3
"""


def main(args):
    text = args.get("text", "")
    words = len(text.split())
    print("count: %d words" % words)
    return {"text": text, "words": words}
