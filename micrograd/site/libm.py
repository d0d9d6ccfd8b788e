"""sin and cos as numpy gives them here, for lab_data in Pyodide (whose C library, musl, rounds
differently from glibc's in about 3% of cases).

`sin` and `cos` are correctly rounded (the exact value to 296 bits with Python integers, then
the nearest double); glibc's are not, quite: in about 0.2% of cases they round the other way.
For the angles the lab's moons and circles use, numpy.linspace(0, pi, n) and
linspace(0, 2*pi, n, endpoint=False) for n up to MAX_N, those cases are listed in
glibc_sincos.json (made by `python -m micrograd.site.libm` on a glibc machine, checked by
tests/test_site.py), so that `sin` and `cos` there are glibc's exactly. Elsewhere (the spiral's
noisy angles) a value may differ from glibc's in its last bit.

`tanh` is glibc's to the bit, in pure Python, for the engine in Pyodide (musl's rounds about one
result in eight the other way): glibc's tanh is fdlibm's, over its expm1, and x86-64's glibc runs
the expm1 built for FMA (every x86-64 since 2013 has it), whose polynomial is evaluated Estrin's
way with every a*b + c fused. `expm1` here does the same operations, with math.fma (Python 3.13
on; Pyodide's is 3.14; before, an exact one in integers, for the tests here). `install()` gives
micrograd.primitives (the engine's tanh) this tanh; the site's worker does, for the lab.

`exp` likewise: ARM's optimized-routines exp, which glibc and musl both use, glibc's built with
FMA (every a*b + c fused but in the subnormal range). Its table of 2^(i/128) is made here from
its definition. `log` is not here: ARM's log reads a table of specially chosen constants, and
musl's differs from glibc's in about one result in 20,000 (docs/site.md says what that means).
"""
import json
import math
import struct
import types
from fractions import Fraction
from importlib import resources

__all__ = ["sin", "cos", "tanh", "expm1", "exp", "power", "install", "uninstall", "lab_angles",
           "make_table", "MAX_N"]

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


# ---------------------------------------------------------------------------------------------
# tanh, as glibc (x86-64, FMA) computes it
# ---------------------------------------------------------------------------------------------
def _exact_fma(a, b, c):
    """a * b + c rounded once (math.fma before Python 3.13): exact in Fractions, then rounded
    to the nearest double, as float(Fraction) does."""
    if not (math.isfinite(a) and math.isfinite(b) and math.isfinite(c)):
        return a * b + c
    exact = Fraction(a) * Fraction(b) + Fraction(c)
    return float(exact) if exact else a * b + c      # a zero keeps IEEE's sign rules


_fma = getattr(math, "fma", _exact_fma)
_M64 = (1 << 64) - 1


def _bits(x):
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def _double(b):
    return struct.unpack("<d", struct.pack("<Q", b & _M64))[0]


_LN2_HI, _LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10
_INVLN2 = 1.44269504088896338700e+00
_Q = (-3.33333333333331316428e-02, 1.58730158725481460165e-03, -7.93650757867487942473e-05,
      4.00821782732936239552e-06, -2.01099218183624371326e-07)


