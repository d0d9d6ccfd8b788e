"""The compiler interprets the op table's rows: every row, on both backends, is eager's, bit for
bit, because both backends run the row's own functions (on numpy arrays, and as C source).

The rows are read from engine.OPS (and engine.pow_op for x ** k), never from a list kept here.
Each row runs over a batch of special numbers (zeros of both signs, tiny and huge numbers,
infinities, NaN, ints, and numbers where numpy's own power, exp, tanh and log round
differently from Python's);
where eager raises, the compiled function raises the same error with the same message. (A
compiled program computes in float64: where eager's result is an int, the compiled one is the
same number as a float.)
"""
import inspect
import itertools
import math
import random
import struct

import numpy as np
import pytest

import micrograd
from micrograd import engine
from micrograd.compiler import CompileError, cgen, rows
from micrograd.engine import OPS, Op, Value, pow_op
from micrograd.primitives import exp, log, tanh, where

# x where Python's x ** 2, x ** -1 and x ** 0.5 (libm's pow) differ from numpy's np.power and
# from GCC's pow(x, 2.0) -> x*x folding; then x where numpy's exp, tanh, log differ from math's
AWKWARD_POW = [0.37552921375269893, -7.010998004334263e-09, -4379.880756023006,
               8.960617542220142, 0.16833429351592927]
AWKWARD_EXP = [0.0620711821127736, -0.1136572231322047]
AWKWARD_TANH = [-3.973076986884435, -0.7450848662857457]
AWKWARD_LOG = [5.371590659387211]
AWKWARD = AWKWARD_POW + AWKWARD_EXP + AWKWARD_TANH + AWKWARD_LOG
SPECIAL = [0.0, -0.0, 1.0, -1.0, 2.5, -3.0, 3, -2, 0, 1e-170, -1e-200, 1e200, 709.0, 710.0,
           float("inf"), float("-inf"), float("nan")] + AWKWARD


def test_numpy_alone_would_not_be_exact():
    """Why the compiler runs ** (and exp, log, tanh) element by element through Python on the
    numpy backend, and libm's pow without GCC's folding of pow(x, 2.0) into x*x in C."""
    x = np.array(AWKWARD_POW)
    assert np.power(x, 2.0).tolist() != [v ** 2 for v in AWKWARD_POW]
    assert (x * x).tolist() != [v ** 2 for v in AWKWARD_POW]
    for f, g, xs in ((np.exp, math.exp, AWKWARD_EXP), (np.tanh, math.tanh, AWKWARD_TANH),
                     (np.log, math.log, AWKWARD_LOG)):
        assert f(np.array(xs)).tolist() != list(map(g, xs)), f.__name__


def arity(op):
    """How many inputs to give a row: its forward's positional parameters; a row taking *xs
    gets 3 (5 for one whose first parameter is apart, as w·x+b's bias)."""
    params = inspect.signature(op.forward).parameters.values()
    fixed = [p for p in params if p.kind == p.POSITIONAL_OR_KEYWORD]
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return 5 if fixed else 3
    return len(fixed)


ROWS = [(name, op) for name, op in OPS.items()] + [
    (f"**{k}", pow_op(k)) for k in (2, -1, 0.5, 3, 0, -2, 1.5)]


def bits(x):
    return struct.pack("<d", float(x))


def same_grad(a, b):
    """Gradients: the same float (NaN equals NaN; the sign of a zero may differ)."""
    return float(a) == float(b) or (math.isnan(a) and math.isnan(b))


def combos(n, seed):
    """Inputs for an n-input row: every pair of SPECIAL for n <= 2, else 150 random tuples."""
    if n <= 2:
        return list(itertools.product(SPECIAL, repeat=n))
    rng = random.Random(seed)
    return [tuple(rng.choice(SPECIAL) for _ in range(n)) for _ in range(150)]


def eager_run(op, xs):
    """op on fresh parameter Values, and backward: (out, grads) or the exception."""
    ps = [Value(x) for x in xs]
    try:
        out = op(*ps)
        out.backward()
    except Exception as e:       # eager's own error: the compiled one must be the same
        return e
    return out.data, [p.grad for p in ps]


