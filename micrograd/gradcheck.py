"""Numerical gradient checking: the lecture's "nudge an input by h, rise over run", made a test.

    >>> from micrograd.gradcheck import gradcheck
    >>> gradcheck(lambda a, b: (a * b + b ** 3).tanh(), [0.3, -0.7])
    True
    >>> gradgradcheck(lambda a, b: (a * b + b ** 3).tanh(), [0.3, -0.7])
    True

`numerical_grad` uses central differences, (f(x + h) - f(x - h)) / 2h, whose error shrinks like
h**2 instead of the lecture's one-sided (f(x + h) - f(x)) / h, whose error shrinks like h.
`gradgradcheck` does the same one level up: the second derivatives that
grad(..., create_graph=True) builds, against central differences of the first derivatives.
"""
import math

from micrograd.engine import Value, grad, no_grad

__all__ = ["numerical_grad", "analytic_grad", "analytic_hessian", "gradcheck", "gradgradcheck",
           "GradcheckError"]


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


def _disagree(a, n, rtol, atol):
    return not (math.isfinite(a) and math.isfinite(n)) or abs(a - n) > atol + rtol * abs(n)


def _verdict(what, inputs, bad):
    if bad:
        raise GradcheckError(f"{what} failed at {_floats(inputs)!r}:\n" + "\n".join(bad))
    return True


def gradcheck(f, inputs, h=1e-6, rtol=1e-4, atol=1e-6):
    """True if backward() agrees with central differences at `inputs` for every input, within
    |analytic - numeric| <= atol + rtol * |numeric|; otherwise GradcheckError naming each input
    that disagrees, both gradients and the difference."""
    analytic = analytic_grad(f, inputs)
    numeric = numerical_grad(f, inputs, h)
    bad = [f"  {name}: backward() gives {a!r}, numerical {n!r} (differ by {abs(a - n):.3g})"
           for name, a, n in zip(_names(inputs), analytic, numeric) if _disagree(a, n, rtol, atol)]
    return _verdict("gradient check", inputs, bad)


def analytic_hessian(f, inputs):
    """d²f / d input_i d input_j, by grad(create_graph=True) and grad again, on fresh leaves."""
    leaves = [Value(x) for x in _floats(inputs)]
    first = grad(_checked(f(*leaves)), leaves, create_graph=True)
    return [[g.data for g in grad(d, leaves)] for d in first]


def gradgradcheck(f, inputs, h=1e-5, rtol=1e-4, atol=1e-5):
    """True if the second derivatives built by grad(..., create_graph=True) agree with central
    differences of the first derivatives (grad() on floats) for every pair of inputs; otherwise
    GradcheckError naming each pair that disagrees. Catches a custom Op whose local_grads is
    right as a number but wrong as a function (its derivative graph)."""
    xs, names = _floats(inputs), _names(inputs)
    analytic = analytic_hessian(f, xs)

    def first(at):
        leaves = [Value(x) for x in at]
        return [g.data for g in grad(_checked(f(*leaves)), leaves)]
    bad = []
    for j in range(len(xs)):
        up, down = list(xs), list(xs)
        up[j] += h
        down[j] -= h
        column = [(u - d) / (2 * h) for u, d in zip(first(up), first(down))]
        for i, n in enumerate(column):
            a = analytic[i][j]
            if _disagree(a, n, rtol, atol):
                bad.append(f"  d²/d({names[i]}) d({names[j]}): grad(create_graph=True) gives "
                           f"{a!r}, numerical {n!r} (differ by {abs(a - n):.3g})")
    return _verdict("second-derivative check", inputs, bad)
