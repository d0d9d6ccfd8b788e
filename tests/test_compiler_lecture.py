"""micrograd.compile fuses the lecture's graph by itself (issue 8.3).

A neuron written as sum((wi*xi for ...), b) (nn's default, fused=False) becomes one fused
neuron in the compiled program: the same program as for a fused=True model, and the same floats
as eager's lecture graph.
"""
import random

import numpy as np

import micrograd
from micrograd import optim
from micrograd.data import make_moons
from micrograd.engine import Value
from micrograd.nn import MLP


def _w1(fused):
    """The original demo's data, model and loss (hinge + 1e-4 L2)."""
    X, y = make_moons(n_samples=100, noise=0.1, random_state=1337)
    y = [2 * int(v) - 1 for v in y]
    random.seed(1337)
    model = MLP(2, [16, 16, 1], fused=fused)

    def loss(X, y):
        scores = [model(row) for row in X]
        losses = [(1 + -yi * si).relu() for yi, si in zip(y, scores)]
        reg = 1e-4 * sum(p * p for p in model.parameters())
        return sum(losses) * (1.0 / len(losses)) + reg
    return np.asarray(X, dtype=float), np.asarray(y, dtype=float), model, loss


def _train_fused_step(fused, steps):
    X, y, model, loss = _w1(fused)
    opt = optim.SGD(model.parameters(), lr=1.0)
    step = micrograd.compile(loss, optimizer=opt)
    losses = []
    for k in range(steps):
        opt.lr = 1.0 - 0.9 * k / 100
        losses.append(step(X, y).data)
    step.sync()
    return losses, [p.data for p in model.parameters()], step.stats()[0]


def test_lecture_graph_compiles_to_the_fused_models_program():
    lec_losses, lec_w, lec_stats = _train_fused_step(False, 100)
    fus_losses, fus_w, fus_stats = _train_fused_step(True, 100)
    assert lec_stats["nodes"] - fus_stats["nodes"] == 65818 - 8318    # the demo loss graphs
    assert lec_stats["groups"] == fus_stats["groups"]
    assert lec_losses == fus_losses
    assert lec_w == fus_w
    assert lec_losses[0] == 0.8958441028683222        # the demo's own first loss


def test_compiled_lecture_graph_is_eagers_lecture_graph():
    X, y, model, loss = _w1(False)
    cfn = micrograd.compile(loss)
    params = model.parameters()
    e_X, e_y, e_model, e_loss = _w1(False)
    e_params = e_model.parameters()
    for k in range(3):
        total = e_loss([[Value(a) for a in row] for row in e_X.tolist()], e_y.tolist())
        e_model.zero_grad()
        total.backward()
        got = cfn(X, y)
        model.zero_grad()
        got.backward()
        assert got.data == total.data
        assert [p.grad for p in params] == [p.grad for p in e_params]
        for p, q in zip(params, e_params):
            p.data -= 0.5 * p.grad
            q.data -= 0.5 * q.grad


def test_products_read_elsewhere_are_not_fused_away():
    """A product that something else also reads stays a node: its gradient gets both uses."""
    w = [Value(0.5), Value(-1.25), Value(2.0)]

    def f(xs):
        prods = [wi * xi for wi, xi in zip(w, xs)]
        act = sum(prods, Value(0.1))
        return act.tanh() + prods[1] * 3.0

    cfn = micrograd.compile(f)
    xs = [0.3, -0.7, 1.1]
    f([Value(x) for x in xs]).backward()
    want = [p.grad for p in w]
    for p in w:
        p.grad = 0.0
    out = cfn(xs)
    out.backward()
    assert out.data == f([Value(x) for x in xs]).data
    assert [p.grad for p in w] == want
