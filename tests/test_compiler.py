"""micrograd.compile: the replay must be the eager engine, number for number.

Every test runs a function eagerly (fresh Value leaves, backward) and compiled (trace, replay,
backward) from the same parameters and the same starting grads, and asks for the same floats:
bit for bit (the compiler keeps eager's order of every sum), which is stricter than the 1e-12
relative the compiler promises. Only the sign of a zero may differ.
"""
import math
import os
import random
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import micrograd
from micrograd import optim
from micrograd.compiler import CompileError, NonFiniteLoss, Result, StepResult, TrainStep
from micrograd.engine import Op, Value, linear
from micrograd.nn import MLP

import strategies
from strategies import programs, run_program


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def same(a, b):
    """Bit-for-bit equal floats (NaN equals NaN, 0.0 equals -0.0)."""
    return a == b or (math.isnan(a) and math.isnan(b))


def wrap(x):
    if isinstance(x, (list, tuple)):
        return type(x)(wrap(v) for v in x)
    if isinstance(x, np.ndarray):
        return [wrap(v) for v in x.tolist()]
    return Value(x)


def leaves(out):
    if isinstance(out, (list, tuple)):
        return [v for o in out for v in leaves(o)]
    return [out]


def eager(fn, params, args, seed=0, grads0=None):
    """fn on fresh Values: output floats and the params' grads after backward of output `seed`."""
    for p, g in zip(params, grads0 or [0.0] * len(params)):
        p.grad = g
    outs = leaves(fn(*[wrap(a) for a in args]))
    outs[seed].backward()
    return [o.data for o in outs], [p.grad for p in params]


def compiled(cfn, params, args, seed=0, grads0=None):
    for p, g in zip(params, grads0 or [0.0] * len(params)):
        p.grad = g
    outs = leaves(cfn(*args))
    assert all(isinstance(o, Result) for o in outs)
    outs[seed].backward()
    return [o.data for o in outs], [p.grad for p in params]


def check(fn, params, *args, seed=0, grads0=None, cfn=None):
    """Compiled == eager, forward values and every parameter's grad; returns the compiled fn."""
    cfn = cfn or micrograd.compile(fn, check=True)
    want = eager(fn, params, args, seed, grads0)
    got = compiled(cfn, params, args, seed, grads0)
    for w, g in zip(want[0], got[0]):
        assert same(w, g), f"forward: eager {w!r}, compiled {g!r}"
    for i, (w, g) in enumerate(zip(want[1], got[1])):
        assert same(w, g), f"grad of param {i}: eager {w!r}, compiled {g!r}"
    return cfn


def eager_error(fn, args):
    with pytest.raises(Exception) as e:
        out = fn(*[wrap(a) for a in args])
        leaves(out)[0].backward()
    return e.value


# ---------------------------------------------------------------------------------------------
# every operation
# ---------------------------------------------------------------------------------------------
UNARY = {
    "neg": lambda a: -a, "relu": lambda a: a.relu(), "abs": lambda a: abs(a),
    "tanh": lambda a: a.tanh(), "exp": lambda a: a.exp(), "sigmoid": lambda a: a.sigmoid(),
    "log": lambda a: abs(a).log(), "square": lambda a: a ** 2, "inv": lambda a: a ** -1,
    "sqrt": lambda a: abs(a) ** 0.5, "cube": lambda a: a ** 3,
}
BINARY = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "/": lambda a, b: a / b, "pow": lambda a, b: abs(a) ** b,
    "radd": lambda a, b: 2.5 + a, "rsub": lambda a, b: 1 - b, "rdiv": lambda a, b: 3.0 / b,
    "rpow": lambda a, b: 2.0 ** a,
}
POINTS = [-1.7, -0.3, 0.0, -0.0, 0.4, 2.2]


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_ops_match_eager_on_a_batch(name):
    """Each op applied to inputs and to parameters, at points that include exactly 0 (relu and
    abs take derivative 0 there) and -0.0, as one vectorized group of the compiled program."""
    op = UNARY[name]
    ps = [Value(x) for x in POINTS]
    xs = [x for x in POINTS if not (name in ("log", "inv") and x == 0)]
    qs = [p for p in ps if not (name in ("log", "inv", "sqrt") and p.data == 0)]
    check(lambda xs: [op(x) for x in xs] + [op(p) * x for p, x in zip(qs, xs)], ps, xs)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_ops_match_eager_on_a_batch(name):
    op = BINARY[name]
    ps = [Value(x) for x in (0.5, -1.25, 2.0, 0.0)]
    xs = [0.3, -2.0, 1.5, 0.75]
    check(lambda xs: [op(p, x) for p, x in zip(ps, xs)] + [op(x, p) for p, x in zip(ps, xs)
                                                          if name not in ("/", "rdiv")],
          ps, xs)


def test_relu_and_abs_at_exactly_zero_give_zero_gradient():
    p = Value(0.0)
    q = Value(0.0)
    cfn = check(lambda x: p.relu() * x + abs(q) * x + (x - x).relu() * p, [p, q], 3.0)
    out = cfn(3.0)
    out.backward()
    assert p.grad == 0.0 and q.grad == 0.0


