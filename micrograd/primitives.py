"""The few functions the op table writes its rows with, for every kind of number a row meets.

Each row of the engine's op table (its forward and its local derivatives) is written with plain
arithmetic (+ - * / **, unary -), comparisons, and the four functions below. Nothing else. The
same row then runs on:

    int / float       backward(), and the forward of every Value
    Value             micrograd.grad(..., create_graph=True): the derivative becomes a graph
    numpy arrays      the compiler's numpy backend (an array type that provides .exp() etc.)
    C expressions     the compiler's C backend (a builder whose operators write C source)

so that every backend computes an op by the very same operations, in the same order, and gives
the same bits: one rule per op, interpreted everywhere. A kind of number other than int and
float brings its own methods: `exp(x)` is `x.exp()`, `where(c, a, b)` is `c.where(a, b)`.
A plain numpy array, which has no such methods, gets numpy's own (np.exp, np.where: close to
math's, not bit for bit; enough for a picture, which is what plain arrays are used for).
"""
import math
import sys

__all__ = ["exp", "log", "tanh", "where"]

_NUMBERS = (int, float)      # bool is an int; numpy's float64 is a float


def exp(x):
    return math.exp(x) if isinstance(x, _NUMBERS) else _method(x, "exp")()


def log(x):
    return math.log(x) if isinstance(x, _NUMBERS) else _method(x, "log")()


def tanh(x):
    return math.tanh(x) if isinstance(x, _NUMBERS) else _method(x, "tanh")()


def where(cond, if_true, if_false):
    """if_true where cond holds, else if_false. A comparison of numbers or of Values is a bool;
    of arrays or C expressions, one per element, and they choose element by element."""
    if isinstance(cond, _NUMBERS) or getattr(cond, "shape", None) == ():   # numpy's bool_ too
        return if_true if cond else if_false
    method = getattr(cond, "where", None)
    if method is not None:
        return method(if_true, if_false)
    return sys.modules["numpy"].where(cond, if_true, if_false)


def _method(x, name):
    """x's own exp/log/tanh, or numpy's for a plain numpy array (numpy is loaded if x is one)."""
    method = getattr(x, name, None)
    if method is None and "numpy" in sys.modules:
        return lambda: getattr(sys.modules["numpy"], name)(x)
    if method is None:
        raise TypeError(f"{name}: expected a number, got {type(x).__name__}")
    return method
