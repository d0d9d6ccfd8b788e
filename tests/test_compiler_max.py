"""The softmax shift is a graph node ("max"), so a compiled replay recomputes it (issue 9.4).

Before, softmax_cross_entropy subtracted the trace-time max as a float constant: a replay on
grown logits overflowed in exp where eager did not, and differed from eager in the last bits.
"""
import math
import random

import numpy as np
import pytest

import micrograd
from micrograd import optim
from micrograd.data import load_dataset
from micrograd.engine import MAX, OPS, Value
from micrograd.losses import softmax_cross_entropy
from micrograd.nn import MLP


def test_max_op_is_pythons_max_with_zero_derivatives():
    a, b, c = Value(1.5), Value(-2.0), Value(1.5)
    m = MAX(a, b, c)
    assert m.data == 1.5 and m._op == "max" and m._prev == (a, b, c)
    assert OPS["max"] is MAX and MAX.formula.startswith("max(")
    m.backward()
    assert (a.grad, b.grad, c.grad) == (0.0, 0.0, 0.0)
    # Python's max: the first of equal inputs wins (-0.0 before 0.0), a later NaN never wins
    assert math.copysign(1.0, MAX(-0.0, 0.0).data) == -1.0
    assert MAX(1.0, float("nan")).data == 1.0


def test_eager_loss_is_unchanged_by_the_max_node():
    """Same floats as the old constant shift: z - max(z) with the max as a number."""
    rows = [[0.3, -1.2, 2.5], [10.0, 10.0, -3.0]]
    vs = [[Value(x) for x in r] for r in rows]
    loss = softmax_cross_entropy(vs, [2, 0])
    want = []
    for r, y in zip(rows, [2, 0]):
        m = max(r)
        lse = math.log(sum(math.exp(z - m) for z in r))
        want.append(lse - (r[y] - m))
    assert loss.data == sum(want) / 2


def test_compiled_replay_shifts_by_the_new_rows_max():
    """Traced on small logits, replayed on logits of 1000: eager's numbers, no overflow."""
    cfn = micrograd.compile(lambda z, t: softmax_cross_entropy([z], [t]))
    small = [0.1, 0.2, -0.3]
    assert cfn(small, [0.0, 1.0, 0.0]).data == softmax_cross_entropy(
        [small], [[0.0, 1.0, 0.0]]).data
    big = [1000.0, 999.0, -5.0]
    want = softmax_cross_entropy([[Value(x) for x in big]], [[0.0, 1.0, 0.0]]).data
    got = cfn(big, [0.0, 1.0, 0.0]).data
    assert math.isfinite(got) and got == want
    assert cfn.trace_count == 1


def test_compiled_gradients_through_the_shift_are_eagers():
    w = [Value(0.5), Value(-1.5), Value(2.0)]

    def loss(x):
        return softmax_cross_entropy([[wi * x for wi in w]], [1])

    cfn = micrograd.compile(loss)
    for x in (0.1, 300.0, -700.0):
        for p in w:
            p.grad = 0.0
        loss(x).backward()
        eager = [p.grad for p in w]
        for p in w:
            p.grad = 0.0
        cfn(x).backward()
        assert [p.grad for p in w] == eager


def _blobs_run(compiled, steps):
    """Full-batch SGD lr 3 on blobs (noise 0.3): the logits grow by orders of magnitude."""
    X, y = load_dataset("blobs", noise=0.3, seed=0)
    random.seed(0)
    model = MLP(2, [16, 16, 3])
    opt = optim.SGD(model.parameters(), lr=3.0)
    onehot = np.eye(3)[np.asarray(y, dtype=int)]

    def loss_fn(X, T):
        return softmax_cross_entropy([model(row) for row in X], T)

    losses, biggest = [], 0.0
    if compiled:
        step = micrograd.compile(loss_fn, optimizer=opt)
        for _ in range(steps):
            losses.append(step(np.asarray(X), onehot).data)
        step.sync()
    else:
        rows = [list(map(float, r)) for r in X]
        T = onehot.tolist()
        for _ in range(steps):
            total = loss_fn(rows, T)
            biggest = max(biggest, max(abs(z.data) for z in model(rows[0])))
            model.zero_grad()
            total.backward()
            opt.step()
            losses.append(total.data)
    return losses, [p.data for p in model.parameters()], biggest


@pytest.mark.slow
def test_fused_step_on_growing_logits_is_eager_bit_for_bit():
    eager, w_eager, biggest = _blobs_run(False, 40)
    assert biggest > 100.0                      # the logits do grow far from the trace's
    fused, w_fused, _ = _blobs_run(True, 40)
    assert all(math.isfinite(x) for x in fused)
    assert fused == eager
    assert w_fused == w_eager


@pytest.mark.parametrize("row", [[], ()])
def test_an_empty_row_is_named(row):
    with pytest.raises(ValueError, match="row 0 has no logits"):
        softmax_cross_entropy([row], [0])