def test_fused_neurons_and_layers():
    random.seed(0)
    net = MLP(3, [4, 4, 1], activation="tanh")          # random biases, tanh everywhere
    params = net.parameters()
    X = [[0.1, -0.2, 0.3], [1.0, 0.5, -1.5], [0.0, 0.0, 0.0], [2.0, -1.0, 0.25]]
    check(lambda X: sum(net(x) for x in X), params, X)
    w = [Value(0.5), Value(-1.5)]
    check(lambda a, b: linear(w, [a, b], 0.25) * linear([a, b], w), w, 2.0, -3.0)


def test_sum_chains_with_minus_and_shared_terms():
    ps = [Value(v) for v in (0.1, 1e16, -1e16, 3.0)]    # order of additions matters here

    def fn(x):
        a, b, c, d = ps
        s = a + b - c + x * d - a + b + b
        return s * 0.5 + (x + a + c) + sum([a, b, c, d, x])
    check(fn, ps, 1.0)


def test_custom_op():
    square_plus = Op("sq+", lambda a, b: a * a + b, lambda out, a, b: (2 * a, 1))
    ps = [Value(1.5), Value(-0.5)]
    check(lambda x: square_plus(ps[0], x) * square_plus(x, ps[1]), ps, 0.7)


# ---------------------------------------------------------------------------------------------
# random graphs
# ---------------------------------------------------------------------------------------------
SETTINGS = settings(max_examples=int(os.environ.get("COMPILER_EXAMPLES", 60)), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.slow      # 60 random programs, each compiled to C: about 7 s of CPU (the fast tier
@SETTINGS              # has the lecture's, the demo's and the special numbers' programs)
@given(programs(max_inputs=5, max_steps=14), st.integers(0, 4))
def test_random_graphs_match_eager(program, n_params):
    """Random graphs with shared subexpressions; some leaves are inputs, some parameters."""
    xs, steps = program
    n_params = min(n_params, len(xs) - 1)
    params = [Value(v) for v in xs[:n_params]]
    args = xs[n_params:]

    def fn(*inputs):
        return run_program(steps, *params, *inputs)
    check(fn, params, *args)


@SETTINGS
@given(programs(max_inputs=5, max_steps=14), st.integers(1, 4))
def test_the_traces_walk_is_the_engines_topological_order(program, n_roots):
    """trace.topo_graph: the engine's one walk (several roots sharing one visited set), every
    node's inputs as positions in it, a 'w·x+b' node's many inputs, and positions of Values
    (-1 for one outside the graph)."""
    from micrograd.compiler.trace import topo_graph
    from micrograd.engine import topological_order
    xs, steps = program
    leaves = [Value(v) for v in xs]
    pool = list(leaves)
    for name, *args in steps:
        fn = strategies.UNARY.get(name) or strategies.BINARY[name]
        pool.append(fn(*(pool[i] for i in args)))
    pool.append(linear(pool[:2], pool[-2:], pool[-1]))         # 2 weights, 2 inputs, a bias
    roots = pool[-n_roots:] + pool[:1]
    order, nch, chl, position = topo_graph(roots)
    expected = topological_order(*roots)
    assert [id(v) for v in order] == [id(v) for v in expected]
    index = {v: i for i, v in enumerate(expected)}
    assert nch.tolist() == [len(v._prev) for v in expected]
    assert chl.tolist() == [index[c] for v in expected for c in v._prev]
    assert position(order).tolist() == list(range(len(order)))
    assert position([Value(1.0), order[-1]]).tolist() == [-1, len(order) - 1]


@st.composite
def batched_programs(draw):
    """A random expression applied to a batch: the groups then hold many nodes each."""
    xs, steps = draw(programs(max_inputs=3, max_steps=10))
    rows = draw(st.lists(st.lists(st.floats(-3, 3), min_size=len(xs), max_size=len(xs)),
                         min_size=1, max_size=6))
    return xs, steps, rows


@pytest.mark.slow      # 60 new programs a run, each a C kernel to compile: about 6 s of CPU
@SETTINGS
@given(batched_programs(), st.lists(st.floats(-2, 2), min_size=3, max_size=3))
def test_random_graphs_over_a_batch_match_eager(program, grads0):
    xs, steps, rows = program
    params = [Value(v) for v in xs]

    def fn(rows):
        outs = [run_program(steps, *[p * x for p, x in zip(params, row)]) for row in rows]
        return sum(outs[1:], outs[0]) * (1.0 / len(outs))
    check(fn, params, rows, grads0=grads0[:len(params)] + [0.0] * (len(params) - 3))


RAW_UNARY = {
    "neg": lambda a: -a, "relu": lambda a: a.relu(), "abs": lambda a: abs(a),
    "tanh": lambda a: a.tanh(), "exp": lambda a: a.exp(), "log": lambda a: a.log(),
    "sigmoid": lambda a: a.sigmoid(), "sq": lambda a: a ** 2, "inv": lambda a: a ** -1,
    "sqrt": lambda a: a ** 0.5,
}
RAW_BINARY = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "/": lambda a, b: a / b, "pow": lambda a, b: a ** b,
}
SPECIAL = st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, 2.0, -3.0, 1e-300, 5e-324, 1e300,
                           800.0, float("inf"), float("-inf"), float("nan")])


