"""The lecture's neuron, twice: with tanh as one op, and with tanh spelled out through exp.
Both give the same gradients, because the chain rule does not care how finely you cut the ops.

    python examples/03_neuron.py
"""
from micrograd.engine import Value
from micrograd.gradcheck import gradcheck


def neuron(x1, x2, w1, w2, b, spelled_out=False):
    n = x1 * w1 + x2 * w2 + b
    if spelled_out:
        e = (2 * n).exp()
        return (e - 1) / (e + 1)
    return n.tanh()


point = [2.0, 0.0, -3.0, 1.0, 6.8813735870195432]
names = ["x1", "x2", "w1", "w2", "b"]
for spelled_out in (False, True):
    leaves = [Value(v, label=name) for v, name in zip(point, names)]
    o = neuron(*leaves, spelled_out=spelled_out)
    o.backward()
    how = "tanh through exp" if spelled_out else "tanh as one op  "
    print(f"{how}: o = {o.data:.4f}   " + "  ".join(f"d{v.label} = {v.grad:+.4f}" for v in leaves))
    assert gradcheck(lambda *v: neuron(*v, spelled_out=spelled_out), point)
print("gradcheck: backward() agrees with central differences for both")
