"""The backward instruction of one group: d(out)/d(input) * out.grad for each of its edges,
written to where backward.py wants that contribution (a gradient slot, or a row of a block).

An op's local derivatives are its row's own local_grads, run on numpy arrays (rows.Arr), or
element by element where the row is not written for arrays or an element would raise (then
with eager's exception, for the nodes eager's backward visits). Sums and fused neurons are
structure: their rows read a + b and b + w0*x0 + ... (rows.py), whose derivatives are 1 and
(1, x, w).
"""
import numpy as np

from micrograd.compiler.elementwise import py_local_grads
from micrograd.compiler.kernels import affine, product, strided
from micrograd.compiler.rows import Arr, NotSymbolic, Suspect, is_plain_add, is_plain_mul, row
from micrograd.compiler.trace import K_LIN, K_OP, K_SUM


def may_fail_backward(g):
    """Can eager's local derivatives of this group's op raise? (Read from its row: a division,
    a power, exp or log in local_grads; a row not written for arrays may do anything.)"""
    return g.kind == K_OP and row(g.rule, len(g.roles)).bwd_may_fail


def _active(g, tpos):
    """Instances of g that eager's backward visits (None: all of them)."""
    act = tpos[g.nodes] >= 0
    return None if act.all() else act


def contributions(prog, g, dests, buf, gv, tpos):
    """One function writing the contributions of group g: dests[role] is, per edge of that
    role, its destination in buf (None: the role needs nothing)."""
    G = gv[g.o0:g.o0 + g.m].reshape(g.ishape)
    kind = g.kind
    sinks = []
    for d in dests:
        if d is None:
            sinks.append(None)
            continue
        aff = affine(d)
        if aff is not None:
            sinks.append((strided(buf, aff[0], aff[1], d.shape), None))
        else:
            sinks.append((np.empty(d.shape), d))
    ops = []
    copyto = np.copyto

    def emit(ri, make):
        """make(out) -> function computing role ri's contributions into out."""
        s = sinks[ri]
        if s is None:
            return
        out, scatter = s
        ops.append(make(out))
        if scatter is not None:
            def put(out=out, scatter=scatter):
                buf[scatter] = out
            ops.append(put)

    srcs = [s.arr for s in g.srcs]
    Y = prog.val[g.o0:g.o0 + g.m].reshape(g.ishape)
    if kind == K_LIN:
        B, W, X = srcs
        Gb = np.broadcast_to(G.reshape((1,) + g.ishape), (g.k,) + g.ishape)
        emit(0, lambda out: (lambda: copyto(out[0], G)))
        emit(1, lambda out: product(X, Gb, out))          # d/dw = x
        emit(2, lambda out: product(W, Gb, out))          # d/dx = w
    elif kind == K_SUM:
        T = g.roles[0].shape[0]
        Gb = np.broadcast_to(G.reshape((1,) + g.ishape), (T,) + g.ishape)
        emit(0, lambda out: (lambda: copyto(out, Gb)))
    elif kind == K_OP:
        _row_grads(g, [s[0] for s in srcs], Y, G, _active(g, tpos), emit, ops, prog.exact)
    else:                                                    # pragma: no cover
        raise AssertionError(kind)
    if len(ops) == 1:
        return ops[0]

    def run():
        for f in ops:
            f()
    return run


def _row_grads(g, arrs, Y, G, active, emit, ops, exact):
    """The op's local_grads(out, *inputs) on arrays (once per run), then one product with
    out.grad per role: eager's `d * g`."""
    op, n, shape = g.rule, len(arrs), g.ishape
    if n == 2 and is_plain_add(op):              # derivatives (1, 1): out.grad itself
        for ri in range(2):
            emit(ri, lambda out: (lambda: np.copyto(out[0], G)))
        return
    if n == 2 and is_plain_mul(op):              # derivatives (b, a)
        for ri in range(2):
            emit(ri, lambda out, other=arrs[1 - ri]: (lambda: np.multiply(other, G, out=out[0])))
        return
    symbolic = row(op, n).ok
    lg, fast = op.local_grads, not exact
    mul = np.multiply
    local = [None] * n

    def derivatives():
        if symbolic:
            try:
                ds = lg(Arr(Y, fast), *[Arr(a, fast) for a in arrs])
                local[:] = [d.v if isinstance(d, Arr) else float(d) for d in ds]
                return
            except (Suspect, NotSymbolic):
                pass
        d = py_local_grads(op, Y, arrs, active)
        local[:] = [d[:, i].reshape(shape) for i in range(n)]
    ops.append(derivatives)
    for ri in range(n):
        def make(out, ri=ri):
            def f():
                mul(local[ri], G, out=out[0])
            return f
        emit(ri, make)