@st.composite
def raw_programs(draw):
    n = draw(st.integers(2, 4))
    steps = []
    for k in range(draw(st.integers(1, 8))):
        pool = n + k
        if draw(st.booleans()):
            steps.append((draw(st.sampled_from(sorted(RAW_UNARY))), draw(st.integers(0, pool - 1))))
        else:
            steps.append((draw(st.sampled_from(sorted(RAW_BINARY))),
                          draw(st.integers(0, pool - 1)), draw(st.integers(0, pool - 1))))
    xs1 = draw(st.lists(SPECIAL, min_size=n, max_size=n))
    xs2 = draw(st.lists(SPECIAL, min_size=n, max_size=n))
    return n, steps, xs1, xs2


def run_raw(steps, *inputs):
    """Every node feeds the output: a trace replays only what the result depends on (a
    computation whose result is dropped is not replayed, nor are its errors)."""
    pool = list(inputs)
    for name, *args in steps:
        pool.append((RAW_UNARY.get(name) or RAW_BINARY[name])(*(pool[i] for i in args)))
    return pool[-1] * pool[0] + sum(pool[len(inputs):-1], pool[-1])


def outcome(run):
    try:
        return "ok", run()
    except (ValueError, OverflowError) as e:
        return "error", e


@SETTINGS
@given(raw_programs())
def test_replay_on_new_numbers_gives_eagers_numbers_or_eagers_error(program):
    """Unguarded ops on special numbers (0, -0, subnormals, huge, inf, NaN): traced on one set
    of inputs, replayed on another; the replay gives eager's numbers or fails as eager does."""
    n, steps, xs1, xs2 = program
    p = Value(0.75)

    def fn(*xs):
        return run_raw(steps, xs[0] * p, *xs[1:])
    assume_ok = outcome(lambda: eager(fn, [p], xs1))
    if assume_ok[0] == "error":
        return                                  # the trace itself fails, as eager does
    cfn = micrograd.compile(fn, check=True)
    compiled(cfn, [p], xs1)
    want = outcome(lambda: eager(fn, [p], xs2))
    got = outcome(lambda: compiled(cfn, [p], xs2))
    assert got[0] == want[0], (want, got)
    if want[0] == "ok":
        (wv, wg), (gv, gg) = want[1], got[1]
        assert all(same(a, b) for a, b in zip(wv + wg, gv + gg)), (want, got)
    else:   # the first failing node may differ (levels vs creation order): same kind of error
        assert re.match(r"(.+: no finite real result for |backward through )", str(got[1]))


@SETTINGS
@given(raw_programs(), st.integers(1, 5), st.data())
def test_replay_over_a_batch_of_special_numbers(program, rows, data):
    """The same, over a batch (each op a group of several nodes, checked as a vector)."""
    n, steps, _, _ = program
    batch = [data.draw(st.lists(st.lists(SPECIAL, min_size=n, max_size=n), min_size=rows,
                                max_size=rows)) for _ in range(2)]
    p = Value(1.25)

    def fn(rows):
        return sum(run_raw(steps, r[0] * p, *r[1:]) for r in rows)
    if outcome(lambda: eager(fn, [p], [batch[0]]))[0] == "error":
        return
    cfn = micrograd.compile(fn, check=True)
    compiled(cfn, [p], [batch[0]])
    want = outcome(lambda: eager(fn, [p], [batch[1]]))
    got = outcome(lambda: compiled(cfn, [p], [batch[1]]))
    assert got[0] == want[0], (want, got)
    if want[0] == "ok":
        (wv, wg), (gv, gg) = want[1], got[1]
        assert all(same(a, b) for a, b in zip(wv + wg, gv + gg)), (want, got)


# ---------------------------------------------------------------------------------------------
# training: the demo, step after step
# ---------------------------------------------------------------------------------------------
def demo_loss(model, X, y):
    scores = [model(row) for row in X]
    losses = [(1 + -yi * si).relu() for yi, si in zip(y, scores)]
    data_loss = sum(losses) * (1.0 / len(losses))
    return data_loss + 1e-4 * sum((p * p for p in model.parameters()))


# The demo's 100 steps, eager and compiled, are about 4 s of CPU: slow. The fast tier checks
# the same steps as a fused step (tests/test_compiler_c.py, 100 steps on C and numpy), and this
# path (compile(loss), then eager's SGD) over 6 steps.
@pytest.mark.parametrize("fused,steps", [pytest.param(True, 100, marks=pytest.mark.slow),
                                         (False, 6)])