def expm1(x):
    """exp(x) - 1 as glibc's FMA build of fdlibm's expm1 gives it (for finite x below 709.78;
    the rest, and tiny x, as any C library does)."""
    f, (q1, q2, q3, q4, q5) = _fma, _Q
    hx = _bits(x) >> 32 & 0x7fffffff                # fdlibm's tests are on |x|'s high word
    if hx >= 0x40862E42 or hx < 0x3c900000:         # |x| >= 709.78 (or inf, nan), < 2^-54
        return math.expm1(x)
    if x < 0 and hx >= 0x4043687A:                  # below -56 ln 2: -1, inexact
        return -1.0
    k, c = 0, 0.0
    if hx > 0x3fd62e42:                             # |x| > ln2 / 2: reduce
        if hx < 0x3FF0A2B2:                         # and < 1.5 ln2
            hi, lo, k = (x - _LN2_HI, _LN2_LO, 1) if x > 0 else (x + _LN2_HI, -_LN2_LO, -1)
        else:
            k = int(f(_INVLN2, x, 0.5 if x > 0 else -0.5))
            hi = f(-float(k), _LN2_HI, x)
            lo = k * _LN2_LO
        x = hi - lo
        c = (hi - x) - lo
    hfx = 0.5 * x
    hxs = x * hfx
    h2 = hxs * hxs
    r1 = f(h2 * h2, f(hxs, q5, q4), f(h2, f(hxs, q3, q2), f(hxs, q1, 1.0)))
    t = f(-r1, hfx, 3.0)
    e = hxs * ((r1 - t) / f(-x, t, 6.0))
    if k == 0:
        return x - f(x, e, -hxs)
    e = f(x, e - c, -c)
    e -= hxs
    if k == -1:
        return 0.5 * (x - e) - 0.5
    if k == 1:
        return -2.0 * (e - (x + 0.5)) if x < -0.25 else f(2.0, x - e, 1.0)
    if k <= -2 or k > 56:
        return math.ldexp(1.0 - (e - x), k) - 1.0
    if k < 20:
        return math.ldexp((1.0 - 2.0 ** -k) - (e - x), k)
    return math.ldexp((x - (e + 2.0 ** -k)) + 1.0, k)


def tanh(x):
    """tanh as glibc gives it here (fdlibm's, over expm1 above)."""
    ax = abs(x)
    if not math.isfinite(x) or ax < 2.0 ** -55:
        return math.tanh(x)                        # x, +-1 or nan: every libm agrees
    if ax >= 22.0:
        z = 1.0
    elif ax >= 1.0:
        z = 1.0 - 2.0 / (expm1(2.0 * ax) + 2.0)
    else:
        t = expm1(-2.0 * ax)
        z = -t / (t + 2.0)
    return z if x >= 0 else -z


# ---------------------------------------------------------------------------------------------
# exp, as glibc (x86-64, FMA) computes it: ARM's optimized-routines exp (musl has the same code,
# built without FMA, so it rounds about one result in two thousand the other way)
# ---------------------------------------------------------------------------------------------
_N = 128                                            # 2^(i/N) for i < N, from a table
_h = float.fromhex
_SHIFT = _h("0x1.8p52")
_INVLN2N = _h("0x1.71547652b82fep0") * _N
_NEGLN2HI_N, _NEGLN2LO_N = _h("-0x1.62e42fefa0000p-8"), _h("-0x1.cf79abc9e3b3ap-47")
_C2, _C3 = _h("0x1.ffffffffffdbdp-2"), _h("0x1.555555555543cp-3")
_C4, _C5 = _h("0x1.55555cf172b91p-5"), _h("0x1.1111167a4d017p-7")
_BIG, _TINY = _h("0x1p1009"), _h("0x1p-1022")
_exp_table = []


def _table_2_i_n():
    """(tail bits, scale bits - i << 45) for i < N, where 2^(i/N) = H (1 + tail), H the double
    nearest 2^(i/N): the table glibc's exp reads, made from its definition."""
    from decimal import Decimal, localcontext
    with localcontext() as ctx:
        ctx.prec = 60
        for i in range(_N):
            exact = Fraction(Decimal(2) ** (Decimal(i) / _N))
            h = float(exact)
            tail = float((exact - Fraction(h)) / Fraction(h))
            _exp_table.append((_bits(tail), (_bits(h) - (i << 45)) & _M64))


