"""Numerical gradient checking: the lecture's "nudge an input by h, rise over run", made a test.

    >>> from micrograd.gradcheck import gradcheck
    >>> gradcheck(lambda a, b: (a * b + b ** 3).tanh(), [0.3, -0.7])
    True

`numerical_grad` uses central differences, (f(x + h) - f(x - h)) / 2h, whose error shrinks like
h**2 instead of the lecture's one-sided (f(x + h) - f(x)) / h, whose error shrinks like h.
"""
import math

from micrograd.engine import Value, no_grad

__all__ = ["numerical_grad", "analytic_grad", "gradcheck", "GradcheckError"]


class GradcheckError(AssertionError):
    """backward() and the numerical gradient disagree; the message names every input that does."""


def _floats(inputs):
    return [x.data if isinstance(x, Value) else float(x) for x in inputs]


def _names(inputs):
    return [x.label if isinstance(x, Value) and x.label else f"input {i}"
            for i, x in enumerate(inputs)]


def _checked(out):
    if not isinstance(out, Value):
        raise TypeError(f"gradcheck: f must return a Value, got {type(out).__name__}")
    return out


def _evaluate(f, xs):
    with no_grad():
        return _checked(f(*[Value(x) for x in xs])).data


def numerical_grad(f, inputs, h=1e-6):
    """d f / d input_i for every input, by central differences (f takes Values, returns a Value)."""
    xs = _floats(inputs)
    grads = []
    for i in range(len(xs)):
        up, down = list(xs), list(xs)
        up[i] += h
        down[i] -= h
        grads.append((_evaluate(f, up) - _evaluate(f, down)) / (2 * h))
    return grads


def analytic_grad(f, inputs):
    """d f / d input_i for every input, by backward() on fresh leaves."""
    leaves = [Value(x) for x in _floats(inputs)]
    _checked(f(*leaves)).backward()
    return [v.grad for v in leaves]


def gradcheck(f, inputs, h=1e-6, rtol=1e-4, atol=1e-6):
    """True if backward() agrees with central differences at `inputs` for every input, within
    |analytic - numeric| <= atol + rtol * |numeric|; otherwise GradcheckError naming each input
    that disagrees, both gradients and the difference."""
    analytic = analytic_grad(f, inputs)
    numeric = numerical_grad(f, inputs, h)
    bad = []
    for name, a, n in zip(_names(inputs), analytic, numeric):
        if not (math.isfinite(a) and math.isfinite(n)) or abs(a - n) > atol + rtol * abs(n):
            bad.append(f"  {name}: backward() gives {a!r}, numerical {n!r} "
                       f"(differ by {abs(a - n):.3g})")
    if bad:
        raise GradcheckError("gradient check failed at " + repr(_floats(inputs)) + ":\n"
                             + "\n".join(bad))
    return True