def test_demo_training_matches_eager_step_after_step(fused, steps):
    """The original demo (moons, MLP(2, [16, 16, 1]), hinge + L2, SGD): 100 steps compiled end
    in the very weights of 100 eager steps."""
    from sklearn.datasets import make_moons
    np.random.seed(1337)
    X, y = make_moons(n_samples=100, noise=0.1)
    X, y = X.tolist(), [int(v) for v in y * 2 - 1]
    random.seed(1337)
    m1 = MLP(2, [16, 16, 1], fused=fused)
    random.seed(1337)
    m2 = MLP(2, [16, 16, 1], fused=fused)
    step = micrograd.compile(lambda X, y: demo_loss(m2, X, y))
    p1, p2 = m1.parameters(), m2.parameters()
    for k in range(steps):
        l1 = demo_loss(m1, [[Value(a) for a in r] for r in X], y)
        m1.zero_grad()
        l1.backward()
        l2 = step(X, [float(v) for v in y])
        m2.zero_grad()
        l2.backward()
        assert l2.data == l1.data
        assert [p.grad for p in p2] == [p.grad for p in p1]
        lr = 1.0 - 0.9 * k / 100
        for p, q in zip(p1, p2):
            p.data -= lr * p.grad
            q.data -= lr * q.grad
    assert [p.data for p in p2] == [p.data for p in p1]
    assert step.trace_count == 1


def test_gradients_accumulate_like_eager():
    """backward adds into .grad (no zero_grad): same order of additions as eager."""
    random.seed(5)
    net = MLP(2, [3, 1])
    params = net.parameters()
    X = [[0.5, -1.0], [2.0, 0.25]]
    grads0 = [random.uniform(-1e3, 1e3) for _ in params]
    cfn = check(lambda X: sum(net(x) for x in X), params, X, grads0=grads0)
    # twice in a row: eager adds the same gradient twice
    for p, g in zip(params, grads0):
        p.grad = g
    out = cfn(X)
    out.backward()
    once = [p.grad for p in params]
    out.backward()
    twice = [p.grad for p in params]
    for p, g in zip(params, grads0):
        p.grad = g
    e = sum(net([Value(a) for a in x]) for x in X)
    e.backward()
    assert [p.grad for p in params] == once
    e.backward()
    assert [p.grad for p in params] == twice


# ---------------------------------------------------------------------------------------------
# what is traced, what is baked in
# ---------------------------------------------------------------------------------------------
def test_parameters_are_reread_and_constants_are_baked():
    w = Value(2.0)
    scale = 3.0
    cfn = micrograd.compile(lambda x: w * x * scale + 1)
    assert cfn(5.0).data == 31.0
    w.data = -1.0
    scale = 100.0                       # a Python number: baked in at trace time
    assert cfn(5.0).data == -14.0
    prog = next(iter(cfn._cache.values()))
    assert prog.params == [w]


def test_a_value_held_outside_the_graph_is_a_parameter():
    """A leaf the function's closure keeps (even made inside the function) gets gradients."""
    keep = {}

    def fn(x):
        if "b" not in keep:
            keep["b"] = Value(0.5)
        return keep["b"] * x + Value(7.0) * x          # Value(7.0): nobody keeps it, constant

    cfn = micrograd.compile(fn)
    out = cfn(2.0)
    out.backward()
    assert keep["b"].grad == 2.0
    keep["b"].data = 1.5
    assert cfn(2.0).data == 1.5 * 2 + 14.0


def test_control_flow_on_data_is_baked_in_at_trace_time():
    w = Value(1.0)

    def fn(x):
        return x * w if x.data > 0 else -x * w

    cfn = micrograd.compile(fn)
    assert cfn(2.0).data == 2.0
    assert cfn(-3.0).data == -3.0        # the trace took the x > 0 branch: replayed as is


def test_retrace_on_new_structure_and_strict_mode():
    w = Value(2.0)
    cfn = micrograd.compile(lambda xs: sum(x * w for x in xs))
    assert cfn([1.0, 2.0]).data == 6.0
    assert cfn([3.0, 4.0]).data == 14.0
    assert cfn.trace_count == 1
    assert cfn([1.0, 2.0, 3.0]).data == 12.0
    assert cfn(np.array([1.0, 2.0])).data == 6.0       # an array is a new structure
    assert cfn((1, 2)).data == 6.0                      # a tuple of ints too
    assert cfn.trace_count == 4
    strict = micrograd.compile(lambda xs: sum(x * w for x in xs), strict=True)
    strict([1.0, 2.0])
    with pytest.raises(CompileError, match="traced for"):
        strict([1.0, 2.0, 3.0])


def test_argument_kinds():
    w = Value(1.5)

    def fn(x, rows, flag, scale, name=None):
        s = x * w + sum(r[0] * r[1] for r in rows)
        s = s * 2 if flag else s
        return s * scale if name == "scaled" else s

    cfn = micrograd.compile(fn, static_argnums=(3,))
    rows = np.array([[1.0, 2.0], [3.0, 4.0]])
    want = (2.0 * 1.5 + 2 + 12) * 2 * 10
    assert cfn(2.0, rows, True, 10, name="scaled").data == want
    assert cfn(2.0, [(1, 2), (3, 4)], True, 10, name="scaled").data == want
    assert cfn(2.0, rows, False, 10).data == 2.0 * 1.5 + 14
    ragged = micrograd.compile(lambda rows: sum(sum(r) for r in rows))
    assert ragged([[1.0], [2.0, 3.0], []]).data == 6.0


