"""wsk-route ActionLoop launcher for Python 3 actions.

The compile script copies this file next to the action's code as exec__.py and starts
it from bin/exec as:  python -u exec__.py <main>

  1. If the action carries virtualenv/, its site-packages directories go to the front
     of sys.path; a virtualenv/ without one is an error ("Invalid virtualenv").
  2. The action's module main__ is imported and its function <main> looked up. An
     import error, a missing function or sys.exit() during the import ends the process
     with the reason on stderr, so the proxy fails the /init.
  3. When __OW_WAIT_FOR_ACK is set, {"ok":true} is written to file descriptor 3.
  4. Each line on stdin is one activation, {"value": ..., "namespace": ..., ...}: every
     key but "value" is exported as __OW_<KEY> (non-strings as compact JSON), the
     function is called with the value ({} when missing), stdout and stderr are
     flushed, and the result goes to fd 3 as one line of compact UTF-8 JSON. An
     exception is printed to stderr and answered as {"error": str(exception)}.
     SystemExit is not caught: the process ends, and the proxy answers the /run with
     "command exited".
"""

import sys

# Import the standard library before the action's directory is on sys.path, so an
# action file named like a module (json.py, types.py) cannot replace it here.
_action_dir = sys.path.pop(0) if sys.path else None
import json  # noqa: E402
import os  # noqa: E402
import traceback  # noqa: E402
import types  # noqa: E402
if _action_dir is not None:
    sys.path.insert(0, _action_dir)


def _fail(message):
    """Print message to stderr and end the process before the ack."""
    sys.stdout.flush()
    sys.stderr.write(message.rstrip("\n") + "\n")
    sys.stderr.flush()
    sys.exit(1)


def site_packages(venv):
    """The site-packages directories of a virtualenv, this Python's version first."""
    here = "python%d.%d" % sys.version_info[:2]
    found = []
    lib = os.path.join(venv, "lib")
    if os.path.isdir(lib):
        for name in sorted(os.listdir(lib)):
            path = os.path.join(lib, name, "site-packages")
            if name.startswith("python3") and os.path.isdir(path):
                found.append((name != here, path))
    windows = os.path.join(venv, "Lib", "site-packages")
    if os.path.isdir(windows):
        found.append((True, windows))
    found.sort(key=lambda f: f[0])  # stable: this version, then the rest in order
    return [path for _, path in found]


def _activate_virtualenv(root):
    venv = os.path.join(root, "virtualenv")
    if not os.path.isdir(venv):
        return
    dirs = site_packages(venv)
    if not dirs:
        _fail("Invalid virtualenv. The action's virtualenv/ has no "
              "lib/python3.X/site-packages directory.")
    import site
    before = list(sys.path)
    for path in dirs:
        site.addsitedir(path)  # also runs the .pth files
    added = [p for p in sys.path if p not in before]
    sys.path[:] = before[:1] + added + before[1:]


def _setenv(env, key, value):
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    name = "__OW_" + key.upper()
    try:
        if env.get(name) != value:
            env[name] = value
    except ValueError:  # '=' or NUL in the name, NUL or a lone surrogate in the value
        pass


def _encode(result):
    """One line of compact JSON for result, as bytes."""
    try:
        text = json.dumps(result, ensure_ascii=False, separators=(",", ":"),
                          allow_nan=False)
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: let json escape them
            data = json.dumps(result, separators=(",", ":"),
                              allow_nan=False).encode("ascii")
    except (TypeError, ValueError) as ex:
        traceback.print_exc()
        data = json.dumps(
            {"error": "The action's result is not JSON serializable: %s" % ex},
            ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return data + b"\n"


def _flush_logs():
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except Exception:
            pass


def _call(fn, payload):
    result = fn(payload)
    if isinstance(result, types.CoroutineType):  # async def main(args)
        import asyncio
        result = asyncio.run(result)
    return result


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "main"
    del sys.argv[1:]
    root = os.path.dirname(os.path.abspath(__file__))
    try:
        results = os.fdopen(3, "wb")
    except OSError as ex:
        _fail("launcher: file descriptor 3 is not open (%s); this program runs under "
              "an ActionLoop proxy, or from a shell with 3>&1" % ex)
    os.set_inheritable(3, False)
    stdin = sys.stdin.buffer

    _activate_virtualenv(root)
    try:
        import main__
    except Exception:
        traceback.print_exc()
        _fail("launcher: cannot import the action's module main__ (main__.py)")
    fn = getattr(main__, name, None)
    if not callable(fn):
        _fail("launcher: the action has no function %r in main__.py; "
              "check the action's main" % name)

    _flush_logs()
    if os.environ.get("__OW_WAIT_FOR_ACK", ""):
        results.write(b'{"ok":true}\n')
        results.flush()

    env = os.environ
    while True:
        line = stdin.readline()
        if not line:
            break
        try:
            args = json.loads(line)
        except ValueError as ex:
            result = {"error": "launcher: activation input is not valid JSON: %s" % ex}
        else:
            if isinstance(args, dict):
                payload = {}
                for key, value in args.items():
                    if key == "value":
                        payload = value
                    else:
                        _setenv(env, key, value)
                try:
                    result = _call(fn, payload)
                except Exception as ex:
                    traceback.print_exc()
                    result = {"error": str(ex)}
            else:
                result = {"error": "launcher: activation input is not a JSON object"}
        data = _encode(result)
        _flush_logs()
        results.write(data)
        results.flush()


if __name__ == "__main__":
    main()
