"""Ops run element by element with their rows' own Python functions: rows not written for
arrays (rows.NotSymbolic), and groups where an element would raise (rows.Suspect), so that
the error is eager's own.
"""
import numpy as np

from micrograd.compiler.errors import raise_eager_backward, raise_eager_forward
from micrograd.checks import as_number


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
            res = [as_number(x, "") for x in res]
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
