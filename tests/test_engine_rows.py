"""One rule per op: every row of the op table, read from engine.OPS, runs the same on numbers and
on Values; a row of your own (or a built-in one replaced at run time) is followed everywhere
the engine goes: eager forward and backward, grad() to second order, the stepper's panel. The
lecture's division against PyTorch computing the same formula, a * b**-1, bit for bit."""
import math
import random

import pytest
import torch

from micrograd import primitives as P
from micrograd.engine import OPS, Op, Value, grad, pow_op
from micrograd.viz.stepper import stepper_data

ARITY = {"w·x+b": 5, "max": 3}                      # the rows with any number of inputs
POWERS = [2, 3, -1, -2, 0.5, 1.5, 0]
POINTS = [0.3, 1.7, -0.6, 2.5]


def rows():
    return [(name, op, ARITY.get(name, len(op.derivatives))) for name, op in OPS.items()] + [
        (op.name, op, 1) for op in map(pow_op, POWERS)]


def points(name, n):
    rng = random.Random(n * 1000 + len(name))
    xs = [rng.choice(POINTS) for _ in range(n)]
    if name in ("log", "**") or name.startswith("**"):
        xs[0] = abs(xs[0])                            # the rows' real domain
    return xs


@pytest.mark.parametrize("name, op, n", rows(), ids=lambda r: r if isinstance(r, str) else "")
def test_every_row_runs_the_same_on_numbers_and_on_values(name, op, n):
    """local_grads called with floats (backward) and with the nodes (grad(create_graph=True))
    gives the same numbers, bit for bit: the same row, interpreted twice."""
    xs = points(name, n)
    out = op.forward(*xs)
    on_numbers = op.local_grads(out, *xs)
    leaves = [Value(x) for x in xs]
    node = op(*leaves)
    assert node.data == out and node._op == name and node._rule is op
    on_values = op.local_grads(node, *leaves)
    assert len(on_numbers) == len(on_values) == n
    for d, dv in zip(on_numbers, on_values):
        dv = dv.data if isinstance(dv, Value) else dv
        assert d == dv and type(d) is type(dv) or (math.isnan(d) and math.isnan(dv)), (d, dv)


def test_the_rows_are_written_with_primitives_only():
    """No row calls math.* itself: that is what lets every backend interpret it."""
    import inspect

    import micrograd.engine as engine
    source = inspect.getsource(engine)
    assert not hasattr(engine, "math") and "from math" not in source


# ---------------------------------------------------------------------------------------------
# A row of your own
# ---------------------------------------------------------------------------------------------
def _swish_grads(out, x):
    s = 1 / (1 + P.exp(-x))                       # x·σ(x)' = σ + x·σ·(1 - σ)
    return (s + x * s * (1 - s),)


SWISH = Op("swish", lambda x: x / (1 + P.exp(-x)), _swish_grads,
           "{a}·σ({a})", ("σ({a}) + {a}·σ({a})·(1 - σ({a}))",))


def torch_swish(t):
    return t * torch.sigmoid(t)


@pytest.mark.parametrize("x", [-1.3, 0.4, 2.2])
def test_a_new_op_is_followed_by_eager_grad_to_second_order_and_the_stepper(x):
    a = Value(x, label="a")
    y = SWISH(a) * a                                # something after it, for the chain rule
    y.backward()
    s = 1 / (1 + math.exp(-x))
    assert y.data == (x / (1 + math.exp(-x))) * x
    assert a.grad == (s + x * s * (1 - s)) * x + x / (1 + math.exp(-x))   # both paths, exact
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    ty = torch_swish(t) * t
    d1, = torch.autograd.grad(ty, t, create_graph=True)
    d2, = torch.autograd.grad(d1, t)
    g1, = grad(y, [a], create_graph=True)
    g2, = grad(g1, [a])
    assert g1.data == a.grad
    assert math.isclose(g1.data, d1.item(), rel_tol=1e-13)
    assert math.isclose(g2.data, d2.item(), rel_tol=1e-12)
    out = SWISH(a)
    out.label = "y"
    step = stepper_data(out)["steps"][1]
    assert step["forward"] == "y = a·σ(a)"
    (term,) = step["terms"]
    assert term["formula"] == "σ(a) + a·σ(a)·(1 - σ(a))"
    assert term["local"] == "%.4f" % (s + x * s * (1 - s))


