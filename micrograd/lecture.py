"""The lecture's example graphs, built exactly as in the lecture, for drawings, exercises, tests
and docs. Its numbers live here and nowhere else in the package.

    from micrograd.lecture import lecture_expression, lecture_neuron, lecture_mlp_loss
    L = lecture_expression(backward=True)     # L = (a*b + c) * f = -8, a.grad = 6
    o = lecture_neuron(backward=True)         # o = tanh(n) = 0.7071, x1.grad = -1.5

Each function returns the root Value; with backward=True it has already run root.backward().
"""
import random

from micrograd.engine import Value
from micrograd.nn import MLP

__all__ = ["EXAMPLES", "lecture_expression", "lecture_neuron", "lecture_mlp_loss", "moons_loss",
           "LECTURE_XS", "LECTURE_YS", "NEURON_X", "NEURON_W", "NEURON_B"]

LECTURE_XS = [[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0], [1.0, 1.0, -1.0]]
LECTURE_YS = [1.0, -1.0, -1.0, 1.0]
# the neuron's inputs, weights and bias (the bias makes o = tanh(n) come out at 0.7071)
NEURON_X, NEURON_W, NEURON_B = [2.0, 0.0], [-3.0, 1.0], 6.8813735870195432


def _done(root, backward):
    if backward:
        root.backward()
    return root


def lecture_expression(backward=False):
    """L = (a*b + c) * f with a=2, b=-3, c=10, f=-2: the lecture's first graph (L = -8).
    After backward: a.grad 6, b.grad -4, c.grad -2, e.grad -2, d.grad -2, f.grad 4."""
    a = Value(2.0, label="a")
    b = Value(-3.0, label="b")
    c = Value(10.0, label="c")
    e = a * b; e.label = "e"
    d = e + c; d.label = "d"
    f = Value(-2.0, label="f")
    L = d * f; L.label = "L"
    return _done(L, backward)


def lecture_neuron(backward=False):
    """The lecture's neuron: o = tanh(x1*w1 + x2*w2 + b) with x1=2, x2=0, w1=-3, w2=1 and
    b=6.8813735870195432, so o = 0.7071. After backward: x1.grad -1.5, w1.grad 1.0,
    x2.grad 0.5, w2.grad 0.0, n.grad 0.5."""
    x1 = Value(NEURON_X[0], label="x1")
    x2 = Value(NEURON_X[1], label="x2")
    w1 = Value(NEURON_W[0], label="w1")
    w2 = Value(NEURON_W[1], label="w2")
    b = Value(NEURON_B, label="b")
    x1w1 = x1 * w1; x1w1.label = "x1*w1"
    x2w2 = x2 * w2; x2w2.label = "x2*w2"
    x1w1x2w2 = x1w1 + x2w2; x1w1x2w2.label = "x1*w1 + x2*w2"
    n = x1w1x2w2 + b; n.label = "n"
    o = n.tanh(); o.label = "o"
    return _done(o, backward)


def _label_params(model):
    for i, layer in enumerate(model.layers):
        for j, neuron in enumerate(layer.neurons):
            for k, w in enumerate(neuron.w):
                w.label = f"L{i}.N{j}.w{k}"
            neuron.b.label = f"L{i}.N{j}.b"


def lecture_mlp_loss(backward=False, seed=1337, fused=False):
    """The lecture's small net and loss: MLP(3, [4, 4, 1]) with tanh everywhere, on its four
    examples, loss = sum((ypred - y)**2). Weights come from random.seed(seed) (the global
    random state is restored afterwards). fused=False (the default) builds the lecture's graph
    of * and + nodes. Parameters are labelled L<layer>.N<neuron>.w<k> / .b, inputs x<i>[<k>],
    targets y<i>, predictions ypred<i>."""
    state = random.getstate()
    try:
        random.seed(seed)
        model = MLP(3, [4, 4, 1], activation="tanh", fused=fused)
    finally:
        random.setstate(state)
    _label_params(model)
    xs = [[Value(x, label=f"x{i}[{k}]") for k, x in enumerate(row)]
          for i, row in enumerate(LECTURE_XS)]
    ys = [Value(y, label=f"y{i}") for i, y in enumerate(LECTURE_YS)]
    ypred = [model(x) for x in xs]
    for i, yp in enumerate(ypred):
        yp.label = f"ypred{i}"
    loss = sum((yout - ygt) ** 2 for ygt, yout in zip(ys, ypred))
    loss.label = "loss"
    return _done(loss, backward)


def moons_loss(n_samples=100, fused=False, seed=1337, backward=False):
    """The original micrograd demo's loss: MLP(2, [16, 16, 1]) (ReLU) on make_moons(n_samples,
    noise=0.1), SVM hinge loss + 1e-4 L2. With fused=False and 100 samples the graph has about
    65,000 nodes, the big graph of the lecture. Needs numpy and scikit-learn."""
    import numpy as np
    from sklearn.datasets import make_moons

    state = random.getstate()
    try:
        random.seed(seed)
        X, y = make_moons(n_samples=n_samples, noise=0.1, random_state=np.random.RandomState(seed))
        y = y * 2 - 1
        model = MLP(2, [16, 16, 1], fused=fused)
    finally:
        random.setstate(state)
    inputs = [list(map(Value, row)) for row in X]
    scores = list(map(model, inputs))
    losses = [(1 + -float(yi) * scorei).relu() for yi, scorei in zip(y, scores)]
    data_loss = sum(losses) * (1.0 / len(losses))
    reg_loss = 1e-4 * sum(p * p for p in model.parameters())
    total = data_loss + reg_loss
    total.label = "loss"
    return _done(total, backward)


EXAMPLES = {
    "expr": (lecture_expression, "L = (a*b + c) * f, the lecture's first graph"),
    "neuron": (lecture_neuron, "o = tanh(x1*w1 + x2*w2 + b), the lecture's neuron"),
    "mlp": (lecture_mlp_loss, "the loss of MLP(3, [4, 4, 1]) on the lecture's four examples"),
}