@pytest.mark.parametrize("backend", ["c", "numpy"])
@pytest.mark.parametrize("name, op", ROWS, ids=[n for n, _ in ROWS])
def test_every_row_compiles_to_eagers_bits(name, op, backend):
    n = arity(op)
    cases = combos(n, seed=sum(map(ord, name)))
    results = [eager_run(op, xs) for xs in cases]
    ok = [(xs, r) for xs, r in zip(cases, results) if not isinstance(r, Exception)]
    bad = [(xs, r) for xs, r in zip(cases, results) if isinstance(r, Exception)]
    assert ok, name
    params = [[Value(x) for x in xs] for xs, _ in ok]

    def fn():
        outs = [op(*ps) for ps in params]
        return [sum(outs[1:], outs[0])] + outs

    cfn = micrograd.compile(fn, backend=backend)
    res = cfn()
    assert cfn.stats()[0]["backend"] == backend
    res[0].backward()
    for (xs, (want, grads)), got, ps in zip(ok, res[1:], params):
        # an int result (int inputs, int arithmetic) is the same number as a float, but has
        # no -0.0: the compiled program computes in float64
        if isinstance(want, float) and math.isnan(want):
            assert math.isnan(got.data), f"{name}{xs}: eager NaN, compiled {got.data!r}"
        else:
            assert (bits(got.data) == bits(want) if isinstance(want, float)
                    else got.data == want), f"{name}{xs}: eager {want!r}, compiled {got.data!r}"
        for p, g in zip(ps, grads):
            assert same_grad(p.grad, g), f"{name}{xs}: grad eager {g!r}, compiled {p.grad!r}"
    # where eager raises (forward or backward), the compiled function raises the same (the
    # message shows the numbers as the compiled program holds them: floats)
    for xs, _ in bad[:6]:
        xs = [float(x) for x in xs]
        want = eager_run(op, xs)
        ps = [Value(x) for x in xs]
        with pytest.raises(type(want)) as got:
            micrograd.compile(lambda: op(*ps), backend=backend)().backward()
        assert str(got.value) == str(want), f"{name}{xs}"


# ---- a row of your own ----------------------------------------------------------------------
def _softplus_grads(out, a):
    # d/da log(1 + exp(a)) = 1 - exp(-out), written with the primitives
    return (1 - exp(-out),)


SOFTPLUS = Op("softplus", lambda a: log(1 + exp(a)), _softplus_grads, "ln(1 + exp({a}))",
              ("1 - exp(-{out})",))
# a two-input op with a branch written as `where` and a derivative that is not the forward's
BLEND = Op("blend", lambda a, b: where(a > b, tanh(a) * b, a * a - b),
           lambda out, a, b: (where(a > b, (1 - tanh(a) * tanh(a)) * b, 2 * a),
                              where(a > b, tanh(a), -1)))
MATHY = Op("mathy", lambda a: math.sinh(a), lambda out, a: (math.cosh(a),))


def _model(op2):
    random.seed(4)
    w = [Value(random.uniform(-1, 1)) for _ in range(6)]

    def fn(xs):
        outs = []
        for x in xs:
            h = SOFTPLUS(w[0] * x + w[1])
            outs.append(op2(h, w[2] * x) * w[3] + BLEND(w[4], x).relu())
        return sum(outs[1:], outs[0]) / len(outs)
    return w, fn


@pytest.mark.parametrize("backend", ["c", "numpy"])
def test_your_own_op_written_with_primitives_compiles_to_c(backend):
    w, fn = _model(BLEND)
    xs = [-2.0, -0.5, 0.0, 0.25, 1.0, 3.0, 40.0]
    for p in w:
        p.grad = 0
    want = fn([Value(x) for x in xs])
    want.backward()
    want_grads = [p.grad for p in w]
    for p in w:
        p.grad = 0
    cfn = micrograd.compile(fn, backend=backend)
    got = cfn(xs)
    got.backward()
    assert cfn.stats()[0]["backend"] == backend
    assert bits(got.data) == bits(want.data)
    assert [bits(p.grad) for p in w] == [bits(g) for g in want_grads]


def test_a_row_calling_math_runs_element_by_element_and_says_why():
    w, fn = _model(lambda a, b: MATHY(a) * b)
    xs = [-1.0, 0.5, 2.0]
    for p in w:
        p.grad = 0
    want = fn([Value(x) for x in xs])
    want.backward()
    want_grads = [p.grad for p in w]
    for p in w:
        p.grad = 0
    cfn = micrograd.compile(fn)
    got = cfn(xs)
    got.backward()
    assert bits(got.data) == bits(want.data)
    assert [bits(p.grad) for p in w] == [bits(g) for g in want_grads]
    st = cfn.stats()[0]
    assert st["backend"] == "numpy"
    assert st["backend_note"].startswith("no C kernel for op 'mathy': float() or a math.* "
                                         "function of an input")
    with pytest.raises(CompileError, match="no C kernel for op 'mathy'"):
        micrograd.compile(fn, backend="c")(xs)


def test_powers_and_the_lectures_division_are_c_loops():
    """'**2' and '**-1' (a / b is a * b**-1) run in C, one loop per group, not in Python."""
    p = Value(1.5)
    cfn = micrograd.compile(lambda xs, ys: [(x / y) ** 2 * p for x, y in zip(xs, ys)])
    cfn([1.0, 2.0, 3.0], [0.37552921375269893, 5.0, -6.0])
    assert cfn.stats()[0]["backend"] == "c"
    src = cgen.forward_source(next(iter(cfn._cache.values())).groups)[0]
    assert src.count("pow(") == 2 and "for (long i0 = 0; i0 < 3; i0++)" in src