def exp(x):
    """e**x as glibc's FMA build gives it."""
    f = _fma
    ax = abs(x)
    if not ax < 1024.0 or ax < 2.0 ** -54:
        return math.exp(x)                          # inf, nan, 0, 1 + x: as every libm gives
    if not _exp_table:
        _table_2_i_n()
    kd = f(_INVLN2N, x, _SHIFT)                     # x = k ln2/N + r
    ki = _bits(kd)
    kd -= _SHIFT
    r = f(kd, _NEGLN2LO_N, f(kd, _NEGLN2HI_N, x))
    tail_bits, scale_bits = _exp_table[ki % _N]
    tail, sbits = _double(tail_bits), (scale_bits + (ki << 45)) & _M64
    r2 = r * r
    tmp = f(r2 * r2, f(r, _C5, _C4), f(r2, f(r, _C3, _C2), tail + r))
    if ax < 512.0:
        scale = _double(sbits)
        return f(scale, tmp, scale)
    if not ki & 0x80000000:                         # x > 512: the scale's exponent wraps
        scale = _double(sbits - (1009 << 52))
        y = _BIG * f(scale, tmp, scale)
        return y if y != math.inf else math.exp(x)  # past the largest float: its error
    scale = _double(sbits + (1022 << 52))           # x < -512: toward the subnormals
    y = scale + scale * tmp                         # (not fused here: glibc computes scale *
    if y < 1.0:                                     # tmp once for two sums)
        lo = scale - y + scale * tmp
        hi = 1.0 + y
        lo = 1.0 - hi + y + lo
        y = (hi + lo) - 1.0
    return _TINY * y


# ---------------------------------------------------------------------------------------------
# x ** y, as glibc (x86-64, FMA) computes it: ARM's pow, log(x) to about 2^-68 from a table of
# 1/c and log(c), times y, then exp's table. Its log table is made here from its definition:
# z = x / 2^k in [OFF, 2 OFF) falls in one of 128 subintervals; c is near its centre, with 1/c
# a multiple of 1/128 (or 1/256 above 1), so z/c - 1 is exact; log(c) is split in a part of
# 43 fractional bits and the rest.
# ---------------------------------------------------------------------------------------------
_OFF = 0x3fe6955500000000
_LN2HI, _LN2LO = _h("0x1.62e42fefa3800p-1"), _h("0x1.ef35793c76730p-45")
_A = (-0.5, _h("0x1.555555555556p-2") * -2, _h("-0x1.0000000000006p-2") * -2,
      _h("0x1.999999959554ep-3") * 4, _h("-0x1.555555529a47ap-3") * 4,
      _h("0x1.2495b9b4845e9p-3") * -8, _h("-0x1.0002b8b263fc3p-3") * -8)
_log_table = []


def _make_log_table():
    from decimal import Decimal, localcontext
    with localcontext() as ctx:
        ctx.prec = 60
        for i in range(_N):
            a, b = _double(_OFF + (i << 45)), _double(_OFF + ((i + 1) << 45))
            centre = (Fraction(a) + Fraction(b)) / 2
            invc = Fraction(round(_N / centre), _N) if centre < 1 else \
                Fraction(round(2 * _N / centre), 2 * _N)
            log_c = Fraction(Decimal(invc.denominator).ln() - Decimal(invc.numerator).ln())
            logc = float(Fraction(round(log_c * 2 ** 43), 2 ** 43))
            _log_table.append((float(invc), logc, float(log_c - Fraction(logc))))


def _log_inline(ix):
    """log(x) as hi + lo, for x's bits ix (x > 0, normal)."""
    f, a = _fma, _A
    tmp = (ix - _OFF) & _M64
    i = (tmp >> 45) % _N
    k = (tmp - (1 << 64) if tmp >> 63 else tmp) >> 52      # x = 2^k z
    z = _double(ix - (tmp & (0xfff << 52)))
    invc, logc, logctail = _log_table[i]
    r = f(z, invc, -1.0)
    t1 = f(float(k), _LN2HI, logc)
    t2 = t1 + r
    lo1 = f(float(k), _LN2LO, logctail)
    lo2 = t1 - t2 + r
    ar = a[0] * r
    ar2 = r * ar
    ar3 = r * ar2
    hi = t2 + ar2
    lo3 = f(ar, r, -ar2)
    lo4 = t2 - hi + ar2
    p = ar3 * f(ar2, f(ar2, f(r, a[6], a[5]), f(r, a[4], a[3])), f(r, a[2], a[1]))
    lo = lo1 + lo2 + lo3 + lo4 + p
    y = hi + lo
    return y, hi - y + lo