def test_replacing_a_built_in_rule_at_run_time_changes_eager_results(monkeypatch):
    """A leaky ReLU in ReLU's row: every path follows the new row at once."""
    relu = OPS["ReLU"]
    monkeypatch.setattr(relu, "forward", lambda a: P.where(a < 0, 0.01 * a, a))
    monkeypatch.setattr(relu, "local_grads", lambda out, a: (P.where(a < 0, 0.01, 1),))
    monkeypatch.setattr(relu, "derivatives", ("0.01 if {a} < 0 else 1",))
    a = Value(-2.0, label="a")
    y = a.relu() * a
    y.backward()
    assert y.data == 0.04 and a.grad == 0.01 * -2.0 + -0.02
    g1, = grad(y, [a], create_graph=True)
    g2, = grad(g1, [a])
    assert (g1.data, g2.data) == (a.grad, 0.02)
    out = a.relu()
    out.label = "r"
    (term,) = stepper_data(out)["steps"][1]["terms"]
    assert (term["formula"], term["local"]) == ("0.01 if a < 0 else 1", "0.0100")
    monkeypatch.undo()
    assert Value(-2.0).relu().data == 0


# ---------------------------------------------------------------------------------------------
# The lecture's division against PyTorch computing the same formula, exactly
# ---------------------------------------------------------------------------------------------
def _pow(x, k):
    """x ** k; on tensors with k as a tensor: torch's general pow is libm's, as Python's
    (torch.pow(x, -1) with a number takes a reciprocal instead, another rounding)."""
    if isinstance(x, torch.Tensor):
        return torch.pow(x, torch.tensor(float(k), dtype=torch.float64))
    return x ** k


def _division_heavy(rng):
    """A random expression of mostly divisions in which every node is used at most twice: a
    node's grad is then one sum of at most two terms, the same in any order (PyTorch's order of
    accumulating is its own), so every bit can be compared."""
    ops = [lambda x, y: x * _pow(y, -1), lambda x, y: x * _pow(y + 2.5, -1),
           lambda x, y: 3.0 * _pow(x, -1) - y, lambda x, y: _pow(x, -1) * _pow(y, -1),
           lambda x, y: x * y, lambda x, y: x + _pow(y, 2), lambda x, y: (x - y) * 0.5]
    uses, plan = [0] * 4, []
    for _ in range(14):
        i, j = rng.sample([n for n, u in enumerate(uses) if u < 2], 2)
        uses[i] += 1
        uses[j] += 1
        plan.append((rng.randrange(len(ops)), i, j))
        uses.append(0)
    last = [n for n, u in enumerate(uses) if u < 2][-2:]

    def f(*leaves):
        xs = list(leaves)
        for k, i, j in plan:
            xs.append(ops[k](xs[i], xs[j]))
        return xs[last[1]] * _pow(xs[last[0]], -1)
    return f


@pytest.mark.parametrize("seed", range(20))
def test_division_is_pytorch_computing_a_times_b_to_the_minus_one_bit_for_bit(seed):
    rng = random.Random(seed)
    xs = [rng.uniform(0.5, 2.0) * rng.choice([-1, 1]) for _ in range(4)]
    f = _division_heavy(rng)
    leaves = [Value(x) for x in xs]
    y = f(*leaves)
    y.backward()
    ts = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
    ty = f(*ts)
    ty.backward()
    assert y.data == ty.item()
    for v, t in zip(leaves, ts):
        assert v.grad == (0 if t.grad is None else t.grad.item())
    # and the operators build just that: a / b is a * b**-1, the same bits
    a, b = leaves[0], leaves[1]
    assert (a / b).data == (a * b ** -1).data and [n._op for n in (a / b).topo()][-2:] == [
        "**-1", "*"]


def test_div_is_pytorchs_correctly_rounded_division():
    a, b = Value(10.0), Value(3.0)
    assert (a / b).data == 3.333333333333333            # the original's bits: a * b**-1
    assert a.div(b).data == 10.0 / 3.0 == 3.3333333333333335
    y = a.div(b)
    y.backward()
    ta, tb = (torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in (10.0, 3.0))
    (ta / tb).backward()
    assert (a.grad, b.grad) == (ta.grad.item(), tb.grad.item())
