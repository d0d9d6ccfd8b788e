"""CompileError, and eager's own errors for a replay that fails.

A vectorized replay finds out that something failed (a division by zero, a NaN where a log of a
negative number should have raised) only as a whole array. To raise exactly eager's exception,
with eager's message, the failing operation is re-run on Values, element by element, until the
engine itself raises.
"""
import numpy as np

from micrograd import engine, nodes
from micrograd.engine import Value


class CompileError(TypeError):
    """The function, its arguments or its graph cannot be compiled (the message says why)."""


def node_error(v, why):
    name = v._op or "?"
    return CompileError(f"cannot compile a graph node made by {name!r} (data={v.data!r}): {why}")


def raise_eager_forward(op, arrs, active=None):
    """Run the op on Values element by element, as eager does, until it raises."""
    cols = [np.asarray(a).reshape(-1).tolist() for a in arrs]
    for j, xs in enumerate(zip(*cols)):
        if active is not None and not active[j]:
            continue
        op(*[Value(x) for x in xs])


def raise_eager_backward(op, out, xs):
    """Eager's backward through one node of `op` with inputs xs (raises where eager does)."""
    vs = [Value(x) for x in xs]
    v = nodes.node(out, tuple(vs), op)
    engine._chain_rule(v, op)


def raise_backward_at(op, Y, arrs, mask):
    """Eager's backward error at the first element of `mask`."""
    j = int(np.flatnonzero(mask)[0])
    o = Y.reshape(-1)[j]
    xs = [np.asarray(a).reshape(-1)[j] for a in arrs]
    raise_eager_backward(op, float(o), [float(x) for x in xs])
    raise RuntimeError("compiled backward: eager did not fail where the replay did")
