"""Exercise `custom_op`: new operations on micrograd's Value, each a forward and a local derivative.

"As long as you know how to create the local derivative, that's all you need": the learner writes
relu(x) and sigmoid(x) as lecture-style functions (a new Value with x as its child, and an
out._backward closure). Each is checked against the row of micrograd's op table for the same op
(its forward, its local derivative and their text), then inside a larger expression against
numerical gradients.
"""
from micrograd.engine import OPS, Value
from micrograd.exercises.checking import (ACCUMULATE, Checklist, Mistake, close, derivative,
                                          formula, num, number_of, pair, require, starter)
from micrograd.gradcheck import numerical_grad

NAME = "custom_op"
SUMMARY = ("Write relu(x) and sigmoid(x) as new operations on micrograd's Value, each its "
           "forward and its local derivative, checked against the engine's op table.")
TIMEOUT_HINT = "For example a _backward that calls backward() again."

STARTER = starter('custom_op', "add your own operations to micrograd's Value.", '''\
import math

from micrograd.engine import Value


def relu(x):
    """max(0, x)."""
    # TODO: the forward, the Value, its _backward
    raise NotImplementedError


def sigmoid(x):
    """1 / (1 + exp(-x))."""
    # TODO
    raise NotImplementedError
''', notes='''
Each function takes a Value x and returns a new Value made from it, as the lecture's tanh does:
out = Value(forward, (x,), 'name'), and out._backward a function that adds
(local derivative * out.grad) to x.grad.
''')

# (the learner's function, the engine's op, points to check it at)
FUNCTIONS = [("relu", "ReLU", [2.0, -1.5, 0.75]), ("sigmoid", "sigmoid", [0.3, -2.0, 4.0])]

checks = Checklist()
CHECKS = checks


def _apply(fn, x, name):
    out = fn(x)
    if not isinstance(out, Value):
        raise Mistake(f"{name}(x) should return a new micrograd Value; yours returned "
                      f"{type(out).__name__} {out!r}.")
    return out


def _op_check(name, op, points):
    def check(learner):
        fn = require(learner, name, f"a function {name}(x) that returns a new Value")
        row = OPS[op]
        for a in points:
            x = Value(a, label="x")
            out = _apply(fn, x, name)
            want = row.forward(a)
            if not close(out.data, want):
                raise Mistake(f"{name}(Value({a!r})).data: {pair(want, out.data)}. Its forward is "
                              f"{formula(op, ('x',))}.")
            if not any(v is x for v in out.topo()):
                raise Mistake(f"{name}(x) should be a Value whose children are (x,): "
                              f"Value(result, (x,), '{name}'); without them backward() never "
                              "reaches x.")
            out.backward()
            local = row.local_grads(want, a)[0]
            if not close(number_of(x.grad, "x.grad"), local):
                raise Mistake(
                    f"wrong local derivative of {name}: out = {name}(x) with x = {a!r}, then "
                    f"out.backward():\n  x.grad: {pair(local, x.grad)}\nThe local derivative of "
                    f"{formula(op, ('x',))} is {derivative(op, ('x',), 0)} = {num(local)} "
                    "(micrograd's op table); _backward adds it, times out.grad, to x.grad.")
            x = Value(a, label="x")
            x.grad = 0.5
            _apply(fn, x, name).backward()
            if close(x.grad, local) and not close(x.grad, 0.5 + local):
                raise Mistake(f"{ACCUMULATE}.\nout = {name}(x) with x = {a!r} and x.grad already "
                              f"0.5: after out.backward(), x.grad: {pair(0.5 + local, x.grad)}. "
                              "Your _backward sets x.grad = ... instead of adding to it "
                              "(x.grad += ...): an x used twice would lose a contribution.")
    return check


def _in_expression(name):
    def check(learner):
        fn = require(learner, name, f"a function {name}(x) that returns a new Value")

        def f(x):               # x used three times, the op twice
            return _apply(fn, x, name) * x + _apply(fn, x * x - 1.0, name)
        for a in (0.6, -0.4, 1.3):
            x = Value(a)
            f(x).backward()
            slope = numerical_grad(f, [a])[0]
            if not close(x.grad, slope, rtol=1e-4, atol=1e-6):
                raise Mistake(f"y = {name}(x) * x + {name}(x*x - 1) at x = {a!r}: after "
                              f"y.backward(), x.grad: {pair(slope, x.grad)}, where expected is the "
                              "numerical slope (nudging x by 1e-6).")
    return check


for _name, _op, _points in FUNCTIONS:
    checks(f"{_name}: its forward and local derivative, against the op table's '{_op}'")(
        _op_check(_name, _op, _points))
for _name, _op, _points in FUNCTIONS:
    checks(f"{_name} inside a larger expression, against numerical gradients")(
        _in_expression(_name))
