"""Operations numpy cannot reproduce bit for bit (exp, log, tanh, sigmoid, powers, any custom
`Op`): evaluated element by element with the op table's own Python functions.

With exact=False, exp, log and tanh are numpy's (within an ulp or so of math's); where numpy's
result is not finite, the group is computed again element by element, so that the errors
(overflow, log of 0) and the infinities are eager's.
"""
import math

import numpy as np

from micrograd import engine
from micrograd.compiler.errors import raise_eager_backward, raise_eager_forward

# forwards that return a float for every float (or raise): no check of the results' types;
# and their numpy versions
_FLOAT_FORWARDS = {id(math.exp): np.exp, id(math.log): np.log, id(math.tanh): np.tanh}


def py_forward_fn(op, arrs, Y, exact=True):
    """A function computing Y from arrs with op.forward element by element (exact=False:
    numpy's exp, log, tanh, checked)."""
    if len(arrs) == 1 and id(op.forward) in _FLOAT_FORWARDS and Y.flags.c_contiguous:
        f, A, Yf, m = op.forward, arrs[0], Y.reshape(-1), Y.size
        fromiter, f8 = np.fromiter, np.float64

        def run():
            try:
                Yf[:] = fromiter(map(f, A.reshape(-1).tolist()), f8, m)
            except Exception:
                raise_eager_forward(op, arrs)
                raise
        if exact:
            return run
        uf, isfinite = _FLOAT_FORWARDS[id(f)], np.isfinite

        def fast():
            uf(A, out=Y)
            if not isfinite(Y).all():
                run()
        return fast
    return lambda: py_forward(op, arrs, Y)


def py_forward(op, arrs, Y):
    """Y[...] = op.forward over the elements of arrs, with eager's error if one fails."""
    cols = [a.reshape(-1).tolist() for a in arrs]
    try:
        res = list(map(op.forward, *cols))
    except Exception:
        raise_eager_forward(op, arrs)
        raise
    if not all([type(x) is float for x in res]):
        try:
            res = [x if type(x) is float else engine._as_float(x, "") for x in res]
        except TypeError:
            raise_eager_forward(op, arrs)
            raise
    Y[...] = np.array(res, dtype=np.float64).reshape(Y.shape)


def py_local_grads(op, out, arrs, active):
    """Local derivatives per element (m, arity), with eager's error for a failing one.
    `active`: the elements eager's backward visits (None: all); only their errors count."""
    o = out.reshape(-1).tolist()
    cols = [a.reshape(-1).tolist() for a in arrs]
    lg = op.local_grads
    try:
        d = list(map(lg, o, *cols))
    except (ValueError, ZeroDivisionError, OverflowError):
        for j, xs in enumerate(zip(*cols)):
            if active is None or active[j]:
                raise_eager_backward(op, o[j], xs)
        d = [lg(oj, *xs) if (active is None or active[j]) else (0.0,) * len(cols)
             for j, (oj, xs) in enumerate(zip(o, zip(*cols)))]
    return np.array(d, dtype=np.float64).reshape((len(o), len(cols)))