# ---- a row replaced at run time --------------------------------------------------------------
@pytest.mark.parametrize("backend", ["c", "numpy"])
def test_replacing_a_row_changes_compiled_results_as_eager(backend, monkeypatch):
    """tanh's row replaced (a scaled forward, another derivative): eager and compiled follow,
    a function compiled before the change too (it traces again), and the C source differs,
    so that a kernel built from the old row is never loaded for the new one."""
    p = Value(0.7)
    fn = lambda xs: sum((p * x).tanh() for x in xs)     # noqa: E731
    xs = [0.5, -1.25, 2.0]
    cfn = micrograd.compile(fn, backend=backend)

    def both():
        p.grad = 0
        e = fn([Value(x) for x in xs])
        e.backward()
        eg = p.grad
        p.grad = 0
        c = cfn(xs)
        c.backward()
        assert bits(c.data) == bits(e.data) and bits(p.grad) == bits(eg)
        return e.data, eg, cgen.forward_source(next(iter(cfn._cache.values())).groups)[0]

    before = both()
    monkeypatch.setattr(engine.TANH, "forward", lambda a: 2 * tanh(a / 2))
    monkeypatch.setattr(engine.TANH, "local_grads", lambda out, a: (1 - out * out / 4,))
    after = both()
    assert before[0] != after[0] and before[1] != after[1]
    assert cfn.trace_count == 2
    assert before[2] != after[2]
    monkeypatch.undo()
    assert both()[:2] == before[:2]


# ---- the row readers themselves ----------------------------------------------------------------
def test_rows_read_as_sums_products_and_neurons_only_when_they_are():
    assert rows.is_plain_add(engine.ADD) and rows.is_plain_mul(engine.MUL)
    assert rows.is_plain_linear(engine.LINEAR, 7)
    assert not rows.is_plain_add(engine.MUL) and not rows.is_plain_mul(engine.ADD)
    swapped = Op("+", lambda a, b: b + a, lambda out, a, b: (1, 1))
    assert not rows.is_plain_add(swapped)        # b + a: the same number, not eager's order
    assert not rows.is_plain_mul(Op("*", lambda a, b: a * b, lambda out, a, b: (a, b)))


def test_c_constants_are_exact():
    for x in [0.1, 1 / 3, 1e-310, -2.5e300, 2.0, 1e22, 5e-324]:
        lit = rows.c_number(x)
        assert float.fromhex(lit) == x if lit.startswith(("0x", "-0x")) else float(lit) == x
    assert rows.c_number(float("inf")) == "INFINITY" and rows.c_number(float("nan")) == "NAN"


def test_a_fused_training_step_follows_a_row_replaced_while_training(monkeypatch):
    """SGD on a small MLP (tanh, a relu output), eager and as a fused step, the tanh and ReLU
    rows replaced after two steps: the same losses and weights, bit for bit (it traces again)."""
    from micrograd import optim
    from micrograd.nn import MLP

    def make():
        random.seed(7)
        model = MLP(2, [4, 4, 1], activation="tanh", output_activation="relu")
        return model, optim.SGD(model.parameters(), lr=0.1)

    X = [[0.5, -1.0], [1.5, 0.25], [-0.75, 2.0]]
    y = [1.0, -1.0, 0.5]

    def loss_of(model):
        return lambda X, y: sum(((model(x) - t) ** 2 for x, t in zip(X, y)), Value(0)) / len(y)

    em, eopt = make()
    cm, copt = make()
    step = micrograd.compile(loss_of(cm), optimizer=copt)
    eloss = loss_of(em)
    for k in range(5):
        if k == 2:
            monkeypatch.setattr(engine.TANH, "forward", lambda a: tanh(a) * 0.5)
            monkeypatch.setattr(engine.TANH, "local_grads", lambda out, a: (0.5 - 2 * out * out,))
            monkeypatch.setattr(engine.RELU, "forward", lambda a: where(a < 0, 0.1 * a, a))
            monkeypatch.setattr(engine.RELU, "local_grads",
                                lambda out, a: (where(a < 0, 0.1, 1),))
        eopt.zero_grad()
        e = eloss([[Value(v) for v in x] for x in X], y)
        e.backward()
        eopt.step()
        c = step(X, y)
        assert bits(c.data) == bits(e.data), k
    step.sync()
    assert [bits(p.data) for p in cm.parameters()] == [bits(p.data) for p in em.parameters()]
    assert step.trace_count == 2