def _pow(x, y):
    """x ** y for x > 0 normal and 2^-65 <= |y| < 2^63; None where the result is near the
    ends of the float range (the caller takes Python's own there)."""
    f = _fma
    hi, lo = _log_inline(_bits(x))
    ehi = y * hi
    elo = f(y, lo, f(y, hi, -ehi))
    if not abs(ehi) < 512.0:
        return None
    if abs(ehi) < 2.0 ** -54:
        return 1.0 + ehi
    kd = f(_INVLN2N, ehi, _SHIFT)
    ki = _bits(kd)
    kd -= _SHIFT
    r = f(kd, _NEGLN2LO_N, f(kd, _NEGLN2HI_N, ehi)) + elo
    tail_bits, scale_bits = _exp_table[ki % _N]
    tail, scale = _double(tail_bits), _double((scale_bits + (ki << 45)) & _M64)
    r2 = r * r
    tmp = f(r2 * r2, f(r, _C5, _C4), f(r2, f(r, _C3, _C2), tail + r))
    return f(scale, tmp, scale)


def power(a, b):
    """a ** b, with glibc's pow where CPython's float ** calls the C library's: the engine's
    `**` row in Pyodide. Anything else (ints, Values, arrays, the edge cases) is Python's own."""
    if not (type(a) in (int, float) and type(b) in (int, float) and
            float in (type(a), type(b))):
        return a ** b
    x, y = float(a), float(b)
    if not (math.isfinite(x) and math.isfinite(y)) or x == 0 or abs(x) == 1 or \
            not 2.0 ** -65 <= abs(y) < 2.0 ** 63 or abs(x) < 2.0 ** -1022:
        return a ** b
    negative = x < 0
    if negative:                      # as CPython: the size, then the sign of an odd power
        if y != math.floor(y):
            return a ** b                                          # a complex number
        x = -x
    if not _log_table:
        _make_log_table()
    if not _exp_table:
        _table_2_i_n()
    out = _pow(x, y)
    if out is None:
        out = x ** y                  # an overflow's error, an underflow's 0: as CPython's
    return -out if negative and math.fmod(y, 2.0) == 1.0 else out


class _PowerBy:
    """x ** k with `power`: the forward of the engine's x ** k rows ('**2', '**-1')."""

    def __init__(self, k):
        self.k = k

    def __call__(self, a):
        return power(a, self.k)


_installed = {}


def _pow_op(k):
    op = _installed["pow_op"](k)               # the engine's own row, one per k, shared
    if not isinstance(op.forward, _PowerBy):
        _installed["rows"].append((op, op.forward))
        op.forward = _PowerBy(k)
    return op


def install():
    """Give the engine this module's tanh, exp and ** where it computes them on numbers
    (micrograd.primitives' math; the op table's `**` row and its x ** k rows): in the site's
    Pyodide only, where musl's are not glibc's. `uninstall()` puts the C library's back."""
    from micrograd import engine, optim, primitives
    if not _installed:
        _installed.update(math=primitives.math, pow=engine.OPS["**"].forward,
                          pow_op=engine.pow_op, optim_power=optim.power, rows=[])
    mine = types.SimpleNamespace(**{k: getattr(math, k) for k in dir(math) if k[0] != "_"})
    mine.tanh, mine.exp = tanh, exp
    primitives.math = mine
    engine.OPS["**"].forward = power
    engine.pow_op = _pow_op
    optim.power = power


def uninstall():
    from micrograd import engine, optim, primitives
    if _installed:
        primitives.math, engine.OPS["**"].forward = _installed["math"], _installed["pow"]
        engine.pow_op, optim.power = _installed["pow_op"], _installed["optim_power"]
        for op, forward in _installed["rows"]:
            op.forward = forward
        _installed.clear()


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
