"""The quickstart's Python action: greets args["name"], or the World.

    wsk action create hello-python hello.py --kind python:3
"""


def main(args):
    name = args.get("name") or "World"
    print("hello-python: greeting %s" % name)  # a log line, in the activation's logs
    return {"greeting": "Hello, %s!" % name}
