"""sin and cos as numpy gives them here, for lab_data in Pyodide (whose C library, musl, rounds
differently from glibc's in about 3% of cases).

`sin` and `cos` are correctly rounded (the exact value to 296 bits with Python integers, then
the nearest double); glibc's are not, quite: in about 0.2% of cases they round the other way.
For the angles the lab's moons and circles use, numpy.linspace(0, pi, n) and
linspace(0, 2*pi, n, endpoint=False) for n up to MAX_N, those cases are listed in
glibc_sincos.json (made by `python -m micrograd.site.libm` on a glibc machine, checked by
tests/test_site.py), so that `sin` and `cos` there are glibc's exactly. Elsewhere (the spiral's
noisy angles) a value may differ from glibc's in its last bit.
"""
import json
import math
from fractions import Fraction
from importlib import resources

__all__ = ["sin", "cos", "lab_angles", "make_table", "MAX_N"]

MAX_N = 250                   # the lab's largest half of 500 points
W = 296                       # fractional bits of the fixed-point arithmetic


def _atan_inv(n):
    """atan(1/n) * 2**W, by its series (n > 1), with guard bits."""
    one = 1 << (W + 24)
    x = one // n
    total, k, sign, n2 = x, 1, -1, n * n
    while x:
        x //= n2
        total += sign * (x // (2 * k + 1))
        sign, k = -sign, k + 1
    return total >> 24


HALF_PI = (4 * _atan_inv(5) - _atan_inv(239)) * 2        # Machin: pi/4 = 4 atan 1/5 - atan 1/239


def _sincos(x):
    """(quadrant, sin r, cos r) with x = quadrant * pi/2 + r, |r| <= pi/4, r in fixed point."""
    m, e = math.frexp(x)
    X = int(m * 2.0 ** 53)
    X = X << (W + e - 53) if W + e >= 53 else X >> (53 - W - e)
    k = (2 * X + HALF_PI) // (2 * HALF_PI)
    r = X - k * HALF_PI
    a = abs(r)
    a2 = a * a >> W
    s = term = a
    i, sign = 1, -1
    while term:
        term = (term * a2 >> W) // ((2 * i) * (2 * i + 1))
        s, sign, i = s + sign * term, -sign, i + 1
    c = term = 1 << W
    i, sign = 1, -1
    while term:
        term = (term * a2 >> W) // ((2 * i - 1) * (2 * i))
        c, sign, i = c + sign * term, -sign, i + 1
    return k % 4, (-s if r < 0 else s), c


def _nearest(v):
    return float(Fraction(v, 1 << W))


def correct_sin(x):
    if x == 0 or not math.isfinite(x) or abs(x) < 2.0 ** -26:
        return math.sin(x)            # x itself (or nan): every libm agrees
    q, s, c = _sincos(x)
    return _nearest((s, c, -s, -c)[q])


def correct_cos(x):
    if not math.isfinite(x) or abs(x) < 2.0 ** -27:
        return math.cos(x)
    q, s, c = _sincos(x)
    return _nearest((c, -s, -c, s)[q])


def _table():
    text = resources.files("micrograd.site").joinpath("glibc_sincos.json").read_text()
    doc = json.loads(text)
    return ({float.fromhex(k): float.fromhex(v) for k, v in doc["sin"].items()},
            {float.fromhex(k): float.fromhex(v) for k, v in doc["cos"].items()})


_SIN, _COS = _table()


def sin(x):
    return _SIN[x] if x in _SIN else correct_sin(x)


def cos(x):
    return _COS[x] if x in _COS else correct_cos(x)


def lab_angles():
    """Every angle the lab's moons and circles take sin and cos of."""
    from micrograd.site.lab_data import linspace
    seen = set()
    for n in range(1, MAX_N + 1):
        seen.update(linspace(0, math.pi, n))
        seen.update(linspace(0, 2 * math.pi, n, endpoint=False))
    return sorted(seen)


def make_table():
    """Where this machine's math.sin / math.cos (glibc's, numpy's here) differ from the
    correctly rounded value, over lab_angles(): {"sin": {x: value}, "cos": {...}} in hex."""
    out = {"sin": {}, "cos": {}}
    for x in lab_angles():
        for name, mine in (("sin", correct_sin), ("cos", correct_cos)):
            theirs = getattr(math, name)(x)
            if mine(x) != theirs:
                out[name][x.hex()] = theirs.hex()
    return out


if __name__ == "__main__":
    import sys
    table = make_table()
    table["made_by"] = "python -m micrograd.site.libm (glibc's sin and cos, as numpy calls them)"
    json.dump(table, sys.stdout, indent=0, sort_keys=True)
