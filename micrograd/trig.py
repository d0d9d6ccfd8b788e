"""sin and cos correctly rounded: the double nearest the true value, the same on every platform.

The C library's sin and cos are not: glibc's (numpy's and CPython's here) round about one result
in 500 the other way from the nearest, musl's (Pyodide's, the static site's) one in 30, and
never in the same places. The spiral dataset's angles and the lab's `sin x1`, `sin x2` inputs
are computed here instead, in micrograd.data, micrograd.lab and the site alike, so that they are
the same bits wherever they run (docs/lab.md, docs/site.md).

How: x is reduced by pi/2 in fixed point (pi from Machin's formula, with enough bits for any
double's exponent), sin and cos of the rest summed from their series in W fractional bits, and
the result rounded by Python's int / int, which rounds correctly. Ziv's way: first with W = 128
bits; if the error bound straddles the midpoint between two doubles, again with more bits.
About 15 microseconds a call here (the C library's: 0.05).
"""
import math

__all__ = ["sin", "cos", "sincos", "sines"]

_GUARD = 1100                  # extra bits of pi/2: reduces any double (exponent up to 1023)
_ERROR = 1 << 10               # the sums' error bound, in units of 2^-W (a generous one)
_PRECISIONS = (128, 296, 640)  # W, tried in turn; the last is taken as it comes
_half_pi = {}


def _atan_inv(n, bits):
    """atan(1/n) * 2**bits, by its series (n > 1), with 24 guard bits."""
    one = 1 << (bits + 24)
    x = one // n
    total, k, sign, n2 = x, 1, -1, n * n
    while x:
        x //= n2
        total += sign * (x // (2 * k + 1))
        sign, k = -sign, k + 1
    return total >> 24


def _pi_over_2(bits):
    if bits not in _half_pi:                                # Machin: pi/4 = 4 atan 1/5 - atan 1/239
        _half_pi[bits] = (4 * _atan_inv(5, bits + 8) - _atan_inv(239, bits + 8)) >> 7
    return _half_pi[bits]


def _sincos(x, w):
    """(quadrant, sin r, cos r), r = x - quadrant * pi/2 in [-pi/4, pi/4], in units of 2^-w."""
    m, e = math.frexp(x)
    mant, shift = int(m * 2.0 ** 53), e - 53 + w + _GUARD   # x = mant * 2^(e - 53)
    X = mant << shift if shift >= 0 else mant >> -shift     # x in units of 2^-(w + GUARD)
    hp = _pi_over_2(w + _GUARD)
    k = (2 * X + hp) // (2 * hp)
    r = (X - k * hp) >> _GUARD
    a = abs(r)
    a2 = a * a >> w
    s = term = a
    i, sign = 1, -1
    while term:
        term = (term * a2 >> w) // ((2 * i) * (2 * i + 1))
        s, sign, i = s + sign * term, -sign, i + 1
    c = term = 1 << w
    i, sign = 1, -1
    while term:
        term = (term * a2 >> w) // ((2 * i - 1) * (2 * i))
        c, sign, i = c + sign * term, -sign, i + 1
    return k % 4, (-s if r < 0 else s), c


_SIN = lambda q, s, c: (s, c, -s, -c)[q]     # sin x from the quadrant and sin r, cos r
_COS = lambda q, s, c: (c, -s, -c, s)[q]


def _rounded(x, *picks):
    """The doubles nearest each pick(quadrant, sin r, cos r), from one reduction of x: the
    first precision whose error bound rounds each to one double at both ends."""
    for w in _PRECISIONS:
        q, s, c = _sincos(x, w)
        values = [pick(q, s, c) for pick in picks]
        bounds = [((v - _ERROR) / (1 << w), (v + _ERROR) / (1 << w)) for v in values]
        if all(low == high for low, high in bounds):
            return [low for low, _ in bounds]
    return [v / (1 << w) for v in values]


def sin(x):
    """sin(x), correctly rounded, for a float (or int) x."""
    x = float(x)
    if not math.isfinite(x):
        return math.sin(x)                      # nan, or the C library's error for inf
    if abs(x) < 2.0 ** -26:
        return x                                # sin x = x (1 - x^2/6): rounds to x, 0 keeps its sign
    return _rounded(x, _SIN)[0]


def cos(x):
    """cos(x), correctly rounded."""
    x = float(x)
    if not math.isfinite(x):
        return math.cos(x)
    if abs(x) < 2.0 ** -27:
        return 1.0
    return _rounded(x, _COS)[0]


def sincos(x):
    """(sin x, cos x), both correctly rounded, from one reduction and one pair of series."""
    x = float(x)
    if not math.isfinite(x) or abs(x) < 2.0 ** -26:
        return sin(x), cos(x)
    return tuple(_rounded(x, _SIN, _COS))


def sines(values):
    """[sin(v) for v in values]: a column of numbers (a list, or a numpy array's items)."""
    return [sin(v) for v in values]
