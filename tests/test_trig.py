"""micrograd.trig: sin and cos correctly rounded, checked against an independent computation
in decimal arithmetic at 400 digits (pi from Decimal's own series, the Taylor series of the
reduced argument), rounded to the nearest double through Fraction. Fixed seeds; Hypothesis
derandomized."""
import math
import random
from decimal import Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from micrograd import trig

DIGITS = 400


def _pi():
    """pi to DIGITS digits (the decimal module's documented recipe)."""
    with localcontext() as ctx:
        ctx.prec = DIGITS + 10
        three = Decimal(3)
        lasts, t, s, n, na, d, da = 0, three, 3, 1, 0, 0, 24
        while s != lasts:
            lasts = s
            n, na = n + na, na + 8
            d, da = d + da, da + 32
            t = (t * n) / d
            s += t
        return +s


PI = _pi()


def reference(x, which):
    """The double nearest sin(x) or cos(x), from Decimal: 60 digits past x's own (up to
    DIGITS, for the largest doubles)."""
    with localcontext() as ctx:
        ctx.prec = digits = 60 + max(0, math.frexp(x)[1] * 3 // 10)
        d = Decimal(x)                                  # exact: a double is a finite binary
        k = (d / (PI / 2)).to_integral_value()
        r = d - k * (PI / 2)
        if which == "cos":
            k += 1                                      # cos x = sin(x + pi/2)
        term, total, i = r, r, 1
        r2 = r * r
        while abs(term) > Decimal(10) ** -(digits - 5):
            term = -term * r2 / ((2 * i) * (2 * i + 1))
            total += term
            i += 1
        c_term, c_total, i = Decimal(1), Decimal(1), 1
        while abs(c_term) > Decimal(10) ** -(digits - 5):
            c_term = -c_term * r2 / ((2 * i - 1) * (2 * i))
            c_total += c_term
            i += 1
        value = (total, c_total, -total, -c_total)[int(k) % 4]
        return float(Fraction(value))


def _sample(seed, n):
    r = random.Random(seed)
    return ([r.uniform(-20, 20) for _ in range(n)] + [r.gauss(0, 3) for _ in range(n)] +
            [r.uniform(-1, 1) * 2.0 ** r.randint(-30, 60) for _ in range(n // 2)] +
            [math.pi / 2 * k for k in range(-8, 9)] + [2.0 ** -26, 3.0, 1e22, 1e300])


def test_sin_and_cos_are_the_nearest_doubles():
    xs = _sample(11, 1200)
    assert [trig.sin(x) for x in xs] == [reference(x, "sin") for x in xs]
    assert [trig.cos(x) for x in xs] == [reference(x, "cos") for x in xs]


def test_the_hard_cases_are_rounded_right():
    """The doubles nearest a multiple of pi/2 (the result tiny, the reduction hard), the ends
    of the range, and where the C library here rounds the other way."""
    xs = [6381956970095103 * 2.0 ** 797, 5261692873635770 * 2.0 ** 499, 1.7976931348623157e308,
          355.0, 103993.0, 2.0 ** -26 * 1.5, -2.0 ** -25]
    r = random.Random(5)
    ys = [r.uniform(-15, 15) for _ in range(4000)]
    xs += [y for y in ys if math.sin(y) != trig.sin(y)][:20]      # the C library's misses
    assert [trig.sin(x).hex() for x in xs] == [reference(x, "sin").hex() for x in xs]
    assert [trig.cos(x).hex() for x in xs] == [reference(x, "cos").hex() for x in xs]


def test_small_zero_and_not_finite():
    assert trig.sin(1e-10) == 1e-10 and math.copysign(1, trig.sin(-0.0)) == -1
    assert trig.cos(-1e-10) == 1.0 and trig.cos(0.0) == 1.0
    assert math.isnan(trig.sin(math.nan)) and math.isnan(trig.cos(math.nan))
    for f in (trig.sin, trig.cos):
        with pytest.raises(ValueError, match="math domain error"):
            f(math.inf)
    assert trig.sines([0.5, 2]) == [trig.sin(0.5), trig.sin(2.0)]


def test_sincos_is_sin_and_cos_from_one_reduction():
    xs = _sample(12, 400) + [0.0, -0.0, 1e-10, 2.0 ** -26 * 1.5, 1.7976931348623157e308,
                             6381956970095103 * 2.0 ** 797, math.nan]
    got = [tuple(v.hex() for v in trig.sincos(x)) for x in xs]
    assert got == [(trig.sin(x).hex(), trig.cos(x).hex()) for x in xs]
    assert got[:50] == [(reference(x, "sin").hex(), reference(x, "cos").hex()) for x in xs[:50]]
    with pytest.raises(ValueError, match="math domain error"):
        trig.sincos(-math.inf)


@settings(derandomize=True, max_examples=300)
@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
def test_sin_and_cos_are_the_nearest_on_any_float(x):
    assert trig.sin(x) == reference(x, "sin") and trig.cos(x) == reference(x, "cos")
