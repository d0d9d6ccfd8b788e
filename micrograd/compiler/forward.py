"""The forward replay: one numpy instruction (a function of no arguments) per group.

Each group reads its operands as strided views of the value array where their slots form an
affine pattern (else it gathers them first) and writes its outputs to its own contiguous slots.
An op's group runs the op's own row on numpy arrays (rows.Arr): the same operations as eager,
element by element where numpy's would round differently. Fused neurons over a batch become one
einsum contraction; sums add their terms in eager's order. With exact=False, the contraction
is a BLAS matrix product, and exp/log/tanh/** numpy's own.
"""
import numpy as np

from micrograd.compiler.elementwise import py_forward
from micrograd.compiler.rows import (
    Arr,
    NotSymbolic,
    Suspect,
    array_of,
    is_plain_add,
    is_plain_mul,
    row,
)
from micrograd.compiler.kernels import (
    Src,
    affine,
    compact,
    contraction,
    expand,
    gathers,
    matmul_contraction,
    period,
    product,
    seqsum,
)
from micrograd.compiler.trace import K_LIN, K_OP, K_SUM


def set_shapes(groups):
    """The shape each group runs in (g.ishape), for every backend."""
    for g in groups:
        g.ishape = _choose_shape(g) if g.m > 2 else (g.m,)


def compile_forward(groups, val, exact=True):
    """Set every group's operands; return the list of numpy forward instructions."""
    fwd = []
    for g in groups:
        g.srcs = [Src(val, r.reshape((r.shape[0],) + g.ishape)) for r in g.roles]
        fwd.append(_forward_op(g, val, exact))
    return fwd


def _choose_shape(g):
    """Instances as a 1-D or a 2-D (S, P) array: whichever makes more operands strided
    views. Neurons of a layer over a batch come out as (batch, neurons)."""
    m = g.m
    rows = [r[j] for r in g.roles for j in range(r.shape[0])]
    cands = set()
    for a in rows[:64]:
        p = period(a)
        if p is not None and m % p == 0 and 1 < p < m:
            cands.add(p)
    best, best_score = (m,), sum(affine(a) is not None for a in rows)
    for p in sorted(cands):
        shape = (m // p, p)
        score = sum(affine(a.reshape(shape)) is not None for a in rows)
        if score > best_score:
            best, best_score = shape, score
    return best


def _forward_op(g, val, exact):
    Y = val[g.o0:g.o0 + g.m].reshape(g.ishape)
    gath = gathers(g.srcs)
    take = np.take
    kind = g.kind
    ops = []
    if kind == K_LIN or kind == K_SUM:
        ops.extend(_sum_ops(g, Y, exact))
    elif kind == K_OP:
        ops.append(_row_forward(g.rule, [s.arr[0] for s in g.srcs], Y, exact))
    else:                                            # pragma: no cover
        raise AssertionError(kind)
    if len(ops) == 1 and not gath:
        return ops[0]

    def run():
        for idx, buf in gath:
            take(val, idx, out=buf, mode="clip")
        for f in ops:
            f()
    return run


def _row_forward(op, arrs, Y, exact):
    """Y = op.forward(*arrs), the row run on numpy arrays; element by element in Python where
    the row is not written for arrays, or where an element would raise (eager's error then)."""
    if not row(op, len(arrs)).ok:
        return lambda: py_forward(op, arrs, Y)
    if len(arrs) == 2 and (is_plain_add(op) or is_plain_mul(op)):
        # a row that reads a + b or a * b (rows.py): one ufunc straight into Y, no temporary
        uf, (A, B) = (np.add if is_plain_add(op) else np.multiply), arrs
        return lambda: uf(A, B, out=Y)
    f, fast, shape, copyto = op.forward, not exact, Y.shape, np.copyto

    def run():
        try:
            copyto(Y, array_of(f(*[Arr(a, fast) for a in arrs]), shape))
        except (Suspect, NotSymbolic):
            py_forward(op, arrs, Y)
    return run


def _sum_ops(g, Y, exact):
    """Fused neurons (b + w0*x0 + ...) and n-ary sums: the terms in the rows of a block T,
    reduced row after row (or, for neurons, one contraction when numpy allows it)."""
    kind = g.kind
    if kind == K_LIN:
        B, W, X = (s.arr for s in g.srcs)
        fast = _lin_contraction(B[0], W, X, Y, exact)
        if fast is not None:
            return fast
    k = g.k if kind == K_LIN else g.roles[0].shape[0] - 1
    width = g.ishape if g.m >= 2 else (2,)       # numpy reduces (R, 1) pairwise: pad to 2
    T = np.zeros((k + 1,) + width)
    Tc = T if g.m >= 2 else T[:, :1]
    copyto = np.copyto
    ops = []
    if kind == K_LIN:
        b0 = B[0]
        ops.append(lambda: copyto(Tc[0], b0))
        ops.append(product(W, X, Tc[1:]))
    else:
        R = g.srcs[0].arr
        ops.append(lambda: copyto(Tc, R))
    if g.m >= 2:
        ops.append(seqsum(T, Y))
    else:
        tmp = np.empty(2)
        red = seqsum(T, tmp)
        t0 = tmp[:1]

        def one():
            red()
            copyto(Y, t0)
        ops.append(one)
    return ops


def _lin_contraction(b, W, X, Y, exact):
    """A group of fused neurons out = b + w0*x0 + w1*x1 + ... as one einsum contraction, when
    the weights and the inputs each vary over their own instance axes (a layer over a batch:
    weights per neuron, inputs per example). The bias joins as a term 1*b in front of the sum,
    in the weights' (or the inputs') operand. None if the shapes do not allow it, or numpy
    would not add in eager's order (see kernels.contraction). exact=False: a matrix product."""
    if Y.size < 2:
        return None
    letters = "jstuv"[:W.ndim]
    inst = letters[1:]
    cw, lw = compact(W, letters)
    cx, lx = compact(X, letters)
    cb, lb = compact(b, inst)
    if "j" not in lw or "j" not in lx:
        return None
    # the bias rides along the operand whose instance letters cover its own
    if set(lb) <= set(lw) - {"j"}:
        host, other, lhost, lother = cw, cx, lw, lx
    elif set(lb) <= set(lx) - {"j"}:
        host, other, lhost, lother = cx, cw, lx, lw
    else:
        return None
    if set(inst) - (set(lhost) | set(lother)):
        return None
    k = W.shape[0]
    host_aug = np.empty((k + 1,) + host.shape[1:])
    other_aug = np.empty((k + 1,) + other.shape[1:])
    other_aug[0] = 1.0
    # the bias fills row 0 of the host operand, broadcast over the host's other axes
    bview = host_aug[0, ...]
    order = [c for c in lhost[1:] if c in lb]
    cb_t = np.transpose(cb, [lb.index(c) for c in order]) if lb else cb
    bsrc = np.broadcast_to(expand(cb_t, lhost[1:], order), bview.shape)
    spec = f"{lhost},{lother}->{inst}"
    fn = None if exact else matmul_contraction(spec, host_aug, other_aug, Y)
    fn = fn or contraction(spec, host_aug, other_aug, Y)
    if fn is None:
        return None
    copyto = np.copyto
    hdst, odst = host_aug[1:], other_aug[1:]
    return [lambda: copyto(bview, bsrc), lambda: copyto(hdst, host),
            lambda: copyto(odst, other), fn]
