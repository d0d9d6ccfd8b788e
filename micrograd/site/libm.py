"""glibc's numbers in pure Python, for the site's Pyodide (whose C library, musl, rounds some
results differently from glibc's, which CPython and numpy use here): see docs/site.md.

`sin` and `cos`, for the moons' and circles' angles (which micrograd.data takes from numpy, so
glibc's): correctly rounded (micrograd.trig), but glibc's where glibc rounds the other way (in
about 0.2% of cases). For the angles the lab's moons and circles use, numpy.linspace(0, pi, n)
and linspace(0, 2*pi, n, endpoint=False) for n up to MAX_N, those cases are listed in
glibc_sincos.json (made by `python -m micrograd.site.libm` on a glibc machine, checked by
tests/test_site.py), so that `sin` and `cos` there are glibc's exactly. (The spiral and the
`sin x` inputs are micrograd.trig's everywhere: nothing to match there.)

`tanh` is glibc's to the bit, in pure Python, for the engine in Pyodide (musl's rounds about one
result in eight the other way): glibc's tanh is fdlibm's, over its expm1, and x86-64's glibc runs
the expm1 built for FMA (every x86-64 since 2013 has it), whose polynomial is evaluated Estrin's
way with every a*b + c fused. `expm1` here does the same operations, with math.fma (Python 3.13
on; Pyodide's is 3.14; before, an exact one in integers, for the tests here). `install()` gives
micrograd.primitives (the engine's tanh) this tanh; the site's worker does, for the lab.

`exp` likewise: ARM's optimized-routines exp, which glibc and musl both use, glibc's built with
FMA (every a*b + c fused but in the subnormal range). Its table of 2^(i/128) is made here from
its definition.

`log` likewise: ARM's optimized-routines log in glibc's FMA build (musl's, unfused, rounds about
one result in 7,000 between 1 and 2 the other way). Its table holds specially chosen constants that cannot be
recomputed from a definition, so they come from this machine's own libm.so.6: glibc_log.json,
made by `python -m micrograd.site.libm` (read_glibc_log_data finds glibc's __log_data in the
library's bytes) and checked against the library by tests/test_lab_session.py.
"""
import json
import math
import struct
import types
from fractions import Fraction
from importlib import resources

from micrograd.trig import cos as correct_cos, sin as correct_sin

__all__ = ["sin", "cos", "tanh", "expm1", "exp", "log", "power", "install", "uninstall",
           "lab_angles", "make_table", "read_glibc_log_data", "MAX_N"]

MAX_N = 250                   # the lab's largest half of 500 points


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
    """a * b + c rounded once (math.fma before Python 3.13): exact as a ratio of integers
    (every float's denominator is a power of two), then rounded to the nearest double by
    Python's int / int, which rounds correctly (subnormals included)."""
    if not (math.isfinite(a) and math.isfinite(b) and math.isfinite(c)):
        return a * b + c
    (na, da), (nb, db), (nc, dc) = a.as_integer_ratio(), b.as_integer_ratio(), \
        c.as_integer_ratio()
    num = na * nb * dc + nc * da * db
    if not num:
        return a * b + c                              # a zero keeps IEEE's sign rules
    try:
        return num / (da * db * dc)
    except OverflowError:                             # past the largest double: IEEE's inf
        return math.copysign(math.inf, num)


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


# ---------------------------------------------------------------------------------------------
# log, as glibc (x86-64, FMA) computes it: ARM's optimized-routines log. x = 2^k z with z in
# [OFF, 2 OFF); z falls in one of 128 subintervals, whose table entry holds invc, near 1/c for
# c near the subinterval's middle, and logc = log(c); then log(x) = k ln2 + logc + log1p(r),
# r = z invc - 1 (one fma: the FMA build needs no second table). invc and logc are chosen
# constants (c is picked so that logc is unusually close to a double), which cannot be
# recomputed: they are read from this machine's libm.so.6 into glibc_log.json
# (read_glibc_log_data). Near 1 (1 - 2^-4 < x < 1 + 0x1.09p-4) a polynomial in x - 1 alone.
# Each a*b + c below is fused where GCC fuses it in the FMA build (-ffp-contract=fast).
# ---------------------------------------------------------------------------------------------
_LOG_OFF = 0x3fe6000000000000
_LOG_NEAR_1 = (_bits(1.0 - 2.0 ** -4), _bits(1.0 + _h("0x1.09p-4")))
_log_data = {}


def _load_log_data():
    text = resources.files("micrograd.site").joinpath("glibc_log.json").read_text()
    doc = json.loads(text)
    _log_data.update(ln2hi=_h(doc["ln2hi"]), ln2lo=_h(doc["ln2lo"]),
                     poly=[_h(v) for v in doc["poly"]], poly1=[_h(v) for v in doc["poly1"]],
                     tab=[(_h(a), _h(b)) for a, b in doc["tab"]])


