"""Graphs that code written for the original micrograd 0.1.0 builds, on the original and on ours.

The same functions run in two places:

* in the original's own virtualenv (PyPI micrograd==0.1.0; bench/.venv-original, which
  bench/run.py creates and this reuses), where `python tests/original_graphs.py` builds every
  case, runs backward, and prints the graphs as JSON;
* in the test process, on this package, by tests/test_original_graphs.py.

`trace` and `draw_dot` are the lecture notebook's own (copied from its code, unchanged), so the
pictures that a lecture follower draws can be compared too.
"""
import json
import math
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.join(os.path.dirname(HERE), "bench")


# ---------------------------------------------------------------------------------------------
# The lecture's trace and draw_dot, as written in its notebook
# ---------------------------------------------------------------------------------------------
def trace(root):
    # recursively builds a set of all nodes and edges in a graph
    nodes, edges = set(), set()
    def build(v):
        if v not in nodes:
            nodes.add(v)
            for child in v._prev:
                edges.add((child, v))
                build(child)
    build(root)
    return nodes, edges


def draw_dot(root):
    from graphviz import Digraph
    dot = Digraph(format='svg', graph_attr={'rankdir': 'LR'}) # LR = left to right
    nodes, edges = trace(root)
    for n in nodes:
        uid = str(id(n))
        # for any value in the graph, create a rectangular ('record') node for it
        dot.node(name = uid, label = "{ %s | data %.4f | grad %.4f }" % (n.label, n.data, n.grad), shape='record')
        if n._op:
            # if this value is a result of some operation, create an op node for it
            dot.node(name = uid + n._op, label = n._op)
            # and connect this node to it
            dot.edge(uid + n._op, uid)
    for n1, n2 in edges:
        # connect n_i to the op node of n2
        dot.edge(str(id(n1)), str(id(n2)) + n2._op)
    return dot


# ---------------------------------------------------------------------------------------------
# The cases: code written for the original, run unchanged. Each returns (root, user leaves).
# ---------------------------------------------------------------------------------------------
def trace_graph_neuron(mg):
    """The original's trace_graph notebook: Neuron(2) on [Value(1.0), Value(-2.0)]."""
    random.seed(1337)
    n = mg.Neuron(2)
    x = [mg.Value(1.0), mg.Value(-2.0)]
    y = n(x)
    y.backward()
    return y, x + n.parameters()


def test_sanity_check(mg):
    """The original's test_engine.py, first expression."""
    x = mg.Value(-4.0)
    z = 2 * x + 2 + x
    q = z.relu() + z * x
    h = (z * z).relu()
    y = h + q + q * x
    y.backward()
    return y, [x]


def test_more_ops(mg):
    """The original's test_engine.py, second expression, which is also its README's."""
    a = mg.Value(-4.0)
    b = mg.Value(2.0)
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    g.backward()
    return g, [a, b]


def lecture_neuron(mg):
    """The lecture's neuron (labels set as attributes: 0.1.0's Value takes no label)."""
    def V(x, label):
        v = mg.Value(x)
        v.label = label
        return v
    x1, x2 = V(2.0, 'x1'), V(0.0, 'x2')
    w1, w2 = V(-3.0, 'w1'), V(1.0, 'w2')
    b = V(6.8813735870195432, 'b')
    x1w1 = x1*w1; x1w1.label = 'x1*w1'
    x2w2 = x2*w2; x2w2.label = 'x2*w2'
    x1w1x2w2 = x1w1 + x2w2; x1w1x2w2.label = 'x1*w1 + x2*w2'
    n = x1w1x2w2 + b; n.label = 'n'
    o = n.tanh(); o.label = 'o'
    o.backward()
    return o, [x1, x2, w1, w2, b]


def lecture_neuron_exp(mg):
    """The lecture's neuron with tanh written through exp: o = (e - 1) / (e + 1), e = exp(2n)."""
    def V(x, label):
        v = mg.Value(x)
        v.label = label
        return v
    x1, x2 = V(2.0, 'x1'), V(0.0, 'x2')
    w1, w2 = V(-3.0, 'w1'), V(1.0, 'w2')
    b = V(6.8813735870195432, 'b')
    x1w1 = x1*w1; x1w1.label = 'x1*w1'
    x2w2 = x2*w2; x2w2.label = 'x2*w2'
    x1w1x2w2 = x1w1 + x2w2; x1w1x2w2.label = 'x1*w1 + x2*w2'
    n = x1w1x2w2 + b; n.label = 'n'
    e = (2*n).exp(); e.label = 'e'
    o = (e - 1) / (e + 1); o.label = 'o'
    o.backward()
    return o, [x1, x2, w1, w2, b]


def division_heavy(mg):
    """A random expression, mostly divisions, that uses each leaf at most twice (so a leaf's
    grad is the same sum in any order of its two terms: its bits can be compared)."""
    rng = random.Random(18)
    leaves = [mg.Value(rng.uniform(0.5, 2.0) * rng.choice([-1, 1])) for _ in range(12)]
    pool = leaves + leaves
    rng.shuffle(pool)
    nodes = [pool.pop() for _ in range(4)]
    while pool:
        x, y = nodes.pop(0), pool.pop()
        kind = rng.choice(["/", "/", "/", "r/", "c/", "*", "-", "+", "**-1"])
        if kind == "/":
            z = x / y
        elif kind == "r/":
            z = rng.choice([1.0, 3.0, 10.0]) / x + y
        elif kind == "c/":
            z = x / rng.choice([3.0, 7.0, 0.1]) - y
        elif kind == "*":
            z = x * y
        elif kind == "-":
            z = x - y
        elif kind == "+":
            z = -x + y
        else:
            z = x ** -1 + y
        nodes.append(z)
    root = nodes[0]
    for z in nodes[1:]:
        root = root / z
    root.backward()
    return root, leaves


