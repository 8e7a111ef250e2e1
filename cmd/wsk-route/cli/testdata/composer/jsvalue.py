# jsvalue.py: JavaScript's value semantics, for composer's test actions.
#
# openwhisk-composer's test suite deploys seven Node.js actions
# (internal/conductor/testdata/actions.json). The sandbox has no nodejs
# kind, so composer_conformance_test.go deploys each as a Python action
# whose code is this file followed by the action's own file (echo.py,
# DivideByTwo.py, ...). The helpers make Python compute what Node.js
# computes on the same JSON input: ToNumber and ToBoolean, loose equality
# with a number, and a result that the Python runtime prints as
# JSON.stringify prints the JavaScript result (numbers as JavaScript
# numbers, object keys in JavaScript's order).
#
# One difference the Python runtime cannot avoid: it prints a non-integral
# number below 1e-4 in magnitude in Python's exponent form (1e-05, 1.5e-07)
# where JSON.stringify writes 0.00001 and 1.5e-7. The number is the same
# double; JSON readers, composer's conductor and wsk-route's read both as
# that number and print it JavaScript's way.

import math
import re
from decimal import Decimal

# UNDEFINED is JavaScript's undefined: a field the input does not have.
UNDEFINED = object()

# StrWhiteSpaceChar of ECMAScript: WhiteSpace (including Unicode's Zs) and
# LineTerminator, which Number("...") trims.
_JS_SPACE = ("\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
             "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff")
_DECIMAL = re.compile(r"[+-]?(?:Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)\Z")
_NON_DECIMAL = {"x": 16, "X": 16, "o": 8, "O": 8, "b": 2, "B": 2}
_NON_DECIMAL_DIGITS = re.compile(r"0[xX][0-9a-fA-F]+\Z|0[oO][0-7]+\Z|0[bB][01]+\Z")


def field(args, key):
    """args[key] as a destructuring parameter ({n}) reads it: UNDEFINED when missing."""
    return args[key] if isinstance(args, dict) and key in args else UNDEFINED


def _int_to_double(i):
    """A JSON integer as JSON.parse reads it: the nearest double (Infinity past the range)."""
    try:
        return float(i)
    except OverflowError:
        return math.inf if i > 0 else -math.inf


def _string_to_number(s):
    """ECMAScript's StringToNumber."""
    s = s.strip(_JS_SPACE)
    if s == "":
        return 0.0
    if _NON_DECIMAL_DIGITS.match(s):
        return _int_to_double(int(s[2:], _NON_DECIMAL[s[1]]))
    if not _DECIMAL.match(s):
        return math.nan
    if s.lstrip("+-") == "Infinity":
        return -math.inf if s[0] == "-" else math.inf
    return float(s)  # correctly rounded, as JavaScript's; 1e400 is inf


def number_to_string(x):
    """ECMAScript's Number::toString(x) of a double (what String(x) gives)."""
    x = float(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "0"  # also -0
    if x < 0:
        return "-" + number_to_string(-x)
    # repr's digits are the shortest that read back as x, as JavaScript's.
    _, digits, exp = Decimal(repr(x)).normalize().as_tuple()
    s = "".join(map(str, digits))
    k = len(s)
    n = k + exp  # x = 0.s × 10^n
    if k <= n <= 21:
        return s + "0" * (n - k)
    if 0 < n <= 21:
        return s[:n] + "." + s[n:]
    if -6 < n <= 0:
        return "0." + "0" * -n + s
    e = ("+" if n - 1 >= 0 else "-") + str(abs(n - 1))
    return (s if k == 1 else s[0] + "." + s[1:]) + "e" + e


def to_string(v):
    """ECMAScript's ToString of a JSON value (or UNDEFINED)."""
    if v is UNDEFINED:
        return "undefined"
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return number_to_string(to_number(v))
    if isinstance(v, str):
        return v
    if isinstance(v, list):  # Array.prototype.join: null and undefined are ""
        return ",".join("" if e is None or e is UNDEFINED else to_string(e) for e in v)
    return "[object Object]"


def to_number(v):
    """ECMAScript's ToNumber of a JSON value (or UNDEFINED), as a float."""
    if v is UNDEFINED:
        return math.nan
    if v is None or v is False:
        return 0.0
    if v is True:
        return 1.0
    if isinstance(v, int):
        return _int_to_double(v)
    if isinstance(v, float):
        return v
    if isinstance(v, str):
        return _string_to_number(v)
    # an array or object: ToPrimitive (valueOf is the object itself, so
    # toString), then StringToNumber
    return _string_to_number(to_string(v))


def truthy(v):
    """ECMAScript's ToBoolean: [] and {} are true, 0, NaN and "" false."""
    if v is UNDEFINED or v is None or v is False:
        return False
    if v is True:
        return True
    if isinstance(v, (int, float)):
        f = to_number(v)
        return f != 0 and not math.isnan(f)
    if isinstance(v, str):
        return v != ""
    return True


def loose_equals_number(v, x):
    """v == x in JavaScript, x a number (Abstract Equality Comparison)."""
    if v is UNDEFINED or v is None:
        return False  # null and undefined equal only each other
    return to_number(v) == x  # booleans, strings, arrays, objects: ToNumber


def remainder(a, b):
    """a % b on doubles: the sign of a, NaN for an infinite a or a zero b."""
    if math.isnan(a) or math.isnan(b) or math.isinf(a) or b == 0:
        return math.nan
    if math.isinf(b):
        return a
    return math.fmod(a, b)


def _is_array_index(k):
    return (k == "0" or (k[:1] in "123456789" and k.isascii() and k.isdigit())) and int(k) < 2**32 - 1


def result(v):
    """v made ready for the runtime's json.dumps to print it as JSON.stringify would.

    Numbers become the double JavaScript holds (ints past 2**53 rounded,
    out-of-range ones Infinity), then null when not finite, an int when
    integral below 1e21 (written with JavaScript's digits: 2**60 is
    1152921504606847000), else the float; object keys go in JavaScript's
    order (array indices ascending first, then the rest in insertion order);
    UNDEFINED leaves an object out, and is null in an array.
    """
    if v is True or v is False or v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, float)):
        f = to_number(v)
        if math.isnan(f) or math.isinf(f):
            return None
        if f.is_integer() and abs(f) < 1e21:
            return int(number_to_string(f))
        return f
    if isinstance(v, list):
        return [None if e is UNDEFINED else result(e) for e in v]
    if isinstance(v, dict):
        keys = [k for k in v if v[k] is not UNDEFINED]
        index = sorted((k for k in keys if _is_array_index(k)), key=int)
        return {k: result(v[k]) for k in index + [k for k in keys if not _is_array_index(k)]}
    raise TypeError("not a JSON value: %r" % (v,))