def log(x):
    """The natural log as glibc's FMA build gives it (for x > 0 finite; the rest, 0, inf, nan
    and negative numbers with their errors, ints past the largest float, is math.log's own)."""
    if not (x > 0 and x != math.inf) or type(x) not in (float, int) or \
            type(x) is int and x.bit_length() > 1000:
        return math.log(x)
    x = float(x)
    if not _log_data:
        _load_log_data()
    f, d = _fma, _log_data
    ix = _bits(x)
    if _LOG_NEAR_1[0] <= ix < _LOG_NEAR_1[1]:
        if x == 1.0:
            return 0.0
        b = d["poly1"]
        r = x - 1.0
        r2 = r * r
        r3 = r * r2
        p = f(r3, f(r3, f(r3, b[10], f(r2, b[9], f(r, b[8], b[7]))),
                    f(r2, b[6], f(r, b[5], b[4]))),
              f(r2, b[3], f(r, b[2], b[1])))
        w = r * 2.0 ** 27                              # r split in halves of 26 bits:
        rhi = r + w - w                                # rhi * rhi is exact
        rlo = r - rhi
        w = rhi * rhi * b[0]                           # b[0] = -0.5
        hi = r + w
        lo = r - hi + w
        lo = f(b[0] * rlo, rhi + r, lo)
        return f(r3, p, lo) + hi                       # C's y = r3 * p; y += lo: one fma
    if ix < 1 << 52:                                   # subnormal: scale it up by 2^52
        ix = _bits(x * 2.0 ** 52) - (52 << 52)
    tmp = ix - _LOG_OFF
    i = (tmp >> 45) % 128
    k = tmp >> 52                                      # arithmetic: tmp may be negative
    z = _double(ix - (tmp & (0xfff << 52)))
    invc, logc = d["tab"][i]
    r = f(z, invc, -1.0)
    kd = float(k)
    w = f(kd, d["ln2hi"], logc)
    hi = w + r
    lo = f(kd, d["ln2lo"], w - hi + r)
    a = d["poly"]
    r2 = r * r
    y = f(r * r2, f(r2, f(r, a[4], a[3]), f(r, a[2], a[1])), f(r2, a[0], lo))
    return y + hi


def read_glibc_log_data(path="/lib/x86_64-linux-gnu/libm.so.6"):
    """glibc's __log_data, found in the bytes of its libm: ln2hi and ln2lo, then the 5 + 11
    polynomial coefficients, then 128 pairs {invc, logc}, recognised by logc = -log(invc) to
    about 2^-40 in every pair (pow's data begins with the same ln2hi, ln2lo, but its rows
    differ). A ValueError where the library holds no such table (not glibc, or another
    version's layout)."""
    data = open(path, "rb").read()
    key = struct.pack("<dd", _LN2HI, _LN2LO)
    found = []
    at = data.find(key)
    while at >= 0:
        if at + 8 * (18 + 256) <= len(data):
            v = struct.unpack_from("<%dd" % (18 + 256), data, at)
            pairs = list(zip(v[18::2], v[19::2]))
            if v[7] == -0.5 and all(0.5 < c < 2 and abs(lc + math.log(c)) < 2.0 ** -40
                                    for c, lc in pairs):
                found.append({"ln2hi": v[0].hex(), "ln2lo": v[1].hex(),
                              "poly": [x.hex() for x in v[2:7]],
                              "poly1": [x.hex() for x in v[7:18]],
                              "tab": [[c.hex(), lc.hex()] for c, lc in pairs]})
        at = data.find(key, at + 1)
    if len(found) != 1:
        raise ValueError(f"{path}: found {len(found)} tables like glibc's __log_data, not one")
    return found[0]


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
    """Give the engine this module's tanh, exp, log and ** where it computes them on numbers
    (micrograd.primitives' math; the op table's `**` row and its x ** k rows): in the site's
    Pyodide only, where musl's are not glibc's. `uninstall()` puts the C library's back."""
    from micrograd import engine, optim, primitives
    if not _installed:
        _installed.update(math=primitives.math, pow=engine.OPS["**"].forward,
                          pow_op=engine.pow_op, optim_power=optim.power, rows=[])
    mine = types.SimpleNamespace(**{k: getattr(math, k) for k in dir(math) if k[0] != "_"})
    mine.tanh, mine.exp, mine.log = tanh, exp, log
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


def _write_tables():
    """glibc_sincos.json and glibc_log.json, next to this module, from this machine's glibc."""
    from pathlib import Path
    here = Path(__file__).parent
    table = make_table()
    table["made_by"] = "python -m micrograd.site.libm (glibc's sin and cos, as numpy calls them)"
    (here / "glibc_sincos.json").write_text(json.dumps(table, indent=0, sort_keys=True))
    doc = read_glibc_log_data()
    doc["made_by"] = "python -m micrograd.site.libm (glibc's __log_data, read from libm.so.6)"
    rows = ",\n".join(json.dumps(row) for row in doc.pop("tab"))     # one {invc, logc} a line
    text = json.dumps(doc, indent=0, sort_keys=True)
    (here / "glibc_log.json").write_text(f'{text[:-2]},\n"tab": [\n{rows}\n]\n}}\n')
    print(f"wrote {here / 'glibc_sincos.json'} and {here / 'glibc_log.json'}")


if __name__ == "__main__":
    _write_tables()