def demo_loss(mg):
    """The original demo's loss at step 0 (bench/workloads.py's W1), after backward."""
    sys.path.insert(0, BENCH)
    import workloads as W
    X, y = W.moons()
    random.seed(1337)
    model = mg.MLP(2, [16, 16, 1])
    inputs = [list(map(mg.Value, row)) for row in X]
    total = W.w1_loss(model, inputs, y)
    model.zero_grad()
    total.backward()
    return total, [v for row in inputs for v in row] + model.parameters()


CASES = [trace_graph_neuron, test_sanity_check, test_more_ops, lecture_neuron,
         lecture_neuron_exp, division_heavy, demo_loss]
DRAWN = {"trace_graph_neuron", "test_sanity_check", "test_more_ops", "lecture_neuron",
         "lecture_neuron_exp"}                                    # small enough to draw


def facts(mg):
    """What code written for the original prints: reprs, types, and a few numbers' bits."""
    random.seed(1337)
    y = mg.Value(2.0) * mg.Value(3)
    y.backward()
    a, b = mg.Value(3), mg.Value(4)
    ints = a * b + 1
    ints.backward()
    return {
        "repr Value(3)": repr(mg.Value(3)),
        "repr Value(1.0)": repr(mg.Value(1.0)),
        "repr after backward": repr(y),
        "repr Neuron": [repr(mg.Neuron(2)), repr(mg.Neuron(3, nonlin=False))],
        "repr Layer": repr(mg.Layer(2, 3)),
        "repr MLP": repr(mg.MLP(2, [16, 16, 1])),
        "print MLP": str(mg.MLP(3, [4, 1])),
        "type Value(3).data": type(mg.Value(3).data).__name__,
        "type Value(3).grad": type(mg.Value(3).grad).__name__,
        "an int graph": [repr(ints), repr(a), repr(b)],
        "10.0 / Value(3.0)": repr((10.0 / mg.Value(3.0)).data),
        "Value(10.0) / 3.0": repr((mg.Value(10.0) / 3.0).data),
        "Value(1.0) / Value(3.0)": repr((mg.Value(1.0) / mg.Value(3.0)).data),
        "Neuron(2).b.data": repr(mg.Neuron(2).b.data),
        "Neuron(2).b.data type": type(mg.Neuron(2).b.data).__name__,
    }


def serialize(root, user_leaves, draw=False):
    """Every node reachable from root: id, op, label, data, grad, children (ids), and whether
    it is a leaf the code made itself (the others are numbers the operators wrapped)."""
    users = {id(v) for v in user_leaves}
    nodes, stack, seen = [], [root], {id(root)}
    while stack:
        v = stack.pop()
        nodes.append({"id": str(id(v)), "op": v._op, "label": getattr(v, "label", ""),
                      "data": float(v.data), "grad": float(v.grad),
                      "children": [str(id(c)) for c in v._prev], "user": id(v) in users})
        for c in v._prev:
            if id(c) not in seen:
                seen.add(id(c))
                stack.append(c)
    return {"nodes": nodes, "dot": draw_dot(root).source if draw else None}


def run_all(mg):
    out = {}
    for case in CASES:
        root, leaves = case(mg)
        out[case.__name__] = serialize(root, leaves, draw=case.__name__ in DRAWN)
    out["facts"] = facts(mg)
    return out


# ---------------------------------------------------------------------------------------------
# In the original's virtualenv
# ---------------------------------------------------------------------------------------------
def _the_lectures_additions(Value):
    """What the lecture's Value has and 0.1.0's lacks: a label (default '') and tanh (the
    lecture's node; its number from math.tanh, as ours: the lecture's (e^2x-1)/(e^2x+1)
    rounds differently in the last bit)."""
    Value.label = ''

    def tanh(self):
        t = math.tanh(self.data)
        out = Value(t, (self, ), 'tanh')

        def _backward():
            self.grad += (1 - t**2) * out.grad
        out._backward = _backward
        return out
    Value.tanh = tanh

    def exp(self):                      # the lecture's exp
        x = self.data
        out = Value(math.exp(x), (self, ), 'exp')

        def _backward():
            self.grad += out.data * out.grad
        out._backward = _backward
        return out
    Value.exp = exp


def main():
    from importlib.metadata import version
    import types

    import micrograd
    from micrograd import nn
    from micrograd.engine import Value
    where = os.path.dirname(micrograd.__file__)
    if version("micrograd") != "0.1.0" or "site-packages" not in where:
        raise SystemExit(f"needs the PyPI micrograd 0.1.0, found {version('micrograd')} at {where}")
    _the_lectures_additions(Value)
    mg = types.SimpleNamespace(Value=Value, Neuron=nn.Neuron, Layer=nn.Layer, MLP=nn.MLP)
    json.dump(run_all(mg), sys.stdout)


if __name__ == "__main__":
    main()