def test_multiple_outputs_and_backward_from_any_of_them():
    random.seed(2)
    net = MLP(2, [3, 2])
    params = net.parameters()

    def fn(X):
        outs = [net(x) for x in X]
        loss = sum(o[0] * o[1] for o in outs)
        return loss, outs, outs[1][0].tanh()

    X = [[0.5, -0.25], [1.5, 2.0]]
    cfn = check(fn, params, X, seed=0)
    check(fn, params, X, seed=5, cfn=cfn)      # the last output, tanh(outs[1][0])
    check(fn, params, X, seed=3, cfn=cfn)      # an intermediate node of the loss
    loss, outs, t = cfn(X)
    assert isinstance(outs, list) and isinstance(outs[0], list) and len(outs[0]) == 2


def test_stale_result_refuses_backward():
    w = Value(2.0)
    cfn = micrograd.compile(lambda x: x * w)
    first = cfn(1.0)
    cfn(2.0)
    with pytest.raises(RuntimeError, match="earlier call"):
        first.backward()


def test_output_that_is_a_leaf():
    w = Value(2.0)
    cfn = micrograd.compile(lambda x: (w, x, x * w))
    pw, px, out = cfn(3.0)
    assert (pw.data, px.data, out.data) == (2.0, 3.0, 6.0)
    pw.backward()
    assert w.grad == 1.0
    px.backward()                       # an input: nothing to fill
    assert w.grad == 1.0


# ---------------------------------------------------------------------------------------------
# refusals
# ---------------------------------------------------------------------------------------------
def test_refuses_hand_written_backward_closures():
    w = Value(2.0)

    def fn(x):
        out = Value(x.data * w.data, (x, w), "*")

        def _backward():
            w.grad += x.data * out.grad
        out._backward = _backward
        return out

    with pytest.raises(CompileError, match="hand-written closure"):
        micrograd.compile(fn)(3.0)


def test_refuses_nodes_without_rule():
    with pytest.raises(CompileError, match="no rule"):
        micrograd.compile(lambda x: Value(x.data * 2, (x,), "*2"))(3.0)


@pytest.mark.parametrize("bad", [3.0, {"a": 1}, "text", None, np.float64(2.0)])
def test_refuses_non_values_as_results(bad):
    with pytest.raises(CompileError, match="must return a Value"):
        micrograd.compile(lambda x: [x, bad])(1.0)


def test_refuses_values_and_odd_objects_as_arguments():
    cfn = micrograd.compile(lambda x: x * 2)
    with pytest.raises(CompileError, match="a Value among the arguments"):
        cfn([Value(1.0)])
    with pytest.raises(CompileError, match="cannot compile an argument of type dict"):
        cfn([{"a": 1}])
    with pytest.raises(TypeError):
        micrograd.compile(42)


# ---------------------------------------------------------------------------------------------
# domain errors surface as in eager mode
# ---------------------------------------------------------------------------------------------
DOMAIN = [
    ("log", lambda x, p: (x * p).log(), 1.0, 0.0),
    ("log of a negative", lambda x, p: (x * p).log(), 1.0, -2.0),
    ("exp overflow", lambda x, p: (x * p).exp(), 1.0, 1000.0),
    ("0 ** -1", lambda x, p: (x * p) ** -1, 1.0, 0.0),
    ("negative ** 0.5", lambda x, p: (x * p) ** 0.5, 1.0, -8.0),
    ("pow overflow", lambda x, p: (x * p) ** 400, 1.0, 10.0),
    ("value ** value", lambda x, p: (x * p) ** (x + 0.5), 1.0, -8.0),
    ("division by zero", lambda x, p: p / (x - 1.0), 2.0, 1.0),
    ("backward of 0 ** 0.5", lambda x, p: (x * p) ** 0.5, 1.0, 0.0),
]


@pytest.mark.parametrize("name,fn,ok,bad", DOMAIN, ids=[d[0] for d in DOMAIN])
def test_domain_errors_are_eagers_errors(name, fn, ok, bad):
    p = Value(1.5)
    cfn = micrograd.compile(lambda x: fn(x, p))
    cfn(ok).backward()                                       # traced on good numbers
    want = eager_error(lambda x: fn(x, p), [bad])
    with pytest.raises(type(want)) as got:
        out = cfn(bad)
        out.backward()
    assert str(got.value) == str(want)


def test_division_at_a_tiny_divisor_differentiates_as_eager():
    """a.div(b), one node with d/db = -out/b: finite where -a/(b*b) would divide by an
    underflowed 0, and as large as eager's where it overflows (no error in either). The
    lecture's a / b, a * b**-1: b**-1's derivative -1 * b**-2 overflows at b = 1e-200, and the
    compiled backward raises eager's error."""
    p = Value(1.5)
    check(lambda x: p.div(x * 1e-200), [p], 1e200)
    check(lambda x: p.div(x * 1e-200), [p], 1.0)
    q = Value(1e-170)
    check(lambda x: q.div(x * 1e-170), [q], 1.0)
    check(lambda x: p / (x * 1e-200), [p], 1e200)
    lecture = lambda x: p / (x * 1e-200)                   # noqa: E731
    want = eager_error(lecture, [1.0])
    assert "backward through **-1" in str(want)
    for backend in ("c", "numpy"):
        with pytest.raises(type(want)) as got:
            micrograd.compile(lecture, backend=backend)(1.0).backward()
        assert str(got.value) == str(want)


