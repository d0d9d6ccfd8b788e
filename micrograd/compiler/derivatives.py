"""The backward instruction of one group: d(out)/d(input) * out.grad for each of its edges,
written to where backward.py wants that contribution (a gradient slot, or a row of a block).

The derivatives are eager's local_grads written as numpy arithmetic on the inputs and the
forward's output (exp: out; tanh: 1 - out*out; ...); ops without such a rule run their
local_grads element by element. Where eager's backward fails (1/b**2 at b = 0, x ** 0.5 at 0),
so does this, with eager's exception.
"""
import numpy as np

from micrograd import engine

from micrograd.compiler.elementwise import py_local_grads
from micrograd.compiler.errors import raise_backward_at
from micrograd.compiler.kernels import affine, product, strided
from micrograd.compiler.trace import (
    K_ABS,
    K_ADD,
    K_DIV,
    K_LIN,
    K_MAX,
    K_MUL,
    K_NEG,
    K_PY,
    K_RELU,
    K_SUB,
    K_SUM,
    PY_VEC_GRAD,
)


def may_fail_backward(g):
    """Can eager's local derivative of this group's op raise? (a division's, with the older
    rule -a/(b*b); powers, custom ops; the others are plain arithmetic on the op's output)"""
    return (g.kind == K_DIV and not DIVIDES_BY_OUT) or (g.kind == K_PY and id(g.rule) not in PY_VEC_GRAD)


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
    mul, neg, copyto = np.multiply, np.negative, np.copyto

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
    if kind == K_ADD:
        emit(0, lambda out: (lambda: copyto(out[0], G)))
        emit(1, lambda out: (lambda: copyto(out[0], G)))
    elif kind == K_SUB:
        emit(0, lambda out: (lambda: copyto(out[0], G)))
        emit(1, lambda out: (lambda: neg(G, out=out[0])))
    elif kind == K_MUL:
        A, B = srcs[0][0], srcs[1][0]
        emit(0, lambda out: (lambda: mul(B, G, out=out[0])))
        emit(1, lambda out: (lambda: mul(A, G, out=out[0])))
    elif kind == K_DIV:
        _division(g, srcs, Y, G, _active(g, tpos), emit, ops)
    elif kind == K_NEG:
        emit(0, lambda out: (lambda: neg(G, out=out[0])))
    elif kind == K_RELU:
        A = srcs[0][0]
        mask = np.empty(g.ishape, dtype=bool)

        def relu(out):
            def f():
                np.greater(A, 0.0, out=mask)
                mul(mask, G, out=out[0])
            return f
        emit(0, relu)
    elif kind == K_ABS:
        A = srcs[0][0]
        sg = np.empty(g.ishape)

        def sign(out):
            def f():                                     # (a > 0) - (a < 0)
                sg[...] = A > 0
                np.subtract(sg, A < 0, out=sg)
                mul(sg, G, out=out[0])
            return f
        emit(0, sign)
    elif kind == K_LIN:
        B, W, X = srcs
        Gb = np.broadcast_to(G.reshape((1,) + g.ishape), (g.k,) + g.ishape)
        emit(0, lambda out: (lambda: copyto(out[0], G)))
        emit(1, lambda out: product(X, Gb, out))          # d/dw = x
        emit(2, lambda out: product(W, Gb, out))          # d/dx = w
    elif kind == K_SUM:
        T = g.roles[0].shape[0]
        Gb = np.broadcast_to(G.reshape((1,) + g.ishape), (T,) + g.ishape)
        if (g.signs < 0).any():
            S = g.signs.reshape((T,) + g.ishape)
            emit(0, lambda out: (lambda: mul(S, Gb, out=out)))
        else:
            emit(0, lambda out: (lambda: copyto(out, Gb)))
    elif kind == K_MAX:                                      # the shift cancels: 0 * out.grad
        for ri in range(len(srcs)):
            emit(ri, lambda out: (lambda: mul(0.0, G, out=out[0])))
    elif kind == K_PY:
        vec = PY_VEC_GRAD.get(id(g.rule))
        if vec is not None:
            emit(0, _vectorized_grad(vec, srcs[0][0], Y, G, g.ishape))
        else:
            _elementwise_grads(g, srcs, Y, G, _active(g, tpos), emit, ops)
    else:                                                    # pragma: no cover
        raise AssertionError(kind)
    if len(ops) == 1:
        return ops[0]

    def run():
        for f in ops:
            f()
    return run


def _eager_divides_by_out():
    """Which rule eager's table has for d(a/b)/db: -out/b (finite wherever the quotient is), or
    the older -a/(b*b), which under- and overflows (at a = b = 1e200 it gives -0.0, not
    -1e-200). Read from the engine's own row, so the replay keeps eager's bits either way."""
    try:
        return engine.DIV.local_grads(1.0, 1e200, 1e200)[1] != 0.0
    except (ArithmeticError, ValueError, TypeError):                 # pragma: no cover
        return True


DIVIDES_BY_OUT = _eager_divides_by_out()


def _division(g, srcs, Y, G, active, emit, ops):
    """a / b: d/da = 1/b, d/db = -out/b (eager's rule; with the older -a/(b*b), eager's error
    where b*b is 0, for visited nodes)."""
    A, B = srcs[0][0], srcs[1][0]
    op = g.rule
    mul = np.multiply
    tmp = np.empty(g.ishape)
    if not DIVIDES_BY_OUT:
        def check():
            np.multiply(B, B, out=tmp)
            z = tmp == 0
            if z.any() and (active is None or (z.reshape(-1) & active).any()):
                raise_backward_at(op, Y, [A, B], z.reshape(-1) if active is None
                                  else z.reshape(-1) & active)
        ops.append(check)
    t1 = np.empty(g.ishape)

    def da(out):
        def f():
            np.divide(1.0, B, out=t1)
            mul(t1, G, out=out[0])
        return f

    def db(out):
        if DIVIDES_BY_OUT:
            def f():
                np.negative(Y, out=t1)
                np.divide(t1, B, out=t1)             # -out / b
                mul(t1, G, out=out[0])
            return f

        def f():
            np.negative(A, out=t1)
            np.divide(t1, tmp, out=t1)               # -a / (b * b)
            mul(t1, G, out=out[0])
        return f
    emit(0, da)
    emit(1, db)


def _vectorized_grad(vec, A, Y, G, ishape):
    """make(out) for exp, log, tanh, sigmoid: the derivative from the op's output (or input)."""
    mul = np.multiply
    t1 = np.empty(ishape)

    def make(out):
        if vec == "exp":
            return lambda: mul(Y, G, out=out[0])
        if vec == "log":
            def f():
                np.divide(1.0, A, out=t1)
                mul(t1, G, out=out[0])
            return f
        if vec == "tanh":
            def f():
                mul(Y, Y, out=t1)
                np.subtract(1.0, t1, out=t1)
                mul(t1, G, out=out[0])
            return f

        def f():                                     # sigmoid: out * (1 - out)
            np.subtract(1.0, Y, out=t1)
            mul(Y, t1, out=t1)
            mul(t1, G, out=out[0])
        return f
    return make


def _elementwise_grads(g, srcs, Y, G, active, emit, ops):
    """Any other Op: its local_grads element by element, then one product per role."""
    op = g.rule
    arrs = [s[0] for s in srcs]
    mul = np.multiply
    state = {}

    def local():
        state["d"] = py_local_grads(op, Y, arrs, active)
    ops.append(local)
    for ri in range(len(arrs)):
        def make(out, ri=ri):
            def f():
                mul(state["d"][:, ri].reshape(g.ishape), G, out=out[0])
            return f
        emit(ri, make)