def test_nan_and_inf_flow_through_as_in_eager():
    p = Value(2.0)
    fn = lambda x: (x * p + 1).relu() * p + x * x        # noqa: E731
    for x in (float("inf"), float("-inf"), float("nan"), 1e308):
        check(fn, [p], x)


# ---------------------------------------------------------------------------------------------
# scale
# ---------------------------------------------------------------------------------------------
def test_a_deep_chain_and_a_wide_layer():
    w = Value(0.999)
    cfn = check(lambda x: sum(x * w for _ in range(300)) * 0.001, [w], 1.0)
    deep = micrograd.compile(lambda x: _chain(x, w, 2000))
    out = deep(1.0)
    assert out.data == _chain(Value(1.0), w, 2000).data
    assert cfn.trace_count == 1


def _chain(x, w, n):
    for _ in range(n):
        x = (x * w).tanh() + 0.01
    return x


# ---------------------------------------------------------------------------------------------
# the fused training step: micrograd.compile(loss, optimizer=opt)
# ---------------------------------------------------------------------------------------------
OPTIMIZERS = {
    "sgd": lambda ps: optim.SGD(ps, lr=0.5),
    "sgd momentum, weight decay": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9,
                                                       weight_decay=1e-3),
    "sgd nesterov": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.8, nesterov=True,
                                         weight_decay=1e-2),
    "sgd dampening": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.5, dampening=0.25),
    "adam": lambda ps: optim.Adam(ps, lr=0.02),
    "adam weight decay": lambda ps: optim.Adam(ps, lr=0.02, betas=(0.8, 0.99), eps=1e-6,
                                               weight_decay=1e-3),
}


def moons(n=40):
    from sklearn.datasets import make_moons
    X, y = make_moons(n_samples=n, noise=0.1, random_state=0)
    return X.tolist(), [float(v) for v in y * 2 - 1]


def small_mlp(nin=2, layers=(8, 8, 1), seed=1):
    random.seed(seed)
    return MLP(nin, list(layers))


def schedule(opt):
    """A learning rate that changes at every step, from the optimizer's own."""
    base = opt.lr
    return lambda k: base * (1 - k / 250)


def state(opt):
    if isinstance(opt, optim.Adam):
        return opt.t, list(opt.m), list(opt.v)
    return list(opt.buffers)


def snapshot(model, opt):
    ps = model.parameters()
    return [p.data for p in ps], [p.grad for p in ps], state(opt)


def eager_training(model, opt, loss, batches, k0=0, sched=None):
    """The eager loop: lr from the schedule, forward on fresh Values, zero_grad, backward,
    step. Returns the losses."""
    out = []
    for k, args in enumerate(batches, k0):
        if sched:
            opt.lr = sched(k)
        total = loss(model, *[wrap(a) for a in args])
        opt.zero_grad()
        total.backward()
        opt.step()
        out.append(total.data)
    return out


def fused_training(step, opt, batches, k0=0, sched=None):
    out = []
    for k, args in enumerate(batches, k0):
        if sched:
            opt.lr = sched(k)
        res = step(*args)
        assert isinstance(res, StepResult)
        out.append(res.data)
    return out


def close(a, b, rel=1e-12):
    """Norm-wise relative: max |a - b| <= rel * max |a|."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return np.abs(a - b).max() <= rel * np.abs(a).max()


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_fused_step_is_the_eager_loop_bit_for_bit(name):
    """W1-like (moons, hinge + L2, full batch): 100 fused steps with a changing lr end in the
    very weights, gradients and optimizer state of 100 eager steps."""
    X, y = moons()
    batches = [(X, y)] * 100
    m1, m2 = small_mlp(), small_mlp()
    o1, o2 = OPTIMIZERS[name](m1.parameters()), OPTIMIZERS[name](m2.parameters())
    want = eager_training(m1, o1, demo_loss, batches, sched=schedule(o1))
    step = micrograd.compile(lambda X, y: demo_loss(m2, X, y), optimizer=o2)
    assert isinstance(step, TrainStep)
    got = fused_training(step, o2, batches, sched=schedule(o2))
    step.sync()
    assert got == want
    assert snapshot(m2, o2) == snapshot(m1, o1)
    assert o2.lr == o1.lr == OPTIMIZERS[name]([Value(0.0)]).lr * (1 - 99 / 250)


def cross_entropy(rows, onehots):
    """Mean softmax cross-entropy with the max shift from .data (a constant of the trace)."""
    out = []
    for row, t in zip(rows, onehots):
        m = max(z.data for z in row)
        shifted = [z - m for z in row]
        out.append(sum(s.exp() for s in shifted).log() - sum(ti * si
                                                             for ti, si in zip(t, shifted)))
    return sum(out) * (1.0 / len(out))


def digits_batches(batch=16, steps=20):
    from sklearn.datasets import load_digits
    d = load_digits()
    X, y = d.data[:batch * 10] / 16.0, d.target[:batch * 10]
    T = np.eye(10)[y]
    return [(X[i:i + batch], T[i:i + batch]) for i in range(0, len(X), batch)] * (steps // 10)


def digits_loss(model, X, T):
    return cross_entropy([model(x) for x in X], T)


@pytest.mark.parametrize("name", ["sgd momentum, weight decay", "adam weight decay"])
def test_fused_step_on_minibatches_of_digits(name):
    """W2-like (digits, MLP(64, [16, 10]), cross-entropy, batches of 16), 20 steps: the fused
    step is compile(loss) + the eager optimizer bit for bit, and eager within 1e-12 (the
    softmax's max shift is a constant of the trace: the last bits differ from eager's)."""
    batches = digits_batches()
    models = [small_mlp(64, (16, 10), seed=4) for _ in range(3)]
    opts = [OPTIMIZERS[name](m.parameters()) for m in models]
    eager_losses = eager_training(models[0], opts[0], digits_loss, batches)
    plain = micrograd.compile(lambda X, T: digits_loss(models[1], X, T))
    plain_losses = []
    for X, T in batches:
        total = plain(X, T)
        opts[1].zero_grad()
        total.backward()
        opts[1].step()
        plain_losses.append(total.data)
    step = micrograd.compile(lambda X, T: digits_loss(models[2], X, T), optimizer=opts[2])
    fused_losses = fused_training(step, opts[2], batches)
    step.sync()
    assert fused_losses == plain_losses
    assert snapshot(models[2], opts[2]) == snapshot(models[1], opts[1])
    assert close(eager_losses, fused_losses)
    for a, b in zip(snapshot(models[0], opts[0])[:2], snapshot(models[2], opts[2])[:2]):
        assert close(a, b)


@pytest.mark.parametrize("problem", ["moons, 100 steps", "digits, 20 steps"])
def test_fused_step_exact_false_is_within_1e_12_of_eager(problem):
    """exact=False (BLAS matrix products, numpy's exp and log) is not bit for bit, but stays
    within 1e-12 (norm-wise relative) of eager: losses, weights, gradients, Adam's state."""
    if problem.startswith("moons"):
        X, y = moons()
        batches, loss, shape = [(X, y)] * 100, demo_loss, (2, (8, 8, 1))
    else:
        batches, loss, shape = digits_batches(), digits_loss, (64, (16, 10))
    m1, m2 = small_mlp(*shape, seed=2), small_mlp(*shape, seed=2)
    o1, o2 = optim.Adam(m1.parameters(), lr=0.01), optim.Adam(m2.parameters(), lr=0.01)
    want = eager_training(m1, o1, loss, batches)
    step = micrograd.compile(lambda *a: loss(m2, *a), optimizer=o2, exact=False)
    got = fused_training(step, o2, batches)
    step.sync()
    assert close(want, got)
    (w1, g1, (t1, mo1, v1)), (w2, g2, (t2, mo2, v2)) = snapshot(m1, o1), snapshot(m2, o2)
    assert t1 == t2 and close(w1, w2) and close(g1, g2) and close(mo1, mo2) and close(v1, v2)


@pytest.mark.parametrize("name", ["sgd momentum, weight decay", "adam"])
def test_sync_hands_everything_back_to_the_values_and_the_optimizer(name):
    """Before sync() the model's Values are stale (the step owns the parameters); after it,
    continuing eagerly gives the all-eager run's numbers; a change made after a sync (here:
    halving the weights and resetting the optimizer) is what the next fused call starts from."""
    X, y = moons(24)
    batches = [(X, y)] * 8
    m1, m2 = small_mlp(), small_mlp()
    o1, o2 = OPTIMIZERS[name](m1.parameters()), OPTIMIZERS[name](m2.parameters())
    start = [p.data for p in m2.parameters()]
    eager_training(m1, o1, demo_loss, batches)
    step = micrograd.compile(lambda X, y: demo_loss(m2, X, y), optimizer=o2)
    fused_training(step, o2, batches)
    assert [p.data for p in m2.parameters()] == start            # stale until sync()
    step.sync()
    assert snapshot(m2, o2) == snapshot(m1, o1)
    eager_training(m1, o1, demo_loss, batches, 8)
    eager_training(m2, o2, demo_loss, batches, 8)                # eager after the fused steps
    assert snapshot(m2, o2) == snapshot(m1, o1)
    for m, o in ((m1, o1), (m2, o2)):                            # change things by hand
        for p in m.parameters():
            p.data *= 0.5
        o.__init__(o.params, lr=0.05)
    eager_training(m1, o1, demo_loss, batches)
    fused_training(step, o2, batches)
    step.sync()
    assert snapshot(m2, o2) == snapshot(m1, o1)


def test_fused_results_refuse_backward_and_nan_is_refused_before_the_update():
    w = Value(0.5)
    opt = optim.Adam([w], lr=0.1)
    step = micrograd.compile(lambda x: (x * w - 1.0) ** 2, optimizer=opt)
    out = step(3.0)
    with pytest.raises(RuntimeError, match="already run backward and applied"):
        out.backward()
    step.sync()
    after_one = (w.data, w.grad, state(opt))
    assert opt.t == 1 and w.data != 0.5
    for bad in (float("nan"), float("inf")):
        with pytest.raises(NonFiniteLoss, match="loss became (nan|inf); the update was not"):
            step(bad)
    log_step = micrograd.compile(lambda x: (x * w).log(), optimizer=opt)
    with pytest.raises(ValueError, match="log"):                 # eager's error, nothing done
        log_step(-1.0)
    step.sync()
    assert (w.data, w.grad, state(opt)) == after_one


def test_fused_step_honours_the_learning_rate_of_each_call():
    w = Value(2.0)
    opt = optim.SGD([w], lr=0.1)
    step = micrograd.compile(lambda x: x * w, optimizer=opt)      # d/dw = x
    step(1.0)
    opt.lr = 0.25
    step(1.0)
    opt.lr = 0.0
    step(1.0)
    step.sync()
    assert w.data == 2.0 - 0.1 - 0.25 and w.grad == 1.0


def test_two_fused_steps_share_an_optimizer_and_a_dropped_step_syncs():
    """Alternating two fused steps over one optimizer (the other hands the parameters over)
    is the eager alternation; a step that is garbage-collected writes its work back."""
    X, y = moons(24)
    m1, m2 = small_mlp(), small_mlp()
    o1, o2 = optim.SGD(m1.parameters(), lr=0.2, momentum=0.9), \
        optim.SGD(m2.parameters(), lr=0.2, momentum=0.9)

    def half(model, X, y):
        return demo_loss(model, X[:12], y[:12])

    a = micrograd.compile(lambda X, y: demo_loss(m2, X, y), optimizer=o2)
    b = micrograd.compile(lambda X, y: half(m2, X, y), optimizer=o2)
    for k in range(6):
        eager_training(m1, o1, demo_loss if k % 2 else half, [(X, y)])
        (a if k % 2 else b)(X, y)
    del a, b                      # no sync(): dropping the steps writes their work back
    assert snapshot(m2, o2) == snapshot(m1, o1)


def test_fused_step_parameters_outside_the_optimizer_and_other_optimizers():
    w, scale = Value(1.0), Value(3.0)
    opt = optim.SGD([w], lr=0.1)
    step = micrograd.compile(lambda x: x * w * scale, optimizer=opt)
    step(1.0)                     # d/dw = x * scale = 3
    scale.data = 10.0             # not the optimizer's: read at every call, never updated
    step(1.0)
    step.sync()
    assert w.data == 1.0 - 0.1 * 3.0 - 0.1 * 10.0 and scale.data == 10.0 and scale.grad == 0.0

    class MySGD(optim.SGD):
        pass
    with pytest.raises(TypeError, match="SGD and Adam"):
        micrograd.compile(lambda x: x * w, optimizer=MySGD([w]))


# ---------------------------------------------------------------------------------------------
# fit(compiled=True) runs the fused step
# ---------------------------------------------------------------------------------------------
def fit_both(callback=None, steps=12, **kw):
    """fit, compiled and eager, from the same model: [(history, weights, weights seen by the
    callback, error)] for each."""
    from micrograd.train import fit
    X, y = moons(30)
    runs = []
    for compiled in (True, False):
        model = small_mlp()
        seen = []
        err = h = None
        try:
            h = fit(model, X, y, steps=steps, progress=False, compiled=compiled,
                    callback=callback or (lambda k, m, h, seen=seen: seen.append(
                        [p.data for p in m.parameters()])), **kw)
        except Exception as e:          # noqa: BLE001 - compared by the caller
            err = e
        runs.append((h, [p.data for p in model.parameters()], seen, err))
    return runs


@pytest.mark.parametrize("options", [
    {"optimizer": "sgd", "lr": 0.5, "schedule": "linear",
     "optimizer_options": {"momentum": 0.9, "weight_decay": 1e-3}},
    {"optimizer": "adam", "lr": 0.05, "batch_size": 8, "X_val": [[0.0, 0.5], [1.0, -0.5]],
     "y_val": [1, 0], "eval_every": 3},
])
def test_fit_compiled_is_fit_eager(options):
    """fit(compiled=True) (the fused step; batches of 8 of 30 retrace for the last 6) gives
    eager's history and weights bit for bit, and its callbacks see the current weights."""
    (h1, w1, seen1, e1), (h2, w2, seen2, e2) = fit_both(**dict(options))
    assert e1 is None and e2 is None
    assert h1.to_dict() | {"seconds": 0} == h2.to_dict() | {"seconds": 0}
    assert w1 == w2 and seen1 == seen2 and len(seen1) == 12


def test_fit_compiled_stops_like_eager_on_divergence_and_interrupts():
    """Divergence: the same 'loss became ... at step k' and the same (pre-update) weights;
    Ctrl-C from a callback: the same completed steps, kept."""
    (h1, w1, _, e1), (h2, w2, _, e2) = fit_both(lr=1e6, steps=50)
    assert isinstance(e1, type(e2)) and str(e1) == str(e2)
    assert re.match(r"loss became (nan|inf) at step \d+$", str(e1))
    assert w1 == w2 and all(math.isfinite(w) for w in w1)

    def ctrl_c(k, model, history):
        if k == 4:
            raise KeyboardInterrupt
    (h1, w1, _, _), (h2, w2, _, _) = fit_both(callback=ctrl_c)
    assert h1.interrupted and h2.interrupted and h1.steps == h2.steps == 5
    assert h1.loss == h2.loss and w1 == w2
